package sign_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/sign"
)

// TestBundleOnlyRisk checks what a publisher is told before it breaks clusters: which keys trusted the artifact
// through a legacy signature and have no bundle that verifies with them.
func TestBundleOnlyRisk(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	signerA, signerB := loadSigner(t, a), loadSigner(t, b)
	ctx := context.Background()
	tg := memRegistry(t, true)
	sign1 := func(t *testing.T, s *sign.Signer, subject ocispec.Descriptor, f sign.Format) {
		t.Helper()
		if _, err := s.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(f)); err != nil {
			t.Fatalf("Sign(%s): %v", f, err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, subject ocispec.Descriptor)
		keys  []keyPair
		// want is BundleRisk with Unverified holding the legacy signature layer when unverified is set.
		want       sign.BundleRisk
		unverified bool
		atRisk     bool
	}{
		{
			name: "an old key's legacy signature, a new key's bundle: the old key is at risk",
			setup: func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
				sign1(t, signerB, s, sign.FormatBundle)
			},
			keys:   []keyPair{a, b},
			want:   sign.BundleRisk{Bundles: 1, Keys: []int{0}},
			atRisk: true,
		},
		{
			name: "the same, known to the publisher by its own new key only",
			setup: func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
				sign1(t, signerB, s, sign.FormatBundle)
			},
			keys:       []keyPair{b},
			want:       sign.BundleRisk{Bundles: 1},
			unverified: true,
			atRisk:     true,
		},
		{
			name: "the old key signed a bundle too",
			setup: func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatBoth)
				sign1(t, signerB, s, sign.FormatBundle)
			},
			keys: []keyPair{a, b},
			want: sign.BundleRisk{Bundles: 2},
		},
		{
			name: "no bundle",
			setup: func(t *testing.T, s ocispec.Descriptor) {
				sign1(t, signerA, s, sign.FormatLegacy)
			},
			keys: []keyPair{b},
			want: sign.BundleRisk{},
		},
		{
			name:  "no signature at all",
			setup: func(t *testing.T, s ocispec.Descriptor) {},
			keys:  []keyPair{a},
			want:  sign.BundleRisk{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subject := pushArtifact(t, tg, t.Name())
			tc.setup(t, subject)
			want := tc.want
			if tc.unverified {
				_, m, _ := sigManifest(t, tg, subject)
				want.Unverified = []digest.Digest{m.Layers[0].Digest}
			}
			got, err := sign.BundleOnlyRisk(ctx, tg.reopen(t), subject, loadVerifiers(t, tc.keys...))
			if err != nil {
				t.Fatalf("BundleOnlyRisk: %v", err)
			}
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) || got.AtRisk() != tc.atRisk {
				t.Errorf("BundleOnlyRisk = %+v (at risk: %v), want %+v (%v)", *got, got.AtRisk(), want, tc.atRisk)
			}
		})
	}
	t.Run("arguments refused as Verify refuses them", func(t *testing.T) {
		subject := pushArtifact(t, tg, t.Name())
		_, err := sign.BundleOnlyRisk(ctx, tg.Target, subject, nil)
		want := fmt.Sprintf("checking the bundles of %s: no public key given, and no expected identity for keyless signatures", subject.Digest)
		if err == nil || err.Error() != want {
			t.Errorf("BundleOnlyRisk(no key) = %v, want %q", err, want)
		}
	})
}
