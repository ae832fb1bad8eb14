package sign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/fake"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack/sign"
)

// fakeKMSRef names a key of sigstore's fake KMS provider (fakekms://), which this test binary links. The provider
// signs with the private key found in the context under fake.KmsCtxKey, so a signer and a verifier given the same
// context see the same KMS key, as two runs against one cloud KMS key would.
const fakeKMSRef = "fakekms://statepack"

// kmsContext returns a context whose fake KMS holds a new ECDSA P-256 key, and that key.
func kmsContext(t *testing.T) (context.Context, *ecdsa.PrivateKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return context.WithValue(context.Background(), fake.KmsCtxKey{}, crypto.PrivateKey(priv)), priv
}

// memRegistryTarget starts go-containerregistry's in-memory registry and returns a repository in it.
func memRegistryTarget(t *testing.T, repo string) target {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/" + repo
	rr, err := orasremote.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	rr.PlainHTTP = true
	return target{kind: "registry", Target: rr, ref: ref}
}

// TestKMSSignVerify signs with a key that stays in a KMS (sigstore's fake provider, through the same kms.Get path
// the cloud providers take) and checks the legacy signature with statepack's Verify, with cosign's own
// VerifyImageSignatures, and with the KMS key's public key exported to a cosign.pub file.
func TestKMSSignVerify(t *testing.T) {
	ctx, priv := kmsContext(t)
	otherCtx, _ := kmsContext(t)
	tg := memRegistryTarget(t, "statepack/kms")
	subject := pushArtifact(t, tg, t.Name())

	s, err := sign.LoadSigner(ctx, fakeKMSRef, nil)
	if err != nil {
		t.Fatalf("LoadSigner(%q) = %v", fakeKMSRef, err)
	}
	if got := s.String(); got != fakeKMSRef {
		t.Errorf("Signer.String() = %q, want %q", got, fakeKMSRef)
	}
	wantPub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.PublicKeyPEM(); err != nil || string(got) != string(wantPub) {
		t.Fatalf("PublicKeyPEM() = %s, %v; want the KMS key's\n%s", got, err, wantPub)
	}
	if _, ok := s.Verifier(); !ok {
		t.Errorf("Verifier() ok = false, want true: a KMS key lasts beyond one run")
	}

	sigDesc, err := s.Sign(ctx, tg, subject, tg.ref)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	again, err := s.Sign(ctx, tg, subject, tg.ref)
	if err != nil || again.Digest != sigDesc.Digest {
		t.Errorf("second Sign = %s, %v; want the existing signature %s (a KMS key's signature is recognised)", again.Digest, err, sigDesc.Digest)
	}

	t.Run("statepack verifies with the KMS key", func(t *testing.T) {
		vs, err := sign.LoadVerifiers(ctx, fakeKMSRef)
		if err != nil {
			t.Fatalf("LoadVerifiers(%q) = %v", fakeKMSRef, err)
		}
		if _, err := sign.Verify(ctx, tg, subject, vs); err != nil {
			t.Errorf("Verify with the KMS key = %v", err)
		}
	})
	t.Run("statepack verifies with the exported cosign.pub", func(t *testing.T) {
		if _, err := sign.Verify(ctx, tg, subject, loadVerifiers(t, keyPair{pub: wantPub})); err != nil {
			t.Errorf("Verify with the public key file = %v", err)
		}
	})
	t.Run("another KMS key is refused", func(t *testing.T) {
		vs, err := sign.LoadVerifiers(otherCtx, fakeKMSRef)
		if err != nil {
			t.Fatalf("LoadVerifiers(%q) = %v", fakeKMSRef, err)
		}
		if _, err := sign.Verify(ctx, tg, subject, vs); !errors.Is(err, sign.ErrVerification) {
			t.Errorf("Verify with another KMS key = %v, want ErrVerification", err)
		}
	})
	t.Run("cosign verifies", func(t *testing.T) {
		ref, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		checkOpts := func(v signature.Verifier) *cosign.CheckOpts {
			return &cosign.CheckOpts{
				SigVerifier:   v,
				IgnoreTlog:    true,
				ClaimVerifier: cosign.SimpleClaimVerifier,
				RegistryClientOpts: []ociremote.Option{ociremote.WithRemoteOptions(
					ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))},
			}
		}
		v, err := signature.LoadVerifier(priv.Public(), crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		sigs, _, err := cosign.VerifyImageSignatures(ctx, ref, checkOpts(v))
		if err != nil || len(sigs) != 1 {
			t.Fatalf("cosign VerifyImageSignatures = %d signatures, %v; want 1, nil", len(sigs), err)
		}
		other, _, err := signature.NewDefaultECDSASignerVerifier()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cosign.VerifyImageSignatures(ctx, ref, checkOpts(other)); err == nil {
			t.Errorf("cosign VerifyImageSignatures with another key = nil error")
		}
	})
}

