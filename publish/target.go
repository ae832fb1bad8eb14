package publish

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// maxManifestSize bounds the manifests FetchManifest reads (registries commonly refuse more than 4 MiB).
const maxManifestSize = 4 << 20

// Option configures Open.
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
}

// WithCredentials authenticates with a static user name and password or token. Default: credentials from the
// Docker config and its credential helpers, as `docker login` leaves them; anonymous when there are none.
func WithCredentials(username, password string) Option {
	return func(o *options) error {
		if username == "" || password == "" {
			return errors.New("registry credentials need both a user name and a password")
		}
		o.username, o.password = username, password
		return nil
	}
}

// WithDockerConfig reads credentials from config.json in dir. Default: $DOCKER_CONFIG, else ~/.docker.
func WithDockerConfig(dir string) Option {
	return func(o *options) error { o.dockerConfig = dir; return nil }
}

// WithPlainHTTP forces plain HTTP on or off. Default: plain HTTP for loopback registries (localhost, 127.0.0.0/8,
// ::1), as Docker does, and HTTPS with verified TLS for every other registry.
func WithPlainHTTP(plain bool) Option {
	return func(o *options) error { o.plainHTTP = &plain; return nil }
}

// WithInsecureRegistries skips TLS verification for exactly these registries (host[:port]). Default: none.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *options) error { o.insecure = append(o.insecure, hosts...); return nil }
}

// WithTransport sets the base HTTP transport (tests put a fault-injecting proxy or a request counter here).
// Default: a clone of http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("transport must not be nil")
		}
		o.transport = rt
		return nil
	}
}

// WithRequestTimeout bounds the wait for each response's headers, so a stalled registry never hangs a CI job; the
// whole operation is bounded by the context. Default: 2 minutes.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("request timeout must be positive, got %s", d)
		}
		o.requestTimeout = d
		return nil
	}
}

// WithMaxRetries sets how often a request is retried on 5xx, 429 (honouring Retry-After), 408, timeouts and
// connection resets, with exponential backoff. Default: 5.
func WithMaxRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("retries must not be negative, got %d", n)
		}
		o.maxRetries = n
		return nil
	}
}

// WithLogger logs each request (method, URL without query or credentials, status) at debug level; never headers.
// Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithUserAgent sets the User-Agent header. Default: "statepack".
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// Target is an open OCI target: a registry repository or a local OCI layout.
type Target struct {
	ref     Ref
	storage oras.Target
}

// Open connects to the target named by ref. For a layout, the directory is created when missing.
func Open(ctx context.Context, ref Ref, opts ...Option) (*Target, error) {
	o := options{requestTimeout: 2 * time.Minute, maxRetries: 5, userAgent: "statepack",
		logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if ref.IsLayout() {
		store, err := oci.NewWithContext(ctx, ref.Layout)
		if err != nil {
			return nil, fmt.Errorf("opening the OCI layout %s: %w", ref.Layout, err)
		}
		return &Target{ref: ref, storage: store}, nil
	}
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidReference, ref, err)
	}
	repo.PlainHTTP = ref.IsLoopback()
	if o.plainHTTP != nil {
		repo.PlainHTTP = *o.plainHTTP
	}
	cred, err := o.credentials(ref.Registry)
	if err != nil {
		return nil, err
	}
	repo.Client = &auth.Client{
		Client:     &http.Client{Transport: o.httpTransport(ref.Registry)},
		Header:     http.Header{"User-Agent": {o.userAgent}},
		Cache:      auth.NewCache(),
		Credential: cred,
	}
	return &Target{ref: ref, storage: repo}, nil
}

