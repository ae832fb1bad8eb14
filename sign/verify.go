package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"oras.land/oras-go/v2"
)

// Verification is what Verify found.
type Verification struct {
	// Subject is the digest whose signatures were checked.
	Subject digest.Digest
	// SignatureManifest is the manifest tagged sha256-<hex>.sig that the signatures were read from.
	SignatureManifest ocispec.Descriptor
	// Checked is how many signatures that manifest holds.
	Checked int
	// Verified lists the signatures that verified, in the manifest's order; there is at least one.
	Verified []VerifiedSignature
}

// VerifiedSignature is one signature that verified.
type VerifiedSignature struct {
	// KeyIndex is the index, in the verifiers given to Verify, of the first key that verified the signature.
	KeyIndex int
	// Image is the signed payload's "<docker-reference>@<digest>".
	Image string
	// Annotations are the payload's optional annotations (cosign sign -a); nil when there are none.
	Annotations map[string]interface{}
	// Layer is the digest of the signature's layer in the signature manifest.
	Layer digest.Digest
}

// Verify checks that subject carries, in t, a signature in cosign's legacy format that verifies with one of
// verifiers, as Flux's source-controller and `cosign verify --key --insecure-ignore-tlog` do: each signature layer
// under the sha256-<hex>.sig tag is checked with cosign's own VerifyImageSignature, so the signature must verify
// over the payload and the payload must name subject's digest. The transparency log is not consulted.
//
// It returns an error wrapping ErrNoSignature when there is no signature at all, and one wrapping ErrVerification,
// saying how many signatures were checked and why each was refused, when none verifies. Only subject.Digest is
// used; the subject itself need not be in t.
func Verify(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor, verifiers []signature.Verifier, opts ...VerifyOption) (*Verification, error) {
	o, err := makeVerifyOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", subject.Digest, err)
	}
	if err := subject.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("verifying %q: %w", subject.Digest, err)
	}
	h, err := v1.NewHash(subject.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", subject.Digest, err)
	}
	if len(verifiers) == 0 {
		return nil, fmt.Errorf("verifying %s: no public key given", subject.Digest)
	}
	for i, v := range verifiers {
		if v == nil {
			return nil, fmt.Errorf("verifying %s: public key %d is nil (use LoadVerifiers)", subject.Digest, i)
		}
	}
	tag := SignatureTag(subject.Digest)
	sigs, err := readLegacy(ctx, t, subject.Digest)
	if err != nil {
		return nil, err
	}
	if sigs == nil {
		return nil, fmt.Errorf("%w for %s: the target has no tag %s", ErrNoSignature, subject.Digest, tag)
	}
	list, err := sigs.Get()
	if err != nil {
		return nil, fmt.Errorf("verifying %s: reading tag %s: %w", subject.Digest, tag, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w for %s: tag %s holds no signature layer", ErrNoSignature, subject.Digest, tag)
	}

	res := &Verification{Subject: subject.Digest, SignatureManifest: sigs.desc, Checked: len(list)}
	many := len(list) > 1 || len(verifiers) > 1
	var refusals []error
	for i, sig := range list {
		layer, _ := sig.Digest()
		// cosign copies each signature into a static one before checking it; so do we, to check the same thing.
		sig, err := static.Copy(sig)
		if err != nil {
			refusals = append(refusals, refusal(many, i, layer, -1, err))
			continue
		}
		for k, v := range verifiers {
			co := &cosign.CheckOpts{
				SigVerifier:   v,
				IgnoreTlog:    true,
				ClaimVerifier: claimVerifier,
				Annotations:   anyMap(o.annotations),
			}
			if _, err := cosign.VerifyImageSignature(ctx, sig, h, co); err != nil {
				o.logger.DebugContext(ctx, "signature refused", "subject", subject.Digest, "signature", i+1, "key", k, "error", err)
				refusals = append(refusals, refusal(many, i, layer, k, err))
				continue
			}
			vs, err := describe(sig, k, layer)
			if err != nil {
				return nil, fmt.Errorf("verifying %s: signature %d: %w", subject.Digest, i+1, err)
			}
			o.logger.DebugContext(ctx, "signature verified", "subject", subject.Digest, "signature", i+1, "key", k, "image", vs.Image)
			res.Verified = append(res.Verified, vs)
			break
		}
	}
	if len(res.Verified) == 0 {
		return nil, fmt.Errorf("%w for %s: %d signature(s) checked, none verifies with the given key(s): %w",
			ErrVerification, subject.Digest, len(list), errors.Join(refusals...))
	}
	return res, nil
}

// refusal says why one signature did not verify with one key; the signature and key are named only when there is
// more than one of either, so the common single-key message stays short.
func refusal(many bool, i int, layer v1.Hash, key int, err error) error {
	if !many {
		return err
	}
	if key < 0 {
		return fmt.Errorf("signature %d (layer %s): %w", i+1, layer, err)
	}
	return fmt.Errorf("signature %d (layer %s), key %d: %w", i+1, layer, key, err)
}

func describe(sig oci.Signature, key int, layer v1.Hash) (VerifiedSignature, error) {
	p, err := sig.Payload()
	if err != nil {
		return VerifiedSignature{}, err
	}
	var sci payload.SimpleContainerImage
	if err := json.Unmarshal(p, &sci); err != nil {
		return VerifiedSignature{}, err
	}
	return VerifiedSignature{
		KeyIndex:    key,
		Image:       sci.Critical.Identity.DockerReference + "@" + sci.Critical.Image.DockerManifestDigest,
		Annotations: sci.Optional,
		Layer:       digest.Digest(layer.String()),
	}, nil
}

// claimVerifier is cosign's SimpleClaimVerifier with a message a human can act on: it names both digests when the
// payload was made for another artifact (a signature copied under this artifact's tag, or a tag that moved).
func claimVerifier(sig oci.Signature, h v1.Hash, annotations map[string]interface{}) error {
	err := cosign.SimpleClaimVerifier(sig, h, annotations)
	if err == nil {
		return nil
	}
	p, perr := sig.Payload()
	if perr != nil {
		return err
	}
	var sci payload.SimpleContainerImage
	if jerr := json.Unmarshal(p, &sci); jerr != nil {
		return fmt.Errorf("payload is not a cosign simple-signing payload: %w", jerr)
	}
	if got := sci.Critical.Image.DockerManifestDigest; got != h.String() {
		return fmt.Errorf("payload digest mismatch: the signature is for %s, not %s (copied from another artifact, or a moved tag?)", got, h)
	}
	if annotations != nil {
		have, _ := json.Marshal(sci.Optional)
		want, _ := json.Marshal(annotations)
		return fmt.Errorf("payload annotations %s lack the required %s", have, want)
	}
	return err
}
