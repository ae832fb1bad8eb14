package sign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/fulcio/pkg/ca/ephemeralca"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

// Two GitHub Actions workflows: x signs, y is someone else.
var (
	wfX = testsigstore.GitHubWorkflow{Repository: "acme/x", Path: ".github/workflows/a.yml", Ref: "refs/heads/main"}
	wfY = testsigstore.GitHubWorkflow{Repository: "acme/y", Path: ".github/workflows/a.yml", Ref: "refs/heads/main"}
)

// keylessOpts are the signing options for the in-process Fulcio: it has no CT log and there is no Rekor.
func keylessOpts(ss *testsigstore.Sigstore, extra ...sign.KeylessOption) []sign.KeylessOption {
	return append([]sign.KeylessOption{
		sign.WithFulcioURL(ss.FulcioURL),
		sign.WithFulcioRoots(ss.RootPEM()),
		sign.WithInsecureSkipSCT(true),
		sign.WithTlogUpload(false),
	}, extra...)
}

func loadKeyless(t testing.TB, ss *testsigstore.Sigstore, token string) *sign.Signer {
	t.Helper()
	s, err := sign.LoadKeylessSigner(context.Background(), token, keylessOpts(ss)...)
	if err != nil {
		t.Fatalf("LoadKeylessSigner: %v", err)
	}
	return s
}

// offlineVerify are the verification options matching keylessOpts: the Fulcio root, no log, no SCT.
func offlineVerify(ss *testsigstore.Sigstore, ids ...sign.Identity) []sign.VerifyOption {
	return []sign.VerifyOption{
		sign.WithIdentities(ids...),
		sign.WithRootCerts(ss.RootPEM()),
		sign.WithIgnoreTlog(true),
		sign.WithIgnoreSCT(true),
	}
}

// otherCA is a Fulcio CA that signed nothing here: its root PEM, and a trusted root naming it.
func otherCA(t *testing.T) (rootPEM, trustedRoot []byte) {
	t.Helper()
	eca, err := ephemeralca.NewEphemeralCA()
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := eca.GetSignerWithChain()
	rootPEM, err = cryptoutils.MarshalCertificateToPEM(certs[0])
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{
		&root.FulcioCertificateAuthority{Root: certs[0], ValidityPeriodStart: certs[0].NotBefore, URI: "https://fulcio.invalid"},
	}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot, err = tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return rootPEM, trustedRoot
}

