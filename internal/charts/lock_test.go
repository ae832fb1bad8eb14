package charts

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testcharts"
)

// lockedDemo resolves two requests against the demo repository with a cache, and returns the lock and the cache.
func lockedDemo(t *testing.T, r *testcharts.Repo) (*Lock, string) {
	t.Helper()
	dir := t.TempDir()
	f := newFetcher(t, Options{CacheDir: dir})
	for _, v := range []string{"1.x", ">=1.0.0-alpha"} {
		if _, err := f.Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo", Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	return f.Lock(), dir
}

func TestLockRoundTrip(t *testing.T) {
	t.Parallel()
	r, archives := demoRepo(t)
	lock, _ := lockedDemo(t, r)
	data := lock.Marshal()
	path := filepath.Join(t.TempDir(), LockFileName)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	read, err := ReadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if again := read.Marshal(); !bytes.Equal(again, data) {
		t.Errorf("the lock read back marshals differently:\n%s\nvs\n%s", again, data)
	}
	want := "# Chart pins for this tree, written by `statepack lock`: commit this file.\n" +
		"apiVersion: statepack.dev/v1\nkind: Lock\ncharts:\n" +
		"  - repository: " + r.URL() + "\n    name: demo\n    constraint: 1.x\n    version: 1.1.0\n    digest: sha256:" + sha(archives["1.1.0"]) + "\n    url: " + r.URL() + "/demo-1.1.0.tgz\n" +
		"  - repository: " + r.URL() + "\n    name: demo\n    constraint: '>=1.0.0-alpha'\n    version: 2.0.0-alpha.1\n    digest: sha256:" + sha(archives["2.0.0-alpha.1"]) + "\n    url: " + r.URL() + "/demo-2.0.0-alpha.1.tgz\n"
	if string(data) != want {
		t.Errorf("Marshal() =\n%s\nwant\n%s", data, want)
	}
	// A locked request resolves without the index; Declared and a trailing slash do not change its identity.
	index := r.Hits("/charts/index.yaml")
	f := newFetcher(t, Options{Lock: read})
	p, err := f.Resolve(context.Background(), Request{Repository: r.URL() + "/", Name: "demo", Version: "1.x", Declared: "elsewhere.yaml"})
	if err != nil || p.Version != "1.1.0" {
		t.Fatalf("Resolve with the lock = %+v, %v", p, err)
	}
	if r.Hits("/charts/index.yaml") != index {
		t.Errorf("a locked request fetched the index")
	}
}

func TestReadLockMissingIsNoLock(t *testing.T) {
	t.Parallel()
	l, err := ReadLock(filepath.Join(t.TempDir(), LockFileName))
	if l != nil || err != nil {
		t.Fatalf("ReadLock(missing) = %v, %v; want nil, nil", l, err)
	}
}

func TestParseLockRefusesBadFiles(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: statepack.dev/v1\nkind: Lock\ncharts:\n"
	const good = "  - repository: https://charts.example.com\n    name: demo\n    version: 1.0.0\n    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n    url: https://charts.example.com/demo-1.0.0.tgz\n"
	for _, tc := range []struct{ name, data, msg string }{
		{"not yaml", "charts: [", "statepack.lock: yaml: line 1: did not find expected node content"},
		{"empty", "", "statepack.lock: the file is empty"},
		{"wrong kind", "apiVersion: v1\nkind: ConfigMap\n", `statepack.lock:1: apiVersion "v1", kind "ConfigMap": a statepack lock file is apiVersion statepack.dev/v1, kind Lock`},
		{"unknown field", head + "  - repo: x\n", "statepack.lock: yaml: unmarshal errors:\n  line 4: field repo not found in type charts.LockEntry"},
		{"digest that could leave the cache", head + strings.Replace(good, "sha256:0000000000000000000000000000000000000000000000000000000000000000", "sha256:../../etc/passwd", 1),
			`statepack.lock:4: charts[0]: digest "sha256:../../etc/passwd" is not sha256:<64 lower-case hex digits>`},
		{"credentials in the url", head + strings.Replace(good, "url: https://", "url: https://u:p@", 1), "statepack.lock:4: charts[0]: url carries credentials"},
		{"twice", head + good + good, `statepack.lock:9: charts[1] repeats the request of line 4 (chart "demo" "" (newest stable) from https://charts.example.com)`},
		{"oci url elsewhere", head + "  - repository: oci://r.example.com/charts\n    name: demo\n    version: 1.0.0\n    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n    url: oci://evil.example.com/x@sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
			"statepack.lock:4: charts[0]: url oci://evil.example.com/x@sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseLock(LockFileName, []byte(tc.data))
			if !errors.Is(err, ErrInvalidLock) {
				t.Fatalf("ParseLock = %v, want %v", err, ErrInvalidLock)
			}
			if want := "invalid lock file: " + tc.msg; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("ParseLock error:\n got %s\nwant %s…", err, want)
			}
		})
	}
	if _, err := ParseLock(LockFileName, []byte(head+good)); err != nil {
		t.Errorf("ParseLock(a good lock) = %v", err)
	}
}

