package build

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// TestKustomizeDeprecations: kustomize's warnings for deprecated fields are findings on the kustomization's file
// and line, once per run although two overlays build the base, and kustomize prints nothing to the process's
// stderr (issue #16, item 15). Not parallel: it watches os.Stderr.
func TestKustomizeDeprecations(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	rendering, err := Render(context.Background(), "../testdata/overlays", WithRoot("../testdata/overlays"))
	os.Stderr = saved
	w.Close()
	printed, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rendering.Findings {
		got = append(got, f.String())
	}
	want := []string{
		"base/kustomization.yaml:2: warning: kustomize: 'commonLabels' is deprecated. Please use 'labels' instead. Run 'kustomize edit fix' to update your Kustomization automatically. [kustomize/deprecated]",
		"base/kustomization.yaml:4: warning: kustomize: 'patchesStrategicMerge' is deprecated. Please use 'patches' instead. Run 'kustomize edit fix' to update your Kustomization automatically. [kustomize/deprecated]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Render found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(printed) > 0 {
		t.Errorf("kustomize printed to stderr during the render:\n%s", printed)
	}
}

// TestDuplicateThroughOverlays: an object two overlays of one base both build is a duplicate that names both
// kustomizations, not only the base's resource file (issue #16, item 15).
func TestDuplicateThroughOverlays(t *testing.T) {
	t.Parallel()
	rendering, err := Render(context.Background(), "../testdata/overlays", WithRoot("../testdata/overlays"), WithSourcePositions(true))
	if err != nil {
		t.Fatal(err)
	}
	var dups []string
	for _, f := range Validate(context.Background(), rendering.Objects) {
		if f.Rule == "object/duplicate" {
			dups = append(dups, f.Message)
		}
	}
	want := "ConfigMap/shop/settings is defined twice, built by production/kustomization.yaml from base/configmap.yaml:1 and built by staging/kustomization.yaml from base/configmap.yaml:1: Kubernetes would keep only one"
	if len(dups) != 1 || !strings.HasPrefix(dups[0], want) {
		t.Errorf("duplicates = %q, want one starting %q", dups, want)
	}
}
