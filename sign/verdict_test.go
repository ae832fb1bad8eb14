package sign_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/statepack/statepack/sign"
)

// wrongKey is what a bundle signed by key b says when checked with key a.
const wrongKey = "its signature does not verify with this key: invalid signature when validating ASN.1 encoded signature"

// published is an artifact as a test case leaves it: the referrer manifest of the bundle that matters to the
// case, and the legacy signature layer.
type published struct {
	subject ocispec.Descriptor
	bundle  ocispec.Descriptor
	legacy  digest.Digest
}

// TestVerifyBundlesPresent checks that Verify reaches the verdict of Flux's source-controller (v1.8 and later) and
// `cosign verify`: when a sigstore bundle refers to the artifact, only bundles count, so a legacy signature by the
// trusted key does not save an artifact whose bundles were made by another key (issue 18).
func TestVerifyBundlesPresent(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	signerA, signerB := loadSigner(t, a), loadSigner(t, b)
	ctx := context.Background()
	eachBundleTarget(t, func(t *testing.T, tg target, _ bool) {
		sign1 := func(t *testing.T, s *sign.Signer, subject ocispec.Descriptor, f sign.Format) ocispec.Descriptor {
			t.Helper()
			desc, err := s.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(f))
			if err != nil {
				t.Fatalf("Sign(%s): %v", f, err)
			}
			return desc
		}
		legacyLayer := func(t *testing.T, subject ocispec.Descriptor) digest.Digest {
			t.Helper()
			_, m, _ := sigManifest(t, tg, subject)
			return m.Layers[0].Digest
		}
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T, subject ocispec.Descriptor) published
			opts  []sign.VerifyOption
			// want is the exact error, "" for success; formats are then the formats verified, in order.
			want       func(p published) string
			formats    []sign.Format
			legacyOnly bool
		}{
			{
				name: "legacy by the trusted key, bundle by another",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatLegacy)
					return published{subject: s, bundle: sign1(t, signerB, s, sign.FormatBundle), legacy: legacyLayer(t, s)}
				},
				want: func(p published) string {
					return fmt.Sprintf("signature verification failed for %s: bundles present: legacy signatures are not read by Flux ≥ 2.8 (nor by cosign verify), "+
						"and none of the 1 bundle(s) referring to it verifies with the given key(s); 1 legacy signature(s) do, which only verifiers that read either format accept "+
						"(sign it as a bundle with a trusted key, or remove the bundles that do not verify): bundle 1 (manifest %s), key 0: %s", p.subject.Digest, p.bundle.Digest, wrongKey)
				},
			},
			{
				name: "legacy by the trusted key, bundle by another, legacy fallback",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatLegacy)
					return published{subject: s, bundle: sign1(t, signerB, s, sign.FormatBundle)}
				},
				opts:       []sign.VerifyOption{sign.WithLegacyFallback(true)},
				formats:    []sign.Format{sign.FormatLegacy},
				legacyOnly: true,
			},
			{
				name: "legacy by the trusted key, fallback asked for and then turned off",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatLegacy)
					return published{subject: s, bundle: sign1(t, signerB, s, sign.FormatBundle)}
				},
				opts: []sign.VerifyOption{sign.WithLegacyFallback(true), sign.WithLegacyFallback(false)},
				want: func(p published) string {
					return fmt.Sprintf("signature verification failed for %s: bundles present: legacy signatures are not read by Flux ≥ 2.8 (nor by cosign verify), "+
						"and none of the 1 bundle(s) referring to it verifies with the given key(s); 1 legacy signature(s) do, which only verifiers that read either format accept "+
						"(sign it as a bundle with a trusted key, or remove the bundles that do not verify): bundle 1 (manifest %s), key 0: %s", p.subject.Digest, p.bundle.Digest, wrongKey)
				},
			},
			{
				name: "bundle by the trusted key, legacy by another",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerB, s, sign.FormatLegacy)
					return published{subject: s, bundle: sign1(t, signerA, s, sign.FormatBundle)}
				},
				formats: []sign.Format{sign.FormatBundle},
			},
			{
				name: "legacy by the trusted key only",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatLegacy)
					return published{subject: s}
				},
				formats: []sign.Format{sign.FormatLegacy},
			},
			{
				name: "both formats by the trusted key",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					return published{subject: s, bundle: sign1(t, signerA, s, sign.FormatBoth)}
				},
				formats: []sign.Format{sign.FormatBundle, sign.FormatLegacy},
			},
			{
				name: "both formats by the trusted key, and a bundle by another",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatBoth)
					return published{subject: s, bundle: sign1(t, signerB, s, sign.FormatBundle)}
				},
				formats: []sign.Format{sign.FormatBundle, sign.FormatLegacy},
			},
			{
				// Flux and cosign count attestation bundles too: one by another key leaves them nothing to accept.
				name: "legacy by the trusted key, attestation bundle by another",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatLegacy)
					att, err := signerB.Attest(ctx, tg.Target, s, tg.ref, []sign.Predicate{slsaPredicate}, sign.WithFormat(sign.FormatBundle))
					if err != nil {
						t.Fatal(err)
					}
					return published{subject: s, bundle: att}
				},
				want: func(p published) string {
					return fmt.Sprintf("signature verification failed for %s: bundles present: legacy signatures are not read by Flux ≥ 2.8 (nor by cosign verify), "+
						"and none of the 1 bundle(s) referring to it verifies with the given key(s); 1 legacy signature(s) do, which only verifiers that read either format accept "+
						"(sign it as a bundle with a trusted key, or remove the bundles that do not verify): bundle 1 (manifest %s, an attestation of type %s), key 0: %s",
						p.subject.Digest, p.bundle.Digest, sign.PredicateSLSAProvenanceV1, wrongKey)
				},
			},
			{
				// An attestation bundle by the trusted key is what Flux then accepts; Verify still reports the
				// legacy signature, not the attestation, as the signature.
				name: "legacy by the trusted key, attestation bundle by the trusted key",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatLegacy)
					if _, err := signerA.Attest(ctx, tg.Target, s, tg.ref, []sign.Predicate{slsaPredicate}, sign.WithFormat(sign.FormatBundle)); err != nil {
						t.Fatal(err)
					}
					return published{subject: s}
				},
				formats: []sign.Format{sign.FormatLegacy},
			},
			{
				// cosign's GetBundles skips a referrer that does not parse as a bundle, and so does the rule.
				name: "legacy by the trusted key, a referrer that is not a bundle",
				setup: func(t *testing.T, s ocispec.Descriptor) published {
					sign1(t, signerA, s, sign.FormatLegacy)
					junkBundleReferrer(t, tg, s)
					return published{subject: s}
				},
				formats: []sign.Format{sign.FormatLegacy},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := tc.setup(t, pushArtifact(t, tg, t.Name()))
				var logs bytes.Buffer
				opts := append(slices.Clip(tc.opts), sign.WithVerifyLogger(slogText(&logs)))
				res, err := sign.Verify(ctx, tg.reopen(t), p.subject, loadVerifiers(t, a), opts...)
				if tc.want != nil {
					want := tc.want(p)
					if err == nil || err.Error() != want || !errors.Is(err, sign.ErrVerification) || errors.Is(err, sign.ErrNoSignature) {
						t.Fatalf("Verify = %+v, %v\nwant the error\n%s\nwrapping ErrVerification", res, err, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				var formats []sign.Format
				for _, v := range res.Verified {
					formats = append(formats, v.Format)
				}
				if !slices.Equal(formats, tc.formats) || res.LegacyOnly != tc.legacyOnly {
					t.Errorf("Verify = formats %v, LegacyOnly %v; want %v, %v", formats, res.LegacyOnly, tc.formats, tc.legacyOnly)
				}
				warned := strings.Contains(logs.String(), `level=WARN msg="only a legacy signature verifies: Flux's source-controller (v1.8 and later) and cosign verify read only the sigstore bundles when an artifact has any, and refuse it"`)
				if warned != tc.legacyOnly {
					t.Errorf("warned = %v, want %v; logs:\n%s", warned, tc.legacyOnly, logs.String())
				}
			})
		}
	})
}