func TestKeylessSignVerify(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	signer := loadKeyless(t, ss, ss.GitHubToken(t, wfX))
	wantID := sign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}
	if id, ok := signer.Identity(); !ok || id != wantID {
		t.Errorf("Identity() = %+v, %v; want %+v, true", id, ok, wantID)
	}
	certPEM, chainPEM := signer.Certificate()
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(certPEM)
	if err != nil || len(certs) != 1 {
		t.Fatalf("Certificate() = %d certificates, %v; want 1", len(certs), err)
	}
	if chain, err := cryptoutils.UnmarshalCertificatesFromPEM(chainPEM); err != nil || len(chain) != 1 || !chain[0].Equal(ss.Root) {
		t.Errorf("Certificate() chain = %d certificates, %v; want the Fulcio root", len(chain), err)
	}
	if pub, err := signer.PublicKeyPEM(); err != nil || !bytes.Contains(pub, []byte("PUBLIC KEY")) {
		t.Errorf("PublicKeyPEM() = %q, %v", pub, err)
	}
	if want := "a Fulcio certificate for " + wfX.Identity() + " from " + ss.GitHubIssuer; signer.String() != want {
		t.Errorf("String() = %q, want %q", signer.String(), want)
	}

	eachTarget(t, func(t *testing.T, tg target) {
		subject := pushArtifact(t, tg, t.Name())
		desc, err := signer.Sign(ctx, tg, subject, tg.ref)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		_, m, _ := sigManifest(t, tg, subject)
		if len(m.Layers) != 1 {
			t.Fatalf("signature manifest has %d layers, want 1", len(m.Layers))
		}
		l := m.Layers[0]
		if got := l.Annotations[static.CertificateAnnotationKey]; got != string(certPEM) {
			t.Errorf("annotation %s =\n%s\nwant the signer's certificate\n%s", static.CertificateAnnotationKey, got, certPEM)
		}
		if got := l.Annotations[static.ChainAnnotationKey]; got != string(chainPEM) {
			t.Errorf("annotation %s =\n%s\nwant the chain\n%s", static.ChainAnnotationKey, got, chainPEM)
		}
		if got, ok := l.Annotations[static.BundleAnnotationKey]; ok {
			t.Errorf("annotation %s = %q, want none (no log upload)", static.BundleAnnotationKey, got)
		}
		p, err := content.FetchAll(ctx, tg, l)
		if err != nil {
			t.Fatal(err)
		}
		if want := wantPayload(t, tg.ref, subject); string(p) != string(want) {
			t.Errorf("payload =\n%s\nwant\n%s", p, want)
		}

		for _, tc := range []struct {
			name string
			opts []sign.VerifyOption
		}{
			{"exact identity, Fulcio root", offlineVerify(ss, wantID)},
			{"second of two identities", offlineVerify(ss, sign.Identity{Subject: wfY.Identity(), Issuer: ss.GitHubIssuer}, wantID)},
			{"regexps, trusted root", []sign.VerifyOption{
				sign.WithIdentities(sign.Identity{SubjectRegexp: `^https://github\.com/acme/x/`, IssuerRegexp: "^" + regexp.QuoteMeta(ss.GitHubIssuer) + "$"}),
				sign.WithTrustedRoot(ss.TrustedRootJSON(t)),
				sign.WithIgnoreTlog(true),
				sign.WithIgnoreSCT(true),
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := sign.Verify(ctx, tg, subject, nil, tc.opts...)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.Checked != 1 || len(res.Verified) != 1 {
					t.Fatalf("Verify = Checked %d, %d verified; want 1, 1", res.Checked, len(res.Verified))
				}
				v := res.Verified[0]
				if v.KeyIndex != -1 || v.Identity != wantID || v.Certificate == nil || !v.Certificate.Equal(certs[0]) ||
					v.TlogVerified || v.Layer != l.Digest || v.Image != tg.ref+"@"+subject.Digest.String() {
					t.Errorf("Verify = %+v, want KeyIndex -1, identity %+v, the signer's certificate, no log, layer %s", v, wantID, l.Digest)
				}
			})
		}

		again, err := signer.Sign(ctx, tg, subject, tg.ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, m, _ := sigManifest(t, tg, subject); again.Digest != desc.Digest || len(m.Layers) != 1 {
			t.Errorf("signing twice with one keyless signer: manifest %s then %s, %d layers; want the same, 1 layer", desc.Digest, again.Digest, len(m.Layers))
		}
	})
}

