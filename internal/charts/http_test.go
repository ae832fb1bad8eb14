package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/testcharts"
	"github.com/statepack/statepack/publish"
)

// demoRepo serves the chart "demo" in several versions, pre-releases included.
func demoRepo(t *testing.T) (*testcharts.Repo, map[string][]byte) {
	t.Helper()
	archives := map[string][]byte{}
	var files []testcharts.Chart
	for _, v := range []string{"0.9.0", "1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0-alpha.1"} {
		archives[v] = testcharts.Archive(t, "demo", v)
		files = append(files, testcharts.Chart{Name: "demo", Version: v, Data: archives[v]})
	}
	files = append(files, testcharts.Chart{Name: "other", Version: "1.0.0", Data: testcharts.Archive(t, "other", "1.0.0")})
	return testcharts.NewRepo(t, files...), archives
}

func newFetcher(t testing.TB, o Options) *Fetcher {
	t.Helper()
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestResolveHTTPVersionRules(t *testing.T) {
	t.Parallel()
	r, archives := demoRepo(t)
	for _, tc := range []struct {
		name, version, want string
		err                 error
		msg                 string
	}{
		{name: "empty is the newest stable", version: "", want: "1.1.0"},
		{name: "star is the newest stable", version: "*", want: "1.1.0"},
		{name: "x range excludes pre-releases", version: "1.x", want: "1.1.0"},
		{name: "tilde", version: "~1.0", want: "1.0.0"},
		{name: "a constraint naming a pre-release admits them", version: ">=1.0.0-alpha", want: "2.0.0-alpha.1"},
		{name: "exact pre-release", version: "1.2.0-rc.1", want: "1.2.0-rc.1"},
		{name: "exact", version: "0.9.0", want: "0.9.0"},
		{name: "no match lists what exists", version: "3.x", err: ErrNoVersion,
			msg: `resolving chart "demo" 3.x from ` + r.URL() + `: no chart version matches "3.x": the index has 2.0.0-alpha.1, 1.2.0-rc.1, 1.1.0, 1.0.0, 0.9.0`},
		{name: "not a constraint", version: "one point oh", err: ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFetcher(t, Options{})
			p, err := f.Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo", Version: tc.version})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Resolve(%q) = %v, want %v", tc.version, err, tc.err)
				}
				if tc.msg != "" && err.Error() != tc.msg {
					t.Errorf("Resolve(%q) error:\n got %s\nwant %s", tc.version, err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Pin{Repository: r.URL(), Name: "demo", Version: tc.want, Digest: "sha256:" + sha(archives[tc.want]), URL: r.URL() + "/demo-" + tc.want + ".tgz"}
			if p != want {
				t.Errorf("Resolve(%q) = %+v, want %+v", tc.version, p, want)
			}
		})
	}
}

func TestResolveHTTPErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	r, _ := demoRepo(t)
	closed := testcharts.NewRepo(t)
	closedURL := closed.URL()
	closed.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  Request
		err  error
		msg  string
	}{
		{name: "chart not in the index", req: Request{Repository: r.URL(), Name: "dem", Declared: "apps/demo.yaml: HelmRelease x/demo"}, err: ErrChartNotFound,
			msg: `apps/demo.yaml: HelmRelease x/demo: resolving chart "dem" "" (newest stable) from ` + r.URL() + `: chart not found: the index has no chart "dem" (did you mean demo?)`},
		{name: "repository unreachable", req: Request{Repository: closedURL, Name: "demo"},
			msg: `resolving chart "demo" "" (newest stable) from ` + closedURL + `: fetching the repository index ` + closedURL + `/index.yaml: the repository is unreachable`},
		{name: "credentials in the URL are refused unrepeated", req: Request{Repository: strings.Replace(r.URL(), "http://", "http://me:s3cret@", 1), Name: "demo"}, err: ErrInvalidRequest},
		{name: "scheme", req: Request{Repository: "git://example.com/charts", Name: "demo"}, err: ErrInvalidRequest},
		{name: "no name for HTTP", req: Request{Repository: r.URL()}, err: ErrInvalidRequest},
		{name: "no index", req: Request{Repository: r.Server.URL + "/nothing", Name: "demo"}, err: publish.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := newFetcher(t, Options{}).Resolve(ctx, tc.req)
			if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("Resolve(%+v) = %v, want %v", tc.req, err, tc.err)
			}
			if tc.msg != "" && !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("Resolve error:\n got %s\nwant %s…", err, tc.msg)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error repeats the password: %s", err)
			}
		})
	}
}

// TestIndexDigestChecked: an archive whose bytes are not those the index's digest names is refused.
func TestIndexDigestChecked(t *testing.T) {
	t.Parallel()
	good := testcharts.Archive(t, "demo", "1.0.0")
	r := testcharts.NewRepo(t, testcharts.Chart{Name: "demo", Version: "1.0.0", Data: good})
	r.Tamper("demo-1.0.0.tgz", testcharts.Archive(t, "demo", "1.0.0-tampered"))
	_, err := newFetcher(t, Options{}).Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo"})
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "but the index says sha256:"+sha(good)) {
		t.Fatalf("Resolve = %v, want %v naming the index's digest", err, ErrDigestMismatch)
	}
}