// TestKMSNoPassword checks that a KMS key ignores the password: there is nothing to decrypt, so a password the
// caller happened to have (COSIGN_PASSWORD set for another key) must not make loading fail.
func TestKMSNoPassword(t *testing.T) {
	ctx, _ := kmsContext(t)
	for _, pw := range [][]byte{nil, {}, []byte("unrelated password")} {
		if _, err := sign.LoadSigner(ctx, fakeKMSRef, pw); err != nil {
			t.Errorf("LoadSigner(%q, %q) = %v, want a signer", fakeKMSRef, pw, err)
		}
	}
}

// TestKMSNeverRunsPlugins checks that a key reference with an unknown scheme is refused, and never handed to
// sigstore's KMS plugin mechanism, which would run a program named sigstore-kms-<scheme> found on PATH.
func TestKMSNeverRunsPlugins(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	plugin := filepath.Join(dir, "sigstore-kms-evil")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\ntouch "+marker+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the plugin with")
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx := context.Background()
	_, errSign := sign.LoadSigner(ctx, "evil://key", nil)
	_, errVerify := sign.LoadVerifiers(ctx, "evil://key")
	for _, err := range []error{errSign, errVerify} {
		if !errors.Is(err, sign.ErrUnsupported) {
			t.Errorf("loading evil://key = %v, want ErrUnsupported", err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("loading evil://key ran the KMS plugin program %s", plugin)
	}
}

// TestKMSDependencies keeps the cloud SDKs out of the default build and sigstore's fake KMS provider out of every
// build: the providers are linked only with the kms build tag (kms_providers.go).
func TestKMSDependencies(t *testing.T) {
	providers := []string{
		"github.com/sigstore/sigstore/pkg/signature/kms/aws",
		"github.com/sigstore/sigstore/pkg/signature/kms/azure",
		"github.com/sigstore/sigstore/pkg/signature/kms/gcp",
		"github.com/sigstore/sigstore/pkg/signature/kms/hashivault",
	}
	cloudSDKs := []string{
		"github.com/aws/aws-sdk-go-v2/",
		"github.com/Azure/azure-sdk-for-go/",
		"cloud.google.com/go/kms/",
		"github.com/hashicorp/vault/",
	}
	deps := func(t *testing.T, args ...string) map[string]bool {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list", "-deps"}, append(args, ".")...)...).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", args, err)
		}
		m := map[string]bool{}
		for _, dep := range strings.Fields(string(out)) {
			m[dep] = true
		}
		return m
	}
	hasPrefix := func(m map[string]bool, prefix string) bool {
		for dep := range m {
			if strings.HasPrefix(dep, prefix) {
				return true
			}
		}
		return false
	}

	def := deps(t)
	for _, p := range append(providers, cloudSDKs...) {
		if hasPrefix(def, p) {
			t.Errorf("the default build links %s; only a build with -tags kms may", p)
		}
	}
	withKMS := deps(t, "-tags", "kms")
	for _, p := range providers {
		if !withKMS[p] {
			t.Errorf("the build with -tags kms does not link %s", p)
		}
	}
	for _, m := range []map[string]bool{def, withKMS} {
		if m["github.com/sigstore/sigstore/pkg/signature/kms/fake"] {
			t.Errorf("sign links sigstore's fake KMS provider; only its tests may")
		}
	}
}

// TestIsKMSRef checks which key references the CLI treats as KMS keys (no password; an unreachable KMS is an I/O
// failure): the four cloud schemes whether or not this build links their providers, and any linked provider's.
func TestIsKMSRef(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want bool
	}{
		{"awskms:///alias/statepack", true},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", true},
		{"azurekms://statepack.vault.azure.net/signing", true},
		{"hashivault://statepack", true},
		{fakeKMSRef, true},
		{"cosign.key", false},
		{"/keys/awskms.key", false},
		{"env://COSIGN_KEY", false},
		{"https://keys.example/cosign.key", false},
		{"evil://key", false},
		{"", false},
	} {
		if got := sign.IsKMSRef(tc.ref); got != tc.want {
			t.Errorf("IsKMSRef(%q) = %v, want %v", tc.ref, got, tc.want)
		}
	}
}
