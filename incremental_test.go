package statepack

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// mustRef parses a reference a test wrote.
func mustRef(t testing.TB, s string) publish.Ref {
	t.Helper()
	ref, err := publish.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestIncrementalPublish publishes a kustomize tree with every kind of input, then changes one input at a time and
// checks that the change (and only a change) makes publish --incremental render and push again.
func TestIncrementalPublish(t *testing.T) {
	t.Parallel()
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
	// publish runs an incremental publish as statepack of the given version would.
	publish := func(version string, annotations map[string]string) PublishResult {
		t.Helper()
		res, err := Publish(t.Context(), filepath.Join(root, "overlay"), mustRef(t, ref), PublishOptions{Load: LoadOptions{Root: root},
			Incremental: true, Package: PackageOptions{Annotations: annotations}, Context: BuildContext{Version: version}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := publish("test", nil)
	if first.Unchanged {
		t.Fatal("the first publish reported unchanged")
	}
	if again := publish("test", nil); !again.Unchanged || again.Digest != first.Digest {
		t.Fatalf("republishing an unchanged tree = %+v, want unchanged %s", again, first.Digest)
	}
	write("unrelated/notes.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes2, namespace: default}\n")
	if r := publish("test", nil); !r.Unchanged {
		t.Errorf("a change outside the target's inputs re-published it")
	}

	for _, tc := range []struct {
		name    string
		change  func()
		version string
		extra   map[string]string
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
		{name: "options", extra: map[string]string{"team": "platform"}},
		{name: "tool version", version: "v9.9.9", extra: map[string]string{"team": "platform"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.change != nil {
				tc.change()
			}
			version := tc.version
			if version == "" {
				version = "test"
			}
			if r := publish(version, tc.extra); r.Unchanged {
				t.Fatalf("a change to the %s was not noticed", tc.name)
			}
			if again := publish(version, tc.extra); !again.Unchanged {
				t.Errorf("after re-publishing, the same inputs were not recognised")
			}
		})
	}
}

// TestIncrementalCannotBeFooled covers what a second review found: a switched symlink, a new Kustomization file in a
// plain directory, and an artifact under the tag that this key did not sign.
func TestIncrementalCannotBeFooled(t *testing.T) {
	t.Parallel()
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
	publish := func(path, ref string, signer *sign.Signer) PublishResult {
		t.Helper()
		res, err := Publish(t.Context(), filepath.Join(root, path), mustRef(t, ref), PublishOptions{Load: LoadOptions{Root: root},
			Incremental: true, Signer: signer})
		if err != nil {
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
		publish("app", ref, nil)
		if r := publish("app", ref, nil); !r.Unchanged {
			t.Fatal("an unchanged tree was published again")
		}
		_ = os.Remove(filepath.Join(root, "base"))
		if err := os.Symlink("b2", filepath.Join(root, "base")); err != nil {
			t.Fatal(err)
		}
		if r := publish("app", ref, nil); r.Unchanged {
			t.Error("switching the symlinked base went unnoticed")
		}
	})
	t.Run("Kustomization file appears in a plain directory", func(t *testing.T) {
		write("plain/sub/a.yaml", cm("a"))
		write("plain/sub/b.yaml", cm("b"))
		ref := reg.Host + "/fool/plain:main"
		publish("plain", ref, nil)
		write("plain/sub/Kustomization", "resources: [a.yaml]\nnamePrefix: evil-\n")
		if r := publish("plain", ref, nil); r.Unchanged {
			t.Error("a new Kustomization file went unnoticed")
		}
	})
	t.Run("artifact under the tag not signed by this key", func(t *testing.T) {
		key, _ := keyPair(t)
		signer, err := sign.LoadSigner(t.Context(), key, nil)
		if err != nil {
			t.Fatal(err)
		}
		write("signed/cm.yaml", cm("signed"))
		ref := reg.Host + "/fool/signed:main"
		publish("signed", ref, nil) // unsigned: its inputs digest is recorded, but no signature
		if r := publish("signed", ref, signer); r.Unchanged {
			t.Error("a signed publish took an artifact it had not signed as unchanged")
		}
		if r := publish("signed", ref, signer); !r.Unchanged {
			t.Error("after signing, the same inputs were not recognised")
		}
	})
}

// TestImmutableTags publishes under a release tag with ImmutableTags: the same content again converges, other
// content is refused with ErrTagTaken and the tag stays where it was, and without the option tags move.
func TestImmutableTags(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ref := mustRef(t, reg.Host+"/release/app:v1.0.0")
	pub := func(path string, immutable bool) (PublishResult, error) {
		return Publish(t.Context(), path, ref, PublishOptions{ImmutableTags: immutable})
	}
	first, err := pub(demoTree, true)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := pub(demoTree, true); err != nil || again.Digest != first.Digest {
		t.Errorf("republishing the same tree = %s, %v; want %s", again.Digest, err, first.Digest)
	}
	_, err = pub("testdata/plain", true)
	if !errors.Is(err, ErrTagTaken) || !strings.Contains(err.Error(), "never moves a tag") {
		t.Fatalf("publishing other content under an immutable tag = %v, want ErrTagTaken", err)
	}
	target, err := publish.Open(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc, err := target.Resolve(t.Context(), "v1.0.0"); err != nil || desc.Digest.String() != first.Digest {
		t.Errorf("v1.0.0 resolves to %v (%v), want the first publish %s", desc.Digest, err, first.Digest)
	}
	// Without the option, tags move (as main should).
	if moved, err := pub("testdata/plain", false); err != nil || moved.Digest == first.Digest {
		t.Errorf("publishing other content without ImmutableTags = %s, %v; want the tag moved", moved.Digest, err)
	}
}
