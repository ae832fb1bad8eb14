package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2"
)

// writeAttestationBundles stores one sigstore bundle per predicate as a referrer of subject, as `cosign attest
// --new-bundle-format` does: a DSSE envelope over the in-toto statement, the referrer manifest annotated with the
// predicate type. A statement this signer already stored as a bundle is not written again. It returns the referrer
// manifest of the last predicate.
func (s *Signer) writeAttestationBundles(ctx context.Context, t oras.Target, subject ocispec.Descriptor, dockerReference string, predicates []Predicate, log *slog.Logger) (ocispec.Descriptor, error) {
	full, err := resolveSubject(ctx, t, subject)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolving it in the target: %w", err)
	}
	own := s.impl.verifier()
	var last ocispec.Descriptor
	for _, p := range predicates {
		stmt, err := NewStatement(dockerReference, full.Digest, p)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		found, err := readBundles(ctx, t, full, p.Type)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("listing its sigstore bundles: %w", err)
		}
		if fb, ok := ownAttestationBundle(found, own, stmt); ok {
			log.InfoContext(ctx, "attestation bundle already present", "subject", full.Digest, "predicateType", p.Type, "manifest", fb.manifest.Digest)
			last = fb.manifest
			continue
		}
		b, err := s.dsseBundle(ctx, ctypes.IntotoPayloadType, stmt)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s with %s: %w", p.Type, s.source, err)
		}
		if last, err = writeBundleReferrer(ctx, t, full, b, map[string]string{annotationBundlePredicateType: p.Type}, log); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("writing the %s bundle: %w", p.Type, err)
		}
		log.InfoContext(ctx, "attestation bundle written", "subject", full.Digest, "predicateType", p.Type, "manifest", last.Digest, "size", len(b))
	}
	return last, nil
}

// ownAttestationBundle finds among found a bundle whose envelope holds exactly stmt and verifies with v.
func ownAttestationBundle(found []foundBundle, v signature.Verifier, stmt []byte) (foundBundle, bool) {
	for _, fb := range found {
		if fb.bundle == nil {
			continue
		}
		payload, err := bundlePayload(fb.bundle)
		if err != nil || !bytes.Equal(payload, stmt) {
			continue
		}
		if envelopeVerifies(fb.bundle, v) == nil {
			return fb, true
		}
	}
	return foundBundle{}, false
}

// bundlePayload is the statement a bundle's DSSE envelope holds, as signed.
func bundlePayload(b *sgbundle.Bundle) ([]byte, error) {
	env, err := b.Envelope()
	if err != nil {
		return nil, err
	}
	return env.RawEnvelope().DecodeB64Payload()
}

// verifyAttestationBundles checks bundles, the bundles of predicateType among those found, with bc, appending what
// verifies to res. It returns how many verified and the reasons for those refused.
func verifyAttestationBundles(ctx context.Context, bundles []foundBundle, predicateType string, bc *bundleChecker, o *verifyOptions, res *AttestationVerification) (int, []error, error) {
	var refusals []error
	verified := 0
	for i, fb := range bundles {
		refuse := func(by string, err error) {
			o.logger.DebugContext(ctx, "attestation bundle refused", "subject", bc.subject, "type", predicateType, "manifest", fb.manifest.Digest, "by", by, "error", err)
			if by != "" {
				by = ", " + by
			}
			refusals = append(refusals, fmt.Errorf("bundle %d (manifest %s)%s: %w", i+1, fb.manifest.Digest, by, err))
		}
		s, rs, ok, err := bc.check(fb)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			for _, r := range rs {
				refuse(r.by, r.err)
			}
			continue
		}
		payload, err := bundlePayload(fb.bundle)
		if err != nil {
			refuse("", err)
			continue
		}
		var st Statement
		if err := json.Unmarshal(payload, &st); err != nil {
			refuse("", fmt.Errorf("its statement is not JSON: %w", err))
			continue
		}
		res.Verified = append(res.Verified, VerifiedAttestation{
			Statement: st, KeyIndex: s.keyIndex, Identity: s.identity, Certificate: s.cert, TlogVerified: s.tlog,
			Layer: fb.layer.Digest, Format: FormatBundle, Manifest: fb.manifest,
		})
		verified++
	}
	return verified, refusals, nil
}
