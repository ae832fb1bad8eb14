package charts

import (
	"context"
	"fmt"
	"testing"

	"github.com/statepack/statepack/internal/testcharts"
)

// BenchmarkResolveFetch24 is a fleet of 24 targets that ask for one chart (podinfo, three different constraints
// that all resolve to one version) in one run, with a warm cache: each op is one run, a new Fetcher resolving and
// fetching the 24 requests. "live" resolves against the repository (one index GET, the archive from the cache);
// "locked" resolves from the lock and touches no network; "cold" has no cache (one index GET, one archive GET and
// the archive's check as a chart).
func BenchmarkResolveFetch24(b *testing.B) {
	data := podinfoArchive(b)
	r := testcharts.NewRepo(b, testcharts.Chart{Name: "podinfo", Version: "6.14.1", Data: data})
	cacheDir := b.TempDir()
	var reqs []Request
	for i := range 24 {
		reqs = append(reqs, Request{Repository: r.URL(), Name: "podinfo", Version: []string{"6.x", ">=6.0.0", "~6.14"}[i%3], Declared: fmt.Sprintf("target-%d/release.yaml", i)})
	}
	warm := newFetcher(b, Options{CacheDir: cacheDir})
	for _, req := range reqs {
		if _, err := warm.Resolve(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	lock := warm.Lock()
	run := func(b *testing.B, o Options) {
		for b.Loop() {
			f := newFetcher(b, o)
			for _, req := range reqs {
				p, err := f.Resolve(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Fetch(context.Background(), p); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("live", func(b *testing.B) { run(b, Options{CacheDir: cacheDir}) })
	b.Run("locked", func(b *testing.B) { run(b, Options{CacheDir: cacheDir, Lock: lock}) })
	b.Run("cold", func(b *testing.B) { run(b, Options{}) }) // no cache: the archive is downloaded and checked
	if n := r.Hits("/charts/podinfo-6.14.1.tgz"); n < 1 {
		b.Errorf("the archive was never fetched")
	}
}
