package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
)

// Sign signs subject, a manifest already in t, and stores the signature in t in cosign's legacy format (see the
// package doc). It returns the descriptor of the signature manifest.
//
// dockerReference names the artifact in the signed payload, which reads "<dockerReference>@<digest>" as cosign
// writes it: give "registry/repository" for a registry (a tag or digest on it is dropped, and the name is normalised
// as cosign does), or an "oci:DIR" name for a local layout, kept as given. Verifiers check only the digest.
//
// Sign is idempotent: when the target already holds a signature of subject that verifies with this signer's key
// (and carries the annotations asked for), it writes nothing and returns the existing signature manifest. Other
// signatures already there, by other keys, are kept and the new one is appended, as cosign does. A keyless signer's
// key is ephemeral, so only its own earlier signatures count as already there: another keyless run appends.
//
// A keyless signer records the signature in Rekor (unless made with WithTlogUpload(false)) before anything is
// written to t; when the log refuses, Sign fails and t is left as it was.
func (s *Signer) Sign(ctx context.Context, t oras.Target, subject ocispec.Descriptor, dockerReference string, opts ...SignOption) (ocispec.Descriptor, error) {
	if s == nil || s.impl == nil {
		return ocispec.Descriptor{}, errors.New("signing: no signer (use LoadSigner)")
	}
	o, err := makeSignOptions(opts)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s: %w", subject.Digest, err)
	}
	if err := subject.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %q: %w", subject.Digest, err)
	}
	h, err := v1.NewHash(subject.Digest.String())
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s: %w", subject.Digest, err)
	}
	p, err := makePayload(dockerReference, subject.Digest, o.annotations)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s: %w", subject.Digest, err)
	}
	probe := subject
	if probe.MediaType == "" {
		probe.MediaType = ocispec.MediaTypeImageManifest
	}
	ok, err := t.Exists(ctx, probe)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s: checking that it is in the target: %w", subject.Digest, err)
	}
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s: %w in the target; push the artifact before signing it", subject.Digest, errdef.ErrNotFound)
	}
	sig, err := s.impl.signPayload(ctx, p)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s with %s: %w", subject.Digest, s.source, err)
	}
	own := &cosign.CheckOpts{
		SigVerifier:   s.impl.verifier(),
		IgnoreTlog:    true,
		ClaimVerifier: cosign.SimpleClaimVerifier,
		Annotations:   anyMap(o.annotations),
	}
	isDuplicate := func(existing oci.Signature) bool {
		_, err := cosign.VerifyImageSignature(ctx, existing, h, own)
		return err == nil
	}
	switch o.format {
	case FormatLegacy:
		return writeLegacy(ctx, t, subject.Digest, sig, isDuplicate, o.logger)
	default:
		return ocispec.Descriptor{}, fmt.Errorf("signing %s: format %q: %w", subject.Digest, o.format, ErrUnsupported)
	}
}

// makePayload builds the simple-signing payload cosign signs, byte for byte as `cosign sign` writes it
// (sigstore's payload.Cosign).
func makePayload(dockerReference string, d digest.Digest, annotations map[string]string) ([]byte, error) {
	ref := strings.TrimPrefix(dockerReference, "oci://")
	if ref == "" {
		return nil, errors.New("no name for the signed payload (want registry/repository or oci:DIR)")
	}
	optional := anyMap(annotations)
	if strings.HasPrefix(ref, "oci:") {
		// A local OCI layout has no registry name to normalise; verifiers read only the digest, so the name the
		// caller gave is kept as it is. The JSON is what payload.Cosign would marshal for it.
		return json.Marshal(payload.SimpleContainerImage{
			Critical: payload.Critical{
				Identity: payload.Identity{DockerReference: ref},
				Image:    payload.Image{DockerManifestDigest: d.String()},
				Type:     payload.CosignSignatureType,
			},
			Optional: optional,
		})
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("name for the signed payload: %w", err)
	}
	return payload.Cosign{Image: r.Context().Digest(d.String()), Annotations: optional}.MarshalJSON()
}
