package testsigstore_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/fulcio/pkg/api"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/statepack/statepack/internal/testsigstore"
)

// TestFulcioIssues asks the in-process Fulcio for certificates through its legacy v1 HTTP API with Fulcio's own
// client (the one cosign uses), and checks what it issues: the identity and issuer cosign verifies, a chain to
// Root, no SCT.
func TestFulcioIssues(t *testing.T) {
	s := testsigstore.Start(t)
	u, err := url.Parse(s.FulcioURL)
	if err != nil {
		t.Fatal(err)
	}
	client := api.NewClient(u)
	wf := testsigstore.GitHubWorkflow{Repository: "acme/app", Path: ".github/workflows/release.yml", Ref: "refs/heads/main"}

	for _, tc := range []struct {
		name, token, proofOf, wantIdentity, wantIssuer string
	}{
		{"github", s.GitHubToken(t, wf), "repo:acme/app:ref:refs/heads/main", wf.Identity(), s.GitHubIssuer},
		{"email", s.EmailToken(t, "dev@example.com"), "dev@example.com", "dev@example.com", s.EmailIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256([]byte(tc.proofOf))
			proof, err := priv.Sign(rand.Reader, h[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.SigningCert(api.CertificateRequest{PublicKey: api.Key{Content: pub}, SignedEmailAddress: proof}, tc.token)
			if err != nil {
				t.Fatalf("SigningCert: %v", err)
			}
			if len(resp.SCT) != 0 {
				t.Errorf("SCT = %q, want none (no CT log)", resp.SCT)
			}
			certs, err := cryptoutils.UnmarshalCertificatesFromPEM(resp.CertPEM)
			if err != nil || len(certs) != 1 {
				t.Fatalf("certificate: %d, %v", len(certs), err)
			}
			cert := certs[0]
			roots := x509.NewCertPool()
			roots.AddCert(s.Root)
			if _, err := cosign.TrustedCert(cert, roots, nil); err != nil {
				t.Errorf("certificate does not chain to Root: %v", err)
			}
			if got := cryptoutils.GetSubjectAlternateNames(cert); len(got) != 1 || got[0] != tc.wantIdentity {
				t.Errorf("certificate identities = %q, want [%q]", got, tc.wantIdentity)
			}
			if got := (&cosign.CertExtensions{Cert: cert}).GetIssuer(); got != tc.wantIssuer {
				t.Errorf("certificate OIDC issuer = %q, want %q", got, tc.wantIssuer)
			}
			if chain, err := cryptoutils.UnmarshalCertificatesFromPEM(resp.ChainPEM); err != nil || len(chain) != 1 || !chain[0].Equal(s.Root) {
				t.Errorf("chain = %d certificates, %v; want [Root]", len(chain), err)
			}
		})
	}

	t.Run("token from an unknown issuer", func(t *testing.T) {
		tok := s.Token(t, "https://issuer.invalid", map[string]any{"sub": "x"})
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, _ := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
		_, err := client.SigningCert(api.CertificateRequest{PublicKey: api.Key{Content: pub}, SignedEmailAddress: []byte("x")}, tok)
		if err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
			t.Errorf("SigningCert = %v, want a 400 Bad Request", err)
		}
	})
}

func TestTrustedRootJSON(t *testing.T) {
	s := testsigstore.Start(t)
	tr, err := root.NewTrustedRootFromJSON(s.TrustedRootJSON(t))
	if err != nil {
		t.Fatalf("NewTrustedRootFromJSON: %v", err)
	}
	cas := tr.FulcioCertificateAuthorities()
	if len(cas) != 1 {
		t.Fatalf("%d certificate authorities, want 1", len(cas))
	}
	if ca, ok := cas[0].(*root.FulcioCertificateAuthority); !ok || !ca.Root.Equal(s.Root) || ca.URI != s.FulcioURL {
		t.Errorf("certificate authority = %+v, want Root at %s", cas[0], s.FulcioURL)
	}
	if len(tr.RekorLogs()) != 0 || len(tr.CTLogs()) != 0 {
		t.Errorf("trusted root has %d Rekor logs and %d CT logs, want none", len(tr.RekorLogs()), len(tr.CTLogs()))
	}
}

func TestCannedCTLog(t *testing.T) {
	s := testsigstore.Start(t, testsigstore.WithCannedCTLog())
	u, err := url.Parse(s.FulcioURL)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("dev@example.com"))
	proof, err := priv.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := api.NewClient(u).SigningCert(api.CertificateRequest{PublicKey: api.Key{Content: pub}, SignedEmailAddress: proof}, s.EmailToken(t, "dev@example.com"))
	if err != nil {
		t.Fatalf("SigningCert: %v", err)
	}
	if len(resp.SCT) != 0 {
		t.Errorf("detached SCT = %s, want none (the SCT is embedded)", resp.SCT)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(resp.CertPEM)
	if err != nil || len(certs) != 1 {
		t.Fatalf("certificate: %d, %v", len(certs), err)
	}
	if ok, err := cosign.ContainsSCT(certs[0].Raw); err != nil || !ok {
		t.Errorf("certificate embeds an SCT: %v, %v; want true", ok, err)
	}
}
