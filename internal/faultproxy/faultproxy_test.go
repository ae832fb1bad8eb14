package faultproxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upstream is a plain HTTP server standing in for the registry: it answers every request with 4 KiB and counts them.
func upstream(t *testing.T) (host string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(strings.Repeat("x", 4096)))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), hits
}

// client never reuses a connection, so that net/http's own retry of requests on reused connections stays out of
// the way: each request meets its fault.
func client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestEachFaultAsTheClientSeesIt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults Faults
		method string
		// check gets the client's response (body read to the end) or error.
		check        func(t *testing.T, resp *http.Response, body []byte, err error)
		wantUpstream int64
	}{
		{"503", Faults{Unavailable: 1}, http.MethodGet, func(t *testing.T, resp *http.Response, _ []byte, err error) {
			if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET = %v, %v, want 503", resp, err)
			}
		}, 0},
		{"429 with Retry-After", Faults{TooMany: 1}, http.MethodGet, func(t *testing.T, resp *http.Response, _ []byte, err error) {
			if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "0" {
				t.Errorf("GET = %v, %v, want 429 with Retry-After: 0", resp, err)
			}
		}, 0},
		{"cut mid-body after the registry did the work", Faults{Cut: 1}, http.MethodPut, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err == nil || resp == nil || resp.StatusCode != http.StatusOK || len(body) != 2048 {
				t.Errorf("PUT = %v, %d body bytes, %v; want 200, half the body, then an error", resp, len(body), err)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("reading the cut body: %v, want an unexpected EOF or a reset", err)
			}
		}, 1},
		{"drop: FIN before any response", Faults{Drop: 1}, http.MethodPut, func(t *testing.T, resp *http.Response, _ []byte, err error) {
			if resp != nil || !errors.Is(err, io.EOF) {
				t.Errorf("PUT = %v, %v; want the connection closed (EOF) before any response", resp, err)
			}
		}, 0},
		{"reset: RST before any response", Faults{Reset: 1}, http.MethodGet, func(t *testing.T, resp *http.Response, _ []byte, err error) {
			if resp != nil || !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("GET = %v, %v; want the connection reset by peer", resp, err)
			}
		}, 0},
		{"short stall passes through", Faults{Stall: 1, StallFor: 50 * time.Millisecond}, http.MethodGet, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != http.StatusOK || len(body) != 4096 {
				t.Errorf("GET = %v, %d body bytes, %v; want the registry's answer after the stall", resp, len(body), err)
			}
		}, 1},
		{"stall forever until the client gives up", Faults{Stall: 1, StallFor: Forever}, http.MethodGet, func(t *testing.T, resp *http.Response, _ []byte, err error) {
			var ne net.Error
			if resp != nil || !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("GET = %v, %v; want the client's own timeout", resp, err)
			}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, hits := upstream(t)
			p := Start(host, tc.faults, 1)
			defer p.Close()
			req, err := http.NewRequest(tc.method, "http://"+p.Host+"/v2/app/blobs/uploads/x", strings.NewReader(strings.Repeat("y", 1024)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client(500 * time.Millisecond).Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			tc.check(t, resp, body, err)
			p.Close() // returns at once even with a request stalled forever
			if got := hits.Load(); got != tc.wantUpstream {
				t.Errorf("the registry saw %d requests, want %d", got, tc.wantUpstream)
			}
			c := p.Counts()
			if c.Requests != 1 || c.Faults() != 1 {
				t.Errorf("Counts() = %s, want 1 request with 1 fault", c)
			}
			if log := p.Log(); len(log) != 1 || log[0].Method != tc.method || log[0].Path != "/v2/app/blobs/uploads/x" {
				t.Errorf("Log() = %v, want the one request", log)
			}
		})
	}
}

func TestSharesAreDrawnAndCounted(t *testing.T) {
	host, hits := upstream(t)
	p := Start(host, Faults{Unavailable: 0.2, TooMany: 0.1, Stall: 0.1, StallFor: time.Millisecond}, 7)
	defer p.Close()
	const n = 400
	c := client(5 * time.Second)
	for i := 0; i < n; i++ {
		resp, err := c.Get("http://" + p.Host + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	counts := p.Counts()
	if counts.Requests != n {
		t.Errorf("Counts().Requests = %d, want %d", counts.Requests, n)
	}
	// Shares of 20%, 10% and 10% of 400 requests: far outside these bounds only if the draw is broken.
	for k, want := range map[Kind]int64{Unavailable: 80, TooMany: 40, Stall: 40} {
		if got := counts.ByKind[k]; got < want/2 || got > want*2 {
			t.Errorf("%s faults = %d of %d requests, want about %d", k, got, n, want)
		}
	}
	for _, k := range []Kind{Cut, Drop, Reset} {
		if got := counts.ByKind[k]; got != 0 {
			t.Errorf("%s faults = %d, want none (share 0)", k, got)
		}
	}
	if passed := hits.Load(); passed != n-counts.ByKind[Unavailable]-counts.ByKind[TooMany] {
		t.Errorf("the registry saw %d requests, want every one but the 503s and 429s (%s)", passed, counts)
	}
	if s := counts.String(); !strings.HasPrefix(s, "400 requests, ") || !strings.Contains(s, " 0 drop, ") {
		t.Errorf("Counts().String() = %q", s)
	}

	// The same seed draws the same faults.
	again := Start(host, Faults{Unavailable: 0.2, TooMany: 0.1, Stall: 0.1, StallFor: time.Millisecond}, 7)
	defer again.Close()
	for i := 0; i < n; i++ {
		resp, err := c.Get("http://" + again.Host + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if a, b := p.Counts().String(), again.Counts().String(); a != b {
		t.Errorf("the same seed gave %s, then %s", a, b)
	}
}

func TestStartRefusesBadShares(t *testing.T) {
	for name, f := range map[string]Faults{
		"sum over 1":         {Unavailable: 0.6, Cut: 0.6},
		"negative":           {Reset: -0.1},
		"negative stall for": {Stall: 0.1, StallFor: -2 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Start(%+v) did not panic", f)
				}
			}()
			Start("127.0.0.1:1", f, 1).Close()
		})
	}
}