func TestKeylessVerifyFailures(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	a, _ := testKeys(t)
	ctx := context.Background()
	signerX := loadKeyless(t, ss, ss.GitHubToken(t, wfX))
	otherRoot, otherTrustedRoot := otherCA(t)
	gh := ss.GitHubIssuer
	idX := sign.Identity{Subject: wfX.Identity(), Issuer: gh}
	idY := sign.Identity{Subject: wfY.Identity(), Issuer: gh}

	eachTarget(t, func(t *testing.T, tg target) {
		signed := func(t *testing.T, seed string) ocispec.Descriptor {
			t.Helper()
			subject := pushArtifact(t, tg, seed)
			if _, err := signerX.Sign(ctx, tg, subject, tg.ref); err != nil {
				t.Fatalf("Sign: %v", err)
			}
			return subject
		}
		var movedFrom ocispec.Descriptor
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T) ocispec.Descriptor
			keys  []keyPair
			opts  []sign.VerifyOption
			// want returns the exact message after "none verifies with …: ", or a prefix of it when prefix is set.
			want   func(subject ocispec.Descriptor) string
			prefix bool
			what   string // what the message says was given; "" means "the expected identity"
		}{
			{
				name: "wrong identity",
				opts: offlineVerify(ss, idY),
				want: func(ocispec.Descriptor) string {
					return "certificate identity https://github.com/acme/x/.github/workflows/a.yml@refs/heads/main does not match https://github.com/acme/y/.github/workflows/a.yml@refs/heads/main"
				},
			},
			{
				name: "wrong issuer",
				opts: offlineVerify(ss, sign.Identity{Subject: wfX.Identity(), Issuer: ss.EmailIssuer}),
				want: func(ocispec.Descriptor) string {
					return fmt.Sprintf("certificate OIDC issuer %s does not match %s", gh, ss.EmailIssuer)
				},
			},
			{
				name: "identity regexp does not match",
				opts: offlineVerify(ss, sign.Identity{SubjectRegexp: `^https://github\.com/acme/y/`, Issuer: gh}),
				want: func(ocispec.Descriptor) string {
					return `certificate identity https://github.com/acme/x/.github/workflows/a.yml@refs/heads/main does not match regexp ^https://github\.com/acme/y/`
				},
			},
			{
				name: "issuer regexp does not match",
				opts: offlineVerify(ss, sign.Identity{Subject: wfX.Identity(), IssuerRegexp: `^https://token\.actions\.githubusercontent\.com$`}),
				want: func(ocispec.Descriptor) string {
					return fmt.Sprintf(`certificate OIDC issuer %s does not match regexp ^https://token\.actions\.githubusercontent\.com$`, gh)
				},
			},
			{
				name: "identity and issuer wrong",
				opts: offlineVerify(ss, sign.Identity{Subject: "dev@example.com", Issuer: ss.EmailIssuer}),
				want: func(ocispec.Descriptor) string {
					return fmt.Sprintf("certificate identity %s does not match dev@example.com; certificate OIDC issuer %s does not match %s", wfX.Identity(), gh, ss.EmailIssuer)
				},
			},
			{
				name: "none of two identities",
				opts: offlineVerify(ss, idY, sign.Identity{SubjectRegexp: "^dev@", IssuerRegexp: ".*"}),
				want: func(ocispec.Descriptor) string {
					return fmt.Sprintf("certificate identity %s from OIDC issuer %s matches none of the 2 expected identities: %s from OIDC issuer %s; regexp ^dev@ from OIDC issuer regexp .*", wfX.Identity(), gh, wfY.Identity(), gh)
				},
				what: "the expected identities",
			},
			{
				name: "another Fulcio's root",
				opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithRootCerts(otherRoot), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)},
				want: func(ocispec.Descriptor) string {
					return fmt.Sprintf("its certificate (for %s from %s) was not issued by a trusted Fulcio CA: x509: certificate signed by unknown authority", wfX.Identity(), gh)
				},
				prefix: true,
			},
			{
				name: "another Fulcio's trusted root",
				opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithTrustedRoot(otherTrustedRoot), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)},
				want: func(ocispec.Descriptor) string {
					return fmt.Sprintf("its certificate (for %s from %s) was not issued by a trusted Fulcio CA: leaf certificate verification failed", wfX.Identity(), gh)
				},
			},
			{
				name: "log entry required",
				opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithTrustedRoot(ss.TrustedRootJSON(t)), sign.WithIgnoreSCT(true)},
				want: func(ocispec.Descriptor) string {
					return "it has no transparency-log entry (signed with the log upload off?); to accept it without one, ignore the log (cosign's --insecure-ignore-tlog)"
				},
			},
			{
				name: "SCT required",
				opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithTrustedRoot(ss.TrustedRootJSON(t)), sign.WithIgnoreTlog(true)},
				want: func(ocispec.Descriptor) string {
					return "certificate does not include required embedded SCT and no detached SCT was set"
				},
			},
			{
				name: "signed with a key",
				setup: func(t *testing.T) ocispec.Descriptor {
					subject := pushArtifact(t, tg, "signed with a key")
					if _, err := loadSigner(t, a).Sign(ctx, tg, subject, tg.ref); err != nil {
						t.Fatal(err)
					}
					return subject
				},
				opts: offlineVerify(ss, idX),
				want: func(ocispec.Descriptor) string {
					return "it has no certificate: it was made with a key, not keyless (verify it with the public key)"
				},
			},
			{
				name:  "keyless signature, a key given",
				keys:  []keyPair{a},
				opts:  []sign.VerifyOption{sign.WithRootCerts(ss.RootPEM()), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)},
				want:  func(ocispec.Descriptor) string { return "invalid signature when validating ASN.1 encoded signature" },
				what:  "the given key(s)",
				setup: func(t *testing.T) ocispec.Descriptor { return signed(t, "a key given") },
			},
			{
				name: "a key and an identity, neither matches",
				keys: []keyPair{a},
				opts: offlineVerify(ss, idY),
				want: func(s ocispec.Descriptor) string {
					return "signature 1 (layer sha256:"
				},
				prefix: true,
				what:   "the given key(s) or the expected identity",
			},
			{
				name: "tampered signature",
				setup: func(t *testing.T) ocispec.Descriptor {
					subject := signed(t, "tampered")
					_, m, _ := sigManifest(t, tg, subject)
					raw, err := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[static.SignatureAnnotationKey])
					if err != nil {
						t.Fatal(err)
					}
					raw[len(raw)-1] ^= 0xff
					m.Layers[0].Annotations[static.SignatureAnnotationKey] = base64.StdEncoding.EncodeToString(raw)
					retagSigManifest(t, tg, subject, m)
					return subject
				},
				opts:   offlineVerify(ss, idX),
				want:   func(ocispec.Descriptor) string { return "invalid signature" },
				prefix: true,
			},
			{
				name: "signature of another digest under this tag",
				setup: func(t *testing.T) ocispec.Descriptor {
					movedFrom = signed(t, "the signed one")
					subject := pushArtifact(t, tg, "the moved tag")
					_, m, _ := sigManifest(t, tg, movedFrom)
					retagSigManifest(t, tg, subject, m)
					return subject
				},
				opts: offlineVerify(ss, idX),
				want: func(s ocispec.Descriptor) string {
					return fmt.Sprintf("payload digest mismatch: the signature is for %s, not %s (copied from another artifact, or a moved tag?)", movedFrom.Digest, s.Digest)
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var subject ocispec.Descriptor
				if tc.setup != nil {
					subject = tc.setup(t)
				} else {
					subject = signed(t, tc.name)
				}
				var keys []signature.Verifier
				if len(tc.keys) > 0 {
					keys = loadVerifiers(t, tc.keys...)
				}
				res, err := sign.Verify(ctx, tg, subject, keys, tc.opts...)
				if err == nil {
					t.Fatalf("Verify = %+v, want an error", res)
				}
				if !errors.Is(err, sign.ErrVerification) || errors.Is(err, sign.ErrNoSignature) {
					t.Errorf("Verify = %v, want errors.Is ErrVerification only", err)
				}
				what := tc.what
				if what == "" {
					what = "the expected identity"
				}
				want := fmt.Sprintf("signature verification failed for %s: 1 signature(s) checked, none verifies with %s: ", subject.Digest, what) + tc.want(subject)
				if tc.prefix && !strings.HasPrefix(err.Error(), want) {
					t.Errorf("Verify =\n%s\nwant it to start with\n%s", err, want)
				}
				if !tc.prefix && err.Error() != want {
					t.Errorf("Verify =\n%s\nwant\n%s", err, want)
				}
			})
		}
	})
}