func (o *options) credentials(registry string) (auth.CredentialFunc, error) {
	if o.username != "" {
		return auth.StaticCredential(registry, auth.Credential{Username: o.username, Password: o.password}), nil
	}
	var store credentials.Store
	var err error
	if o.dockerConfig != "" {
		store, err = credentials.NewStore(o.dockerConfig+string(os.PathSeparator)+"config.json", credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials from the Docker config: %w", err)
	}
	return credentials.Credential(store), nil
}

// httpTransport stacks retries over request logging over the base transport.
func (o *options) httpTransport(registry string) http.RoundTripper {
	base := o.transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = o.requestTimeout
		if slices.Contains(o.insecure, registry) {
			insecure := t.Clone()
			insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user named this registry
			base = hostSwitch{host: registry, insecure: insecure, secure: t}
		} else {
			base = t
		}
	}
	rt := retry.NewTransport(logTransport{base: base, log: o.logger})
	maxRetries := o.maxRetries
	rt.Policy = func() retry.Policy {
		return &retry.GenericPolicy{Retryable: retry.DefaultPredicate, Backoff: retry.DefaultBackoff,
			MinWait: 200 * time.Millisecond, MaxWait: 3 * time.Second, MaxRetry: maxRetries}
	}
	return rt
}

// hostSwitch skips TLS verification for the one registry the user named, and for no other host (blob redirects to
// storage services keep verified TLS).
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

type logTransport struct {
	base http.RoundTripper
	log  *slog.Logger
}

func (l logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		l.log.Debug("registry request failed", "method", req.Method, "url", RedactURL(req.URL.String()), "error", err)
		return resp, err
	}
	l.log.Debug("registry request", "method", req.Method, "url", RedactURL(req.URL.String()), "status", resp.StatusCode,
		"duration", time.Since(start).Round(time.Millisecond))
	return resp, nil
}

// RedactURL removes user information and the query (where signed URLs carry tokens) from a URL for display.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.Fragment = ""
	return u.String()
}

// Ref returns the reference the target was opened with.
func (t *Target) Ref() Ref { return t.ref }

// Storage exposes the underlying oras target so that the sign package writes signatures next to the artifact.
func (t *Target) Storage() oras.Target { return t.storage }

// Blob is content with its descriptor.
type Blob struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// Artifact is one manifest and the blobs it references.
type Artifact struct {
	Manifest Blob
	Blobs    []Blob
}

// PushArtifact uploads every blob that is not there yet, then the manifest by digest. It never tags: tags come
// last, from the caller, once the artifact is complete and signed. Bytes that do not match their descriptor are
// refused before anything is uploaded.
func (t *Target) PushArtifact(ctx context.Context, a Artifact) (ocispec.Descriptor, error) {
	for _, b := range append(slices.Clone(a.Blobs), a.Manifest) {
		if int64(len(b.Data)) != b.Descriptor.Size || digest.FromBytes(b.Data) != b.Descriptor.Digest {
			return ocispec.Descriptor{}, fmt.Errorf("refusing to push to %s: the bytes of %s do not match its descriptor", t.ref.Name(), b.Descriptor.Digest)
		}
	}
	// A registry may answer "manifest blob unknown" while another client uploads the same blob at the same time
	// (distribution moves the blob into place under it); pushing the blobs again and retrying converges.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		for _, b := range a.Blobs {
			if err := t.pushOnce(ctx, b); err != nil {
				return ocispec.Descriptor{}, t.wrap(fmt.Sprintf("pushing blob %s", b.Descriptor.Digest), err)
			}
		}
		if err = t.pushOnce(ctx, a.Manifest); err == nil || !isBlobUnknown(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ocispec.Descriptor{}, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	if err != nil {
		return ocispec.Descriptor{}, t.wrap(fmt.Sprintf("pushing manifest %s", a.Manifest.Descriptor.Digest), err)
	}
	return a.Manifest.Descriptor, nil
}

func isBlobUnknown(err error) bool {
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	for _, e := range er.Errors {
		if e.Code == errcode.ErrorCodeManifestBlobUnknown || e.Code == errcode.ErrorCodeBlobUnknown {
			return true
		}
	}
	return false
}

func (t *Target) pushOnce(ctx context.Context, b Blob) error {
	exists, err := t.storage.Exists(ctx, b.Descriptor)
	if err != nil {
		return err
	}
	if exists {
		return nil
	}
	err = t.storage.Push(ctx, b.Descriptor, strings.NewReader(string(b.Data)))
	if errors.Is(err, errdef.ErrAlreadyExists) {
		return nil
	}
	return err
}

