package build

import (
	"context"
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
