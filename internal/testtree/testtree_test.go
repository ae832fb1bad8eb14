package testtree

import (
	"context"
	"strings"
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

func TestAddFindingGivesOneFinding(t *testing.T) {
	dir := t.TempDir()
	overlay, err := Kustomize(dir, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddFinding(dir); err != nil {
		t.Fatal(err)
	}
	r, err := build.Render(context.Background(), overlay, build.WithRoot(dir), build.WithSourcePositions(true))
	if err != nil || len(r.Findings) > 0 {
		t.Fatalf("Render() = %v, %v", err, r.Findings)
	}
	for _, o := range r.Objects {
		if o.ID.Kind == "Service" && o.ID.Name == "app-000" {
			if svc := string(o.YAML); !strings.Contains(svc, "protocl: TCP") || o.Source != (build.Source{File: "apps/app-000/service.yaml", Line: 1}) {
				t.Errorf("the Service of app-000 is %v:\n%s", o.Source, svc)
			}
			return
		}
	}
	t.Error("no Service app-000 rendered")
}