// junkBundleReferrer stores, as a referrer of subject, a manifest that claims to hold a sigstore bundle and does
// not: cosign's GetBundles skips it.
func junkBundleReferrer(t *testing.T, tg target, subject ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	junk := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	layer := content.NewDescriptorFromBytes(sign.BundleMediaType, junk)
	if err := tg.Push(ctx, layer, bytes.NewReader(junk)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatal(err)
	}
	config := ocispec.DescriptorEmptyJSON
	if err := tg.Push(ctx, config, bytes.NewReader(config.Data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatal(err)
	}
	if _, err := oras.PackManifest(ctx, tg, oras.PackManifestVersion1_1, sign.BundleMediaType, oras.PackManifestOptions{
		Subject: &subject, Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	}); err != nil {
		t.Fatal(err)
	}
}

// fluxVerifies decides as Flux's source-controller does for a key (fluxcd/source-controller
// internal/oci/cosign/cosign.go, CosignVerifier.Verify, v1.8), with cosign v2.6.5's library: the legacy signatures
// when cosign.GetBundles finds no bundle (or fails), else the bundles alone, with VerifyImageAttestations.
func fluxVerifies(ctx context.Context, t *testing.T, tg target, subject ocispec.Descriptor, key keyPair) bool {
	t.Helper()
	ref, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	co := &cosign.CheckOpts{
		SigVerifier: loadVerifiers(t, key)[0],
		Offline:     true,
		IgnoreTlog:  true,
		RegistryClientOpts: []ociremote.Option{ociremote.WithRemoteOptions(
			ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))},
	}
	var sigs []oci.Signature
	bundles, _, err := cosign.GetBundles(ctx, ref, co)
	if len(bundles) == 0 || err != nil {
		co.NewBundleFormat = false
		sigs, _, err = cosign.VerifyImageSignatures(ctx, ref, co)
	} else {
		// cosign v2.6.5 wants trust material for bundles even with a key (cosign v3, which Flux links, does not):
		// an empty trusted root, as `cosign verify --trusted-root` takes offline, changes nothing else.
		tr, terr := root.NewTrustedRootFromJSON(emptyTrustedRoot)
		if terr != nil {
			t.Fatal(terr)
		}
		co.NewBundleFormat, co.TrustedMaterial = true, tr
		sigs, _, err = cosign.VerifyImageAttestations(ctx, ref, co)
	}
	t.Logf("Flux's procedure: %d bundle(s) found, %d verified, error %v", len(bundles), len(sigs), err)
	return err == nil && len(sigs) > 0
}

