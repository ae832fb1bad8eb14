// Package testregistry starts a real OCI registry process (Debian's docker-registry, CNCF distribution) for tests.
//
// Each call to Start runs its own registry on a free loopback port with its storage in a temporary directory, and
// stops it when the test ends. It is for tests only: nothing in the product imports it.
package testregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SkipEnv names the environment variable that, when set to 1, turns a missing registry binary into a skip instead of
// a failure. CI never sets it: there a missing registry must fail the run.
const SkipEnv = "STATEPACK_SKIP_REGISTRY"

// Registry is a running registry process.
type Registry struct {
	// Host is "127.0.0.1:PORT", ready to prefix a repository name.
	Host string
	// Dir is the registry's storage directory.
	Dir string

	mu  sync.Mutex
	log bytes.Buffer
}

// Option configures Start.
type Option func(*config)

type config struct {
	username, password string
}

// WithBasicAuth makes the registry require HTTP basic authentication with these credentials (htpasswd).
func WithBasicAuth(username, password string) Option {
	return func(c *config) { c.username, c.password = username, password }
}

// Binary returns the path of the registry binary, or "" when none is installed.
func Binary() string {
	for _, name := range []string{"docker-registry", "registry"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start runs a registry for the duration of the test t.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	bin := Binary()
	if bin == "" {
		msg := "no registry binary on PATH: run `apt-get install docker-registry` (or set " + SkipEnv + "=1 to skip)"
		if os.Getenv(SkipEnv) == "1" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	dir := t.TempDir()
	r := &Registry{Dir: filepath.Join(dir, "storage")}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(r.config(c, dir)), 0o600); err != nil {
			t.Fatal(err)
		}
		if c.username != "" {
			hash, err := bcrypt.GenerateFromPassword([]byte(c.password), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			line := c.username + ":" + string(hash) + "\n"
			if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(bin, "serve", cfgPath)
		cmd.Stdout = r.writer()
		cmd.Stderr = r.writer()
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
			if t.Failed() {
				t.Logf("registry log:\n%s", r.Log())
			}
		})
		if err := waitReady(r.Host, done); err == nil {
			return r
		} else if attempt >= 3 {
			t.Fatalf("registry did not start: %v\n%s", err, r.Log())
		}
		// The port was taken between our probe and the registry's bind; try another.
		_ = cmd.Process.Kill()
		<-done
	}
}

// Log returns what the registry process printed so far.
func (r *Registry) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

type lockedWriter struct{ r *Registry }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.log.Write(p)
}

func (r *Registry) writer() lockedWriter { return lockedWriter{r} }

func (r *Registry) config(c config, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&b, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n", r.Dir)
	fmt.Fprintf(&b, "http:\n  addr: %s\n  secret: statepack-test\n", r.Host)
	if c.username != "" {
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: statepack-test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(host string, exited <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("registry process exited")
		default:
		}
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 200 without auth, 401 with auth: either way the registry answers.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on http://%s/v2/ within 20s", host)
}

// Tags lists the tags of repo in the registry at host, sorted, straight over the distribution API (plain HTTP, no
// auth); nil when the repository does not exist.
func Tags(t testing.TB, host, repo string) []string {
	t.Helper()
	resp, err := http.Get("http://" + host + "/v2/" + repo + "/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var list struct{ Tags []string }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("listing the tags of %s: %v", repo, err)
	}
	slices.Sort(list.Tags)
	return list.Tags
}