// TestKeyAndKeyless verifies an artifact signed both ways, with both a key and an identity, as a fleet moving
// from keys to keyless would.
func TestKeyAndKeyless(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	a, _ := testKeys(t)
	ctx := context.Background()
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	if _, err := loadSigner(t, a).Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeyless(t, ss, ss.EmailToken(t, "dev@example.com")).Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Fatal(err)
	}
	res, err := sign.Verify(ctx, tg, subject, loadVerifiers(t, a), offlineVerify(ss, sign.Identity{Subject: "dev@example.com", Issuer: ss.EmailIssuer})...)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Verified) != 2 || res.Verified[0].KeyIndex != 0 || res.Verified[0].Certificate != nil ||
		res.Verified[1].KeyIndex != -1 || res.Verified[1].Identity.Subject != "dev@example.com" {
		t.Errorf("Verify = %+v, want the key signature (key 0) then the keyless one (dev@example.com)", res.Verified)
	}
}

func TestVerifyOptionsRefused(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	if _, err := loadKeyless(t, ss, ss.GitHubToken(t, wfX)).Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Fatal(err)
	}
	idX := sign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}
	for _, tc := range []struct {
		name   string
		opts   []sign.VerifyOption
		want   string
		wantIs error
	}{
		{name: "nothing to verify with", want: "no public key given, and no expected identity for keyless signatures"},
		{name: "identity without issuer", opts: []sign.VerifyOption{sign.WithIdentities(sign.Identity{Subject: "x"})}, want: "expected identity x without an OIDC issuer (set Issuer or IssuerRegexp)"},
		{name: "issuer without identity", opts: []sign.VerifyOption{sign.WithIdentities(sign.Identity{Issuer: "x"})}, want: "expected identity without a certificate identity (set Subject or SubjectRegexp)"},
		{name: "identity and its regexp", opts: []sign.VerifyOption{sign.WithIdentities(sign.Identity{Subject: "x", SubjectRegexp: "y", Issuer: "z"})}, want: `expected identity "x" has both an exact certificate identity and a regexp "y"; give one`},
		{name: "bad regexp", opts: []sign.VerifyOption{sign.WithIdentities(sign.Identity{SubjectRegexp: "(", Issuer: "z"})}, want: "certificate identity regexp \"(\": error parsing regexp"},
		{name: "bad root PEM", opts: []sign.VerifyOption{sign.WithRootCerts([]byte("not PEM"))}, want: "reading the Fulcio roots: not a PEM certificate chain"},
		{name: "bad trusted root", opts: []sign.VerifyOption{sign.WithTrustedRoot([]byte("{}"))}, want: "trusted root: "},
		{name: "roots and trusted root", opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithRootCerts(ss.RootPEM()), sign.WithTrustedRoot(ss.TrustedRootJSON(t))}, want: "give the Fulcio roots or a trusted root, not both"},
		// Without trust material of its own, or with Fulcio roots but the logs checked, keyless verification needs
		// public Sigstore's trusted root, which these tests cannot reach.
		{name: "no trust material", opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)}, wantIs: sign.ErrPublicTrustedRoot},
		{name: "roots, logs checked", opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithRootCerts(ss.RootPEM())}, want: "keys of the transparency and CT logs", wantIs: sign.ErrPublicTrustedRoot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sign.Verify(ctx, tg, subject, nil, tc.opts...)
			if err == nil {
				t.Fatal("Verify = nil error")
			}
			if prefix := "verifying " + subject.Digest.String() + ": "; !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify = %q, want it to start with %q and contain %q", err, prefix, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Verify = %v, want errors.Is %v", err, tc.wantIs)
			}
			if errors.Is(err, sign.ErrVerification) {
				t.Errorf("Verify = %v: a usage error, not ErrVerification", err)
			}
		})
	}
}

