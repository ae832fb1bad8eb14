package statepack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
)

// TestChangedTargets commits a fleet of three targets — an overlay of a base, an overlay with a patch file outside
// its directory, a plain directory — then one change per case, and checks which targets ChangedTargets names
// against the commit before, and why: each change touches the targets whose renders read it (any file of a
// target's own directory counts, as statepack looks at all of it; in a base's directory, only the files its
// kustomization names), the config touches all, and a file no render reads touches none. A file the target's
// ignore rules leave out touches nothing — .sourceignore files, then the target's ignorePaths, else the defaults',
// else the command line's — unless the render reads it all the same (the chart lock); a .sourceignore touches
// the targets that read files below it. The files of variables a target's validation reads touch it, its signing
// key file too, and the key files of the image rules touch every target.
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
		"statepack.yaml": "apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: {ignorePaths: ['*.local.yaml']}\n" +
			"images:\n  rules:\n    - {image: 'ghcr.io/acme/*', keys: [keys/acme.pub, 'env://OTHER_KEY']}\n    - {image: '*', skip: {reason: test}}\ntargets:\n" +
			"  - {name: a, path: clusters/a, ref: 'oci:out:a', ignorePaths: [wip/], sign: {key: keys/a.key}}\n  - {name: b, path: clusters/b, ref: 'oci:out:b', validate: {substituteFrom: [vars/b.yaml]}}\n" +
			"  - {name: c, path: clusters/c, ref: 'oci:out:c', helm: \"off\", ignorePaths: []}\n",
		"README.md":                       "fleet\n",
		"keys/acme.pub":                   "-----BEGIN PUBLIC KEY-----\n",
		"keys/a.key":                      "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
		"keys/other.pub":                  "-----BEGIN PUBLIC KEY-----\n",
		".sourceignore":                   "draft.yaml\n*.lock\n",
		"clusters/a/statepack.lock":       "charts: []\n",
		"vars/b.yaml":                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars}\ndata: {cluster: b}\n",
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
	cfg.ApplyDefaults(Target{IgnorePaths: []string{"*.flag.yaml"}}) // the command line's --ignore-paths
	targets, err := cfg.Select(Selection{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		change  string
		want    []string
		because string // "" for the changed path alone
	}{
		{change: "apps/web/web.yaml", want: []string{"a"}},
		{change: "patches/api.yaml", want: []string{"b"}},
		// A base's directory holds files no kustomization names: kustomize never reads them.
		{change: "apps/api/notes.txt"},
		{change: "apps/api/sub/extra.yaml"},
		// The target's own directory is read whole.
		{change: "clusters/b/notes.txt", want: []string{"b"}},
		{change: "clusters/c/nested/database.yaml", want: []string{"c"}},
		{change: "README.md"},
		// A chart directory may be installed by any release of any target; c renders none (helm: off).
		{change: "charts/web/templates/cm.yaml", want: []string{"a", "b"}, because: " (a chart directory, which a HelmRelease may install)"},
		// Ignored: by the root's .sourceignore, by a's own ignorePaths, by the defaults' (which b takes).
		{change: "clusters/c/draft.yaml"},
		{change: "clusters/a/wip/x.yaml"},
		{change: "clusters/b/dev.local.yaml"},
		// a's own ignorePaths replace the defaults', and c's empty list too; b takes the defaults', which replace
		// the command line's.
		{change: "clusters/a/dev.local.yaml", want: []string{"a"}},
		{change: "clusters/c/dev.local.yaml", want: []string{"c"}},
		{change: "clusters/b/dev.flag.yaml", want: []string{"b"}},
		// The chart lock is read whatever .sourceignore says.
		{change: "clusters/a/statepack.lock", want: []string{"a"}},
		// Validation reads the variables the config names for it.
		{change: "vars/b.yaml", want: []string{"b"}, because: " (a substituteFrom file of the target's validation)"},
		// A .sourceignore decides what is read below it.
		{change: "clusters/b/.sourceignore", want: []string{"b"}, because: " (it decides which files the render leaves out)"},
		{change: ".sourceignore", want: []string{"a", "b", "c"}, because: " (it decides which files the render leaves out)"},
		{change: "statepack.yaml", want: []string{"a", "b", "c"}, because: " (the config)"},
		// The key files the config names: an image rule's decide the verdict on any target's images, a target's
		// signing key must sign it again; a key file the config does not name touches none.
		{change: "keys/acme.pub", want: []string{"a", "b", "c"}, because: " (a key of the config's image rules)"},
		{change: "keys/a.key", want: []string{"a"}, because: " (the target's signing key)"},
		{change: "keys/other.pub"},
	} {
		write(tc.change, files[tc.change]+"# changed\n")
		commitAll(t, repo, "change "+tc.change, when.Add(time.Duration(i+1)*time.Hour))
		got, err := cfg.ChangedTargets(targets, ChangeOptions{Since: "HEAD~1"})
		if err != nil {
			t.Fatalf("ChangedTargets after changing %s: %v", tc.change, err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
			if want := tc.change + tc.because; c.Because != want {
				t.Errorf("target %s is touched because of %q, want %q", c.Name, c.Because, want)
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("ChangedTargets after changing %s = %q, want %q", tc.change, names, tc.want)
		}
	}
	if _, err := cfg.ChangedTargets(targets, ChangeOptions{Since: "no-such-ref"}); err == nil {
		t.Error("ChangedTargets(no-such-ref) succeeded")
	}

	// A global input (the workflow that pins statepack's version) touches every target; what no pattern matches
	// touches as before.
	opts := ChangeOptions{Since: "HEAD~1", GlobalInputs: []string{".github/workflows/fleet.yaml", "*.mk"}}
	for i, tc := range []struct {
		change string
		want   []string
	}{
		{change: ".github/workflows/fleet.yaml", want: []string{"a", "b", "c"}},
		{change: "tools/versions.mk", want: []string{"a", "b", "c"}},
		{change: ".github/workflows/other.yaml"},
	} {
		write(tc.change, "# changed\n")
		commitAll(t, repo, "change "+tc.change, when.Add(time.Duration(100+i)*time.Hour))
		got, err := cfg.ChangedTargets(targets, opts)
		if err != nil {
			t.Fatalf("ChangedTargets after changing %s: %v", tc.change, err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
			if want := tc.change + " (a global input)"; c.Because != want {
				t.Errorf("target %s is touched because of %q, want %q", c.Name, c.Because, want)
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("ChangedTargets with global inputs after changing %s = %q, want %q", tc.change, names, tc.want)
		}
	}
	if _, err := cfg.ChangedTargets(targets, ChangeOptions{Since: "HEAD~1", GlobalInputs: []string{" "}}); err == nil {
		t.Error("ChangedTargets with an empty global input pattern succeeded")
	}
	// A revision not in the history (a new branch's all-zero "before") fails, unless AllIfUnknown: every target.
	zeros := strings.Repeat("0", 40)
	if _, err := cfg.ChangedTargets(targets, ChangeOptions{Since: zeros}); err == nil || !strings.Contains(err.Error(), "no such commit") {
		t.Errorf("ChangedTargets(%s) = %v, want an error saying there is no such commit", zeros, err)
	}
	got, err := cfg.ChangedTargets(targets, ChangeOptions{Since: zeros, AllIfUnknown: true})
	if err != nil || len(got) != len(targets) || got[0].Because != zeros+" (no such commit in the history: every target)" {
		t.Errorf("ChangedTargets(%s, AllIfUnknown) = %+v, %v; want every target", zeros, got, err)
	}
	parsed, err := ParseConfig([]byte(files["statepack.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parsed.ChangedTargets(parsed.Targets, opts); err == nil || !strings.Contains(err.Error(), "need a config read by LoadConfig") {
		t.Errorf("ChangedTargets of a config without a file: %v, want an error saying to read it with LoadConfig", err)
	}
}
