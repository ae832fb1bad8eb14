package build

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	if err := os.Symlink("base", filepath.Join(root, "baselink")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "linkoverlay"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "linkoverlay", "kustomization.yaml"), []byte("resources: [../baselink]\n"), 0o644); err != nil {
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
		{"helm", []string{"charts/db-1.0.0/db/", "charts/web/", "helm/", "helm/Kustomization", "helm/kustomization.yaml", "helm/kustomization.yml", "helm/values.yaml"}, false},
		{"overlay", []string{"base/Kustomization", "base/cm.yaml", "base/kustomization.yaml", "base/kustomization.yml", "env/app.env",
			"overlay/", "overlay/Kustomization", "overlay/kustomization.yaml", "overlay/kustomization.yml", "patches/p.yaml"}, false},
		{"plain", []string{"base/Kustomization", "base/cm.yaml", "base/kustomization.yaml", "base/kustomization.yml", "plain/",
			"plain/sub/Kustomization", "plain/sub/kustomization.yaml", "plain/sub/kustomization.yml"}, false},
		{"configs", nil, true},
		{"remote", nil, true},
		{"linked", nil, true},
	} {
		c, err := InputClosure(filepath.Join(root, tc.path), root, nil)
		if err != nil || c.All != tc.all || !slices.Equal(c.Inputs(), tc.want) {
			t.Errorf("InputClosure(%s) = %q, %v, %v; want %q, %v", tc.path, c.Inputs(), c.All, err, tc.want, tc.all)
		}
	}
	overlay, err := InputClosure(filepath.Join(root, "overlay"), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		changed string
		want    bool
	}{
		{"base/cm.yaml", true}, {"env/app.env", true}, {"patches/p.yaml", true}, {"patches/other.yaml", false},
		{"baseline/x.yaml", false}, {"overlay/new.yaml", true}, {"overlay/sub/notes.txt", true}, {"README.md", false},
		// A base's directory is read only where its kustomization names a file: kustomize reads nothing else there.
		{"base/notes.txt", false}, {"base/sub/cm.yaml", false},
		// A second kustomization file makes kustomize fail: each name counts, present or not.
		{"base/kustomization.yml", true},
		// A .sourceignore decides what is left out below its directory.
		{".sourceignore", true}, {"base/.sourceignore", true}, {"patches/.sourceignore", true}, {"overlay/sub/.sourceignore", true},
		{"baseline/.sourceignore", false}, {"env/other/.sourceignore", false},
	} {
		if got := overlay.Touches(tc.changed); got != tc.want {
			t.Errorf("Touches(overlay's inputs, %s) = %v, want %v", tc.changed, got, tc.want)
		}
	}
	// A base reached through a symlink: the link itself is an input, pointing it elsewhere changes what is read.
	linked, err := InputClosure(filepath.Join(root, "linkoverlay"), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, changed := range []string{"baselink", "base/cm.yaml", "baselink/kustomization.yaml"} {
		if !linked.Touches(changed) {
			t.Errorf("Touches(linkoverlay's inputs, %s) = false, want true", changed)
		}
	}
}