// TestCosignVerifiesKeyless checks statepack's keyless signature with cosign's own verification, on a real
// registry, with the options `cosign verify --certificate-identity --certificate-oidc-issuer
// --insecure-ignore-tlog --insecure-ignore-sct` sets.
func TestCosignVerifiesKeyless(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	r := testregistry.Start(t)
	ctx := context.Background()
	tg := registryTarget(t, r, "compat/keyless")
	subject := pushArtifact(t, tg, t.Name())
	if _, err := loadKeyless(t, ss, ss.GitHubToken(t, wfX)).Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ss.Root)
	trustedRoot, err := root.NewTrustedRootFromJSON(ss.TrustedRootJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	checkOpts := func(id cosign.Identity) *cosign.CheckOpts {
		return &cosign.CheckOpts{
			Identities:    []cosign.Identity{id},
			RootCerts:     roots,
			IgnoreTlog:    true,
			IgnoreSCT:     true,
			ClaimVerifier: cosign.SimpleClaimVerifier,
			RegistryClientOpts: []ociremote.Option{ociremote.WithRemoteOptions(
				ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))},
		}
	}
	good := cosign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}

	sigs, _, err := cosign.VerifyImageSignatures(ctx, ref, checkOpts(good))
	if err != nil || len(sigs) != 1 {
		t.Fatalf("cosign VerifyImageSignatures = %d signatures, %v; want 1, nil", len(sigs), err)
	}
	regexps := checkOpts(cosign.Identity{SubjectRegExp: `^https://github\.com/acme/x/`, IssuerRegExp: regexp.QuoteMeta(ss.GitHubIssuer)})
	regexps.RootCerts, regexps.TrustedMaterial = nil, trustedRoot
	if _, _, err := cosign.VerifyImageSignatures(ctx, ref, regexps); err != nil {
		t.Errorf("cosign VerifyImageSignatures with regexps and the trusted root: %v", err)
	}
	for _, bad := range []cosign.Identity{
		{Subject: wfY.Identity(), Issuer: ss.GitHubIssuer},
		{Subject: wfX.Identity(), Issuer: ss.EmailIssuer},
	} {
		if _, _, err := cosign.VerifyImageSignatures(ctx, ref, checkOpts(bad)); err == nil {
			t.Errorf("cosign VerifyImageSignatures expecting %+v = nil error", bad)
		}
	}
}

