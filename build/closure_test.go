package build

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestInputClosure checks what a render may read, as InputClosure bounds it without rendering: the directories of
// the kustomizations reached and the files they name, a plain tree's directory, and "anything" (all) when configs,
// remote bases or a path outside the root make the bound unknowable.
func TestInputClosure(t *testing.T) {
	t.Parallel()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
	root := writeTree(t, map[string]string{
		"base/kustomization.yaml":      "resources: [cm.yaml]\n",
		"base/cm.yaml":                 cm,
		"overlay/kustomization.yaml":   "resources: [../base]\npatches:\n  - path: ../patches/p.yaml\nconfigMapGenerator:\n  - name: env\n    envs: [../env/app.env]\n",
		"patches/p.yaml":               cm,
		"env/app.env":                  "A=1\n",
		"plain/cm.yaml":                cm,
		"plain/sub/kustomization.yaml": "resources: [../../base]\n",
		"configs/kustomization.yaml":   "resources: [../base]\ntransformers: [t.yaml]\n",
		"configs/t.yaml":               "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: l}\nlabels: {a: b}\nfieldSpecs: [{path: metadata/labels, create: true}]\n",
		"remote/kustomization.yaml":    "resources:\n  - https://github.com/example/repo//base?ref=v1\n",
		"helm/kustomization.yaml":      "helmGlobals: {chartHome: ../charts}\nhelmCharts:\n  - {name: web, releaseName: web, valuesFile: values.yaml}\n  - {name: db, repo: https://example.com, version: 1.0.0, releaseName: db}\n",
	})
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "kustomization.yaml"), []byte("resources: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "linked.yaml"), []byte("resources: [../escape]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "linked"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "linked.yaml"), filepath.Join(root, "linked", "kustomization.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want []string
		all  bool
	}{
		{"helm", []string{"charts/db-1.0.0/db/", "charts/web/", "helm/", "helm/kustomization.yaml", "helm/values.yaml"}, false},
		{"overlay", []string{"base/", "base/cm.yaml", "base/kustomization.yaml", "env/app.env", "overlay/", "overlay/kustomization.yaml", "patches/p.yaml"}, false},
		{"plain", []string{"base/", "base/cm.yaml", "base/kustomization.yaml", "plain/", "plain/sub/", "plain/sub/kustomization.yaml"}, false},
		{"configs", nil, true},
		{"remote", nil, true},
		{"linked", nil, true},
	} {
		got, all, err := InputClosure(filepath.Join(root, tc.path), root)
		if err != nil || all != tc.all || !slices.Equal(got, tc.want) {
			t.Errorf("InputClosure(%s) = %q, %v, %v; want %q, %v", tc.path, got, all, err, tc.want, tc.all)
		}
	}
	for _, tc := range []struct {
		changed string
		want    bool
	}{
		{"base/cm.yaml", true}, {"env/app.env", true}, {"patches/p.yaml", true}, {"patches/other.yaml", false},
		{"baseline/x.yaml", false}, {"overlay/new.yaml", true}, {"README.md", false},
	} {
		inputs, _, _ := InputClosure(filepath.Join(root, "overlay"), root)
		if got := Touches(inputs, tc.changed); got != tc.want {
			t.Errorf("Touches(overlay's inputs, %s) = %v, want %v", tc.changed, got, tc.want)
		}
	}
}