// TestArchiveMustBeTheChartTheIndexNames: an index without digests still gets its archive checked: it must load
// as the chart and version the index lists.
func TestArchiveMustBeTheChartTheIndexNames(t *testing.T) {
	t.Parallel()
	r := testcharts.NewRepo(t, testcharts.Chart{Name: "demo", Version: "1.0.0", Data: testcharts.Archive(t, "evil", "1.0.0"), NoDigest: true})
	_, err := newFetcher(t, Options{}).Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo"})
	if !errors.Is(err, ErrNotAChart) || !strings.Contains(err.Error(), "holds chart evil 1.0.0, but the index lists it as demo 1.0.0") {
		t.Fatalf("Resolve = %v, want %v", err, ErrNotAChart)
	}
}

// TestBasicAuthStaysOnTheRepositoryHost: credentials go to the repository's host (index and relative archive URLs)
// and never to another host an absolute chart URL points to, as Helm without --pass-credentials.
func TestBasicAuthStaysOnTheRepositoryHost(t *testing.T) {
	t.Parallel()
	elsewhere := testcharts.NewRepo(t, testcharts.Chart{Name: "far", Version: "1.0.0", Data: testcharts.Archive(t, "far", "1.0.0")})
	r := testcharts.NewRepo(t,
		testcharts.Chart{Name: "near", Version: "1.0.0", Data: testcharts.Archive(t, "near", "1.0.0")},
		testcharts.Chart{Name: "far", Version: "1.0.0", Data: testcharts.Archive(t, "far", "1.0.0"), URL: elsewhere.URL() + "/far-1.0.0.tgz"})
	r.RequireAuth("reader", "s3cret")
	var asked []string
	var mu sync.Mutex
	f := newFetcher(t, Options{HTTPAuth: func(repository string) (string, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, repository)
		return "reader", "s3cret", repository == r.URL()
	}})
	ctx := context.Background()
	near, err := f.Resolve(ctx, Request{Repository: r.URL() + "/", Name: "near"})
	if err != nil {
		t.Fatal(err)
	}
	far, err := f.Resolve(ctx, Request{Repository: r.URL(), Name: "far"})
	if err != nil {
		t.Fatal(err)
	}
	if far.URL != elsewhere.URL()+"/far-1.0.0.tgz" || near.URL != r.URL()+"/near-1.0.0.tgz" {
		t.Errorf("chart URLs = %s, %s", near.URL, far.URL)
	}
	if got := r.AuthHeaders(); len(got) != 2 { // index.yaml and near-1.0.0.tgz
		t.Errorf("the repository saw %d Authorization headers, want 2 (index and the relative archive)", len(got))
	}
	if got := elsewhere.AuthHeaders(); len(got) != 0 {
		t.Errorf("the other host got credentials: %q", got)
	}
	if elsewhere.Hits("/charts/far-1.0.0.tgz") != 1 {
		t.Errorf("the absolute chart URL was not fetched from the other host")
	}
}

func TestHTTPUnauthorizedSaysWhichCredentials(t *testing.T) {
	t.Parallel()
	r := testcharts.NewRepo(t, testcharts.Chart{Name: "demo", Version: "1.0.0", Data: testcharts.Archive(t, "demo", "1.0.0")})
	r.RequireAuth("reader", "right")
	req := Request{Repository: r.URL(), Name: "demo"}
	for _, tc := range []struct {
		name string
		auth func(string) (string, string, bool)
		msg  string
	}{
		{name: "none given", msg: `resolving chart "demo" "" (newest stable) from ` + r.URL() + `: fetching the repository index ` + r.URL() + `/index.yaml: unauthorized (401 Unauthorized): the repository needs credentials: give a user name and password for ` + r.URL()},
		{name: "wrong ones", auth: func(string) (string, string, bool) { return "reader", "wr0ng-pa55", true },
			msg: `resolving chart "demo" "" (newest stable) from ` + r.URL() + `: fetching the repository index ` + r.URL() + `/index.yaml: unauthorized (401 Unauthorized): the credentials given for ` + r.URL() + ` were refused: check the user name and password`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := newFetcher(t, Options{HTTPAuth: tc.auth}).Resolve(context.Background(), req)
			if !errors.Is(err, publish.ErrUnauthorized) {
				t.Fatalf("Resolve = %v, want %v", err, publish.ErrUnauthorized)
			}
			if err.Error() != tc.msg {
				t.Errorf("Resolve error:\n got %s\nwant %s", err, tc.msg)
			}
		})
	}
}

