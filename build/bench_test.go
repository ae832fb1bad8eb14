package build

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/statepack/statepack/internal/testtree"
)

// benchTree is the generated 2,000-object tree of the performance targets: 100 apps × 20 objects, plus a Namespace.
func benchTree(b *testing.B) (overlay, root string) {
	b.Helper()
	root = b.TempDir()
	overlay, err := testtree.Kustomize(root, 100, 20)
	if err != nil {
		b.Fatal(err)
	}
	return overlay, root
}

func BenchmarkRender2000(b *testing.B) {
	overlay, root := benchTree(b)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Render(context.Background(), overlay, WithRoot(root))
		if err != nil || len(r.Objects) != 2001 {
			b.Fatalf("Render() = %v objects, %v", len(r.Objects), err)
		}
	}
}

func BenchmarkValidate2000(b *testing.B) {
	overlay, root := benchTree(b)
	r, err := Render(context.Background(), overlay, WithRoot(root))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if f := Validate(context.Background(), r.Objects); len(f) > 0 {
			b.Fatal(f)
		}
	}
}

func BenchmarkPackage2000(b *testing.B) {
	overlay, root := benchTree(b)
	r, err := Render(context.Background(), overlay, WithRoot(root))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Package(r.Objects, WithAnnotations(exampleAnnotations)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocate measures what placing findings costs on the generated trees of issue 17 (1,000 objects; 5,000
// with BENCH_5000=1): the render without positions, the same followed by LocateSources (the source index),
// LocateSources alone, and the render with kustomize's origin annotations that placing took before (a whole
// second render).
func BenchmarkLocate(b *testing.B) {
	for _, apps := range testtree.IssueApps(os.Getenv("BENCH_5000") == "1") {
		root := b.TempDir()
		overlay, err := testtree.Kustomize(root, apps, 20)
		if err != nil {
			b.Fatal(err)
		}
		n := apps*20 + 1
		b.Run(fmt.Sprintf("%d/locate-only", n-1), func(b *testing.B) {
			r, err := Render(context.Background(), overlay, WithRoot(root))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				for i := range r.Objects {
					r.Objects[i].Source = Source{}
				}
				if !r.LocateSources() {
					b.Fatal("LocateSources() = false")
				}
			}
		})
		for _, mode := range []string{"render", "render+locate", "render-with-origins"} {
			b.Run(fmt.Sprintf("%d/%s", n-1, mode), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r, err := Render(context.Background(), overlay, WithRoot(root), WithSourcePositions(mode == "render-with-origins"))
					if err != nil || len(r.Objects) != n {
						b.Fatalf("Render() = %d objects, %v", len(r.Objects), err)
					}
					if mode == "render+locate" && !r.LocateSources() {
						b.Fatal("LocateSources() = false")
					}
				}
			})
		}
	}
}

// BenchmarkRenderHelmCharts renders the kustomizations of ../testdata/helmcharts with helmCharts (a local chart
// each, rendered in-process), against which docs/benchmarks.md sets `kustomize build --enable-helm` running helm.
func BenchmarkRenderHelmCharts(b *testing.B) {
	for _, tree := range []string{"apps/inline", "apps/crds"} {
		b.Run(tree, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := Render(context.Background(), "../testdata/helmcharts/"+tree, WithRoot("../testdata/helmcharts"))
				if err != nil || len(r.Findings) > 0 || len(r.Objects) == 0 {
					b.Fatalf("Render(%s) = %d objects, %v, %v", tree, len(r.Objects), r.Findings, err)
				}
			}
		})
	}
}
