package statepack

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
)

// TestChangedTargets commits a fleet of three targets — an overlay of a base, an overlay with a patch file outside
// its directory, a plain directory — then one change per case, and checks which targets ChangedTargets names
// against the commit before: each change touches the targets whose renders read it (a file a kustomization does
// not name, in a directory it enters, counts too: the closure is a superset), the config touches all, and a file
// no render reads touches none.
func TestChangedTargets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: default\n"
	}
	files := map[string]string{
		"statepack.yaml": "apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n" +
			"  - {name: a, path: clusters/a, ref: 'oci:out:a'}\n  - {name: b, path: clusters/b, ref: 'oci:out:b'}\n  - {name: c, path: clusters/c, ref: 'oci:out:c', helm: \"off\"}\n",
		"README.md":                       "fleet\n",
		"apps/web/kustomization.yaml":     "resources: [web.yaml]\n",
		"apps/web/web.yaml":               cm("web"),
		"apps/api/kustomization.yaml":     "resources: [api.yaml]\n",
		"apps/api/api.yaml":               cm("api"),
		"patches/api.yaml":                cm("api") + "data: {level: debug}\n",
		"clusters/a/kustomization.yaml":   "resources: [../../apps/web]\n",
		"clusters/b/kustomization.yaml":   "resources: [../../apps/api]\npatches:\n  - path: ../../patches/api.yaml\n",
		"clusters/c/settings.yaml":        cm("settings"),
		"clusters/c/nested/database.yaml": cm("database"),
		"charts/web/Chart.yaml":           "apiVersion: v2\nname: web\nversion: 1.0.0\n",
		"charts/web/templates/cm.yaml":    cm("chart"),
	}
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		write(name, content)
	}
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	commitAll(t, repo, "fleet", when)
	cfg, err := LoadConfig(filepath.Join(dir, "statepack.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	targets, err := cfg.Select(Selection{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		change string
		want   []string
	}{
		{"apps/web/web.yaml", []string{"a"}},
		{"patches/api.yaml", []string{"b"}},
		{"apps/api/notes.txt", []string{"b"}},
		{"clusters/c/nested/database.yaml", []string{"c"}},
		{"README.md", nil},
		// A chart directory may be installed by any release of any target; c renders none (helm: off).
		{"charts/web/templates/cm.yaml", []string{"a", "b"}},
		{"statepack.yaml", []string{"a", "b", "c"}},
	} {
		write(tc.change, files[tc.change]+"# changed\n")
		commitAll(t, repo, "change "+tc.change, when.Add(time.Duration(i+1)*time.Hour))
		got, err := ChangedTargets(filepath.Join(dir, "statepack.yaml"), targets, "HEAD~1")
		if err != nil {
			t.Fatalf("ChangedTargets after changing %s: %v", tc.change, err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
			if c.Because != tc.change {
				t.Errorf("target %s is touched because of %q, want %q", c.Name, c.Because, tc.change)
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("ChangedTargets after changing %s = %q, want %q", tc.change, names, tc.want)
		}
	}
	if _, err := ChangedTargets(filepath.Join(dir, "statepack.yaml"), targets, "no-such-ref"); err == nil {
		t.Error("ChangedTargets(no-such-ref) succeeded")
	}
}
