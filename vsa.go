package statepack

import (
	"slices"
	"strings"

	"github.com/statepack/statepack/build"
)

// Verification summary vocabulary (SLSA VSA v1, https://slsa.dev/spec/v1.1/verification_summary).
const (
	// PredicateVSA is the predicate type of a SLSA verification summary.
	PredicateVSA = "https://slsa.dev/verification_summary/v1"
	// VSAVerifierID names statepack's image verification as the verifier of its summaries.
	VSAVerifierID = "https://statepack.dev/verifiers/images/v1"
	// VSAPolicyURI names the kind of policy a summary's policy digest is the digest of: an ImagePolicy's canonical
	// JSON (rules, keys by the sha256 of their DER encoding, trust roots by digest).
	VSAPolicyURI = "https://statepack.dev/policies/images/v1"
	// VSALevelVerified and VSALevelPinned are the verifiedLevels of a summary: every image passed the policy (or was
	// skipped by a rule with a reason), and every image is pinned to its digest in the artifact. Custom levels, as
	// SLSA allows for values not starting with SLSA_.
	VSALevelVerified = "STATEPACK_IMAGES_VERIFIED"
	VSALevelPinned   = "STATEPACK_IMAGES_PINNED"
)

// VSA is the predicate of statepack's verification summary: which images the artifact deploys, at which digests,
// and which signatures and attestations verified them under which policy. It is deterministic: the time is the
// artifact's creation time (the commit, or SOURCE_DATE_EPOCH), never the clock, so that publishing the same tree
// again writes the same statement, which the signer finds already there.
type VSA struct {
	Verifier           VSAVerifier    `json:"verifier"`
	TimeVerified       string         `json:"timeVerified"`
	ResourceURI        string         `json:"resourceUri"`
	Policy             vsaInput       `json:"policy"`
	InputAttestations  []vsaInput     `json:"inputAttestations"`
	VerificationResult string         `json:"verificationResult"`
	VerifiedLevels     []string       `json:"verifiedLevels"`
	SLSAVersion        string         `json:"slsaVersion"`
	Images             []VSAImageInfo `json:"images"`
}

// VSAVerifier names the verifier and its version.
type VSAVerifier struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version"`
}

// vsaInput is a SLSA ResourceDescriptor reduced to what a summary names: a URI and its digest.
type vsaInput struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

// VSAImageInfo is one image of the summary (statepack's extension of the predicate): its reference, digest, the
// rule that decided and what verified, or why verification was skipped.
type VSAImageInfo struct {
	Reference string   `json:"reference"`
	Digest    string   `json:"digest"`
	Rule      string   `json:"rule"`
	Verified  []string `json:"verified,omitempty"`
	Skipped   string   `json:"skipped,omitempty"`
}

// digestMap is a digest as SLSA writes it: {"sha256": "<hex>"}.
func digestMap(d string) map[string]string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok {
		return nil
	}
	return map[string]string{alg: hex}
}

// newVSA is the summary of a report whose images all passed, for the artifact b published to repository; pinned
// says the artifact names them by digest. ok is false when there is nothing to summarise (no policy) or no time to
// date it with.
func newVSA(bc BuildContext, repository string, b *build.Bundle, r *ImageReport, pinned bool) (VSA, bool) {
	created := b.Annotations[build.AnnotationCreated]
	if r == nil || r.PolicyDigest == "" || created == "" || len(r.Findings) > 0 {
		return VSA{}, false
	}
	v := VSA{
		Verifier:           VSAVerifier{ID: VSAVerifierID, Version: map[string]string{"statepack": bc.version()}},
		TimeVerified:       created,
		ResourceURI:        "oci://" + repository + "@" + b.ManifestDescriptor.Digest.String(),
		Policy:             vsaInput{URI: VSAPolicyURI, Digest: digestMap(r.PolicyDigest)},
		InputAttestations:  []vsaInput{},
		VerificationResult: "PASSED",
		VerifiedLevels:     []string{VSALevelVerified},
		SLSAVersion:        "1.1",
		Images:             []VSAImageInfo{},
	}
	if pinned {
		v.VerifiedLevels = append(v.VerifiedLevels, VSALevelPinned)
	}
	for _, img := range r.Images {
		v.Images = append(v.Images, VSAImageInfo{Reference: img.Reference, Digest: img.Digest, Rule: img.Rule, Verified: img.Verified, Skipped: img.Skipped})
		v.InputAttestations = append(v.InputAttestations, img.evidence...)
	}
	// Sorted, so that the order the registry listed referrers in does not change the statement.
	slices.SortFunc(v.InputAttestations, func(a, b vsaInput) int { return strings.Compare(a.URI, b.URI) })
	v.InputAttestations = slices.CompactFunc(v.InputAttestations, func(a, b vsaInput) bool { return a.URI == b.URI })
	return v, true
}
