package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/sign"
)

// attestationSummary is one verified attestation as verify reports it.
type attestationSummary struct {
	PredicateType string `json:"predicateType"`
	// SignedBy names the key (by its index among --key) or the keyless identity.
	SignedBy string `json:"signedBy"`
	// Format is where it was found: legacy (cosign's .att tag) or bundle (a sigstore bundle referring to the artifact).
	Format string `json:"format"`
	// Summary is a one-line reading of the predicate for people.
	Summary string `json:"summary"`
	// Predicate is the verified predicate itself.
	Predicate json.RawMessage `json:"predicate"`
}

// summarizeAttestations reads verified attestations for the report: one entry per attestation.
func summarizeAttestations(a *sign.AttestationVerification) []attestationSummary {
	if a == nil {
		return nil
	}
	out := make([]attestationSummary, 0, len(a.Verified))
	for _, v := range a.Verified {
		s := attestationSummary{PredicateType: v.Statement.PredicateType, Format: string(v.Format), Predicate: v.Statement.Predicate}
		if v.KeyIndex >= 0 {
			s.SignedBy = fmt.Sprintf("key %d", v.KeyIndex)
		} else {
			s.SignedBy = v.Identity.String()
		}
		s.Summary = summarizePredicate(v.Statement.PredicateType, v.Statement.Predicate)
		out = append(out, s)
	}
	return out
}

// summarizePredicate reads the predicates statepack writes; others are named by size only.
func summarizePredicate(predicateType string, raw json.RawMessage) string {
	switch predicateType {
	case sign.PredicateSLSAProvenanceV1:
		var p slsa1.ProvenancePredicate
		if err := json.Unmarshal(raw, &p); err != nil {
			return "unreadable provenance: " + err.Error()
		}
		parts := []string{"builder " + p.RunDetails.Builder.ID}
		for _, d := range p.BuildDefinition.ResolvedDependencies {
			parts = append(parts, fmt.Sprintf("source %s (commit %s)", d.URI, d.Digest["gitCommit"]))
		}
		if id := p.RunDetails.BuildMetadata.InvocationID; id != "" {
			parts = append(parts, "run "+id)
		}
		if v := p.RunDetails.Builder.Version["statepack"]; v != "" {
			parts = append(parts, "statepack "+v)
		}
		return strings.Join(parts, ", ")
	case sign.PredicateInventoryV1:
		var inv build.Inventory
		if err := json.Unmarshal(raw, &inv); err != nil {
			return "unreadable inventory: " + err.Error()
		}
		kinds := map[string]int{}
		for _, o := range inv.Objects {
			kinds[o.Kind]++
		}
		var ks []string
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			ks = append(ks, fmt.Sprintf("%d %s", kinds[k], k))
		}
		pinned := 0
		for _, img := range inv.Images {
			if img.Digest != "" {
				pinned++
			}
		}
		return fmt.Sprintf("%d object(s) (%s), %d image(s), %d pinned by digest", len(inv.Objects), strings.Join(ks, ", "), len(inv.Images), pinned)
	}
	return fmt.Sprintf("%d bytes of predicate", len(raw))
}
