package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// rerenderLog is the debug line loadSource logs when it renders a tree again to place its findings; locatedLog the
// one when it places them from the kustomizations' source files instead.
const (
	rerenderLog = "rendering again with source positions"
	locatedLog  = "placing the findings from the kustomizations' source files"
)

// TestSecondRenderOnlyWhenFindingsNeedPlacing counts the renders of kustomize trees and how their findings are
// placed: one whose only finding is a warning (a kind without a schema, as in every Flux tree without its CRDs) is
// not placed under publish, build and render, which keep the warning without a position, and is placed under
// validate; one with an error is placed under every command but render, which does not validate; objects from a
// kustomization inside a plain directory get placed too. Placing takes no second render (the kustomizations' files
// say where each object came from), except in a tree whose replacements may rename objects, which is rendered
// again with kustomize's origins.
func TestSecondRenderOnlyWhenFindingsNeedPlacing(t *testing.T) {
	t.Parallel()
	widget := "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n  size: 1\n"
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - widget.yaml\n"
	warnOnly := writeTree(t, map[string]string{"kustomization.yaml": kustomization, "widget.yaml": widget})
	withError := writeTree(t, map[string]string{"kustomization.yaml": kustomization,
		"widget.yaml": widget + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  n: 1\n  colour: blue\nbinaryData: 3\n"})
	nested := writeTree(t, map[string]string{"apps/kustomization.yaml": kustomization, "apps/widget.yaml": widget})
	replaced := writeTree(t, map[string]string{"widget.yaml": widget,
		"kustomization.yaml": kustomization + "replacements:\n  - source: {kind: Widget, name: w, fieldPath: spec.size}\n    targets:\n      - select: {kind: Widget}\n        fieldPaths: [metadata.labels.size]\n        options: {create: true}\n"})
	layout := "oci:" + filepath.Join(t.TempDir(), "layout") + ":v1"
	out := filepath.Join(t.TempDir(), "layer.tar.gz")

	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		renders int
		located bool   // placed from the source files
		finding string // a line of the output
	}{
		{"publish with a warning", []string{"publish", warnOnly, layout}, 0, 1, false, "(generated): warning: Widget.example.com/default/w: no schema"},
		{"build with a warning", []string{"build", warnOnly, "-o", out}, 0, 1, false, "(generated): warning: Widget.example.com/default/w: no schema"},
		{"render with a warning", []string{"render", warnOnly}, 0, 1, false, ""},
		{"render with an error: render does not validate", []string{"render", withError}, 0, 1, false, "binaryData: 3"},
		{"validate with a warning", []string{"validate", warnOnly}, 0, 1, true, "widget.yaml:1: warning: Widget.example.com/default/w: no schema"},
		{"publish with an error", []string{"publish", withError, layout}, 1, 1, true, "widget.yaml:15: error: ConfigMap/default/c:"},
		{"validate with an error", []string{"validate", withError}, 1, 1, true, "widget.yaml:15: error: ConfigMap/default/c:"},
		{"validate a nested kustomization", []string{"validate", nested}, 0, 1, true, "apps/widget.yaml:1: warning: Widget.example.com/default/w: no schema"},
		{"publish a nested kustomization", []string{"publish", nested, layout}, 0, 1, false, "(generated): warning: Widget.example.com/default/w: no schema"},
		{"validate a tree with replacements", []string{"validate", replaced}, 0, 2, false, "widget.yaml:1: warning: Widget.example.com/default/w: no schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, tc.code, fixedEpoch, append(tc.args, "-v")...)
			if got := 1 + strings.Count(r.stderr, rerenderLog); got != tc.renders {
				t.Errorf("statepack %s rendered %d time(s), want %d:\n%s", strings.Join(tc.args, " "), got, tc.renders, r)
			}
			if got := strings.Contains(r.stderr, locatedLog); got != tc.located {
				t.Errorf("statepack %s placed its findings from the source files: %v, want %v:\n%s", strings.Join(tc.args, " "), got, tc.located, r)
			}
			if !strings.Contains(r.stdout+r.stderr, tc.finding) {
				t.Errorf("statepack %s does not report %q:\n%s", strings.Join(tc.args, " "), tc.finding, r)
			}
		})
	}
}
