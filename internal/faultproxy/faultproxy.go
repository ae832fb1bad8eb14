// Package faultproxy is a reverse proxy that injects registry faults for tests: a share of requests answered with
// 503 or 429 (with Retry-After), responses cut mid-body, stalls, and connection resets. The faults are drawn from
// a seeded random source, so a failing run can be repeated. It is for tests only.
package faultproxy

import (
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are the shares (0..1) of requests that get each fault. They are drawn in order; the rest pass through.
type Faults struct {
	Unavailable float64       // 503
	TooMany     float64       // 429 with Retry-After: 0
	Cut         float64       // the response starts, then the connection closes mid-body
	Reset       float64       // the connection closes before any response
	Stall       float64       // no answer for StallFor, then pass through
	StallFor    time.Duration // default 2s
}

// Counts says how many requests got each fault.
type Counts struct {
	Requests, Unavailable, TooMany, Cut, Reset, Stall int64
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// Host is "127.0.0.1:PORT": use it in place of the registry's host.
	Host string

	srv    *httptest.Server
	mu     sync.Mutex
	faults Faults
	rnd    *rand.Rand
	counts struct{ requests, unavailable, tooMany, cut, reset, stall atomic.Int64 }
}

// Start proxies to the registry at upstream ("127.0.0.1:PORT", plain HTTP) with the given faults and seed.
func Start(upstream string, f Faults, seed uint64) *Proxy {
	if f.StallFor == 0 {
		f.StallFor = 2 * time.Second
	}
	target := &url.URL{Scheme: "http", Host: upstream}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = nil
	p := &Proxy{faults: f, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.counts.requests.Add(1)
		switch p.draw() {
		case "unavailable":
			p.counts.unavailable.Add(1)
			http.Error(w, "injected fault", http.StatusServiceUnavailable)
		case "tooMany":
			p.counts.tooMany.Add(1)
			w.Header().Set("Retry-After", "0")
			http.Error(w, "injected fault", http.StatusTooManyRequests)
		case "reset":
			p.counts.reset.Add(1)
			hijackClose(w)
		case "stall":
			p.counts.stall.Add(1)
			select {
			case <-time.After(p.faults.StallFor):
			case <-r.Context().Done():
				return
			}
			rp.ServeHTTP(w, r)
		case "cut":
			p.counts.cut.Add(1)
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) < 2 {
				hijackClose(w)
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body[:len(body)/2])
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			hijackClose(w)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	p.Host = p.srv.Listener.Addr().String()
	return p
}

func (p *Proxy) draw() string {
	p.mu.Lock()
	x := p.rnd.Float64()
	p.mu.Unlock()
	f := p.faults
	for _, c := range []struct {
		name  string
		share float64
	}{{"unavailable", f.Unavailable}, {"tooMany", f.TooMany}, {"cut", f.Cut}, {"reset", f.Reset}, {"stall", f.Stall}} {
		if x < c.share {
			return c.name
		}
		x -= c.share
	}
	return ""
}

// hijackClose drops the connection without a proper end to the response.
func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, not a clean close
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Counts returns how many requests got each fault so far.
func (p *Proxy) Counts() Counts {
	return Counts{Requests: p.counts.requests.Load(), Unavailable: p.counts.unavailable.Load(),
		TooMany: p.counts.tooMany.Load(), Cut: p.counts.cut.Load(), Reset: p.counts.reset.Load(), Stall: p.counts.stall.Load()}
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }
