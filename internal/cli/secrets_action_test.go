package cli

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
)

// secretMarkers are the letters-and-digits runs of the test's registry passwords. Whatever escaping a context
// applies (workflow-command percent-encoding, HTML entities, Markdown backslashes, JSON), a run of letters and
// digits survives it unchanged, so finding any marker in an output finds the password, or a piece of it, in any
// of its escaped forms.
var secretMarkers = []string{"sEcRa7", "sEcRb7", "sEcRc7", "sEcRd7", "sEcRe7", "sEcRf7", "sEcRg7", "sEcRh7"}

// hostilePassword holds every character that means something in a workflow command (%, ::, CR/LF escapes spelt
// out), in Markdown (*, |, backticks, _, [ ]) and in HTML or JSON (&, <, ", \), between the markers.
const hostilePassword = "sEcRa7%sEcRb7*sEcRc7|sEcRd7`sEcRe7`::sEcRf7%0A&<b>\"\\sEcRg7_[x]::sEcRh7"

// multiLinePassword is the same with a line break, which the action refuses; every line holds a "%", so that no
// line appears raw in its ::add-mask:: command (the run helper greps stdout for planted secrets).
const multiLinePassword = "sEcRa7%sEcRb7*sEcRc7|sEcRd7\nsEcRe7`::sEcRf7%sEcRg7"

// echoingRegistry is a hostile registry in front of a real one: it refuses every manifest with an error message that
// quotes the basic-auth password it was sent, so that the password comes back inside an error that statepack
// reports. Everything else passes through.
func echoingRegistry(t *testing.T, upstream string) string {
	t.Helper()
	host, stop := faultproxy.Intercept(upstream, func(w http.ResponseWriter, r *http.Request) bool {
		_, pw, ok := r.BasicAuth()
		if !ok || r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
			"code": "MANIFEST_INVALID", "message": "manifest refused for the password " + pw, "detail": pw}}})
		return true
	})
	t.Cleanup(stop)
	return host
}

// assertNoSecretMarker fails when any piece of a password shows in any output of the step. The ::add-mask::
// commands are the one place a secret must go (escaped as a workflow command): the runner consumes them.
func assertNoSecretMarker(t *testing.T, r actionResult) {
	t.Helper()
	var stdout []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			stdout = append(stdout, line)
		}
	}
	for name, text := range map[string]string{"stdout": strings.Join(stdout, "\n"), "stderr": r.stderr,
		"GITHUB_OUTPUT": r.rawOut, "GITHUB_STEP_SUMMARY": r.summary} {
		for _, m := range secretMarkers {
			if i := strings.Index(text, m); i >= 0 {
				t.Errorf("a piece of the registry password (%s) appears in %s: …%s…", m, name, text[max(0, i-60):min(len(text), i+60)])
			}
		}
	}
}

// TestActionNeverShowsTheRegistryPassword runs the action with registry passwords full of Markdown, HTML, JSON and
// workflow-command metacharacters: on success, on a wrong password, on a password the action refuses, and against
// a registry that quotes the password back in its error. No piece of the password may appear, raw or escaped, in
// stdout, stderr, GITHUB_OUTPUT or GITHUB_STEP_SUMMARY; each must be masked (::add-mask::) before anything else.
func TestActionNeverShowsTheRegistryPassword(t *testing.T) {
	t.Parallel()
	const user = "ci-bot"
	plant(hostilePassword, multiLinePassword)
	plant(strings.Split(multiLinePassword, "\n")...)
	authed := testregistry.Start(t, testregistry.WithBasicAuth(user, hostilePassword))
	echoing := echoingRegistry(t, authed.Host)
	repoDir, _ := gitRepo(t, "../../testdata/demo", "https://github.com/acme/fleet.git")

	for _, tc := range []struct {
		name, host, password string
		wantCode             int
		// wantInOutput is what shows that the step got as far as the case means it to.
		wantInOutput string
		// masks are the ::add-mask:: commands expected first, as go-githubactions escapes them.
		masks []string
	}{
		{"published", authed.Host, hostilePassword, 0, "ref<<",
			[]string{strings.NewReplacer("%", "%25").Replace(hostilePassword)}},
		{"wrong password", authed.Host, strings.Replace(hostilePassword, "sEcRh7", "sEcRa7", 1), 3, "failure",
			[]string{strings.NewReplacer("%", "%25").Replace(strings.Replace(hostilePassword, "sEcRh7", "sEcRa7", 1))}},
		{"quoted back by the registry", echoing, hostilePassword, 3, "manifest refused for the password",
			[]string{strings.NewReplacer("%", "%25").Replace(hostilePassword)}},
		{"line break refused", authed.Host, multiLinePassword, 2, "holds a line break",
			[]string{strings.NewReplacer("%", "%25", "\n", "%0A").Replace(multiLinePassword), "sEcRa7%25sEcRb7*sEcRc7|sEcRd7", "sEcRe7`::sEcRf7%25sEcRg7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plant(tc.password)
			rn := newRunner(t, repoDir)
			r := rn.run(t, map[string]string{
				"path":              filepath.Join(repoDir, "production"),
				"ref":               tc.host + "/acme/fleet/production:main",
				"registry-username": user,
				"registry-password": tc.password,
			})
			if r.code != tc.wantCode {
				t.Fatalf("statepack action: %s\nwant exit %d", r, tc.wantCode)
			}
			all := r.stdout + r.stderr + r.rawOut + r.summary
			if !strings.Contains(all, tc.wantInOutput) {
				t.Errorf("the step's output lacks %q: the case did not happen as planned:\n%s", tc.wantInOutput, r)
			}
			assertMasksFirst(t, r, tc.masks...)
			assertNoSecretMarker(t, r)
		})
	}
}