// TestLockedVersionServingOtherBytes: a repository that now serves other bytes under a locked version is an
// error that says what happened and what to run.
func TestLockedVersionServingOtherBytes(t *testing.T) {
	t.Parallel()
	r, archives := demoRepo(t)
	lock, _ := lockedDemo(t, r)
	changed := testcharts.Archive(t, "demo", "1.1.0")
	changed = append(changed[:len(changed):len(changed)], 0) // trailing garbage: other bytes, same chart
	r.Set(t, testcharts.Chart{Name: "demo", Version: "1.1.0", Data: changed})
	f := newFetcher(t, Options{Lock: lock})
	p, err := f.Resolve(context.Background(), Request{Repository: r.URL(), Name: "demo", Version: "1.x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), p)
	want := "the repository now serves other bytes for demo@1.1.0 locked at sha256:" + sha(archives["1.1.0"]) + " (it serves sha256:" + sha(changed) + "): run `statepack lock` if intended"
	if !errors.Is(err, ErrDigestMismatch) || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("Fetch = %v, want %v ending %q", err, ErrDigestMismatch, want)
	}
}

func TestOffline(t *testing.T) {
	t.Parallel()
	r, archives := demoRepo(t)
	lock, cacheDir := lockedDemo(t, r)
	r.Close() // offline means no repository at all
	ctx := context.Background()
	req := Request{Repository: r.URL(), Name: "demo", Version: "1.x", Declared: "apps/demo.yaml: HelmRelease demo/demo"}

	t.Run("lock and cache", func(t *testing.T) {
		t.Parallel()
		f := newFetcher(t, Options{Offline: true, Lock: lock, CacheDir: cacheDir})
		p, err := f.Resolve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		data, err := f.Fetch(ctx, p)
		if err != nil || !bytes.Equal(data, archives["1.1.0"]) {
			t.Fatalf("Fetch offline = %d bytes, %v", len(data), err)
		}
	})
	t.Run("lock without cache", func(t *testing.T) {
		t.Parallel()
		empty := t.TempDir()
		f := newFetcher(t, Options{Offline: true, Lock: lock, CacheDir: empty})
		p, err := f.Resolve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Fetch(ctx, p)
		want := "fetching chart demo@1.1.0 (sha256:" + sha(archives["1.1.0"]) + "): chart not available offline: it is not in the chart cache " + empty + ": run once online (`statepack lock`, or any command without --offline) to fill the cache"
		if !errors.Is(err, ErrOffline) || err.Error() != want {
			t.Fatalf("Fetch offline without the cache:\n got %v\nwant %s", err, want)
		}
	})
	t.Run("not in the lock", func(t *testing.T) {
		t.Parallel()
		f := newFetcher(t, Options{Offline: true, Lock: lock, CacheDir: cacheDir})
		_, err := f.Resolve(ctx, Request{Repository: r.URL(), Name: "demo", Version: "~1.0", Declared: req.Declared})
		want := `apps/demo.yaml: HelmRelease demo/demo: resolving chart "demo" ~1.0 from ` + r.URL() + ": chart not available offline: it is not in the lock file: run `statepack lock` online to pin it"
		if !errors.Is(err, ErrOffline) || err.Error() != want {
			t.Fatalf("Resolve offline, not locked:\n got %v\nwant %s", err, want)
		}
	})
	t.Run("neither lock nor cache", func(t *testing.T) {
		t.Parallel()
		if _, err := New(Options{Offline: true}); !errors.Is(err, ErrOffline) {
			t.Fatalf("New(offline, nothing) = %v, want %v", err, ErrOffline)
		}
	})
}
