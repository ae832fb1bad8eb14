package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"render-demo-production.yaml", demoTree},
		{"render-plain.yaml", "../../testdata/plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, 0, nil, "render", tc.path)
			golden(t, tc.name, r.stdout)
		})
	}
}

func TestRenderJSONIsAList(t *testing.T) {
	r := mustRun(t, 0, nil, "render", demoTree, "-o", "json")
	var list struct {
		Kind  string
		Items []map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || list.Kind != "List" || len(list.Items) != 4 {
		t.Fatalf("render -o json = %q (%v), want a List of 4 items", r.stdout, err)
	}
}

// TestValidateBadTrees runs validate on every tree under testdata/bad and compares the report with the tree's
// expected.txt. Each tree holds one mistake; the report must name its file and line and exit 1.
func TestValidateBadTrees(t *testing.T) {
	trees, err := filepath.Glob("../../testdata/bad/*")
	if err != nil || len(trees) == 0 {
		t.Fatalf("no bad trees under testdata/bad: %v", err)
	}
	sort.Strings(trees)
	for _, tree := range trees {
		name := filepath.Base(tree)
		t.Run(name, func(t *testing.T) {
			path := tree
			if st, err := os.Stat(filepath.Join(tree, "app")); err == nil && st.IsDir() {
				path = filepath.Join(tree, "app")
			}
			r := run(t, nil, "", "validate", path, "--root", tree)
			if r.code != 1 {
				t.Fatalf("%s\nwant exit 1", r)
			}
			report := strings.ReplaceAll(r.stdout+r.stderr, tree, "TREE")
			goldenAt(t, filepath.Join(tree, "expected.txt"), report)
		})
	}
}

func TestValidateClean(t *testing.T) {
	r := mustRun(t, 0, nil, "validate", demoTree)
	if r.stdout != demoTree+": 4 object(s), 0 error(s), 0 warning(s)\n" {
		t.Errorf("validate stdout = %q", r.stdout)
	}
	r = mustRun(t, 0, nil, "validate", demoTree, "-o", "json")
	var got struct {
		Objects, Errors int
		Findings        []any
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Objects != 4 || got.Errors != 0 || got.Findings == nil {
		t.Errorf("validate -o json = %q (%v)", r.stdout, err)
	}
}

// TestCorpusValidates renders and validates every tree of the shared corpus.
func TestCorpusValidates(t *testing.T) {
	root := corpus(t, ".")
	for _, p := range []string{
		"flux2-kustomize-helm-example/apps/staging",
		"flux2-kustomize-helm-example/apps/production",
		"flux2-kustomize-helm-example/infrastructure/configs",
		"flux2-kustomize-helm-example/infrastructure/controllers",
		"flux2-kustomize-helm-example/clusters/staging",
		"flux2-kustomize-helm-example/clusters/production",
		"microservices-demo-kustomize",
		"microservices-demo-kustomize/base",
		"microservices-demo-kustomize/tests/memorystore-with-all-components",
		"microservices-demo-kustomize/tests/service-mesh-istio-with-all-components",
		"microservices-demo-kustomize/tests/spanner-with-all-components",
	} {
		t.Run(p, func(t *testing.T) {
			r := run(t, nil, "", "validate", filepath.Join(root, p), "--root", root)
			if r.code != 0 {
				t.Fatalf("%s", r)
			}
		})
	}
}

func TestValidateSchemaFlags(t *testing.T) {
	r := run(t, nil, "", "validate", demoTree, "--kubernetes-version", "1.20")
	if r.code != 2 || !strings.Contains(r.stderr, "1.34") {
		t.Errorf("%s\nwant exit 2 listing the embedded versions", r)
	}
	mustRun(t, 0, nil, "validate", demoTree, "--kubernetes-version", "v1.32")
	// A custom resource without its CRD: a warning by default, an error with --strict; a --crd-dir supplies it.
	dir := t.TempDir()
	copyDir(t, "../../testdata/bad/schema-crd-type", dir)
	if err := os.Rename(filepath.Join(dir, "crd.yaml"), filepath.Join(t.TempDir(), "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, 0, nil, "validate", dir)
	if !strings.Contains(r.stdout, "[schema/no-schema]") {
		t.Errorf("validate without the CRD: %s\nwant a no-schema warning", r)
	}
	mustRun(t, 1, nil, "validate", dir, "--strict")
	crds := t.TempDir()
	copyDir(t, "../../testdata/bad/schema-crd-type", crds)
	_ = os.Remove(filepath.Join(crds, "widget.yaml"))
	_ = os.Remove(filepath.Join(crds, "expected.txt"))
	r = mustRun(t, 1, nil, "validate", dir, "--crd-dir", crds)
	if !strings.Contains(r.stdout, "spec.size must be an integer") {
		t.Errorf("validate with --crd-dir: %s\nwant the CRD's type error", r)
	}
}
