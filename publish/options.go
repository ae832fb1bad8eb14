package publish

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Option configures Open. Options that take a value refuse a bad one: Open returns the error.
type Option func(*options) error

type options struct {
	username, password string
	dockerConfig       string
	plainHTTP          *bool
	insecure           []string
	transport          http.RoundTripper
	requestTimeout     time.Duration
	maxRetries         int
	logger             *slog.Logger
	userAgent          string
	existing           bool
}

func defaultOptions() options {
	return options{
		requestTimeout: DefaultRequestTimeout,
		maxRetries:     5,
		logger:         slog.New(slog.DiscardHandler),
		userAgent:      "statepack",
	}
}

// WithCredentials authenticates with a static user name and password (or token), as --username and
// --password-stdin give them. Both must be non-empty. Default: the Docker config (see WithDockerConfig).
func WithCredentials(username, password string) Option {
	return func(o *options) error {
		if username == "" || password == "" {
			return errors.New("registry credentials need both a user name and a password")
		}
		o.username, o.password = username, password
		return nil
	}
}

// WithDockerConfig reads credentials from DIR/config.json, with the credential helpers it names (credsStore,
// credHelpers), as `docker login` leaves them. A missing file means anonymous access. Default: oras-go's
// credentials.NewStoreFromDocker, which reads $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
// WithCredentials takes precedence.
func WithDockerConfig(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("the Docker config directory must not be empty")
		}
		o.dockerConfig = dir
		return nil
	}
}

// WithPlainHTTP forces plain HTTP on or off. Default: plain HTTP for loopback registries (localhost, 127.0.0.0/8,
// ::1), as Docker does, and HTTPS with verified TLS for every other registry.
func WithPlainHTTP(plain bool) Option {
	return func(o *options) error { o.plainHTTP = &plain; return nil }
}

// WithInsecureRegistries skips TLS certificate verification for exactly these registries (host[:port], as in the
// reference), and for no other host: a redirect to another host, such as blob storage, is still verified. It has
// no effect on a transport given with WithTransport. Default: none.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *options) error {
		for _, h := range hosts {
			if h == "" {
				return errors.New("an insecure registry must be named host[:port]")
			}
		}
		o.insecure = append(o.insecure, hosts...)
		return nil
	}
}

// WithTransport sets the base HTTP transport, under the retries, the request timeout and the request log (tests put
// a fault-injecting proxy or a request counter here). Default: a clone of http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("the transport must not be nil")
		}
		o.transport = rt
		return nil
	}
}

// DefaultRequestTimeout is how long a request attempt may make no progress before it is abandoned and retried,
// unless WithRequestTimeout says otherwise: 2 minutes.
const DefaultRequestTimeout = 2 * time.Minute

// WithRequestTimeout abandons a request attempt that makes no progress for d: no connection, no response headers,
// no request or response body bytes moving. A stalled registry thus never hangs a CI job, while a large blob that
// keeps flowing is not cut off; an abandoned attempt counts as a timeout and is retried (WithMaxRetries). The whole
// operation is bounded by the context. Default: DefaultRequestTimeout.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("the request timeout must be positive, got %s", d)
		}
		o.requestTimeout = d
		return nil
	}
}

// WithMaxRetries sets how many times a request is retried after a 5xx, 429 (honouring Retry-After up to 3 s), 408,
// a timeout, or a connection reset or closed without an answer, with exponential backoff from 250 ms (doubling,
// ±10 % jitter, never under 200 ms nor over 3 s). 0 disables retries. Default: 5.
func WithMaxRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("the number of retries must not be negative, got %d", n)
		}
		o.maxRetries = n
		return nil
	}
}

// WithLogger logs every request attempt at debug level: method, URL without credentials or query, status or
// error, duration. Headers are never logged. Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("the logger must not be nil")
		}
		o.logger = l
		return nil
	}
}

// WithUserAgent sets the User-Agent header of every request. Default: "statepack".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		if ua == "" {
			return errors.New("the user agent must not be empty")
		}
		o.userAgent = ua
		return nil
	}
}

// WithExistingLayout makes Open refuse an OCI layout directory that does not exist yet, instead of creating it:
// for commands that only read (verify, pull), so that a typo leaves nothing behind. Default: the layout is created.
func WithExistingLayout() Option {
	return func(o *options) error { o.existing = true; return nil }
}
