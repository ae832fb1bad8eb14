package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
)

// TestKeylessThroughTheCLI signs keyless against Fulcio's real server code in-process, with the token from a
// simulated GitHub Actions runner (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN), and verifies by identity the way Flux's
// matchOIDCIdentity does. Rekor and a CT log cannot run offline, so the log and the SCT are switched off.
func TestKeylessThroughTheCLI(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ss := testsigstore.Start(t)
	wf := testsigstore.GitHubWorkflow{Repository: "acme/fleet", Path: ".github/workflows/publish.yaml", Ref: "refs/heads/main"}
	token := ss.GitHubToken(t, wf)
	plant(token, "runner-secret")
	runner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer runner-secret" || r.URL.Query().Get("audience") != "sigstore" {
			http.Error(w, "bad request token or audience", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(`{"value":"` + token + `"}`))
	}))
	defer runner.Close()
	root := filepath.Join(t.TempDir(), "fulcio-root.pem")
	if err := os.WriteFile(root, ss.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": runner.URL + "/token?x=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-secret"}
	ref := reg.Host + "/keyless/app:main"
	r := mustRun(t, 0, env, "publish", demoTree, ref, "--keyless", "--fulcio-url", ss.FulcioURL, "--fulcio-root", root,
		"--insecure-skip-sct", "--tlog-upload=false")
	if strings.Contains(r.stdout+r.stderr, token) || strings.Contains(r.stdout+r.stderr, "runner-secret") {
		t.Fatalf("a token leaked into the output:\n%s", r)
	}
	verify := func(identity, issuer string) result {
		return run(t, nil, "", "verify", ref, "--certificate-identity", identity, "--certificate-oidc-issuer", issuer,
			"--fulcio-root", root, "--insecure-ignore-tlog", "--insecure-ignore-sct")
	}
	if v := verify(wf.Identity(), ss.GitHubIssuer); v.code != 0 {
		t.Fatalf("verify with the signer's identity: %s", v)
	}
	// The keyless signer attested too: the attestations verify by the same identity, and not by another.
	att := run(t, nil, "", "verify", ref, "--certificate-identity", wf.Identity(), "--certificate-oidc-issuer", ss.GitHubIssuer,
		"--fulcio-root", root, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--attestation", "slsa", "--attestation", "inventory")
	if att.code != 0 || strings.Count(att.stdout, "verified ("+wf.Identity()) != 2 {
		t.Errorf("verify --attestation slsa --attestation inventory by identity: %s\nwant both verified by %s", att, wf.Identity())
	}
	// GitHub workflow claims narrow the identity, as cosign's --certificate-github-workflow-* flags do.
	claims := func(repo, trigger string) result {
		return run(t, nil, "", "verify", ref, "--certificate-identity", wf.Identity(), "--certificate-oidc-issuer", ss.GitHubIssuer,
			"--fulcio-root", root, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--attestation", "slsa",
			"--certificate-github-workflow-repository", repo, "--certificate-github-workflow-trigger", trigger,
			"--certificate-github-workflow-ref", wf.Ref)
	}
	if v := claims("acme/fleet", "push"); v.code != 0 {
		t.Errorf("verify with the workflow's claims: %s", v)
	}
	if v := claims("acme/fleet", "pull_request"); v.code != 1 || !strings.Contains(v.stderr, `workflow trigger "push" where "pull_request" was expected`) {
		t.Errorf("verify expecting another trigger: %s\nwant exit 1 naming the trigger found", v)
	}
	if v := run(t, nil, "", "verify", ref, "--certificate-github-workflow-repository", "acme/fleet"); v.code != 2 {
		t.Errorf("workflow claims without an identity: %s\nwant exit 2", v)
	}
	other0 := testsigstore.GitHubWorkflow{Repository: "acme/other", Path: wf.Path, Ref: wf.Ref}
	if v := run(t, nil, "", "verify", ref, "--certificate-identity", other0.Identity(), "--certificate-oidc-issuer", ss.GitHubIssuer,
		"--fulcio-root", root, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--attestation", "slsa"); v.code != 1 {
		t.Errorf("verify --attestation slsa with another identity: %s\nwant exit 1", v)
	}
	other := testsigstore.GitHubWorkflow{Repository: "acme/other", Path: wf.Path, Ref: wf.Ref}
	if v := verify(other.Identity(), ss.GitHubIssuer); v.code != 1 || !strings.Contains(v.stderr, wf.Identity()) {
		t.Errorf("verify with another identity: %s\nwant exit 1 naming the identity found", v)
	}
	if v := verify(wf.Identity(), "https://accounts.example.com"); v.code != 1 {
		t.Errorf("verify with another issuer: %s\nwant exit 1", v)
	}
	// The same through the regexp flags, as Flux's matchOIDCIdentity takes them.
	v := run(t, nil, "", "pull", ref, "-o", filepath.Join(t.TempDir(), "out"), "--certificate-identity-regexp", "^https://github.com/acme/fleet/",
		"--certificate-oidc-issuer-regexp", ".*", "--fulcio-root", root, "--insecure-ignore-tlog", "--insecure-ignore-sct")
	if v.code != 0 {
		t.Errorf("pull verifying by regexp: %s", v)
	}

	// Without a token, keyless fails and says what to grant; nothing is pushed.
	r = run(t, nil, "", "publish", demoTree, reg.Host+"/keyless/none:main", "--keyless")
	if r.code != 2 || !strings.Contains(r.stderr, "id-token: write") {
		t.Errorf("keyless without a token: %s\nwant exit 2 naming id-token: write", r)
	}
	if repos := repositories(t, reg.Host); strings.Contains(strings.Join(repos, " "), "keyless/none") {
		t.Errorf("keyless without a token pushed: %v", repos)
	}
}

// TestKeylessFleet: --keyless beside --config signs the targets whose config names no key with one Fulcio
// certificate, as the Action does; a target with its own sign.key keeps it. Each verifies by what signed it, and not
// by the other.
func TestKeylessFleet(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ss := testsigstore.Start(t)
	wf := testsigstore.GitHubWorkflow{Repository: "acme/fleet", Path: ".tekton/fleet.yaml", Ref: "refs/heads/main"}
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(ss.GitHubToken(t, wf)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "fulcio-root.pem")
	if err := os.WriteFile(root, ss.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	key, pub := keyPair(t, "")
	copyDir(t, "../../testdata/plain", filepath.Join(dir, "a"))
	copyDir(t, "../../testdata/plain", filepath.Join(dir, "b"))
	cfg := filepath.Join(dir, "statepack.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n"+
		"- {name: a, path: a, ref: "+reg.Host+"/fleet/a:main}\n- {name: b, path: b, ref: "+reg.Host+"/fleet/b:main, sign: {key: "+key+"}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, map[string]string{"COSIGN_PASSWORD": ""}, "publish", "--config", cfg, "--root", dir, "--identity-token-file", token,
		"--fulcio-url", ss.FulcioURL, "--fulcio-root", root, "--insecure-skip-sct", "--tlog-upload=false")
	byIdentity := func(target string) result {
		return run(t, nil, "", "verify", reg.Host+"/fleet/"+target+":main", "--certificate-identity", wf.Identity(),
			"--certificate-oidc-issuer", ss.GitHubIssuer, "--fulcio-root", root, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--attestation", "slsa")
	}
	byKey := func(target string) result {
		return run(t, nil, "", "verify", reg.Host+"/fleet/"+target+":main", "--key", pub)
	}
	if v := byIdentity("a"); v.code != 0 {
		t.Errorf("target a (no key in the config), verified by the keyless identity: %s", v)
	}
	if v := byKey("a"); v.code != 1 {
		t.Errorf("target a verified by b's key: %s\nwant exit 1", v)
	}
	if v := byKey("b"); v.code != 0 {
		t.Errorf("target b (its own sign.key), verified by its key: %s", v)
	}
	if v := byIdentity("b"); v.code != 1 {
		t.Errorf("target b verified by the keyless identity: %s\nwant exit 1", v)
	}
	// No selected target needs the keyless signer: no token is asked for (there is none here), and b publishes.
	if r := run(t, map[string]string{"COSIGN_PASSWORD": ""}, "", "publish", "--config", cfg, "--root", dir, "--target", "b", "--keyless"); r.code != 0 {
		t.Errorf("publish --config --target b --keyless without a token, b having its own key: %s\nwant it published with its key", r)
	}
}
