package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/schema"
	"github.com/statepack/statepack/internal/testtree"
)

// BenchmarkValidate validates the 2,001 objects of a generated 100-app tree and reports the render time of the same
// tree as render-ns, so the ratio (target: validation at most 30% of render) reads off one line.
func BenchmarkValidate(b *testing.B) {
	dir := b.TempDir()
	path, err := testtree.Kustomize(dir, 100, 20)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	r, err := build.Render(ctx, path, build.WithRoot(dir))
	if err != nil {
		b.Fatal(err)
	}
	renderNs := time.Since(start).Nanoseconds()
	if r.Findings.HasErrors() {
		b.Fatal(r.Findings)
	}
	v, err := schema.NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	if fs := v.Validate(ctx, r.Objects); fs.HasErrors() { // also loads the schema, once
		b.Fatal(fs)
	}
	b.ResetTimer()
	for b.Loop() {
		v.Validate(ctx, r.Objects)
	}
	b.ReportMetric(float64(len(r.Objects)), "objects")
	b.ReportMetric(float64(renderNs), "render-ns")
}
