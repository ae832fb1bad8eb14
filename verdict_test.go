package statepack

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// TestPublishWarnsBeforeBundlesBreakLegacyTrust publishes a tree signed with an old key in cosign's legacy format,
// then the same tree (the same digest) signed with a new key as a sigstore bundle: clusters that trust the old key
// through its .sig refuse the artifact from then on (Flux ≥ 2.8 reads only the bundles when there are any), so the
// second publish warns, and verifying with the old key fails as Flux does, naming the rule.
func TestPublishWarnsBeforeBundlesBreakLegacyTrust(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKey, oldPub := keyPair(t)
	newKey, newPub := keyPair(t)
	ref, err := publish.ParseRef("oci:" + filepath.Join(t.TempDir(), "layout") + ":main")
	if err != nil {
		t.Fatal(err)
	}
	publishWith := func(key string, format sign.Format) PublishResult {
		t.Helper()
		signer, err := sign.LoadSigner(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Publish(ctx, demoTree, ref, PublishOptions{Signer: signer, SignatureFormat: format})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if first := publishWith(oldKey, sign.FormatLegacy); len(first.Warnings) != 0 {
		t.Errorf("a first publish warns: %q", first.Warnings)
	}
	second := publishWith(newKey, sign.FormatBundle)
	if len(second.Warnings) != 1 || !strings.Contains(second.Warnings[0], "bundles present") || !strings.Contains(second.Warnings[0], "1 by other keys") {
		t.Errorf("publishing a bundle over another key's legacy signature warns %q, want one warning naming the rule", second.Warnings)
	}
	verifyWith := func(pub string) error {
		v, err := NewVerifier(ctx, Policy{Keys: []string{pub}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, ref, v, ReadOptions{})
		return err
	}
	if err := verifyWith(oldPub); !errors.Is(err, sign.ErrVerification) || !strings.Contains(err.Error(), "bundles present: legacy signatures are not read by Flux ≥ 2.8") {
		t.Errorf("Verify(old key) = %v, want Flux's refusal naming the rule", err)
	}
	if err := verifyWith(newPub); err != nil {
		t.Errorf("Verify(new key) = %v, want the bundle to verify", err)
	}
	// The old key signing a bundle too mends it: no warning, and both keys verify.
	if again := publishWith(oldKey, sign.FormatBoth); len(again.Warnings) != 0 {
		t.Errorf("publishing a bundle with the old key too still warns: %q", again.Warnings)
	}
	if err := verifyWith(oldPub); err != nil {
		t.Errorf("Verify(old key) after it signed a bundle = %v", err)
	}
}

// TestVerifyExplainsInFluxsTerms: Flux's refusal reads the same for an unsigned artifact, one signed by another key,
// one with bundles by another key only, and a mixed one (a trusted .sig hidden by another key's bundle); Verify
// says which it is (issue #18).
func TestVerifyExplainsInFluxsTerms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key, pub := keyPair(t)
	otherKey, _ := keyPair(t)
	layout := filepath.Join(t.TempDir(), "layout")
	publishAs := func(tag, keyFile string, format sign.Format) {
		t.Helper()
		o := PublishOptions{SignatureFormat: format, Package: PackageOptions{Annotations: map[string]string{"case": tag}}}
		if keyFile != "" {
			signer, err := sign.LoadSigner(ctx, keyFile, nil)
			if err != nil {
				t.Fatal(err)
			}
			o.Signer = signer
		}
		if _, err := Publish(ctx, demoTree, mustRef(t, "oci:"+layout+":"+tag), o); err != nil {
			t.Fatal(err)
		}
	}
	publishAs("unsigned", "", "")
	publishAs("wrong-key", otherKey, sign.FormatLegacy)
	publishAs("bundles-by-others", otherKey, sign.FormatBundle)
	publishAs("mixed", key, sign.FormatLegacy)
	publishAs("mixed", otherKey, sign.FormatBundle)
	v, err := NewVerifier(ctx, Policy{Keys: []string{pub}})
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]string{
		"unsigned":          "unsigned: neither a sigstore bundle nor a .sig tag refers to",
		"wrong-key":         "signed, but not by a trusted key or identity",
		"bundles-by-others": "sigstore bundles by other keys or identities only",
		"mixed":             "mixed: a .sig by a trusted key, but sigstore bundles by other keys",
	} {
		res, err := Verify(ctx, mustRef(t, "oci:"+layout+":"+tag), v, ReadOptions{})
		if err == nil || !strings.HasPrefix(res.Explanation, want) || !strings.Contains(res.Explanation, "no matching signatures were found") {
			t.Errorf("Verify(%s) = %v, explanation %q; want it to start %q", tag, err, res.Explanation, want)
		}
	}
}
