package faultproxy

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
)

// Intercept starts a reverse proxy in front of the registry at upstream ("host:port", plain HTTP) that lets a test
// answer a request itself: intercept returns true when it has written the response, false to pass the request on.
// It returns the proxy's host; stop closes it. The proxy does not log a client that gives up mid-request.
func Intercept(upstream string, intercept func(w http.ResponseWriter, r *http.Request) bool) (host string, stop func()) {
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client giving up mid-request is what fault tests do
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if intercept(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	return srv.Listener.Addr().String(), srv.Close
}
