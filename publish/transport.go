package publish

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/statepack/statepack/internal/redact"
	"github.com/statepack/statepack/internal/retrywait"
)

// httpClient stacks, from the outside in: retries, the request log, the read-ahead of small answers, the progress
// timeout, the base transport. The log sits inside the retries so that every attempt is logged, and above the
// read-ahead so that an answer cut in its body is logged as the failure it is.
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
	rt := retry.NewTransport(logTransport{base: readAhead{base: stallTransport{base: base, timeout: o.requestTimeout}}, log: o.logger})
	maxRetries := o.maxRetries
	rt.Policy = func() retry.Policy {
		return &retry.GenericPolicy{Retryable: retryPredicate, Backoff: retry.DefaultBackoff,
			MinWait: retrywait.RequestMin, MaxWait: retrywait.RequestMax, MaxRetry: maxRetries}
	}
	return &http.Client{Transport: rt}
}

// retryPredicate is oras-go's retry.DefaultPredicate (5xx, 429, 408, timeouts, connection resets, unexpected EOF),
// plus a connection the registry closed cleanly (FIN) without answering, which net/http reports as io.EOF and
// retries on its own only on a reused connection. Retrying it is safe for every request a registry client sends:
// blobs and manifests are PUT by digest, tags PUT again point at the same content, and an extra POST only opens an
// upload session that is never used.
func retryPredicate(resp *http.Response, err error) (bool, error) {
	if err != nil && errors.Is(err, io.EOF) {
		return true, nil
	}
	return retry.DefaultPredicate(resp, err)
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

// maxReadAhead bounds the answers readAhead reads whole: the size of the largest manifest accepted
// (maxManifestSize), which covers signatures, attestations, configs and referrer lists too.
const maxReadAhead = maxManifestSize

// readAhead reads the body of a successful GET before handing the response on, when it is known to be small, so
// that an answer cut or stalled in the middle of its body fails the attempt, which the retries see and repeat,
// instead of a later read, which they never see. A body of unknown length is read up to maxReadAhead and, when
// longer, streams on from there; a body known to be longer (a large layer) streams from the start, and a failed
// read of it is left to the caller (statepack's commands retry the whole step).
type readAhead struct{ base http.RoundTripper }

func (ra readAhead) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ra.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || resp.StatusCode != http.StatusOK || resp.ContentLength > maxReadAhead {
		return resp, err
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxReadAhead+1))
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if len(buf) > maxReadAhead {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(buf))
	return resp, nil
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
		l.log.Debug("registry request failed", "method", req.Method, "url", redact.URL(req.URL.String()),
			"error", redact.Text(err.Error()), "duration", time.Since(start).Round(time.Millisecond))
		return resp, err
	}
	l.log.Debug("registry request", "method", req.Method, "url", redact.URL(req.URL.String()), "status", resp.StatusCode,
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
