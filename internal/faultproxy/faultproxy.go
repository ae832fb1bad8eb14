// Package faultproxy is a reverse proxy that injects registry faults for tests: a share of requests answered with
// 503 or 429 (with Retry-After), responses cut mid-body, stalls, connections closed or reset before any response.
// The faults are drawn from a seeded random source, so a failing run can be repeated, and every fault injected is
// logged, so a test can report what it survived. It is for tests only: it is not a promise of this module.
package faultproxy

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind names a fault.
type Kind string

// The kinds of fault, in the order Faults draws them.
const (
	// Unavailable answers 503 Service Unavailable without asking the registry.
	Unavailable Kind = "503"
	// TooMany answers 429 Too Many Requests with Retry-After: 0 without asking the registry.
	TooMany Kind = "429"
	// Cut passes the request to the registry, then sends the response headers and half the body and resets the
	// connection: the registry did the work, the client never learns it.
	Cut Kind = "cut"
	// Drop reads the request, then closes the connection cleanly (FIN) without a response.
	Drop Kind = "drop"
	// Reset resets the connection (RST, SO_LINGER 0) without reading the request body or answering.
	Reset Kind = "reset"
	// Stall answers nothing for Faults.StallFor, then passes the request through; the client may give up first.
	Stall Kind = "stall"
)

// kinds is the draw order.
var kinds = []Kind{Unavailable, TooMany, Cut, Drop, Reset, Stall}

// Forever, as Faults.StallFor, holds a stalled request until the client gives up or the proxy closes.
const Forever time.Duration = -1

// Faults are the shares (0..1) of requests that get each fault; the rest pass through. Their sum must not exceed 1.
type Faults struct {
	Unavailable float64 // 503
	TooMany     float64 // 429 with Retry-After: 0
	Cut         float64 // the response starts, then the connection is reset mid-body
	Drop        float64 // the connection closes (FIN) before any response
	Reset       float64 // the connection is reset (RST) before any response
	Stall       float64 // no answer for StallFor, then pass through
	// StallFor is how long a stall lasts: Forever, or a positive duration. Default 2s.
	StallFor time.Duration
}

func (f Faults) share(k Kind) float64 {
	switch k {
	case Unavailable:
		return f.Unavailable
	case TooMany:
		return f.TooMany
	case Cut:
		return f.Cut
	case Drop:
		return f.Drop
	case Reset:
		return f.Reset
	case Stall:
		return f.Stall
	}
	return 0
}

// Event is one injected fault.
type Event struct {
	Kind   Kind
	Method string
	Path   string
}

func (e Event) String() string { return fmt.Sprintf("%s %s %s", e.Kind, e.Method, e.Path) }

// Counts says how many requests the proxy saw and how many got each fault.
type Counts struct {
	Requests int64
	ByKind   map[Kind]int64
}

// Faults is the number of requests that got any fault.
func (c Counts) Faults() int64 {
	var n int64
	for _, v := range c.ByKind {
		n += v
	}
	return n
}

// String reads "412 requests, 80 faults: 61 503, 0 429, 9 cut, 3 drop, 4 reset, 3 stall", every kind listed.
func (c Counts) String() string {
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", c.ByKind[k], k)
	}
	return fmt.Sprintf("%d requests, %d faults: %s", c.Requests, c.Faults(), strings.Join(parts, ", "))
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// Host is "127.0.0.1:PORT": use it in place of the registry's host.
	Host string

	srv    *httptest.Server
	rp     *httputil.ReverseProxy
	faults Faults
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	rnd      *rand.Rand
	requests int64
	log      []Event
}

// Start proxies to the registry at upstream ("127.0.0.1:PORT", plain HTTP) with the given faults and seed. It
// panics on shares that are negative or sum to more than 1, or a StallFor that is neither positive nor Forever.
func Start(upstream string, f Faults, seed uint64) *Proxy {
	if f.StallFor == 0 {
		f.StallFor = 2 * time.Second
	}
	if f.StallFor < 0 && f.StallFor != Forever {
		panic(fmt.Sprintf("faultproxy: StallFor %s is neither positive nor Forever", f.StallFor))
	}
	var sum float64
	for _, k := range kinds {
		if f.share(k) < 0 {
			panic(fmt.Sprintf("faultproxy: the share of %s faults is negative", k))
		}
		sum += f.share(k)
	}
	if sum > 1+1e-9 {
		panic(fmt.Sprintf("faultproxy: the fault shares sum to %g, more than 1", sum))
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	// A client that gives up mid-request makes the reverse proxy log; that is the point of the exercise.
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p := &Proxy{faults: f, rp: rp, closed: make(chan struct{}),
		rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.Host = p.srv.Listener.Addr().String()
	return p
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	kind := p.draw(r)
	switch kind {
	case Unavailable:
		http.Error(w, "injected fault", http.StatusServiceUnavailable)
	case TooMany:
		w.Header().Set("Retry-After", "0")
		http.Error(w, "injected fault", http.StatusTooManyRequests)
	case Drop:
		// Read the request first: closing a socket with unread data in it sends a reset, not a FIN.
		_, _ = io.Copy(io.Discard, r.Body)
		hijackClose(w, false)
	case Reset:
		hijackClose(w, true)
	case Stall:
		if p.faults.StallFor == Forever {
			select {
			case <-r.Context().Done():
			case <-p.closed:
			}
			return
		}
		t := time.NewTimer(p.faults.StallFor)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-p.closed:
			return
		}
		p.rp.ServeHTTP(w, r)
	case Cut:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) < 2 {
			hijackClose(w, true)
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
		hijackClose(w, true)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// draw picks the fault for one request (or none) and logs it.
func (p *Proxy) draw(r *http.Request) Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	x := p.rnd.Float64()
	for _, k := range kinds {
		s := p.faults.share(k)
		if x < s {
			p.log = append(p.log, Event{Kind: k, Method: r.Method, Path: r.URL.Path})
			return k
		}
		x -= s
	}
	return ""
}

// hijackClose drops the connection without a response, or without the end of one: with a reset (RST) when rst,
// else with a clean close (FIN).
func hijackClose(w http.ResponseWriter, rst bool) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok && rst {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Counts returns how many requests the proxy saw and how many got each fault so far.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := Counts{Requests: p.requests, ByKind: map[Kind]int64{}}
	for _, k := range kinds {
		c.ByKind[k] = 0
	}
	for _, e := range p.log {
		c.ByKind[e.Kind]++
	}
	return c
}

// Log returns every fault injected so far, in order.
func (p *Proxy) Log() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.log...)
}

// Close releases stalled requests, drops every connection and stops the proxy. It may be called more than once.
func (p *Proxy) Close() {
	p.once.Do(func() {
		close(p.closed)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

// Mixed is the fault mix of statepack's fault tests: 15% 503 and 10% responses cut mid-body, plus 3% connections
// reset (RST) before any response, 1% 429s, and 3% stalls of stallFor; with drops, 1% connections closed (FIN)
// before any response as well, which a transport does not retry (a step retry must).
func Mixed(stallFor time.Duration, drops bool) Faults {
	f := Faults{Unavailable: 0.15, Cut: 0.10, TooMany: 0.01, Reset: 0.03, Stall: 0.03, StallFor: stallFor}
	if drops {
		f.Drop = 0.01
	}
	return f
}

// InParallel calls fn(0) … fn(n-1) on workers goroutines and waits for them all: runs that share one proxy.
func InParallel(n, workers int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
