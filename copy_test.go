package statepack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// TestPromotionGate is the promotion order Argo CD users rely on (it verifies nothing itself): Copy with a verifier
// refuses an unsigned artifact and one signed by another key before it writes anything at the destination, and
// promotes a signed one by digest, with its signature and attestations, verified again at the destination, tags
// last.
func TestPromotionGate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t)
	key, pub := keyPair(t)
	otherKey, _ := keyPair(t)
	staging := filepath.Join(t.TempDir(), "staging")
	publishTo := func(tag, keyFile string) PublishResult {
		t.Helper()
		o := PublishOptions{}
		if keyFile != "" {
			signer, err := sign.LoadSigner(ctx, keyFile, nil)
			if err != nil {
				t.Fatal(err)
			}
			o.Signer, o.Attest = signer, true
		}
		o.Package.Annotations = map[string]string{"tag": tag} // a digest of its own for each
		res, err := Publish(ctx, demoTree, mustRef(t, "oci:"+staging+":"+tag), o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	signed := publishTo("signed", key)
	publishTo("unsigned", "")
	publishTo("other", otherKey)
	gate, err := NewVerifier(ctx, Policy{Keys: []string{pub}, Attestations: AttestationTypes})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ tag, want string }{
		{"unsigned", "no signature"},
		{"other", "nothing was copied"},
	} {
		_, err := Copy(ctx, mustRef(t, "oci:"+staging+":"+tc.tag), mustRef(t, reg.Host+"/fleet/"+tc.tag+":main"), gate, CopyOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Copy(%s) = %v, want a refusal saying %q", tc.tag, err, tc.want)
		}
		if tags := testregistry.Tags(t, reg.Host, "fleet/"+tc.tag); len(tags) > 0 {
			t.Errorf("a refused promotion of %s left tags %q at the destination", tc.tag, tags)
		}
	}
	never := filepath.Join(t.TempDir(), "never")
	if _, err := Copy(ctx, mustRef(t, "oci:"+staging+":other"), mustRef(t, "oci:"+never+":main"), gate, CopyOptions{}); err == nil {
		t.Error("a promotion of an artifact signed by another key into a layout succeeded")
	}
	if _, err := os.Stat(never); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused promotion created the destination layout (%v)", err)
	}

	res, err := Copy(ctx, mustRef(t, "oci:"+staging+":signed"), mustRef(t, reg.Host+"/fleet/production:main"), gate, CopyOptions{Tags: []string{"stable"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != signed.Digest || !res.Verified || !slices.Equal(res.Tags, []string{"main", "stable"}) {
		t.Errorf("Copy() = %+v, want %s verified and tagged main and stable", res, signed.Digest)
	}
	if _, err := Verify(ctx, mustRef(t, reg.Host+"/fleet/production:stable"), gate, ReadOptions{}); err != nil {
		t.Errorf("the promoted artifact does not verify at the destination: %v", err)
	}
}
