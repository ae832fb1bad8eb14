package sign_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"oras.land/oras-go/v2"

	"github.com/statepack/statepack/sign"
)

// TestAttestBundle stores attestations as sigstore bundles referring to the artifact, on registries with and
// without the referrers API and in an OCI layout, and reads them back by predicate type.
func TestAttestBundle(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	ctx := context.Background()
	both := []string{sign.PredicateSLSAProvenanceV1, sign.PredicateInventoryV1}
	eachBundleTarget(t, func(t *testing.T, tg target, _ bool) {
		subject := pushArtifact(t, tg.Target, t.Name())
		preds := []sign.Predicate{slsaPredicate, inventoryPredicate}
		first, err := loadSigner(t, a).Attest(ctx, tg.Target, subject, tg.ref, preds, sign.WithFormat(sign.FormatBundle))
		if err != nil {
			t.Fatalf("Attest bundle: %v", err)
		}
		if _, err := oras.Resolve(ctx, tg.Target, sign.AttestationTag(subject.Digest), oras.DefaultResolveOptions); err == nil {
			t.Error("the bundle format wrote the legacy .att tag too")
		}
		refs := len(referrersOf(t, tg, subject))
		if refs != 2 {
			t.Errorf("%d referrers after attesting two predicates, want 2", refs)
		}
		res, err := sign.VerifyAttestations(ctx, tg.Target, subject, loadVerifiers(t, a), both)
		if err != nil {
			t.Fatalf("VerifyAttestations: %v", err)
		}
		if len(res.Verified) != 2 || res.Checked != 2 {
			t.Fatalf("VerifyAttestations = %d of %d verified, want 2 of 2", len(res.Verified), res.Checked)
		}
		for i, v := range res.Verified {
			if v.Format != sign.FormatBundle || v.Statement.PredicateType != both[i] || v.Statement.Subject[0].Digest["sha256"] != subject.Digest.Encoded() {
				t.Errorf("verified %d = %s %s about %v, want a bundle of %s about %s", i, v.Format, v.Statement.PredicateType, v.Statement.Subject, both[i], subject.Digest)
			}
		}
		// Idempotent: the same statements are not written again.
		again, err := loadSigner(t, a).Attest(ctx, tg.Target, subject, tg.ref, preds, sign.WithFormat(sign.FormatBundle))
		if err != nil || again.Digest != first.Digest || len(referrersOf(t, tg, subject)) != refs {
			t.Errorf("Attest again = %s, %v with %d referrers; want %s and no new referrer", again.Digest, err, len(referrersOf(t, tg, subject)), first.Digest)
		}
		// Another key's bundles do not verify with key B, and a wrong key is refused with a reason.
		_, err = sign.VerifyAttestations(ctx, tg.Target, subject, loadVerifiers(t, b), both[:1])
		if !errors.Is(err, sign.ErrVerification) || !strings.Contains(err.Error(), "does not verify with this key") {
			t.Errorf("VerifyAttestations with the wrong key = %v", err)
		}
		// Signature bundles are not attestations, and attestation bundles are not signatures.
		if _, err := sign.Verify(ctx, tg.Target, subject, loadVerifiers(t, a)); !errors.Is(err, sign.ErrNoSignature) {
			t.Errorf("Verify of an artifact with attestation bundles only = %v, want ErrNoSignature", err)
		}
	})
}

func TestAttestBoth(t *testing.T) {
	t.Parallel()
	a, _ := testKeys(t)
	ctx := context.Background()
	tg := memRegistry(t, true)
	subject := pushArtifact(t, tg.Target, t.Name())
	if _, err := loadSigner(t, a).Attest(ctx, tg.Target, subject, tg.ref, []sign.Predicate{slsaPredicate}, sign.WithFormat(sign.FormatBoth)); err != nil {
		t.Fatal(err)
	}
	res, err := sign.VerifyAttestations(ctx, tg.Target, subject, loadVerifiers(t, a), []string{sign.PredicateSLSAProvenanceV1})
	if err != nil {
		t.Fatal(err)
	}
	var formats []sign.Format
	for _, v := range res.Verified {
		formats = append(formats, v.Format)
	}
	if len(formats) != 2 || formats[0] != sign.FormatBundle || formats[1] != sign.FormatLegacy {
		t.Errorf("formats verified = %v, want the bundle then the legacy attestation", formats)
	}
	if _, err := loadSigner(t, a).Attest(ctx, tg.Target, subject, tg.ref, []sign.Predicate{slsaPredicate}, sign.WithAnnotations(map[string]string{"a": "b"})); !errors.Is(err, sign.ErrUnsupported) {
		t.Errorf("Attest with annotations = %v, want ErrUnsupported", err)
	}
}

// TestCosignVerifiesAttestationBundles checks the attestation bundles with cosign's own code, as `cosign
// verify-attestation --new-bundle-format` runs it.
func TestCosignVerifiesAttestationBundles(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	ctx := context.Background()
	eachRegistry(t, func(t *testing.T, tg target) {
		subject := pushArtifact(t, tg.Target, t.Name())
		if _, err := loadSigner(t, a).Attest(ctx, tg.Target, subject, tg.ref, []sign.Predicate{slsaPredicate, inventoryPredicate}, sign.WithFormat(sign.FormatBundle)); err != nil {
			t.Fatal(err)
		}
		ref, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		co, err := cosignCheck(ctx, emptyTrustedRoot)
		if err != nil {
			t.Fatal(err)
		}
		co.SigVerifier, co.IgnoreTlog = loadVerifiers(t, a)[0], true
		atts, _, err := cosign.VerifyImageAttestations(ctx, ref, co)
		if err != nil || len(atts) != 2 {
			t.Fatalf("cosign VerifyImageAttestations = %d, %v; want both attestations", len(atts), err)
		}
		co.SigVerifier = loadVerifiers(t, b)[0]
		if _, _, err := cosign.VerifyImageAttestations(ctx, ref, co); err == nil {
			t.Error("cosign VerifyImageAttestations with another key = nil error")
		}
	})
}
