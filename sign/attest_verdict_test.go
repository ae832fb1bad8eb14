package sign_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/sign"
)

// TestVerifyAttestationsBundlesPresent checks the same rule for attestations, as `cosign verify-attestation`
// applies it: with any bundle referring to the artifact, only bundles of the requested type count.
func TestVerifyAttestationsBundlesPresent(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	signerA, signerB := loadSigner(t, a), loadSigner(t, b)
	ctx := context.Background()
	pt := sign.PredicateSLSAProvenanceV1
	tg := memRegistry(t, true)
	attest := func(t *testing.T, s *sign.Signer, subject ocispec.Descriptor, f sign.Format) ocispec.Descriptor {
		t.Helper()
		desc, err := s.Attest(ctx, tg.Target, subject, tg.ref, []sign.Predicate{slsaPredicate}, sign.WithFormat(f))
		if err != nil {
			t.Fatalf("Attest(%s): %v", f, err)
		}
		return desc
	}
	for _, tc := range []struct {
		name       string
		setup      func(t *testing.T, subject ocispec.Descriptor) published
		opts       []sign.VerifyOption
		want       func(p published) string
		formats    []sign.Format
		legacyOnly []string
	}{
		{
			name: "legacy by the trusted key, bundle by another",
			setup: func(t *testing.T, s ocispec.Descriptor) published {
				attest(t, signerA, s, sign.FormatLegacy)
				return published{subject: s, bundle: attest(t, signerB, s, sign.FormatBundle)}
			},
			want: func(p published) string {
				return fmt.Sprintf("signature verification failed for the %s attestation of %s: bundles present: legacy attestations are not read by cosign verify-attestation, "+
					"and none of its 1 bundle(s) of that type verifies with the given key(s); 1 legacy attestation(s) do, which only verifiers that read either format accept "+
					"(attest it as a bundle with a trusted key, or remove the bundles that do not verify): bundle 1 (manifest %s), key 0: %s", pt, p.subject.Digest, p.bundle.Digest, wrongKey)
			},
		},
		{
			name: "legacy by the trusted key, bundle by another, legacy fallback",
			setup: func(t *testing.T, s ocispec.Descriptor) published {
				attest(t, signerA, s, sign.FormatLegacy)
				attest(t, signerB, s, sign.FormatBundle)
				return published{subject: s}
			},
			opts:       []sign.VerifyOption{sign.WithLegacyFallback(true)},
			formats:    []sign.Format{sign.FormatLegacy},
			legacyOnly: []string{pt},
		},
		{
			// A signature bundle is enough for cosign to read bundles only; it then finds no attestation of the type.
			name: "legacy attestation, signature bundle, both by the trusted key",
			setup: func(t *testing.T, s ocispec.Descriptor) published {
				attest(t, signerA, s, sign.FormatLegacy)
				if _, err := signerA.Sign(ctx, tg.Target, s, tg.ref, sign.WithFormat(sign.FormatBundle)); err != nil {
					t.Fatal(err)
				}
				return published{subject: s}
			},
			want: func(p published) string {
				return fmt.Sprintf("signature verification failed for the %s attestation of %s: bundles present: legacy attestations are not read by cosign verify-attestation, "+
					"and none of the 1 bundle(s) referring to it is of that type; 1 legacy attestation(s) of that type verify, which only verifiers that read either format accept "+
					"(attest it as a bundle too: FormatBoth writes both)", pt, p.subject.Digest)
			},
		},
		{
			name: "bundle by the trusted key, legacy by another",
			setup: func(t *testing.T, s ocispec.Descriptor) published {
				attest(t, signerB, s, sign.FormatLegacy)
				attest(t, signerA, s, sign.FormatBundle)
				return published{subject: s}
			},
			formats: []sign.Format{sign.FormatBundle},
		},
		{
			name: "legacy by the trusted key only",
			setup: func(t *testing.T, s ocispec.Descriptor) published {
				attest(t, signerA, s, sign.FormatLegacy)
				return published{subject: s}
			},
			formats: []sign.Format{sign.FormatLegacy},
		},
		{
			name: "both formats by the trusted key",
			setup: func(t *testing.T, s ocispec.Descriptor) published {
				attest(t, signerA, s, sign.FormatBoth)
				return published{subject: s}
			},
			formats: []sign.Format{sign.FormatBundle, sign.FormatLegacy},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.setup(t, pushArtifact(t, tg, t.Name()))
			res, err := sign.VerifyAttestations(ctx, tg.reopen(t), p.subject, loadVerifiers(t, a), []string{pt}, tc.opts...)
			if tc.want != nil {
				want := tc.want(p)
				if err == nil || err.Error() != want || !errors.Is(err, sign.ErrVerification) || errors.Is(err, sign.ErrNoAttestation) {
					t.Fatalf("VerifyAttestations = %+v, %v\nwant the error\n%s\nwrapping ErrVerification", res, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyAttestations: %v", err)
			}
			var formats []sign.Format
			for _, v := range res.Verified {
				formats = append(formats, v.Format)
			}
			if !slices.Equal(formats, tc.formats) || !slices.Equal(res.LegacyOnly, tc.legacyOnly) {
				t.Errorf("VerifyAttestations = formats %v, LegacyOnly %v; want %v, %v", formats, res.LegacyOnly, tc.formats, tc.legacyOnly)
			}
		})
	}
}