// TestConcurrentResolveAndFetch: many goroutines asking for the same chart (from different objects) cause one
// index GET and one archive GET.
func TestConcurrentResolveAndFetch(t *testing.T) {
	t.Parallel()
	r, archives := demoRepo(t)
	f := newFetcher(t, Options{CacheDir: t.TempDir()})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			version := []string{"1.x", "~1.1", ">=1.1.0 <1.2.0"}[i%3] // three requests, one chart version
			p, err := f.Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo", Version: version, Declared: fmt.Sprintf("release-%d.yaml", i)})
			if err != nil {
				errs <- err
				return
			}
			data, err := f.Fetch(context.Background(), p)
			if err != nil {
				errs <- err
				return
			}
			if string(data) != string(archives["1.1.0"]) {
				errs <- errors.New("Fetch returned other bytes than the archive")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := r.Hits("/charts/index.yaml"); n != 1 {
		t.Errorf("index.yaml was fetched %d times, want 1", n)
	}
	if n := r.Hits("/charts/demo-1.1.0.tgz"); n != 1 {
		t.Errorf("the archive was fetched %d times, want 1", n)
	}
	if got := f.Pins(); len(got) != 1 || got[0].Version != "1.1.0" {
		t.Errorf("Pins() = %+v, want the one pin of demo 1.1.0", got)
	}
	if got := len(f.Lock().Entries()); got != 3 {
		t.Errorf("the lock has %d entries, want one per request (3)", got)
	}
}

// TestPodinfoFromAnHTTPRepository: the real chart, packaged as helm package does, resolved from an index and
// fetched, loads with internal/helm.
func TestPodinfoFromAnHTTPRepository(t *testing.T) {
	t.Parallel()
	data := podinfoArchive(t)
	r := testcharts.NewRepo(t, testcharts.Chart{Name: "podinfo", Version: "6.14.1", Data: data})
	f := newFetcher(t, Options{})
	p, err := f.Resolve(context.Background(), Request{Repository: r.URL(), Name: "podinfo", Version: ">=6.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Fetch(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := helm.LoadArchive(got, helm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name() != "podinfo" || ch.Version() != "6.14.1" || p.Digest != "sha256:"+sha(data) {
		t.Errorf("fetched %s %s pinned at %s", ch.Name(), ch.Version(), p.Digest)
	}
}

// TestArchiveSizeLimit: a download stops at Limits.MaxTotal.
func TestArchiveSizeLimit(t *testing.T) {
	t.Parallel()
	r, _ := demoRepo(t)
	_, err := newFetcher(t, Options{Limits: helm.Limits{MaxTotal: 100}}).Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo", Version: "1.0.0"})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Resolve = %v, want %v", err, ErrTooLarge)
	}
}

// TestCorruptCacheEntryIsRefetched: a cache file whose bytes do not hash to its name is a miss.
func TestCorruptCacheEntryIsRefetched(t *testing.T) {
	t.Parallel()
	r, archives := demoRepo(t)
	dir := t.TempDir()
	req := Request{Repository: r.URL(), Name: "demo", Version: "1.0.0"}
	p, err := newFetcher(t, Options{CacheDir: dir}).Resolve(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "blobs", "sha256", sha(archives["1.0.0"]))
	if err := os.WriteFile(file, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := newFetcher(t, Options{CacheDir: dir}).Fetch(context.Background(), p)
	if err != nil || string(got) != string(archives["1.0.0"]) {
		t.Fatalf("Fetch = %d bytes, %v; want the archive again", len(got), err)
	}
	if n := r.Hits("/charts/demo-1.0.0.tgz"); n != 2 {
		t.Errorf("the archive was fetched %d times, want 2 (once to resolve, once past the corrupt cache entry)", n)
	}
}

// TestNoSecretInPinsLockOrLogs: a token in an index's chart URL and the repository's password reach the server but
// never a pin, the lock file or a log line.
func TestNoSecretInPinsLockOrLogs(t *testing.T) {
	t.Parallel()
	r := testcharts.NewRepo(t)
	r.Set(t, testcharts.Chart{Name: "demo", Version: "1.0.0", Data: testcharts.Archive(t, "demo", "1.0.0"), URL: r.URL() + "/demo-1.0.0.tgz?token=T0KEN-S3CRET"})
	r.RequireAuth("reader", "PA55-S3CRET")
	var logs bytes.Buffer
	f := newFetcher(t, Options{
		HTTPAuth: func(string) (string, string, bool) { return "reader", "PA55-S3CRET", true },
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	p, err := f.Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if p.URL != r.URL()+"/demo-1.0.0.tgz" {
		t.Errorf("Pin.URL = %s, want it without the query", p.URL)
	}
	for what, text := range map[string]string{"the lock": string(f.Lock().Marshal()), "the log": logs.String(), "the pin": fmt.Sprint(p)} {
		if strings.Contains(text, "S3CRET") {
			t.Errorf("%s holds a secret:\n%s", what, text)
		}
	}
	if !strings.Contains(logs.String(), "demo-1.0.0.tgz?REDACTED") {
		t.Errorf("the log does not show the archive's URL, redacted:\n%s", logs.String())
	}
}
