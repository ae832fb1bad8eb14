package statepack

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testimages"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// BenchmarkImages measures the pin stage on a loopback docker-registry (issue #14): 200 distinct images, each
// signed with a key, resolved and verified from cold (a new checker per iteration, so nothing is remembered); and a
// fleet of 24 targets of 40 images each drawn from the same 200, sharing one checker, so that each image is
// resolved and verified once. peak-heap-MB is the Go heap's high-water mark over the iterations.
func BenchmarkImages(b *testing.B) {
	ctx := context.Background()
	reg := testregistry.Start(b)
	key, pub := keyPair(b)
	signer, err := sign.LoadSigner(ctx, key, nil)
	if err != nil {
		b.Fatal(err)
	}
	const distinct = 200
	objs := make([]build.Object, distinct)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range distinct {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			repo := fmt.Sprintf("bench/img-%03d", i)
			d := testimages.Push(b, reg.Host, repo, false)
			t, err := publish.Open(ctx, publish.Ref{Registry: reg.Host, Repository: repo})
			if err != nil {
				b.Error(err)
				return
			}
			desc, err := t.Resolve(ctx, d)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := signer.Sign(ctx, t.Storage(), desc, t.Ref().Name()); err != nil {
				b.Error(err)
			}
			objs[i] = build.Object{ID: build.ObjectID{Kind: "Pod", Namespace: "default", Name: fmt.Sprint(i)},
				Content: map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "a", "image": reg.Host + "/" + repo + ":1"}}}}}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	opts := ImageOptions{Pin: true, Policy: &ImagePolicy{Rules: []ImageRule{{Image: "*", Keys: []string{pub}}}}}
	check := func(b *testing.B, c *ImageChecker, objs []build.Object) {
		r, err := c.Check(ctx, objs)
		if err != nil || len(r.Findings) > 0 {
			b.Fatalf("Check: %v %v", err, r.Findings)
		}
	}
	// peak samples the heap every 5 ms while f runs (reading it stops the world, so not more often).
	peak := func(b *testing.B, f func()) {
		var high uint64
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				high = max(high, ms.HeapAlloc)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		f()
		close(stop)
		<-done
		b.ReportMetric(float64(high)/(1<<20), "peak-heap-MB")
	}
	b.Run("200-distinct", func(b *testing.B) {
		b.ReportAllocs()
		peak(b, func() {
			for b.Loop() {
				c, err := NewImageChecker(ctx, opts)
				if err != nil {
					b.Fatal(err)
				}
				check(b, c, objs)
			}
		})
	})
	b.Run("fleet-24x40", func(b *testing.B) {
		b.ReportAllocs()
		peak(b, func() {
			for b.Loop() {
				c, err := NewImageChecker(ctx, opts)
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				for t := range 24 {
					wg.Go(func() {
						target := make([]build.Object, 40)
						for j := range target {
							target[j] = objs[(t*40+j)%distinct]
						}
						check(b, c, target)
					})
				}
				wg.Wait()
			}
		})
	})
}
