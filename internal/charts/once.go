package charts

import (
	"context"
	"sync"
)

// onceMap runs one function per key and hands its result to every caller asking for that key, so that a chart,
// an index or an archive is fetched once per run however many goroutines ask. A call that failed because its
// context ended is forgotten, so that a later caller with a live context tries again.
type onceMap[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*onceCall[V]
}

type onceCall[V any] struct {
	done chan struct{}
	v    V
	err  error
}

func (o *onceMap[K, V]) do(ctx context.Context, k K, fn func() (V, error)) (V, error) {
	o.mu.Lock()
	if o.m == nil {
		o.m = map[K]*onceCall[V]{}
	}
	if c, ok := o.m[k]; ok {
		o.mu.Unlock()
		select {
		case <-c.done:
			return c.v, c.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	c := &onceCall[V]{done: make(chan struct{})}
	o.m[k] = c
	o.mu.Unlock()
	defer close(c.done)
	c.v, c.err = fn()
	if c.err != nil && ctx.Err() != nil {
		o.mu.Lock()
		delete(o.m, k)
		o.mu.Unlock()
	}
	return c.v, c.err
}
