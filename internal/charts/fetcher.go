package charts

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/redact"
	"github.com/statepack/statepack/publish"
)

// Options configure a Fetcher. The zero value resolves live, with no cache and no credentials.
type Options struct {
	// CacheDir is the content-addressed chart cache (archives and OCI manifests by the sha256 of their bytes);
	// "" means no cache. Default: none.
	CacheDir string
	// Offline resolves only from Lock and fetches only from the cache: a chart missing from either is an error
	// (ErrOffline) naming it and the fix. Default: online.
	Offline bool
	// Lock, when set, resolves a request it holds to its locked pin without listing versions, and makes bytes
	// that differ from the locked digest an error (ErrDigestMismatch). Default: none (everything resolved live).
	Lock *Lock
	// Registry configures OCI access exactly as publish does (credentials, Docker config, plain HTTP, insecure
	// registries, timeouts, retries). Default: publish.Open's defaults.
	Registry []publish.Option
	// HTTPAuth gives basic-auth credentials for an HTTP repository (its normalised URL, as in Pin.Repository).
	// They are sent to that repository's scheme, host and port only, never to another host that an absolute chart
	// URL in its index points to (Helm's default, without --pass-credentials). Default: none.
	HTTPAuth func(repositoryURL string) (username, password string, ok bool)
	// HTTPClient fetches indexes and archives from HTTP repositories. Default: a client with connection, TLS and
	// response-header timeouts and a 10-minute bound per request.
	HTTPClient *http.Client
	// Limits bound the archives: a download stops past Limits.MaxTotal bytes (default 100 MiB), and an HTTP
	// archive is loaded with these limits to check it is the chart the index promised.
	Limits helm.Limits
	// Logger receives one debug line per request and cache hit, and one info line per chart resolved live.
	// Default: silent.
	Logger *slog.Logger
	// Shared is shared with other Fetchers of the run, made with the same Registry, HTTPAuth and HTTPClient
	// options. Default: the Fetcher's own.
	Shared *Shared
}

// Fetcher resolves Requests to Pins and fetches their archives. It is safe for concurrent use: each distinct
// request is resolved once, each HTTP repository's index and each archive fetched once, per Fetcher.
type Fetcher struct {
	o      Options
	client *http.Client
	cache  *cache
	log    *slog.Logger

	resolved onceMap[key, Pin]
	shared   *Shared

	mu   sync.Mutex
	pins map[key]Pin
}

// Shared holds what the Fetchers of one run have fetched — indexes, archives, OCI repositories and manifests — so
// that Fetchers made with the same Shared (the targets of a fleet, each with its own lock) fetch each once between
// them. Resolutions stay each Fetcher's own: they depend on its lock. The zero value is ready to use.
type Shared struct {
	indexes   onceMap[string, *repo.IndexFile]
	downloads onceMap[string, []byte] // HTTP archives by URL
	archives  onceMap[string, []byte] // archives by pin digest
	targets   onceMap[string, *publish.Target]
	manifests onceMap[string, ocispec.Manifest] // OCI chart manifests by digest
}

const (
	defaultMaxArchive = 100 << 20
	// maxIndexSize bounds an index.yaml; the largest public indexes (Bitnami's before it split) were ~30 MiB.
	maxIndexSize = 128 << 20
)

// New returns a Fetcher. Options are checked here: an offline Fetcher with neither a lock nor a cache is refused,
// since it could fetch nothing.
func New(o Options) (*Fetcher, error) {
	if o.Offline && o.Lock == nil && o.CacheDir == "" {
		return nil, fmt.Errorf("%w: offline chart resolution needs a lock file (run `statepack lock` online) and a chart cache", ErrOffline)
	}
	f := &Fetcher{o: o, client: o.HTTPClient, log: cmp.Or(o.Logger, slog.New(slog.DiscardHandler)), pins: map[key]Pin{}, shared: o.Shared}
	if f.shared == nil {
		f.shared = &Shared{}
	}
	if f.client == nil {
		f.client = defaultClient()
	}
	if o.CacheDir != "" {
		f.cache = &cache{dir: o.CacheDir}
	}
	return f, nil
}

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t, Timeout: 10 * time.Minute}
}

// Resolve pins what r asks for: from the lock when it holds r, else from the repository (an index.yaml's
// entries, an OCI repository's tags), choosing the newest version that satisfies r.Version as Helm does (an
// exact version or tag first; a constraint without a pre-release part excludes pre-releases). An HTTP chart's
// archive is downloaded to learn its digest (unless the cache already holds the bytes the index names), so a
// later Fetch costs nothing. Errors start with r.Declared.
func (f *Fetcher) Resolve(ctx context.Context, r Request) (Pin, error) {
	k := r.key()
	pin, err := f.resolved.do(ctx, k, func() (Pin, error) { return f.resolve(ctx, k) })
	if err != nil {
		return Pin{}, f.declared(r, fmt.Errorf("resolving %s: %w", k.describe(), err))
	}
	f.mu.Lock()
	f.pins[k] = pin
	f.mu.Unlock()
	return pin, nil
}

