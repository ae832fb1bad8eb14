package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

// TestIncrementalPublish publishes a kustomize tree with every kind of input, then changes one input at a time and
// checks that the change (and only a change) makes publish --incremental render and push again.
func TestIncrementalPublish(t *testing.T) {
	reg := testregistry.Start(t)
	root := t.TempDir()
	files := map[string]string{
		"base/kustomization.yaml":      "resources:\n- deploy.yaml\nconfigMapGenerator:\n- name: cfg\n  files:\n  - settings.properties\n",
		"base/deploy.yaml":             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: \"example.com/web:1.0\"}]\n",
		"base/settings.properties":     "LOG=info\n",
		"component/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nlabels:\n- pairs: {tier: web}\n",
		"overlay/kustomization.yaml":   "namespace: default\nresources:\n- ../base\ncomponents:\n- ../component\npatches:\n- path: patch.yaml\n",
		"overlay/patch.yaml":           "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n",
		"unrelated/notes.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes, namespace: default}\n",
	}
	write := func(name, content string) {
		p := filepath.Join(root, filepath.FromSlash(name))
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
	ref := reg.Host + "/incremental/app:main"
	// publish runs publish --incremental as statepack of the given version would.
	publish := func(version string, extra ...string) publishResult {
		t.Helper()
		var stdout, stderr strings.Builder
		args := append([]string{"publish", filepath.Join(root, "overlay"), ref, "--root", root, "--incremental", "-o", "json"}, extra...)
		code := Run(t.Context(), args, Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Getenv: func(string) string { return "" }, Version: version})
		if code != 0 {
			t.Fatalf("publish: exit %d\n%s", code, stderr.String())
		}
		var res publishResult
		if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := publish("test")
	if first.Unchanged {
		t.Fatal("the first publish reported unchanged")
	}
	if again := publish("test"); !again.Unchanged || again.Digest != first.Digest {
		t.Fatalf("republishing an unchanged tree = %+v, want unchanged %s", again, first.Digest)
	}
	write("unrelated/notes.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes2, namespace: default}\n")
	if r := publish("test"); !r.Unchanged {
		t.Errorf("a change outside the target's inputs re-published it")
	}

	for _, tc := range []struct {
		name    string
		change  func()
		version string
		extra   []string
	}{
		{name: "base resource", change: func() { write("base/deploy.yaml", strings.Replace(files["base/deploy.yaml"], "web:1.0", "web:1.1", 1)) }},
		{name: "overlay kustomization", change: func() {
			write("overlay/kustomization.yaml", files["overlay/kustomization.yaml"]+"commonAnnotations: {owner: team}\n")
		}},
		{name: "patch", change: func() {
			write("overlay/patch.yaml", strings.Replace(files["overlay/patch.yaml"], "replicas: 2", "replicas: 3", 1))
		}},
		{name: "component", change: func() {
			write("component/kustomization.yaml", strings.Replace(files["component/kustomization.yaml"], "tier: web", "tier: frontend", 1))
		}},
		{name: "generator file", change: func() { write("base/settings.properties", "LOG=debug\n") }},
		{name: "options", extra: []string{"--annotation", "team=platform"}},
		{name: "tool version", version: "v9.9.9", extra: []string{"--annotation", "team=platform"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.change != nil {
				tc.change()
			}
			version := tc.version
			if version == "" {
				version = "test"
			}
			if r := publish(version, tc.extra...); r.Unchanged {
				t.Fatalf("a change to the %s was not noticed", tc.name)
			}
			if again := publish(version, tc.extra...); !again.Unchanged {
				t.Errorf("after re-publishing, the same inputs were not recognised")
			}
		})
	}
}

// TestIncrementalCannotBeFooled covers what a second review found: a switched symlink, a new Kustomization file in a
// plain directory, and an artifact under the tag that this key did not sign.
func TestIncrementalCannotBeFooled(t *testing.T) {
	reg := testregistry.Start(t)
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: default}\n"
	}
	publish := func(path, ref string, extra ...string) publishResult {
		t.Helper()
		r := mustRun(t, 0, nil, append([]string{"publish", filepath.Join(root, path), ref, "--root", root, "--incremental", "-o", "json"}, extra...)...)
		var res publishResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("symlinked base switched", func(t *testing.T) {
		write("b1/kustomization.yaml", "resources: [cm.yaml]\n")
		write("b1/cm.yaml", cm("one"))
		write("b2/kustomization.yaml", "resources: [cm.yaml]\n")
		write("b2/cm.yaml", cm("two"))
		write("app/kustomization.yaml", "resources: [../base]\n")
		if err := os.Symlink("b1", filepath.Join(root, "base")); err != nil {
			t.Fatal(err)
		}
		ref := reg.Host + "/fool/symlink:main"
		publish("app", ref)
		if r := publish("app", ref); !r.Unchanged {
			t.Fatal("an unchanged tree was published again")
		}
		_ = os.Remove(filepath.Join(root, "base"))
		if err := os.Symlink("b2", filepath.Join(root, "base")); err != nil {
			t.Fatal(err)
		}
		if r := publish("app", ref); r.Unchanged {
			t.Error("switching the symlinked base went unnoticed")
		}
	})
	t.Run("Kustomization file appears in a plain directory", func(t *testing.T) {
		write("plain/sub/a.yaml", cm("a"))
		write("plain/sub/b.yaml", cm("b"))
		ref := reg.Host + "/fool/plain:main"
		publish("plain", ref)
		write("plain/sub/Kustomization", "resources: [a.yaml]\nnamePrefix: evil-\n")
		if r := publish("plain", ref); r.Unchanged {
			t.Error("a new Kustomization file went unnoticed")
		}
	})
	t.Run("artifact under the tag not signed by this key", func(t *testing.T) {
		key, _ := keyPair(t, "")
		write("signed/cm.yaml", cm("signed"))
		ref := reg.Host + "/fool/signed:main"
		publish("signed", ref) // unsigned: its inputs digest is recorded, but no signature
		if r := publish("signed", ref, "--key", key); r.Unchanged {
			t.Error("publish --key took an artifact it had not signed as unchanged")
		}
		if r := publish("signed", ref, "--key", key); !r.Unchanged {
			t.Error("after signing, the same inputs were not recognised")
		}
	})
}