// TestKeylessTlogUpload checks what is sent to Rekor, through a server that records the request and refuses it
// (a real Rekor needs Trillian and a database): the hashedrekord entry cosign makes, and nothing written to the
// target when the log refuses.
func TestKeylessTlogUpload(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	type request struct {
		method, path string
		body         []byte
	}
	got := make(chan request, 1)
	rekor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- request{r.Method, r.URL.Path, b}:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":400,"message":"this test log records entries and refuses them"}`))
	}))
	defer rekor.Close()

	signer, err := sign.LoadKeylessSigner(ctx, ss.GitHubToken(t, wfX), keylessOpts(ss, sign.WithTlogUpload(true), sign.WithRekorURL(rekor.URL))...)
	if err != nil {
		t.Fatal(err)
	}
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	_, err = signer.Sign(ctx, tg, subject, tg.ref)
	if want := "recording the signature in the transparency log " + rekor.URL + ": "; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Sign = %v, want an error containing %q", err, want)
	}
	if _, err := tg.Resolve(ctx, sign.SignatureTag(subject.Digest)); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("after the log refused, resolving the .sig tag = %v, want not found", err)
	}

	var req request
	select {
	case req = <-got:
	default:
		t.Fatal("nothing was sent to Rekor")
	}
	if req.method != http.MethodPost || req.path != "/api/v1/log/entries" {
		t.Errorf("Rekor request = %s %s, want POST /api/v1/log/entries", req.method, req.path)
	}
	var entry struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Spec       struct {
			Data struct {
				Hash struct{ Algorithm, Value string } `json:"hash"`
			} `json:"data"`
			Signature struct {
				Content   []byte `json:"content"`
				PublicKey struct {
					Content []byte `json:"content"`
				} `json:"publicKey"`
			} `json:"signature"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(req.body, &entry); err != nil {
		t.Fatalf("Rekor request body %s: %v", req.body, err)
	}
	payload := wantPayload(t, tg.ref, subject)
	sum := sha256.Sum256(payload)
	certPEM, _ := signer.Certificate()
	if entry.Kind != "hashedrekord" || entry.APIVersion != "0.0.1" || entry.Spec.Data.Hash.Algorithm != "sha256" ||
		entry.Spec.Data.Hash.Value != hex.EncodeToString(sum[:]) || !bytes.Equal(entry.Spec.Signature.PublicKey.Content, certPEM) {
		t.Errorf("Rekor entry = %s\nwant a hashedrekord 0.0.1 of sha256 %x with the signer's certificate", req.body, sum)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signature.LoadVerifier(certs[0].PublicKey, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(bytes.NewReader(entry.Spec.Signature.Content), bytes.NewReader(payload)); err != nil {
		t.Errorf("the logged signature does not verify over the payload: %v", err)
	}
}

// TestLoadKeylessSignerRefuses checks each way getting a certificate can fail, and that the token never shows.
func TestLoadKeylessSignerRefuses(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	otherRoot, otherTrustedRoot := otherCA(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A Fulcio that repeats the token it was sent in its refusal.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"code":3,"message":"cannot use %s"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer echo.Close()

	good := ss.GitHubToken(t, wfX)
	expired := ss.Token(t, ss.GitHubIssuer, map[string]any{"sub": "x", "exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(), "nbf": time.Now().Add(-2 * time.Hour).Unix()})
	for _, tc := range []struct {
		name   string
		token  string
		opts   []sign.KeylessOption
		want   string // the exact message, or with a trailing "…" its prefix
		wantIs error
	}{
		{name: "no token", token: " ", opts: keylessOpts(ss), want: "keyless signing: no OIDC identity token (in GitHub Actions, grant the job the permission id-token: write)", wantIs: sign.ErrNoIdentityToken},
		{name: "not a JWT", token: "secret-garbage-token", opts: keylessOpts(ss), want: "keyless signing: reading the OIDC identity token: not a JWT (want three dot-separated parts)"},
		{name: "claims not base64", token: "aaaa.b%c-secret.dddd", opts: keylessOpts(ss), want: "keyless signing: reading the OIDC identity token: not a JWT (its claims are not base64url)"},
		{name: "unverified email", token: ss.Token(t, ss.EmailIssuer, map[string]any{"sub": "x", "email": "dev@example.com", "email_verified": false}), opts: keylessOpts(ss), want: "keyless signing: reading the OIDC identity token: no usable subject: not verified by identity provider"},
		{
			name: "issuer Fulcio does not trust", token: ss.Token(t, "https://issuer.invalid", map[string]any{"sub": "x"}), opts: keylessOpts(ss),
			want: fmt.Sprintf(`keyless signing: requesting a certificate from Fulcio %s: answered 400 Bad Request: There was an error processing the identity token (an expired token, an audience other than "sigstore", or an issuer this Fulcio does not trust?)`, ss.FulcioURL),
		},
		{
			name: "expired token", token: expired, opts: keylessOpts(ss),
			want: fmt.Sprintf(`keyless signing: requesting a certificate from Fulcio %s: answered 400 Bad Request: There was an error processing the identity token (…`, ss.FulcioURL),
		},
		{name: "Fulcio unreachable", token: good, opts: keylessOpts(ss, sign.WithFulcioURL(gone.URL)), want: fmt.Sprintf("keyless signing: requesting a certificate from Fulcio %s: Post \"%s/api/v2/signingCert\": dial tcp…", gone.URL, gone.URL)},
		{name: "Fulcio repeats the token", token: good, opts: keylessOpts(ss, sign.WithFulcioURL(echo.URL)), want: fmt.Sprintf("keyless signing: requesting a certificate from Fulcio %s: answered 400 Bad Request: cannot use [REDACTED]", echo.URL)},
		{name: "no SCT", token: good, opts: keylessOpts(ss, sign.WithInsecureSkipSCT(false)), want: fmt.Sprintf("keyless signing: certificate from Fulcio %s: it carries no SCT: this Fulcio logs no certificate in a certificate-transparency log; for such a Fulcio, skip the check (InsecureSkipSCT, cosign's --insecure-skip-verify)", ss.FulcioURL)},
		{name: "another CA's roots", token: good, opts: keylessOpts(ss, sign.WithFulcioRoots(otherRoot)), want: fmt.Sprintf("keyless signing: certificate from Fulcio %s: it does not chain to the given Fulcio roots: x509: certificate signed by unknown authority…", ss.FulcioURL)},
		{name: "another trusted root", token: good, opts: keylessOpts(ss, sign.WithSigningTrustedRoot(otherTrustedRoot)), want: fmt.Sprintf("keyless signing: certificate from Fulcio %s: it does not chain to a certificate authority of the trusted root: leaf certificate verification failed", ss.FulcioURL)},
		{name: "bad Fulcio URL", token: good, opts: []sign.KeylessOption{sign.WithFulcioURL("ftp://user:pw@fulcio.example")}, want: `keyless signing: URL of Fulcio "ftp://user:xxxxx@fulcio.example": want an http:// or https:// URL with a host`},
		{name: "bad Rekor URL", token: good, opts: []sign.KeylessOption{sign.WithRekorURL("rekor.example")}, want: `keyless signing: URL of Rekor "rekor.example": want an http:// or https:// URL with a host`},
		{name: "bad roots", token: good, opts: []sign.KeylessOption{sign.WithFulcioRoots([]byte("junk"))}, want: "keyless signing: reading the Fulcio roots: not a PEM certificate chain: error during PEM decoding"},
		{name: "bad trusted root", token: good, opts: []sign.KeylessOption{sign.WithSigningTrustedRoot(nil)}, want: "keyless signing: trusted root: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sign.LoadKeylessSigner(ctx, tc.token, tc.opts...)
			if err == nil {
				t.Fatalf("LoadKeylessSigner = %v, want an error", s)
			}
			if want, ok := strings.CutSuffix(tc.want, "…"); ok {
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("LoadKeylessSigner =\n%s\nwant it to start with\n%s", err, want)
				}
			} else if err.Error() != tc.want {
				t.Errorf("LoadKeylessSigner =\n%s\nwant\n%s", err, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("LoadKeylessSigner = %v, want errors.Is %v", err, tc.wantIs)
			}
			assertNoSecret(t, err, tc.token)
		})
	}
}

