package cli

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strings"

	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"

	"github.com/statepack/statepack"
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

// signatureSummary is one verified signature as verify -o json reports it.
type signatureSummary struct {
	// Format is legacy (cosign's .sig tag) or bundle (a sigstore bundle referring to the artifact).
	Format string `json:"format"`
	// SignedBy names the key (by its index among --key) or the keyless identity.
	SignedBy string `json:"signedBy"`
	// Subject and Issuer are a keyless certificate's identity; empty for a key.
	Subject string `json:"subject,omitempty"`
	Issuer  string `json:"issuer,omitempty"`
	// TlogVerified says the signature's transparency-log entry was verified.
	TlogVerified bool `json:"tlogVerified"`
	// Image is the signed payload's "<docker-reference>@<digest>" (the digest alone for a bundle).
	Image string `json:"image"`
	// Layer is the signature's layer; Manifest the bundle's referrer manifest.
	Layer    string `json:"layer,omitempty"`
	Manifest string `json:"manifest,omitempty"`
	// Annotations are the signed payload's (cosign sign -a).
	Annotations map[string]any `json:"annotations,omitempty"`
	// Certificate is a keyless signature's Fulcio certificate, PEM.
	Certificate string `json:"certificate,omitempty"`
}

// summarizeSignatures reads verified signatures for the report.
func summarizeSignatures(v *sign.Verification) []signatureSummary {
	if v == nil {
		return nil
	}
	out := make([]signatureSummary, 0, len(v.Verified))
	for _, s := range v.Verified {
		sum := signatureSummary{Format: string(orFormat(s.Format)), TlogVerified: s.TlogVerified, Image: s.Image,
			Layer: string(s.Layer), Manifest: string(s.Manifest.Digest), Annotations: s.Annotations}
		if s.KeyIndex >= 0 {
			sum.SignedBy = fmt.Sprintf("key %d", s.KeyIndex)
		} else {
			sum.SignedBy, sum.Subject, sum.Issuer = s.Identity.String(), s.Identity.Subject, s.Identity.Issuer
		}
		if s.Certificate != nil {
			sum.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate.Raw}))
		}
		out = append(out, sum)
	}
	return out
}

// orFormat is f, or legacy when unset.
func orFormat(f sign.Format) sign.Format {
	if f == "" {
		return sign.FormatLegacy
	}
	return f
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
	case statepack.PredicateVSA:
		var v statepack.VSA
		if err := json.Unmarshal(raw, &v); err != nil {
			return "unreadable verification summary: " + err.Error()
		}
		skipped := 0
		for _, img := range v.Images {
			if img.Skipped != "" {
				skipped++
			}
		}
		return fmt.Sprintf("%s: %d image(s) verified at %s (%d skipped by rule), policy sha256:%s, levels %s, verifier %s %s",
			v.VerificationResult, len(v.Images)-skipped, v.TimeVerified, skipped, v.Policy.Digest["sha256"],
			strings.Join(v.VerifiedLevels, ","), v.Verifier.ID, v.Verifier.Version["statepack"])
	}
	return fmt.Sprintf("%d bytes of predicate", len(raw))
}
