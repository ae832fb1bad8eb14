package testtree

import (
	"context"
	"testing"

	"github.com/statepack/statepack/build"
)

func TestKustomizeRendersTheAnnouncedCount(t *testing.T) {
	dir := t.TempDir()
	overlay, err := Kustomize(dir, 5, 6)
	if err != nil {
		t.Fatal(err)
	}
	r, err := build.Render(context.Background(), overlay, build.WithRoot(dir))
	if err != nil || len(r.Findings) > 0 {
		t.Fatalf("Render() = %v, %v", err, r.Findings)
	}
	if got, want := len(r.Objects), 5*6+1; got != want {
		t.Errorf("Render() gave %d objects, want %d", got, want)
	}
	if f := build.Validate(context.Background(), r.Objects); len(f) > 0 {
		t.Errorf("the generated tree has findings: %v", f)
	}
}
