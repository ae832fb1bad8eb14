package faultproxy

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// LostUploads is a proxy in front of a registry that loses the answer to the first PUT of every blob upload session:
// the registry stores the blob, then the client's connection is reset, so that a retried PUT finds the session gone
// (404 "blob upload unknown"). It is the fault a client must survive by asking whether the blob arrived.
type LostUploads struct {
	srv *httptest.Server
	mu  sync.Mutex
	n   int
	bad []int // statuses other than 201 the registry gave to a first upload PUT
}

// StartLostUploads starts a LostUploads proxy in front of upstream ("host:port", plain HTTP).
func StartLostUploads(upstream string) *LostUploads {
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	l := &LostUploads{}
	seen := map[string]bool{}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		first := r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && !seen[r.URL.Path]
		seen[r.URL.Path] = true
		l.mu.Unlock()
		if !first {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		l.mu.Lock()
		l.n++
		if rec.Code != http.StatusCreated {
			l.bad = append(l.bad, rec.Code)
		}
		l.mu.Unlock()
		hijackClose(w, true)
	}))
	return l
}

// Host is the proxy's "host:port".
func (l *LostUploads) Host() string { return strings.TrimPrefix(l.srv.URL, "http://") }

// Lost returns how many upload answers the proxy lost, and the statuses other than 201 Created that the registry gave
// to those uploads (none when every lost upload was stored).
func (l *LostUploads) Lost() (n int, notCreated []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, append([]int(nil), l.bad...)
}

// Close stops the proxy.
func (l *LostUploads) Close() { l.srv.Close() }

// LoseUploadAnswers starts a LostUploads proxy for the test tb, closed when it ends, and fails tb then if the registry
// refused one of the uploads whose answer was lost (the fault must be a lost answer, not a failed upload). It returns
// the proxy's host and how many answers it has lost so far.
func LoseUploadAnswers(tb testing.TB, upstream string) (host string, lost func() int) {
	tb.Helper()
	l := StartLostUploads(upstream)
	tb.Cleanup(func() {
		l.Close()
		if _, notCreated := l.Lost(); len(notCreated) > 0 {
			tb.Errorf("the registry answered %v to uploads whose answer was lost, want 201", notCreated)
		}
	})
	return l.Host(), func() int { n, _ := l.Lost(); return n }
}
