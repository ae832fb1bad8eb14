package cli

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/statepack/statepack/internal/testregistry"
)

// firstRequestProxy stands in front of a registry and notes when the first request of a run arrives.
type firstRequestProxy struct {
	mu    sync.Mutex
	first time.Time
	srv   *httptest.Server
}

func newFirstRequestProxy(b *testing.B, registryHost string) *firstRequestProxy {
	b.Helper()
	p := &firstRequestProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: registryHost})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if p.first.IsZero() {
			p.first = time.Now()
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	b.Cleanup(p.srv.Close)
	return p
}

func (p *firstRequestProxy) host() string { return p.srv.Listener.Addr().String() }

func (p *firstRequestProxy) reset() {
	p.mu.Lock()
	p.first = time.Time{}
	p.mu.Unlock()
}

func (p *firstRequestProxy) since(start time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first.Sub(start)
}

// BenchmarkStartToFirstRegistryRequest is the time from starting the statepack process to its first request to the
// registry, for `statepack action` (reads the inputs, renders and validates, then publishes, rendering again) and
// for `statepack publish` of the same tree, both unsigned. The binary is built once, as `make build` builds it.
func BenchmarkStartToFirstRegistryRequest(b *testing.B) {
	dir := b.TempDir()
	bin := statepackBinary(b)
	reg := testregistry.Start(b)
	proxy := newFirstRequestProxy(b, reg.Host)
	tree, err := filepath.Abs(demoTree)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"action", "publish"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			i := 0
			for b.Loop() {
				i++
				ref := fmt.Sprintf("%s/bench/%s-%d:v1", proxy.host(), mode, i)
				var cmd *exec.Cmd
				if mode == "action" {
					cmd = exec.Command(bin, "action")
					cmd.Env = []string{"INPUT_PATH=" + tree, "INPUT_REF=" + ref, "GITHUB_ACTIONS=true",
						"GITHUB_OUTPUT=" + filepath.Join(dir, "output"), "GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"), "HOME=" + dir}
				} else {
					cmd = exec.Command(bin, "publish", tree, ref)
					cmd.Env = []string{"HOME=" + dir}
				}
				proxy.reset()
				start := time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("statepack %s: %v\n%s", mode, err, out)
				}
				total += proxy.since(start)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(i), "ms-to-first-request")
		})
	}
}
