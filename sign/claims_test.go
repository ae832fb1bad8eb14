package sign_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2/errdef"

	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

// TestGitHubWorkflowClaims narrows a keyless identity by the GitHub Actions claims Fulcio writes into the
// certificate, for legacy signatures, bundles and attestations alike.
func TestGitHubWorkflowClaims(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	signer := loadKeyless(t, ss, ss.GitHubToken(t, wfX))
	id := sign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}
	tg := memRegistry(t, true)
	legacy := pushArtifact(t, tg.Target, "legacy")
	bundle := pushArtifact(t, tg.Target, "bundle")
	if _, err := signer.Sign(ctx, tg.Target, legacy, tg.ref); err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Attest(ctx, tg.Target, legacy, tg.ref, []sign.Predicate{slsaPredicate}); err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Sign(ctx, tg.Target, bundle, tg.ref, sign.WithFormat(sign.FormatBundle)); err != nil {
		t.Fatal(err)
	}
	good := sign.GitHubWorkflowClaims{Trigger: "push", SHA: "0123456789abcdef0123456789abcdef01234567",
		Name: wfX.Path, Repository: wfX.Repository, Ref: wfX.Ref}
	for _, tc := range []struct {
		name   string
		claims sign.GitHubWorkflowClaims
		want   string // "" when it must verify
	}{
		{"all claims", good, ""},
		{"repository only", sign.GitHubWorkflowClaims{Repository: "acme/x"}, ""},
		{"another repository", sign.GitHubWorkflowClaims{Repository: "acme/y"}, `repository "acme/x" where "acme/y" was expected`},
		{"another trigger", sign.GitHubWorkflowClaims{Trigger: "pull_request", Ref: "refs/heads/main"}, `workflow trigger "push" where "pull_request" was expected`},
		{"another commit", sign.GitHubWorkflowClaims{SHA: strings.Repeat("f", 40)}, `commit "0123456789abcdef0123456789abcdef01234567"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append(offlineVerify(ss, id), sign.WithGitHubWorkflowClaims(tc.claims))
			checks := map[string]func() error{
				"legacy": func() error { _, err := sign.Verify(ctx, tg.Target, legacy, nil, opts...); return err },
				"bundle": func() error { _, err := sign.Verify(ctx, tg.Target, bundle, nil, opts...); return err },
				"attestation": func() error {
					_, err := sign.VerifyAttestations(ctx, tg.Target, legacy, nil, []string{sign.PredicateSLSAProvenanceV1}, opts...)
					return err
				},
			}
			for what, check := range checks {
				err := check()
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%s: %v, want it verified", what, err)
				case tc.want != "" && (!errors.Is(err, sign.ErrVerification) || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%s: %v, want ErrVerification saying %q", what, err, tc.want)
				}
			}
		})
	}
	_, err := sign.Verify(ctx, tg.Target, legacy, loadVerifiers(t, testKeyA(t)), sign.WithGitHubWorkflowClaims(good))
	if err == nil || !strings.Contains(err.Error(), "give the expected identity too") {
		t.Errorf("claims without an identity = %v", err)
	}
}

// TestKeylessAttestTlogUpload checks what a keyless attestation sends to Rekor, through a server that records the
// request and refuses it: a dsse entry (what cosign attest uploads by default), and no .att tag when the log refuses.
func TestKeylessAttestTlogUpload(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	got := make(chan []byte, 1)
	rekor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- b:
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
	_, err = signer.Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate})
	if want := "recording the attestation in the transparency log " + rekor.URL; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Attest = %v, want an error containing %q", err, want)
	}
	if _, err := tg.Resolve(ctx, sign.AttestationTag(subject.Digest)); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("after the log refused, resolving the .att tag = %v, want not found", err)
	}
	var entry struct{ Kind, APIVersion string }
	select {
	case body := <-got:
		if err := json.Unmarshal(body, &entry); err != nil || entry.Kind != "dsse" {
			t.Errorf("Rekor entry = %s (%v), want a dsse entry", body, err)
		}
	default:
		t.Fatal("nothing was sent to Rekor")
	}
}

// TestKeylessRefusesAnExpiringCertificate: a keyless signer whose certificate expires within 30 s signs nothing, in
// any format, and writes nothing; one with minutes left signs.
func TestKeylessRefusesAnExpiringCertificate(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	fresh := loadKeyless(t, ss, ss.GitHubToken(t, wfX))
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	expiring := fresh.AgeCertificate(10 * time.Second)
	for name, write := range map[string]func() error{
		"legacy signature": func() error { _, err := expiring.Sign(ctx, tg, subject, tg.ref); return err },
		"bundle signature": func() error {
			_, err := expiring.Sign(ctx, tg, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
			return err
		},
		"attestation": func() error {
			_, err := expiring.Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate})
			return err
		},
	} {
		if err := write(); err == nil || !strings.Contains(err.Error(), "the Fulcio certificate expired at") {
			t.Errorf("%s with a certificate 10 s from expiry = %v, want a refusal naming the expiry", name, err)
		}
	}
	if _, err := tg.Resolve(ctx, sign.SignatureTag(subject.Digest)); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a refused signature left the .sig tag: %v", err)
	}
	if _, err := fresh.AgeCertificate(5*time.Minute).Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Errorf("signing with five minutes left: %v", err)
	}
}
