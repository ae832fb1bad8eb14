package sign_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	intotov1 "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

// eachRegistry runs f against the registries cosign can reach: go-containerregistry's in-memory registry with and
// without the referrers API, and a real registry process (no referrers API).
func eachRegistry(t *testing.T, f func(t *testing.T, tg target)) {
	t.Helper()
	r := testregistry.Start(t)
	t.Run("referrers API", func(t *testing.T) { f(t, memRegistry(t, true)) })
	t.Run("no referrers API", func(t *testing.T) { f(t, memRegistry(t, false)) })
	t.Run("docker-registry", func(t *testing.T) { f(t, registryTarget(t, r, "compat/bundle")) })
}

// cosignCheck is what `cosign verify --new-bundle-format` (cosign v2.6.5) sets up: the bundle format on, a trusted
// root (an empty one for keys, as its --trusted-root must be given offline), and a registry client that speaks plain
// HTTP to the test registry.
func cosignCheck(ctx context.Context, trustedRoot []byte) (*cosign.CheckOpts, error) {
	tr, err := root.NewTrustedRootFromJSON(trustedRoot)
	if err != nil {
		return nil, err
	}
	return &cosign.CheckOpts{
		NewBundleFormat: true,
		TrustedMaterial: tr,
		RegistryClientOpts: []ociremote.Option{ociremote.WithRemoteOptions(
			ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))},
	}, nil
}

// TestCosignVerifiesBundle checks statepack's bundle signatures with cosign's own code, as `cosign verify` runs it
// for an image that has bundles: cosign.GetBundles finds them (referrers API or referrers tag), and
// cosign.VerifyImageAttestations with NewBundleFormat verifies them. (cosign v2.6.5's VerifyImageSignatures refuses
// NewBundleFormat, "not yet implemented": its CLI and Flux call VerifyImageAttestations for bundles.)
func TestCosignVerifiesBundle(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	a, b := testKeys(t)
	ctx := context.Background()
	keyless := loadKeyless(t, ss, ss.GitHubToken(t, wfX))
	eachRegistry(t, func(t *testing.T, tg target) {
		for _, tc := range []struct {
			name   string
			signer *sign.Signer
			check  func(t *testing.T, ref name.Reference)
		}{
			{name: "key", signer: loadSigner(t, a), check: func(t *testing.T, ref name.Reference) {
				co, err := cosignCheck(ctx, emptyTrustedRoot)
				if err != nil {
					t.Fatal(err)
				}
				co.SigVerifier, co.IgnoreTlog = loadVerifiers(t, a)[0], true
				if sigs, _, err := cosign.VerifyImageAttestations(ctx, ref, co); err != nil || len(sigs) != 1 {
					t.Errorf("cosign VerifyImageAttestations with the key = %d, %v; want 1 verified", len(sigs), err)
				}
				co.SigVerifier = loadVerifiers(t, b)[0]
				if _, _, err := cosign.VerifyImageAttestations(ctx, ref, co); err == nil {
					t.Error("cosign VerifyImageAttestations with another key = nil error")
				}
			}},
			{name: "keyless", signer: keyless, check: func(t *testing.T, ref name.Reference) {
				co, err := cosignCheck(ctx, ss.TrustedRootJSON(t))
				if err != nil {
					t.Fatal(err)
				}
				co.IgnoreTlog, co.IgnoreSCT = true, true
				co.Identities = []cosign.Identity{{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}}
				if sigs, _, err := cosign.VerifyImageAttestations(ctx, ref, co); err != nil || len(sigs) != 1 {
					t.Errorf("cosign VerifyImageAttestations expecting the signer's identity = %d, %v; want 1 verified", len(sigs), err)
				}
				co.Identities = []cosign.Identity{{Subject: wfY.Identity(), Issuer: ss.GitHubIssuer}}
				if _, _, err := cosign.VerifyImageAttestations(ctx, ref, co); err == nil {
					t.Error("cosign VerifyImageAttestations expecting another identity = nil error")
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				subject := pushArtifact(t, tg.Target, t.Name())
				if _, err := tc.signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle)); err != nil {
					t.Fatalf("Sign: %v", err)
				}
				ref, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				co, err := cosignCheck(ctx, emptyTrustedRoot)
				if err != nil {
					t.Fatal(err)
				}
				if bundles, _, err := cosign.GetBundles(ctx, ref, co); err != nil || len(bundles) != 1 {
					t.Fatalf("cosign GetBundles = %d, %v; want the one bundle", len(bundles), err)
				}
				tc.check(t, ref)
			})
		}
	})
}

// TestVerifyBundleWrittenByCosign writes a bundle signature with cosign's own code, the calls `cosign sign
// --new-bundle-format --key` makes (signDigestBundle: the statement, the DSSE envelope, MakeNewBundle,
// WriteAttestationNewBundleFormat), and checks that Verify finds and verifies it.
func TestVerifyBundleWrittenByCosign(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	ctx := context.Background()
	sv, err := cosign.LoadPrivateKey(a.priv, a.password, nil)
	if err != nil {
		t.Fatal(err)
	}
	eachRegistry(t, func(t *testing.T, tg target) {
		subject := pushArtifact(t, tg.Target, t.Name())
		ref, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		writeCosignBundle(t, ctx, ref, sv)

		res, err := sign.Verify(ctx, tg.reopen(t), subject, loadVerifiers(t, b, a))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if res.Checked != 1 || len(res.Verified) != 1 || res.Verified[0].Format != sign.FormatBundle || res.Verified[0].KeyIndex != 1 {
			t.Errorf("Verify = %+v, want cosign's bundle verified with key 1", res)
		}
		if _, err := sign.Verify(ctx, tg.reopen(t), subject, loadVerifiers(t, b)); err == nil {
			t.Error("Verify with another key = nil error")
		}
		// Signing in the bundle format with the same key finds cosign's bundle and writes nothing.
		if _, err := loadSigner(t, a).Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle)); err != nil {
			t.Fatal(err)
		}
		if n := len(referrersOf(t, tg, subject)); n != 1 {
			t.Errorf("after signing an artifact cosign signed with the same key: %d referrers, want 1", n)
		}
	})
}

func writeCosignBundle(t *testing.T, ctx context.Context, ref name.Digest, sv signature.SignerVerifier) {
	t.Helper()
	alg, hex, _ := strings.Cut(ref.DigestStr(), ":")
	payload, err := protojson.Marshal(&intotov1.Statement{
		Type:          intotov1.StatementTypeUri,
		Subject:       []*intotov1.ResourceDescriptor{{Digest: map[string]string{alg: hex}}},
		PredicateType: ctypes.CosignSignPredicateType,
	})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := dsse.WrapSigner(sv, ctypes.IntotoPayloadType).SignMessage(bytes.NewReader(payload), sigopts.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := cbundle.MakeNewBundle(pub, nil, payload, signed, pubPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteAttestationNewBundleFormat(ref, bundle, ctypes.CosignSignPredicateType, ociremote.WithRemoteOptions(
		ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))); err != nil {
		t.Fatalf("cosign WriteAttestationNewBundleFormat: %v", err)
	}
}