// TestClosureIgnores checks that a change only to files the render's ignore rules leave out (Flux's default
// excludes, .sourceignore files at any depth, the ignore patterns given, anchored at the rendered path) touches
// nothing, while files the render reads whatever those rules say (helmCharts' chart directories and values files,
// kustomization files) still count, and that a kustomization the rules leave out is walked as the plain tree the
// render then reads.
func TestClosureIgnores(t *testing.T) {
	t.Parallel()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
	root := writeTree(t, map[string]string{
		".sourceignore":                     "*.txt\n*.yml\nhelm/values.yaml\nignoredtop/kustomization.yaml\n",
		"base/kustomization.yaml":           "resources: [cm.yaml]\n",
		"base/cm.yaml":                      cm,
		"overlay/kustomization.yaml":        "resources: [../base]\nhelmGlobals: {chartHome: ../charts}\nhelmCharts:\n  - {name: web, releaseName: web, valuesFile: ../helm/values.yaml}\n",
		"overlay/.sourceignore":             "local.yaml\n",
		"overlay/local.yaml":                cm,
		"overlay/drafts/x.yaml":             cm,
		"helm/values.yaml":                  "a: 1\n",
		"charts/web/Chart.yaml":             "apiVersion: v2\nname: web\nversion: 1.0.0\n",
		"ignoredtop/kustomization.yaml":     "resources: []\n",
		"ignoredtop/sub/kustomization.yaml": "resources: [../../base]\n",
	})
	closureOf := func(dir string, ignorePaths ...string) *Closure {
		t.Helper()
		c, err := InputClosure(filepath.Join(root, dir), root, ignorePaths)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ignoring, plainOverlay, ignoredTop := closureOf("overlay", "drafts/"), closureOf("overlay"), closureOf("ignoredtop")
	for _, tc := range []struct {
		name    string
		c       *Closure
		changed string
		want    bool
	}{
		{"a file the root's .sourceignore leaves out", ignoring, "overlay/notes.txt", false},
		{"a file a nested .sourceignore leaves out", ignoring, "overlay/local.yaml", false},
		{"a file the ignore patterns leave out", ignoring, "overlay/drafts/x.yaml", false},
		{"the same file without the patterns", plainOverlay, "overlay/drafts/x.yaml", true},
		{"a file Flux's default excludes leave out", ignoring, "overlay/.github/workflows/ci.yaml", false},
		{"an image Flux's default excludes leave out", ignoring, "overlay/logo.png", false},
		{"a file of the rendered directory no rule leaves out", ignoring, "overlay/README.md", true},
		{"an ignored values file, which helmCharts reads all the same", ignoring, "helm/values.yaml", true},
		{"an ignored file of a chart directory, which helm.Load reads all the same", ignoring, "charts/web/NOTES.txt", true},
		{"an ignored second kustomization file, which the scan reads all the same", ignoring, "base/kustomization.yml", true},
		{"a file a base names", ignoring, "base/cm.yaml", true},
		{"the .sourceignore of the rendered directory", ignoring, "overlay/.sourceignore", true},
		{"a base of a kustomization found walking a tree whose own kustomization is ignored", ignoredTop, "base/cm.yaml", true},
	} {
		if got := tc.c.Touches(tc.changed); got != tc.want {
			t.Errorf("%s: Touches(%s) = %v, want %v", tc.name, tc.changed, got, tc.want)
		}
	}
	if _, err := InputClosure(filepath.Join(root, "overlay"), root, []string{" "}); err == nil {
		t.Error("InputClosure with an empty ignore pattern succeeded")
	}
}

// TestClosureCoversRenderInputs renders every tree of testdata — each top-level tree and each kustomization in it,
// with the tree as the source root — and checks that the closure, computed without rendering, touches every file
// the render read and every file that could appear in a directory it walked: the closure is the superset that
// targets --changed-since relies on to miss no target.
func TestClosureCoversRenderInputs(t *testing.T) {
	t.Parallel()
	trees, err := filepath.Glob("../testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, tree := range trees {
		if st, err := os.Stat(tree); err != nil || !st.IsDir() {
			continue
		}
		_ = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p != tree && findKustomization(p) == "" {
				return nil
			}
			r, err := Render(context.Background(), p, WithRoot(tree))
			if err != nil {
				return nil // refused as a whole (outside the root, say): nothing read
			}
			c, err := InputClosure(p, tree, nil)
			if err != nil {
				t.Errorf("InputClosure(%s): %v", p, err)
				return nil
			}
			if c.All {
				return nil // any change touches it
			}
			checked++
			for _, in := range r.Inputs {
				probe := strings.TrimSuffix(in, "@")
				if strings.HasSuffix(probe, "/") {
					probe += "new.yaml" // a file added where the render walked, unless the render would leave it out
					if abs, err := filepath.Abs(filepath.Join(tree, probe)); err != nil || c.ignore.ignored(abs, false) {
						continue
					}
				}
				if !c.Touches(probe) {
					t.Errorf("render of %s read %s, but its closure does not touch %s", p, in, probe)
				}
			}
			return nil
		})
	}
	if checked < 10 {
		t.Errorf("checked %d renders, want the trees of testdata", checked)
	}
}
