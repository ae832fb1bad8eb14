package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
)

// The rules of pull and copy under registry faults (all-or-nothing pulls, tags last, retries, deadlines that name
// the step) are proved in the library, which owns them (the root package's pull_faults_test.go). What the command
// line adds is proved here: the exit code and the message of a registry failure, and --request-timeout.

// TestPullAndCopyRegistryFailuresExitThree pulls from, and copies to, a registry that answers every request with
// 503: after the retries, each command exits 3 (a registry failure, not a verdict), prints nothing on stdout, and
// says on stderr what failed and, for copy, what to do; the pull leaves no directory, the copy no tag.
func TestPullAndCopyRegistryFailuresExitThree(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	mustRun(t, 0, nil, "publish", demoTree, reg.Host+"/src/app:v1", "--key", key)
	down := faultproxy.Start(reg.Host, faultproxy.Faults{Unavailable: 1}, 1)
	defer down.Close()

	out := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"pull", []string{"pull", down.Host + "/src/app:v1", "-o", out, "--key", pub},
			[]string{"statepack: error: resolving v1 in " + down.Host + "/src/app", "503", "(a registry failure: run the pull again)"}},
		{"copy", []string{"copy", reg.Host + "/src/app:v1", down.Host + "/dst/app", "--key", pub},
			[]string{"statepack: error: copying " + reg.Host + "/src/app@sha256:", "503", "(no tag was written: run the copy again to resume)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, "", tc.args...)
			if r.code != 3 || r.stdout != "" {
				t.Errorf("statepack %s against a registry that answers 503: %s\nwant exit 3 and nothing on stdout", tc.name, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("statepack %s: stderr = %q, want it to say %q", tc.name, r.stderr, w)
				}
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("statepack %s: stderr carries a stack trace:\n%s", tc.name, r.stderr)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed pull left %s (%v)", out, err)
	}
	if tags := testregistry.Tags(t, reg.Host, "dst/app"); len(tags) > 0 {
		t.Errorf("a failed copy left tags %q", tags)
	}
}

// TestRequestTimeoutFlag pulls and copies through a proxy that holds a fifth of the requests until the client gives
// up: --request-timeout reaches the library, which abandons each stalled attempt and retries it, well within
// --timeout, which would otherwise end the command (exit 3). A duration that is not positive is a usage error.
func TestRequestTimeoutFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection")
	}
	t.Parallel()
	reg := testregistry.Start(t)
	digestRef := strings.TrimSpace(mustRun(t, 0, nil, "publish", demoTree, reg.Host+"/src/app:v1").stdout)
	digest := digestRef[strings.Index(digestRef, "@")+1:]
	proxy := faultproxy.Start(reg.Host, faultproxy.Faults{Stall: 0.2, StallFor: faultproxy.Forever}, 3)
	defer proxy.Close()

	out := filepath.Join(t.TempDir(), "out")
	r := mustRun(t, 0, nil, "pull", proxy.Host+"/src/app:v1", "-o", out, "--request-timeout", "200ms", "--timeout", "1m")
	if want := proxy.Host + "/src/app@" + digest + ": 4 file(s) extracted into " + out + "\n"; r.stdout != want {
		t.Errorf("pull --request-timeout through stalls: stdout = %q, want %q", r.stdout, want)
	}
	r = mustRun(t, 0, nil, "copy", proxy.Host+"/src/app:v1", proxy.Host+"/dst/app", "--request-timeout", "200ms", "--timeout", "1m")
	if want := proxy.Host + "/dst/app@" + digest + "\n"; r.stdout != want {
		t.Errorf("copy --request-timeout through stalls: stdout = %q, want %q", r.stdout, want)
	}
	if got := proxy.Counts().ByKind[faultproxy.Stall]; got == 0 {
		t.Errorf("no request stalled (%s): the flag is not being tested", proxy.Counts())
	}

	for _, d := range []string{"0s", "-1s"} {
		r := mustRun(t, 2, nil, "pull", proxy.Host+"/src/app:v1", "-o", filepath.Join(t.TempDir(), "x"), "--request-timeout="+d)
		if want := "--request-timeout " + d + ": give a positive duration, such as 30s or 2m"; !strings.Contains(r.stderr, want) {
			t.Errorf("pull --request-timeout %s: stderr = %q, want it to say %q", d, r.stderr, want)
		}
	}
}