// assertNoSecret fails when err repeats the token, or any of its parts (a JWT's signature alone is a secret).
func assertNoSecret(t *testing.T, err error, token string) {
	t.Helper()
	token = strings.TrimSpace(token)
	if token == "" {
		return
	}
	for _, part := range append(strings.Split(token, "."), token) {
		if len(part) >= 8 && strings.Contains(err.Error(), part) {
			t.Errorf("error repeats the token: %v", err)
		}
	}
}

// BenchmarkKeyless measures keyless signing against the in-process Fulcio: getting a certificate (key, proof,
// Fulcio round trip, checks) and signing one artifact into an OCI layout with it.
func BenchmarkKeyless(b *testing.B) {
	ss := testsigstore.Start(b)
	ctx := context.Background()
	token := ss.GitHubToken(b, wfX)
	b.Run("LoadKeylessSigner", func(b *testing.B) {
		for b.Loop() {
			if _, err := sign.LoadKeylessSigner(ctx, token, keylessOpts(ss)...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Sign", func(b *testing.B) {
		signer := loadKeyless(b, ss, token)
		tg := layoutTarget(b)
		subjects := make([]ocispec.Descriptor, b.N)
		for i := range subjects {
			subjects[i] = pushArtifact(b, tg, fmt.Sprint(i))
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := signer.Sign(ctx, tg, subjects[i], tg.ref); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestKeylessSCT checks that signing verifies the SCT Fulcio returns, against a Fulcio whose CT log answers with a
// canned SCT that no log key verifies.
func TestKeylessSCT(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t, testsigstore.WithCannedCTLog())
	ctx := context.Background()
	token := ss.GitHubToken(t, wfX)
	base := []sign.KeylessOption{sign.WithFulcioURL(ss.FulcioURL), sign.WithFulcioRoots(ss.RootPEM()), sign.WithTlogUpload(false)}
	prefix := fmt.Sprintf("keyless signing: certificate from Fulcio %s: verifying its SCT: ", ss.FulcioURL)

	// Without a trusted root, the CT logs' keys are public Sigstore's, out of reach in these tests.
	_, err := sign.LoadKeylessSigner(ctx, token, base...)
	if !errors.Is(err, sign.ErrPublicTrustedRoot) || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("LoadKeylessSigner = %v, want %q… wrapping the public trusted root's error", err, prefix)
	}
	// With a trusted root that lists no CT log, nothing can verify the SCT.
	_, err = sign.LoadKeylessSigner(ctx, token, append(base, sign.WithSigningTrustedRoot(ss.TrustedRootJSON(t)))...)
	if err == nil || !strings.HasPrefix(err.Error(), prefix) || errors.Is(err, sign.ErrPublicTrustedRoot) {
		t.Errorf("LoadKeylessSigner with a trusted root without CT logs = %v, want %q…", err, prefix)
	}
	signer, err := sign.LoadKeylessSigner(ctx, token, append(base, sign.WithInsecureSkipSCT(true))...)
	if err != nil {
		t.Fatalf("LoadKeylessSigner skipping the SCT: %v", err)
	}

	// Verification refuses the canned SCT too, unless told to ignore SCTs.
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	if _, err := signer.Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Fatal(err)
	}
	opts := []sign.VerifyOption{sign.WithIdentities(sign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}), sign.WithTrustedRoot(ss.TrustedRootJSON(t)), sign.WithIgnoreTlog(true)}
	if _, err := sign.Verify(ctx, tg, subject, nil, opts...); !errors.Is(err, sign.ErrVerification) {
		t.Errorf("Verify checking the SCT = %v, want ErrVerification", err)
	}
	if _, err := sign.Verify(ctx, tg, subject, nil, append(opts, sign.WithIgnoreSCT(true))...); err != nil {
		t.Errorf("Verify ignoring the SCT: %v", err)
	}
}
