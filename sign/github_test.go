package sign_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

// requestToken stands for ACTIONS_ID_TOKEN_REQUEST_TOKEN: a credential that must never show in an error.
const requestToken = "ghs_request-token-0123456789abcdef"

// fakeActionsTokenService serves GitHub Actions' OIDC token endpoint as GitHub documents it: GET with the
// audience in the query and the request token as a bearer token, answering {"count": …, "value": <JWT>}. It
// answers with the token of the identity it is given, for the audience asked, and records the audiences asked.
type fakeActionsTokenService struct {
	*httptest.Server
	mu        sync.Mutex
	audiences []string
}

func newFakeActionsTokenService(t *testing.T, token func(audience string) string) *fakeActionsTokenService {
	f := &fakeActionsTokenService{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken" {
			http.NotFound(w, r)
			return
		}
		// GitHub's header is "Authorization: bearer <token>"; an endpoint that echoes a wrong one must not leak it.
		if auth := r.Header.Get("Authorization"); auth != "bearer "+requestToken {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"message":"bad credentials: %s"}`, auth)
			return
		}
		q := r.URL.Query()
		if q.Get("api-version") != "2.0" {
			http.Error(w, `{"message":"api-version lost"}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.audiences = append(f.audiences, q.Get("audience"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"count": 1, "value": token(q.Get("audience"))})
	}))
	t.Cleanup(f.Close)
	return f
}

// requestURL is what ACTIONS_ID_TOKEN_REQUEST_URL holds: GitHub's URL already carries a query.
func (f *fakeActionsTokenService) requestURL() string {
	return f.URL + "/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken?api-version=2.0"
}

func TestGitHubActionsToken(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	want := ss.GitHubToken(t, wfX)
	f := newFakeActionsTokenService(t, func(audience string) string {
		if audience != testsigstore.Audience {
			return ss.Token(t, ss.GitHubIssuer, map[string]any{"aud": audience, "sub": "x"})
		}
		return want
	})

	tok, err := sign.GitHubActionsToken(ctx, f.requestURL(), requestToken, "")
	if err != nil {
		t.Fatalf("GitHubActionsToken: %v", err)
	}
	if tok != want {
		t.Errorf("GitHubActionsToken = %q, want the token the service issued", tok)
	}
	if _, err := sign.GitHubActionsToken(ctx, f.requestURL(), requestToken, "other"); err != nil {
		t.Fatalf("GitHubActionsToken(audience other): %v", err)
	}
	f.mu.Lock()
	if got := strings.Join(f.audiences, ","); got != "sigstore,other" {
		t.Errorf("audiences asked = %s, want sigstore,other", got)
	}
	f.mu.Unlock()

	// The token is what keyless signing needs: it signs, and the signature verifies as the workflow's.
	signer, err := sign.LoadKeylessSigner(ctx, tok, keylessOpts(ss)...)
	if err != nil {
		t.Fatalf("LoadKeylessSigner with GitHub's token: %v", err)
	}
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	if _, err := signer.Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Fatal(err)
	}
	res, err := sign.Verify(ctx, tg, subject, nil, offlineVerify(ss, sign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer})...)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := res.Verified[0].Identity.Subject; got != "https://github.com/acme/x/.github/workflows/a.yml@refs/heads/main" {
		t.Errorf("verified identity = %s", got)
	}
}

func TestGitHubActionsTokenFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			_, _ = w.Write([]byte("<html>" + requestToken + "</html>"))
		case "/empty":
			_, _ = w.Write([]byte(`{"count":0,"value":""}`))
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer broken.Close()
	f := newFakeActionsTokenService(t, func(string) string { return "unused" })
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	noPerm := "no OIDC identity token from GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not both set; grant the job the permission id-token: write (and, for a reusable workflow, have the caller grant it)"

	for _, tc := range []struct {
		name, url, token string
		want             string // exact, or a prefix when it ends with "…"
		wantIs           error
	}{
		{name: "no request URL", url: "", token: requestToken, want: noPerm, wantIs: sign.ErrNoIdentityToken},
		{name: "no request token", url: f.requestURL(), token: "", want: noPerm, wantIs: sign.ErrNoIdentityToken},
		{name: "wrong request token", url: f.requestURL(), token: "ghs_wrong-token-0123456789", want: "requesting the GitHub Actions OIDC token from " + f.URL + "/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken: answered 401 Unauthorized (an expired or wrong ACTIONS_ID_TOKEN_REQUEST_TOKEN?)"},
		{name: "server error", url: broken.URL + "/x?sig=secret", token: requestToken, want: "requesting the GitHub Actions OIDC token from " + broken.URL + "/x: answered 500 Internal Server Error"},
		{name: "not JSON", url: broken.URL + "/html", token: requestToken, want: "requesting the GitHub Actions OIDC token from " + broken.URL + `/html: the answer is not the JSON object {"value": <token>} GitHub documents`},
		{name: "empty value", url: broken.URL + "/empty", token: requestToken, want: "requesting the GitHub Actions OIDC token from " + broken.URL + `/empty: the answer holds no token (empty "value")`},
		{name: "unreachable", url: gone.URL + "/t?sig=secret", token: requestToken, want: "requesting the GitHub Actions OIDC token from " + gone.URL + "/t: dial tcp …"},
		{name: "not an http URL", url: "file:///etc/passwd", token: requestToken, want: "requesting the GitHub Actions OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := sign.GitHubActionsToken(ctx, tc.url, tc.token, "")
			if err == nil {
				t.Fatalf("GitHubActionsToken = %q, want an error", tok)
			}
			if want, ok := strings.CutSuffix(tc.want, "…"); ok {
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("GitHubActionsToken =\n%s\nwant it to start with\n%s", err, want)
				}
			} else if err.Error() != tc.want {
				t.Errorf("GitHubActionsToken =\n%s\nwant\n%s", err, tc.want)
			}
			if (tc.wantIs != nil) != errors.Is(err, sign.ErrNoIdentityToken) {
				t.Errorf("GitHubActionsToken = %v; errors.Is ErrNoIdentityToken = %v, want %v", err, !(tc.wantIs != nil), tc.wantIs != nil)
			}
			for _, secret := range []string{requestToken, "ghs_wrong-token-0123456789", "sig=secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("GitHubActionsToken error repeats %q: %v", secret, err)
				}
			}
		})
	}
}
