package publish

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote/retry"
)

// httpClient stacks, from the outside in: retries, the request log, the progress timeout, the base transport.
// The log sits inside the retries so that every attempt is logged.
func (o *options) httpClient(registry string) *http.Client {
	base := o.transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if slices.Contains(o.insecure, registry) {
			insecure := t.Clone()
			insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user named this registry
			base = hostSwitch{host: registry, insecure: insecure, secure: t}
		} else {
			base = t
		}
	}
	rt := retry.NewTransport(logTransport{base: stallTransport{base: base, timeout: o.requestTimeout}, log: o.logger})
	maxRetries := o.maxRetries
	rt.Policy = func() retry.Policy {
		return &retry.GenericPolicy{Retryable: retry.DefaultPredicate, Backoff: retry.DefaultBackoff,
			MinWait: 200 * time.Millisecond, MaxWait: 3 * time.Second, MaxRetry: maxRetries}
	}
	return &http.Client{Transport: rt}
}

// hostSwitch skips TLS verification for the one registry the user named, and for no other host.
type hostSwitch struct {
	host             string
	insecure, secure http.RoundTripper
}

func (h hostSwitch) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == h.host {
		return h.insecure.RoundTrip(req)
	}
	return h.secure.RoundTrip(req)
}

// logTransport logs each request attempt at debug level, with its URL redacted and never its headers.
type logTransport struct {
	base http.RoundTripper
	log  *slog.Logger
}

func (l logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		l.log.Debug("registry request failed", "method", req.Method, "url", redactURL(req.URL.String()),
			"error", redact(err.Error()), "duration", time.Since(start).Round(time.Millisecond))
		return resp, err
	}
	l.log.Debug("registry request", "method", req.Method, "url", redactURL(req.URL.String()), "status", resp.StatusCode,
		"duration", time.Since(start).Round(time.Millisecond))
	return resp, nil
}

// errNoProgress is the cancellation cause of a request attempt that made no progress in time.
var errNoProgress = errors.New("no progress")

// stallError reports an abandoned attempt. It is a net.Error with Timeout() true, which oras-go's retry predicate
// retries; it must reach the retry transport unwrapped.
type stallError struct{ timeout time.Duration }

func (e *stallError) Error() string {
	return fmt.Sprintf("the registry made no progress for %s (request timeout)", e.timeout)
}
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }

// stallTransport cancels a request attempt when nothing moves for timeout: the watchdog is re-armed whenever
// request or response body bytes flow, and stopped when the response body is closed.
type stallTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (s stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{timeout: s.timeout, ctx: ctx}
	w.timer = time.AfterFunc(s.timeout, func() { cancel(errNoProgress) })
	w.stop = func() { w.timer.Stop(); cancel(nil) }

	r := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		r.Body = &progressBody{ReadCloser: req.Body, w: w}
		if req.GetBody != nil {
			r.GetBody = func() (io.ReadCloser, error) {
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				return &progressBody{ReadCloser: b, w: w}, nil
			}
		}
	}
	resp, err := s.base.RoundTrip(r)
	if err != nil {
		err = w.translate(err)
		w.stop()
		return nil, err
	}
	w.progress()
	resp.Body = &progressBody{ReadCloser: resp.Body, w: w, response: true}
	return resp, nil
}

type watchdog struct {
	timeout time.Duration
	ctx     context.Context
	timer   *time.Timer
	stop    func()
}

func (w *watchdog) progress() { w.timer.Reset(w.timeout) }

// translate turns the cancellation the watchdog caused into a stallError.
func (w *watchdog) translate(err error) error {
	if err != nil && errors.Is(context.Cause(w.ctx), errNoProgress) {
		return &stallError{timeout: w.timeout}
	}
	return err
}

type progressBody struct {
	io.ReadCloser
	w        *watchdog
	response bool
	once     sync.Once
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.progress()
	}
	if err != nil && err != io.EOF {
		err = b.w.translate(err)
	}
	return n, err
}

func (b *progressBody) Close() error {
	err := b.ReadCloser.Close()
	if b.response {
		b.once.Do(b.w.stop)
	}
	return err
}

// urlPattern finds URLs in error messages, which oras-go and net/http quote in full.
var urlPattern = regexp.MustCompile("[a-zA-Z][a-zA-Z0-9+.-]*://[^\\s\"'<>`]+")

// redact rewrites every URL in s without user information and query, where credentials and signed tokens travel.
func redact(s string) string { return urlPattern.ReplaceAllStringFunc(s, redactURL) }

// redactURL removes user information, the query and the fragment from a URL for display.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "REDACTED", false
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
