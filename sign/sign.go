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

// Sign signs subject, a manifest already in t, and stores the signature in t in the format WithFormat selects:
// cosign's legacy format by default, the sigstore bundle as an OCI 1.1 referrer (FormatBundle), or both
// (FormatBoth: legacy first, then the bundle). It returns the descriptor of the manifest that holds the signature:
// the one tagged sha256-<hex>.sig for FormatLegacy, the referrer manifest holding the bundle for FormatBundle and
// FormatBoth.
//
// dockerReference names the artifact in the signed legacy payload, which reads "<dockerReference>@<digest>" as
// cosign writes it: give "registry/repository" for a registry (a tag or digest on it is dropped, and the name is
// normalised as cosign does), or an "oci:DIR" name for a local layout, kept as given. Verifiers check only the
// digest. The bundle's statement names the digest alone, as cosign's does.
//
// Sign is idempotent: when the target already holds a signature of subject that verifies with this signer's key
// (and carries the annotations asked for), it writes nothing and returns the existing signature manifest; in
// FormatBoth each format is checked on its own. Other signatures already there, by other keys, are kept and the new
// one is added, as cosign does: appended to the .sig manifest, or as one more referrer. A keyless signer's key is
// ephemeral, so only its own earlier signatures count as already there: another keyless run adds one.
//
// A keyless signer records each signature in Rekor (unless made with WithTlogUpload(false)) before it is written to
// t: a hashedrekord entry for the legacy payload, a dsse entry for the bundle's envelope, as cosign does. When the
// log refuses, Sign fails and nothing more is written to t.
//
// The bundle goes where the artifact's referrers are found: through a registry's referrers API when it has one;
// else Sign updates the referrers tag (an image index tagged sha256-<hex>, the OCI distribution spec's fallback,
// which Flux and cosign read); in an OCI layout it is recorded in index.json, untagged. Two writers racing on a
// registry without the referrers API can lose one entry of that index, as with the legacy tag: the last one wins.
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
	if err := requireSubject(ctx, t, subject, "signing"); err != nil {
		return ocispec.Descriptor{}, err
	}
	if o.format != FormatLegacy && o.annotations != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s: signature annotations are %w in the %q format: a sigstore bundle has no place for them (use %q)",
			subject.Digest, ErrUnsupported, o.format, FormatLegacy)
	}
	if o.format == FormatBundle {
		return s.signBundle(ctx, t, subject, o)
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
	desc, err := writeLegacy(ctx, t, subject.Digest, sig, isDuplicate, o.logger)
	if err != nil || o.format == FormatLegacy {
		return desc, err
	}
	return s.signBundle(ctx, t, subject, o)
}

// signBundle is Sign's bundle half.
func (s *Signer) signBundle(ctx context.Context, t oras.Target, subject ocispec.Descriptor, o *signOptions) (ocispec.Descriptor, error) {
	desc, err := s.writeBundle(ctx, t, subject, o.logger)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("signing %s in the bundle format: %w", subject.Digest, err)
	}
	return desc, nil
}

// requireSubject refuses to sign or attest (what) a subject that is not in t: a signature of content the target
// does not hold would be a dangling tag.
func requireSubject(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor, what string) error {
	probe := subject
	if probe.MediaType == "" {
		probe.MediaType = ocispec.MediaTypeImageManifest
	}
	ok, err := t.Exists(ctx, probe)
	if err != nil {
		return fmt.Errorf("%s %s: checking that it is in the target: %w", what, subject.Digest, err)
	}
	if !ok {
		return fmt.Errorf("%s %s: %w in the target; push the artifact before %s it", what, subject.Digest, errdef.ErrNotFound, what)
	}
	return nil
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
