package cli

import (
	"strings"
	"testing"
)

// TestCRDDirKustomization: validate --crd-dir takes a directory that is a kustomization installing a controller
// (issue #16, item 4): only its CRDs count, and a problem of the directory is one usage error naming it.
func TestCRDDirKustomization(t *testing.T) {
	t.Parallel()
	r := mustRun(t, 1, nil, "validate", "../../testdata/crd-dir/tree", "--root", "../../testdata/crd-dir", "--crd-dir", "../../testdata/crd-dir/crds")
	if want := "tree/widget.yaml:7: error: Widget.example.com/default/big: spec.size must be an integer, not the string \"large\" [schema/type]\n" +
		"../../testdata/crd-dir/tree: 1 object(s), 1 error(s), 0 warning(s)\n"; r.stdout != want {
		t.Errorf("validate --crd-dir (a kustomization):\n%s\nwant\n%s", r.stdout, want)
	}
	r = mustRun(t, 2, nil, "validate", "../../testdata/crd-dir/tree", "--crd-dir", "../../testdata/crd-dir/tree")
	if strings.Count(r.stderr, "--crd-dir ../../testdata/crd-dir/tree: holds no CustomResourceDefinition") != 1 || r.stdout != "" {
		t.Errorf("validate --crd-dir without CRDs: %s\nwant one usage error naming it", r)
	}
}

// TestIgnorePathsFlag: render and validate take --ignore-paths as flux push artifact does (comma-separated gitignore
// patterns anchored at PATH), on top of .sourceignore and Flux's default excludes (issue #16, item 13).
func TestIgnorePathsFlag(t *testing.T) {
	t.Parallel()
	args := []string{"../../testdata/sourceignore/app", "--root", "../../testdata/sourceignore"}
	r := mustRun(t, 1, nil, append([]string{"validate"}, args...)...)
	if strings.Contains(r.stdout, "cloudbuild.yaml") || strings.Contains(r.stdout, "draft") || !strings.Contains(r.stdout, "app/docs/example.yaml:2: error:") {
		t.Errorf("validate without --ignore-paths: %s\nwant only docs/example.yaml's errors", r)
	}
	r = mustRun(t, 0, nil, append([]string{"validate", "--ignore-paths", "docs/,*.md"}, args...)...)
	if !strings.HasSuffix(r.stdout, "app: 2 object(s), 0 error(s), 0 warning(s)\n") {
		t.Errorf("validate --ignore-paths docs/,*.md: %s", r)
	}
}

// TestDeprecationsAndOverlayDuplicates: kustomize's deprecation warnings are findings in text, JSON and SARIF, once,
// on the kustomization's file and line; a duplicate through two overlays names both kustomizations (issue #16,
// item 15).
func TestDeprecationsAndOverlayDuplicates(t *testing.T) {
	t.Parallel()
	args := []string{"validate", "../../testdata/overlays", "--root", "../../testdata/overlays"}
	r := mustRun(t, 1, nil, args...)
	if strings.Count(r.stdout, "[kustomize/deprecated]") != 2 || !strings.Contains(r.stdout, "base/kustomization.yaml:2: warning: kustomize: 'commonLabels' is deprecated.") ||
		!strings.Contains(r.stdout, "is defined twice, built by production/kustomization.yaml from base/configmap.yaml:1 and built by staging/kustomization.yaml from base/configmap.yaml:1") {
		t.Errorf("validate of two overlays of a deprecated base:\n%s", r.stdout)
	}
	r = mustRun(t, 1, nil, append(args, "-o", "json")...)
	if strings.Count(r.stdout, `"rule": "kustomize/deprecated"`) != 2 {
		t.Errorf("validate -o json:\n%s\nwant the two deprecation findings", r.stdout)
	}
	r = mustRun(t, 1, nil, append(args, "-o", "sarif")...)
	if !strings.Contains(r.stdout, `"ruleId": "kustomize/deprecated"`) || !strings.Contains(r.stdout, "base/kustomization.yaml") {
		t.Errorf("validate -o sarif:\n%s\nwant the deprecation findings on base/kustomization.yaml", r.stdout)
	}
}

// TestRenderAndValidateAgreeOnNonObjects: a values file and a chart directory fail render as they fail validate,
// with the same findings (issue #16, item 11).
func TestRenderAndValidateAgreeOnNonObjects(t *testing.T) {
	t.Parallel()
	args := []string{"../../testdata/chart-in-tree", "--root", "../../testdata/chart-in-tree"}
	v := mustRun(t, 1, nil, append([]string{"validate"}, args...)...)
	r := mustRun(t, 1, nil, append([]string{"render"}, args...)...)
	for _, rule := range []string{"[object/not-an-object]", "[source/helm-chart]"} {
		if strings.Count(v.stdout, rule) != 1 || strings.Count(r.stderr, rule) != 1 {
			t.Errorf("%s: validate said\n%s\nrender said\n%s\nwant it once from each", rule, v.stdout, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("render printed manifests of a tree it refuses:\n%s", r.stdout)
	}
}
