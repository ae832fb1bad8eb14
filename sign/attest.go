package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	"oras.land/oras-go/v2"
)

// Predicate types of the attestations statepack writes.
const (
	// PredicateSLSAProvenanceV1 is SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance).
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// PredicateInventoryV1 is statepack's inventory: every object in the artifact and every image it deploys.
	PredicateInventoryV1 = "https://statepack.dev/inventory/v1"
)

const (
	// statementTypeV1 is the in-toto statement layer, v1 (https://github.com/in-toto/attestation).
	statementTypeV1 = "https://in-toto.io/Statement/v1"
	// annotationPredicateType is the layer annotation cosign writes on each attestation, and reads to select them.
	annotationPredicateType = "predicateType"
	// An inventory of many thousand objects is a few megabytes once base64-encoded in its envelope.
	maxAttestationLayer = 32 << 20
)

// AttestationTag returns the tag under which cosign's legacy format keeps the attestations of d:
// "sha256-<hex>.att" (cosign's pkg/oci/remote AttestationTag).
func AttestationTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".att"
}

// Predicate is one attestation to make: its predicate type and the predicate, any value that marshals to a JSON
// object.
type Predicate struct {
	Type  string
	Value any
}

// Statement is an in-toto statement (v1) about one artifact, as Attest signs it and VerifyAttestations returns it.
type Statement struct {
	Type          string             `json:"_type"`
	Subject       []StatementSubject `json:"subject"`
	PredicateType string             `json:"predicateType"`
	Predicate     json.RawMessage    `json:"predicate"`
}

// StatementSubject names an artifact in a statement: its repository and its digests by algorithm.
type StatementSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// NewStatement returns the JSON of an in-toto statement v1 whose subject is the artifact subject in the repository
// dockerReference names (as Sign's payload names it, without tag or digest), with the predicate p.
func NewStatement(dockerReference string, subject digest.Digest, p Predicate) ([]byte, error) {
	if p.Type == "" {
		return nil, errors.New("attestation without a predicate type")
	}
	if err := subject.Validate(); err != nil {
		return nil, fmt.Errorf("attestation subject %q: %w", subject, err)
	}
	repo, err := statementName(dockerReference)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p.Value)
	if err != nil {
		return nil, fmt.Errorf("predicate %s: %w", p.Type, err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return nil, fmt.Errorf("predicate %s: not a JSON object", p.Type)
	}
	return json.Marshal(Statement{
		Type:          statementTypeV1,
		Subject:       []StatementSubject{{Name: repo, Digest: map[string]string{subject.Algorithm().String(): subject.Encoded()}}},
		PredicateType: p.Type,
		Predicate:     raw,
	})
}

// statementName is the subject name cosign writes for an attestation: the repository, normalised as for a
// signature; an "oci:DIR" layout name is kept as given.
func statementName(dockerReference string) (string, error) {
	ref := strings.TrimPrefix(dockerReference, "oci://")
	switch {
	case ref == "":
		return "", errors.New("no name for the attestation subject (want registry/repository or oci:DIR)")
	case strings.HasPrefix(ref, "oci:"):
		return ref, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("name for the attestation subject: %w", err)
	}
	return r.Context().String(), nil
}

// Attest signs one in-toto statement per predicate about subject, a manifest already in t, and stores them in t in
// cosign's legacy attestation format, byte for byte as `cosign attest --key` (or keyless) writes them: a manifest
// tagged sha256-<hex>.att whose layers are DSSE envelopes (application/vnd.dsse.envelope.v1+json, payload type
// application/vnd.in-toto+json) annotated with their predicateType. cosign verify-attestation, Kyverno's and
// policy-controller's attestation checks read this format. A keyless signer's attestations carry its certificate
// chain and, unless its log upload is off, a Rekor dsse entry.
//
// All predicates are written in one update of the tag, blobs first and the tag last. Attestations already there
// are kept, as cosign keeps them; one with the same statement signed by this signer is not written twice, so a
// retried publish converges. It returns the descriptor of the attestation manifest.
//
// WithFormat(FormatBundle) stores each statement as a sigstore bundle referring to subject instead, as `cosign
// attest --new-bundle-format` does (see Sign for where referrers are kept), and returns the last bundle's
// manifest; FormatBoth writes both. WithAnnotations is refused: attestations carry none.
func (s *Signer) Attest(ctx context.Context, t oras.Target, subject ocispec.Descriptor, dockerReference string, predicates []Predicate, opts ...SignOption) (ocispec.Descriptor, error) {
	if s == nil || s.impl == nil {
		return ocispec.Descriptor{}, errors.New("attesting: no signer (use LoadSigner)")
	}
	if len(predicates) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("attesting %s: no predicate given", subject.Digest)
	}
	o, err := makeSignOptions(opts)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("attesting %s: %w", subject.Digest, err)
	}
	if len(o.annotations) > 0 {
		return ocispec.Descriptor{}, fmt.Errorf("attesting %s: attestations carry no annotations: %w", subject.Digest, ErrUnsupported)
	}
	var desc ocispec.Descriptor
	if o.format == FormatLegacy || o.format == FormatBoth {
		if desc, err = s.attestLegacy(ctx, t, subject, dockerReference, predicates); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if o.format == FormatBundle || o.format == FormatBoth {
		bd, err := s.writeAttestationBundles(ctx, t, subject, dockerReference, predicates, o.logger)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("attesting %s: %w", subject.Digest, err)
		}
		if o.format == FormatBundle {
			desc = bd
		}
	}
	return desc, nil
}

