package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// githubOIDC is GitHub Actions' token endpoint as a job with id-token: write sees it: it hands out token to a caller
// that presents requestToken and asks for the audience sigstore.
func githubOIDC(t *testing.T, requestToken, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer "+requestToken || r.URL.Query().Get("audience") != "sigstore" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"value": token})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestActionSignsKeyless(t *testing.T) {
	ss := testsigstore.Start(t)
	wf := testsigstore.GitHubWorkflow{Repository: "acme/fleet", Path: ".github/workflows/statepack.yaml", Ref: "refs/heads/main"}
	token := ss.GitHubToken(t, wf)
	const requestToken = "runtime-request-token-7a6b"
	oidc := githubOIDC(t, requestToken, token)
	saved := actionKeylessOptions
	actionKeylessOptions = []sign.KeylessOption{sign.WithFulcioURL(ss.FulcioURL), sign.WithFulcioRoots(ss.RootPEM()),
		sign.WithInsecureSkipSCT(true), sign.WithTlogUpload(false)}
	t.Cleanup(func() { actionKeylessOptions = saved })

	reg := testregistry.Start(t)
	rn := newRunner(t, t.TempDir())
	rn.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = oidc.URL + "/token?api-version=2.0"
	rn.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = requestToken
	target := reg.Host + "/acme/fleet/production"
	// No sign input: with an id-token available, the default is keyless.
	r := rn.run(t, map[string]string{"path": demoTree, "ref": target + ":main"})
	if r.code != 0 {
		t.Fatalf("statepack action: %s", r)
	}
	var s actionSummary
	if err := json.Unmarshal([]byte(r.outputs["summary-json"]), &s); err != nil {
		t.Fatal(err)
	}
	if s.Signing != "keyless" || !strings.Contains(s.SignedWith, wf.Identity()) {
		t.Errorf("summary-json signing = %q, signedWith = %q; want keyless by %s", s.Signing, s.SignedWith, wf.Identity())
	}
	if !strings.Contains(r.summary, "| Signing | keyless: a Fulcio certificate for "+mdText(wf.Identity())) {
		t.Errorf("job summary does not name the identity:\n%s", r.summary)
	}
	assertNoSecret(t, r, token, requestToken)

	// The signature verifies for exactly this workflow's identity.
	ctx := context.Background()
	ref, err := publish.ParseRef(r.outputs["ref"])
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := publish.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := tgt.Resolve(ctx, r.outputs["digest"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Verify(ctx, tgt.Storage(), desc, nil, sign.WithIdentities(sign.Identity{Subject: wf.Identity(), Issuer: ss.GitHubIssuer}),
		sign.WithRootCerts(ss.RootPEM()), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)); err != nil {
		t.Errorf("verifying the keyless signature: %v", err)
	}

	// With config, sign: keyless signs the targets whose config names no key; a target's own key still signs it.
	repo, cfg, pub := actionFleet(t, reg.Host, "", "- {name: web, path: shop, ref: "+reg.Host+"/acme/web, sign: {key: ''}}\n")
	frn := newRunner(t, repo)
	frn.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = rn.env["ACTIONS_ID_TOKEN_REQUEST_URL"]
	frn.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = requestToken
	r = frn.run(t, map[string]string{"config": cfg, "path": ".", "targets": "shop, web", "sign": "keyless"})
	if r.code != 0 {
		t.Fatalf("statepack action with config and sign: keyless: %s", r)
	}
	_, byName := targetsByName(t, r)
	if w := byName["web"]; w.Signing != "keyless" || !strings.Contains(w.SignedWith, wf.Identity()) {
		t.Errorf("target web (no key in the config): signing %q, signedWith %q; want keyless by %s", w.Signing, w.SignedWith, wf.Identity())
	}
	if sh := byName["shop"]; sh.Signing != "key" {
		t.Errorf("target shop (the config's key): signing %q, want key", sh.Signing)
	}
	assertNoSecret(t, r, token, requestToken)
	root := filepath.Join(t.TempDir(), "fulcio-root.pem")
	if err := os.WriteFile(root, ss.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if v := run(t, nil, "", "verify", reg.Host+"/acme/web:main", "--certificate-identity", wf.Identity(), "--certificate-oidc-issuer", ss.GitHubIssuer,
		"--fulcio-root", root, "--insecure-ignore-tlog", "--insecure-ignore-sct"); v.code != 0 {
		t.Errorf("target web, verified by the workflow's identity: %s", v)
	}
	if v := run(t, nil, "", "verify", reg.Host+"/acme/shop:main", "--key", pub); v.code != 0 {
		t.Errorf("target shop, verified by the config's key: %s", v)
	}
	// Any other sign input still conflicts with a config, which names the keys.
	if r := frn.run(t, map[string]string{"config": cfg, "path": ".", "sign": "key"}); r.code != ExitUsage || !strings.Contains(r.stdout, "sign: keyless signs the targets that name none") {
		t.Errorf("statepack action with config and sign: key: %s\nwant a usage error", r)
	}
}

func TestActionKeylessWithoutAToken(t *testing.T) {
	// The job was granted id-token: write, but GitHub refuses the request: nothing is pushed, the error says why.
	oidc := githubOIDC(t, "the-right-request-token", "never-handed-out")
	rn := newRunner(t, t.TempDir())
	rn.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = oidc.URL + "/token"
	rn.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "a-wrong-request-token-3c2d"
	layout := t.TempDir() + "/layout"
	r := rn.run(t, map[string]string{"path": demoTree, "ref": "oci:" + layout + ":main", "sign": "keyless"})
	if r.code == 0 || !strings.Contains(r.stdout, "::error title=statepack::requesting the GitHub Actions OIDC token from "+oidc.URL+"/token") {
		t.Errorf("statepack action: %s\nwant a failure naming the token request", r)
	}
	if _, err := os.Stat(layout); !os.IsNotExist(err) {
		t.Errorf("something was published without a signature: %v", err)
	}
	assertNoSecret(t, r, "a-wrong-request-token-3c2d")
}