// TestVerifyAgreesWithFlux runs Flux's own decision, with cosign's code, next to Verify on the artifacts of issue 18:
// both must say yes, or both no.
func TestVerifyAgreesWithFlux(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	signerA, signerB := loadSigner(t, a), loadSigner(t, b)
	ctx := context.Background()
	eachRegistry(t, func(t *testing.T, tg target) {
		sign1 := func(t *testing.T, s *sign.Signer, subject ocispec.Descriptor, f sign.Format) {
			t.Helper()
			if _, err := s.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(f)); err != nil {
				t.Fatalf("Sign(%s): %v", f, err)
			}
		}
		attest := func(t *testing.T, s *sign.Signer, subject ocispec.Descriptor) {
			t.Helper()
			if _, err := s.Attest(ctx, tg.Target, subject, tg.ref, []sign.Predicate{slsaPredicate}, sign.WithFormat(sign.FormatBundle)); err != nil {
				t.Fatalf("Attest: %v", err)
			}
		}
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T, s ocispec.Descriptor)
			want  bool
		}{
			{"legacy by the trusted key, bundle by another", func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
				sign1(t, signerB, s, sign.FormatBundle)
			}, false},
			{"bundle by the trusted key, legacy by another", func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerB, s, sign.FormatLegacy)
				sign1(t, signerA, s, sign.FormatBundle)
			}, true},
			{"legacy by the trusted key only", func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
			}, true},
			{"both formats by the trusted key", func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatBoth)
			}, true},
			{"legacy by the trusted key, attestation bundle by another", func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
				attest(t, signerB, s)
			}, false},
			{"legacy by the trusted key, attestation bundle by the trusted key", func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
				attest(t, signerA, s)
			}, true},
			{"legacy by the trusted key, a referrer that is not a bundle", func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
				junkBundleReferrer(t, tg, s)
			}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				subject := pushArtifact(t, tg, t.Name())
				tc.setup(t, subject)
				if got := fluxVerifies(ctx, t, tg, subject, a); got != tc.want {
					t.Fatalf("Flux's procedure says %v, want %v: the test's premise is wrong", got, tc.want)
				}
				_, err := sign.Verify(ctx, tg.reopen(t), subject, loadVerifiers(t, a))
				if (err == nil) != tc.want {
					t.Errorf("Verify = %v, but Flux says %v", err, tc.want)
				}
			})
		}
	})
}
