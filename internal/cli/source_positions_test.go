package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// rerenderLog is the debug line loadSource logs when it renders a tree again to place its findings.
const rerenderLog = "rendering again with source positions"

// TestSecondRenderOnlyWhenFindingsNeedPlacing counts the renders of kustomize trees: one whose only finding is a
// warning (a kind without a schema, as in every Flux tree without its CRDs) renders once under publish, build and
// render, which keep the warning without a position, and twice under validate, which places it; one with an error
// renders twice under every command; objects from a kustomization inside a plain directory get placed too.
func TestSecondRenderOnlyWhenFindingsNeedPlacing(t *testing.T) {
	t.Parallel()
	widget := "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n  size: 1\n"
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - widget.yaml\n"
	warnOnly := writeTree(t, map[string]string{"kustomization.yaml": kustomization, "widget.yaml": widget})
	withError := writeTree(t, map[string]string{"kustomization.yaml": kustomization,
		"widget.yaml": widget + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  n: 1\n  colour: blue\nbinaryData: 3\n"})
	nested := writeTree(t, map[string]string{"apps/kustomization.yaml": kustomization, "apps/widget.yaml": widget})
	layout := "oci:" + filepath.Join(t.TempDir(), "layout") + ":v1"
	out := filepath.Join(t.TempDir(), "layer.tar.gz")

	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		renders int
		finding string // a line of the output
	}{
		{"publish with a warning", []string{"publish", warnOnly, layout}, 0, 1, "(generated): warning: Widget.example.com/default/w: no schema"},
		{"build with a warning", []string{"build", warnOnly, "-o", out}, 0, 1, "(generated): warning: Widget.example.com/default/w: no schema"},
		{"render with a warning", []string{"render", warnOnly}, 0, 1, ""},
		{"validate with a warning", []string{"validate", warnOnly}, 0, 2, "widget.yaml:1: warning: Widget.example.com/default/w: no schema"},
		{"publish with an error", []string{"publish", withError, layout}, 1, 2, "widget.yaml:9: error: ConfigMap/default/c:"},
		{"validate with an error", []string{"validate", withError}, 1, 2, "widget.yaml:9: error: ConfigMap/default/c:"},
		{"validate a nested kustomization", []string{"validate", nested}, 0, 2, "apps/widget.yaml:1: warning: Widget.example.com/default/w: no schema"},
		{"publish a nested kustomization", []string{"publish", nested, layout}, 0, 1, "(generated): warning: Widget.example.com/default/w: no schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, tc.code, fixedEpoch, append(tc.args, "-v")...)
			if got := 1 + strings.Count(r.stderr, rerenderLog); got != tc.renders {
				t.Errorf("statepack %s rendered %d time(s), want %d:\n%s", strings.Join(tc.args, " "), got, tc.renders, r)
			}
			if !strings.Contains(r.stdout+r.stderr, tc.finding) {
				t.Errorf("statepack %s does not report %q:\n%s", strings.Join(tc.args, " "), tc.finding, r)
			}
		})
	}
}