func (f *Fetcher) declared(r Request, err error) error {
	if r.Declared == "" {
		return err
	}
	return fmt.Errorf("%s: %w", r.Declared, err)
}

func (f *Fetcher) resolve(ctx context.Context, k key) (Pin, error) {
	kind, err := k.check()
	if err != nil {
		return Pin{}, err
	}
	if p, ok := f.o.Lock.lookup(k); ok {
		f.log.Debug("chart pinned by the lock", "repository", redact.URL(p.Repository), "name", p.Name, "version", p.Version, "digest", p.Digest)
		return p, nil
	}
	if f.o.Offline {
		return Pin{}, fmt.Errorf("%w: it is not in the lock file: run `statepack lock` online to pin it", ErrOffline)
	}
	var p Pin
	if kind == kindHTTP {
		p, err = f.resolveHTTP(ctx, k)
	} else {
		p, err = f.resolveOCI(ctx, k)
	}
	if err == nil {
		f.log.Info("chart resolved live, not from a lock", "repository", redact.URL(p.Repository), "name", p.Name, "constraint", k.version, "version", p.Version, "digest", p.Digest)
	}
	return p, err
}

// Fetch returns the archive of a pinned chart, from memory, the cache or the network, after checking its
// digest: the archive's for HTTP, the manifest's (and through it the layer's) for OCI. A repository that now
// serves other bytes than the pin names is ErrDigestMismatch. Each archive is fetched once per Fetcher.
func (f *Fetcher) Fetch(ctx context.Context, p Pin) ([]byte, error) {
	k := key{repository: normalizeRepository(p.Repository), name: p.Name, version: p.Version}
	kind, err := k.check()
	if err == nil && !digestPattern.MatchString(p.Digest) {
		err = fmt.Errorf("%w: the pin's digest %q is not sha256:<64 hex digits>", ErrInvalidRequest, p.Digest)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s@%s: %w", cmp.Or(p.Name, redact.URL(p.Repository)), p.Version, err)
	}
	return f.shared.archives.do(ctx, p.Digest, func() ([]byte, error) {
		if kind == kindHTTP {
			return f.fetchHTTP(ctx, p)
		}
		return f.fetchOCI(ctx, k, p)
	})
}

// Pins returns every distinct pin resolved so far, sorted by repository, name, version and digest.
func (f *Fetcher) Pins() []Pin {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Pin
	for _, p := range f.pins {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePins)
	return slices.Compact(out)
}

// Lock returns a lock holding every request resolved so far: what `statepack lock` writes.
func (f *Fetcher) Lock() *Lock {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := &Lock{}
	for k, p := range f.pins {
		l.entries = append(l.entries, entryFor(k, p))
	}
	l.sort()
	return l
}

func comparePins(a, b Pin) int {
	return cmp.Or(cmp.Compare(a.Repository, b.Repository), cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Version, b.Version), cmp.Compare(a.Digest, b.Digest), cmp.Compare(a.URL, b.URL))
}

// cached returns the bytes under digest from the cache, logging the hit.
func (f *Fetcher) cached(digest string) ([]byte, bool) {
	data, ok := f.cache.get(digest)
	if ok {
		f.log.Debug("chart cache hit", "digest", digest)
	}
	return data, ok
}

// store puts bytes in the cache; a cache that cannot be written is logged, not fatal: the bytes are verified and
// in hand.
func (f *Fetcher) store(data []byte) {
	if f.cache == nil {
		return
	}
	if err := f.cache.put(data); err != nil {
		f.log.Warn("the chart cache is not writable", "error", err)
	}
}

// notCached is the offline error for a pinned chart the cache lacks.
func (f *Fetcher) notCached(p Pin) error {
	where := "there is no chart cache"
	if f.cache != nil {
		where = "it is not in the chart cache " + f.cache.dir
	}
	return fmt.Errorf("fetching chart %s@%s (%s): %w: %s: run once online (`statepack lock`, or any command without --offline) to fill the cache",
		cmp.Or(p.Name, redact.URL(p.Repository)), p.Version, p.Digest, ErrOffline, where)
}

func (f *Fetcher) maxArchive() int64 {
	if f.o.Limits.MaxTotal > 0 {
		return f.o.Limits.MaxTotal
	}
	return defaultMaxArchive
}

// mismatch is the error for bytes that differ from a locked digest.
func mismatch(p Pin, got string) error {
	return fmt.Errorf("%w: the repository now serves other bytes for %s@%s locked at %s (it serves %s): run `statepack lock` if intended",
		ErrDigestMismatch, cmp.Or(p.Name, redact.URL(p.Repository)), p.Version, p.Digest, got)
}