// attestLegacy is Attest in cosign's legacy format.
func (s *Signer) attestLegacy(ctx context.Context, t oras.Target, subject ocispec.Descriptor, dockerReference string, predicates []Predicate) (ocispec.Descriptor, error) {
	h, err := v1.NewHash(subject.Digest.String())
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("attesting %q: %w", subject.Digest, err)
	}
	if err := requireSubject(ctx, t, subject, "attesting"); err != nil {
		return ocispec.Descriptor{}, err
	}
	tag := AttestationTag(subject.Digest)
	existing, err := readCosignTag(ctx, t, subject.Digest, tag, "attestations", maxAttestationLayer)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var base oci.Signatures = empty.Signatures()
	var present []oci.Signature
	if existing != nil {
		if present, err = existing.Get(); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("reading attestations of %s (tag %s): %w", subject.Digest, tag, err)
		}
		base = existing
	}
	own := &cosign.CheckOpts{SigVerifier: s.impl.verifier(), IgnoreTlog: true, ClaimVerifier: cosign.IntotoSubjectClaimVerifier}
	var add []oci.Signature
	for _, p := range predicates {
		stmt, err := NewStatement(dockerReference, subject.Digest, p)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("attesting %s: %w", subject.Digest, err)
		}
		if i := findAttestation(ctx, present, h, own, stmt); i >= 0 {
			continue
		}
		att, err := s.signStatement(ctx, stmt, p.Type)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("attesting %s (%s) with %s: %w", subject.Digest, p.Type, s.source, err)
		}
		add = append(add, att)
	}
	if len(add) == 0 {
		return existing.desc, nil
	}
	img, err := mutate.AppendSignatures(base, false, add...)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("adding attestations for %s: %w", subject.Digest, err)
	}
	desc, err := pushImage(ctx, t, img, tag)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing attestations for %s (tag %s): %w", subject.Digest, tag, err)
	}
	return desc, nil
}

// findAttestation returns the index of the attestation in present whose statement is stmt and whose envelope
// verifies with own's key, or -1.
func findAttestation(ctx context.Context, present []oci.Signature, h v1.Hash, own *cosign.CheckOpts, stmt []byte) int {
	want := base64.StdEncoding.EncodeToString(stmt)
	for i, att := range present {
		p, err := att.Payload()
		if err != nil {
			continue
		}
		var env ssldsse.Envelope
		if json.Unmarshal(p, &env) != nil || env.Payload != want {
			continue
		}
		if _, err := cosign.VerifyBlobAttestation(ctx, att, h, own); err == nil {
			return i
		}
	}
	return -1
}

// signStatement wraps stmt in a DSSE envelope signed by s, as cosign's attest command does, and returns it as an
// attestation layer annotated with its predicate type.
func (s *Signer) signStatement(ctx context.Context, stmt []byte, predicateType string) (oci.Signature, error) {
	d, err := s.signDSSE(ctx, ctypes.IntotoPayloadType, stmt, "attestation")
	if err != nil {
		return nil, err
	}
	opts := []static.Option{
		static.WithLayerMediaType(ctypes.DssePayloadType),
		static.WithAnnotations(map[string]string{annotationPredicateType: predicateType}),
	}
	if d.keyless != nil {
		opts = append(opts, static.WithCertChain(d.keyless.certPEM, d.keyless.chainPEM))
	}
	if d.entry != nil {
		opts = append(opts, static.WithBundle(cbundle.EntryToBundle(d.entry)))
	}
	return static.NewAttestation(d.envelope, opts...)
}

// dsseSignature is a DSSE envelope a Signer signed, with what goes beside it.
type dsseSignature struct {
	envelope []byte
	sv       signature.SignerVerifier
	keyless  *keylessSigner       // nil for a key
	entry    *models.LogEntryAnon // the Rekor dsse entry; nil for a key or with the log upload off
}

// signDSSE signs payload in a DSSE envelope, as cosign does for attestations and bundles: a keyless signer first
// makes sure its certificate is still valid, and records the envelope in Rekor (a dsse entry) unless its log upload
// is off. what names the envelope in errors.
func (s *Signer) signDSSE(ctx context.Context, payloadType string, payload []byte, what string) (*dsseSignature, error) {
	d := &dsseSignature{}
	switch k := s.impl.(type) {
	case *keySigner:
		d.sv = k.sv
	case *keylessSigner:
		if err := k.stillValid(); err != nil {
			return nil, err
		}
		d.sv, d.keyless = k.sv, k
	default:
		return nil, fmt.Errorf("this kind of signer cannot sign a %s: %w", what, ErrUnsupported)
	}
	var err error
	if d.envelope, err = dsse.WrapSigner(d.sv, payloadType).SignMessage(bytes.NewReader(payload), sigopts.WithContext(ctx)); err != nil {
		return nil, err
	}
	if d.keyless != nil && d.keyless.rekor != nil {
		if d.entry, err = cosign.TLogUploadDSSEEnvelope(ctx, d.keyless.rekor, d.envelope, d.keyless.certPEM); err != nil {
			return nil, fmt.Errorf("recording the %s in the transparency log %s: %w", what, d.keyless.rekorURL, err)
		}
	}
	return d, nil
}