// Tag points each tag at desc, which must already be in the target.
func (t *Target) Tag(ctx context.Context, desc ocispec.Descriptor, tags ...string) error {
	for _, tag := range tags {
		if err := t.storage.Tag(ctx, desc, tag); err != nil {
			return t.wrap(fmt.Sprintf("tagging %s as %s", desc.Digest, tag), err)
		}
	}
	return nil
}

// Resolve finds the descriptor of a tag or digest.
func (t *Target) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	desc, err := t.storage.Resolve(ctx, reference)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) || isStatus(err, http.StatusNotFound) {
			return ocispec.Descriptor{}, fmt.Errorf("resolving %s:%s: %w", t.ref.Name(), reference, ErrNotFound)
		}
		return ocispec.Descriptor{}, t.wrap(fmt.Sprintf("resolving %s", reference), err)
	}
	return desc, nil
}

// FetchManifest fetches and decodes an image manifest, verifying its digest. An index is refused: a statepack
// artifact is a single image manifest.
func (t *Target) FetchManifest(ctx context.Context, desc ocispec.Descriptor) (ocispec.Manifest, []byte, error) {
	if desc.Size > maxManifestSize {
		return ocispec.Manifest{}, nil, fmt.Errorf("manifest %s is %d bytes: %w (%d)", desc.Digest, desc.Size, ErrTooLarge, maxManifestSize)
	}
	if desc.MediaType == ocispec.MediaTypeImageIndex || desc.MediaType == "application/vnd.docker.distribution.manifest.list.v2+json" {
		return ocispec.Manifest{}, nil, fmt.Errorf("%s is an image index, not a statepack artifact (one image manifest)", t.ref.WithDigest(desc.Digest.String()))
	}
	raw, err := content.FetchAll(ctx, t.storage, desc)
	if err != nil {
		return ocispec.Manifest{}, nil, t.wrap(fmt.Sprintf("fetching manifest %s", desc.Digest), err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Manifest{}, nil, fmt.Errorf("decoding manifest %s from %s: %w", desc.Digest, t.ref.Name(), err)
	}
	if m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		return ocispec.Manifest{}, nil, fmt.Errorf("%s has media type %s, not an image manifest", t.ref.WithDigest(desc.Digest.String()), m.MediaType)
	}
	return m, raw, nil
}

// FetchBlob opens a blob; reading it to the end fails when the bytes do not match the descriptor.
func (t *Target) FetchBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := t.storage.Fetch(ctx, desc)
	if err != nil {
		return nil, t.wrap(fmt.Sprintf("fetching blob %s", desc.Digest), err)
	}
	return &verifyingReader{rc: rc, vr: content.NewVerifyReader(rc, desc)}, nil
}

type verifyingReader struct {
	rc io.ReadCloser
	vr *content.VerifyReader
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.vr.Read(p)
	if err == io.EOF {
		if verr := v.vr.Verify(); verr != nil {
			return n, fmt.Errorf("the blob does not match its digest: %w", verr)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

// wrap says what was being done to which target, and adds a hint for the failures users can fix.
func (t *Target) wrap(what string, err error) error {
	msg := fmt.Sprintf("%s in %s", what, t.ref.Name())
	switch {
	case isStatus(err, http.StatusUnauthorized), isStatus(err, http.StatusForbidden), errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s: %w: %v (run `docker login %s` or pass --username and --password-stdin)", msg, ErrUnauthorized, redactErr(err), t.ref.Registry)
	case isTLSOrHTTPMismatch(err):
		return fmt.Errorf("%s: %v (for a registry without TLS pass --plain-http; with a self-signed certificate --insecure-registry %s)", msg, redactErr(err), t.ref.Registry)
	}
	return fmt.Errorf("%s: %s", msg, redactErr(err))
}

func isStatus(err error, code int) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == code
}

func isTLSOrHTTPMismatch(err error) bool {
	var recordErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &recordErr) || errors.As(err, &certErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// redactErr prints an error with any URL in it redacted.
func redactErr(err error) string {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) && er.URL != nil {
		return strings.ReplaceAll(err.Error(), er.URL.String(), RedactURL(er.URL.String()))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return strings.ReplaceAll(err.Error(), ue.URL, RedactURL(ue.URL))
	}
	return err.Error()
}
