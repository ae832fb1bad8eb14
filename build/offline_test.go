package build

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// offlineHarness watches for the two ways kustomize reaches out: an HTTP listener that counts every request made
// to it, and a fake git, first on PATH, that records every invocation into a file.
type offlineHarness struct {
	url    string // the listener, "http://127.0.0.1:port"
	hits   atomic.Int64
	gitLog string // written by the fake git when it runs
}

func newOfflineHarness(t *testing.T) *offlineHarness {
	t.Helper()
	h := &offlineHarness{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		http.Error(w, "statepack must not fetch this", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	bin := t.TempDir()
	h.gitLog = filepath.Join(t.TempDir(), "git-invocations")
	script := fmt.Sprintf("#!/bin/sh\necho \"git $*\" >> '%s'\nexit 1\n", h.gitLog)
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	t.Setenv("TMPDIR", t.TempDir()) // where kustomize's cloner would leave its clone directories
	return h
}

// expand replaces the placeholders of an offlineVector.
func (h *offlineHarness) expand(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "URL", h.url), "HOST", strings.TrimPrefix(h.url, "http://"))
}

// reset forgets what earlier renders did.
func (h *offlineHarness) reset(t *testing.T) {
	t.Helper()
	h.hits.Store(0)
	if err := os.Remove(h.gitLog); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

// reached reports what the render did: requests to the listener, and git invocations.
func (h *offlineHarness) reached() (hits int64, git string) {
	data, _ := os.ReadFile(h.gitLog)
	return h.hits.Load(), strings.TrimSpace(string(data))
}

// offlineVector is one way a tree could make kustomize fetch remote content or run git. Its files may hold "URL",
// replaced by the test listener's URL, and "HOST", by its host and port.
type offlineVector struct {
	name  string
	files map[string]string
	setup func(t *testing.T, dir string)
	// file is the file the finding names; url the remote reference it names (replaced as in files).
	file, url string
	// git is set for a vector kustomize clones with git (instead of fetching over HTTP) when remote is allowed.
	git bool
}

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"

// offlineVectors are the vectors of issue 15 and the fields that were refused before it, each in the tree of an
// app under app/.
func offlineVectors() []offlineVector {
	k := func(name, kustomization string) offlineVector {
		return offlineVector{name: name, files: map[string]string{"app/kustomization.yaml": kustomization, "app/cm.yaml": cm},
			file: "app/kustomization.yaml", url: "URL/x.yaml"}
	}
	gitK := func(name, entry, kustomization string) offlineVector {
		return offlineVector{name: name, files: map[string]string{"app/kustomization.yaml": kustomization, "app/cm.yaml": cm},
			file: "app/kustomization.yaml", url: entry, git: true}
	}
	vectors := []offlineVector{
		// The kustomization fields whose paths kustomize fetches when they are URLs.
		k("resources", "resources:\n- URL/x.yaml\n"),
		k("patches", "resources: [cm.yaml]\npatches:\n- path: URL/x.yaml\n"),
		k("patchesStrategicMerge", "resources: [cm.yaml]\npatchesStrategicMerge:\n- URL/x.yaml\n"),
		k("patchesJson6902", "resources: [cm.yaml]\npatchesJson6902:\n- target: {kind: ConfigMap, name: a, version: v1}\n  path: URL/x.yaml\n"),
		k("configMapGenerator files", "configMapGenerator:\n- name: g\n  files:\n  - key=URL/x.yaml\n"),
		k("configMapGenerator envs", "configMapGenerator:\n- name: g\n  envs:\n  - URL/x.yaml\n"),
		k("configMapGenerator env", "configMapGenerator:\n- name: g\n  env: URL/x.yaml\n"),
		k("secretGenerator files", "secretGenerator:\n- name: g\n  files:\n  - URL/x.yaml\n"),
		k("openapi", "resources: [cm.yaml]\nopenapi:\n  path: URL/x.yaml\n"),
		k("crds", "resources: [cm.yaml]\ncrds:\n- URL/x.yaml\n"),
		k("configurations", "resources: [cm.yaml]\nconfigurations:\n- URL/x.yaml\n"),
		k("replacements", "resources: [cm.yaml]\nreplacements:\n- path: URL/x.yaml\n"),
		k("generators", "generators:\n- URL/x.yaml\n"),
		k("transformers", "resources: [cm.yaml]\ntransformers:\n- URL/x.yaml\n"),
		k("validators", "resources: [cm.yaml]\nvalidators:\n- URL/x.yaml\n"),
		k("field name in another case", "Resources:\n- URL/x.yaml\n"),
		{name: "upper-case scheme", files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: HTTP://HOST/x.yaml\n", "app/cm.yaml": cm},
			file: "app/kustomization.yaml", url: "HTTP://HOST/x.yaml"},

		// Builtin configs inline under generators, transformers and validators.
		k("inline ConfigMapGenerator", "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: g}\n  files: [x=URL/x.yaml]\n"),
		k("inline SecretGenerator", "generators:\n- |\n  apiVersion: builtin\n  kind: SecretGenerator\n  metadata: {name: g}\n  envs: [URL/x.yaml]\n"),
		k("inline PatchTransformer", "resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: URL/x.yaml\n"),
		k("inline PatchStrategicMergeTransformer", "resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchStrategicMergeTransformer\n  metadata: {name: p}\n  paths: [URL/x.yaml]\n"),
		k("inline PatchJson6902Transformer", "resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchJson6902Transformer\n  metadata: {name: p}\n  target: {kind: ConfigMap, name: a}\n  path: URL/x.yaml\n"),
		k("inline ReplacementTransformer", "resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: ReplacementTransformer\n  metadata: {name: r}\n  replacements:\n  - path: URL/x.yaml\n"),
		k("inline ValueAddTransformer", "resources: [cm.yaml]\ntransformers:\n- |\n  apiVersion: builtin\n  kind: ValueAddTransformer\n  metadata: {name: v}\n  targetFilePath: URL/x.yaml\n"),
		k("inline validator", "resources: [cm.yaml]\nvalidators:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: URL/x.yaml\n"),
		k("inline config in JSON with an escape", "resources: [cm.yaml]\ntransformers:\n- '{\"apiVersion\": \"\\u0062uiltin\", \"kind\": \"PatchTransformer\", \"metadata\": {\"name\": \"p\"}, \"path\": \"URL/x.yaml\"}'\n"),

		// Builtin configs in files listed under generators and transformers.
		{name: "generator config file", files: map[string]string{
			"app/kustomization.yaml": "generators:\n- gen.yaml\n",
			"app/gen.yaml":           "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [x=URL/x.yaml]\n"},
			file: "app/gen.yaml", url: "URL/x.yaml"},
		{name: "transformer config file", files: map[string]string{
			"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- t.yaml\n", "app/cm.yaml": cm,
			"app/t.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: URL/x.yaml\n"},
			file: "app/t.yaml", url: "URL/x.yaml"},
		{name: "transformer config file with an escape", files: map[string]string{
			"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- t.yaml\n", "app/cm.yaml": cm,
			"app/t.yaml": "apiVersion: \"\\x62uiltin\"\nkind: PatchTransformer\nmetadata: {name: p}\npath: URL/x.yaml\n"},
			file: "app/t.yaml", url: "URL/x.yaml"},

		// Directories under generators, transformers and validators, which kustomize accumulates like resources.
		{name: "directory of generators", files: map[string]string{
			"app/kustomization.yaml":      "generators:\n- ../gens\n",
			"gens/kustomization.yaml":     "resources:\n- cmg.yaml\n",
			"gens/cmg.yaml":               "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [x=URL/x.yaml]\n",
			"gens/unrelated/.placeholder": ""},
			file: "gens/cmg.yaml", url: "URL/x.yaml"},
		{name: "directory of transformers", files: map[string]string{
			"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- ../transformers\n", "app/cm.yaml": cm,
			"transformers/kustomization.yaml": "resources:\n- patch.yaml\n",
			"transformers/patch.yaml":         "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: URL/x.yaml\n"},
			file: "transformers/patch.yaml", url: "URL/x.yaml"},
		{name: "directory of validators", files: map[string]string{
			"app/kustomization.yaml": "resources: [cm.yaml]\nvalidators:\n- ../validators\n", "app/cm.yaml": cm,
			"validators/kustomization.yaml": "resources:\n- patch.yaml\n",
			"validators/patch.yaml":         "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: URL/x.yaml\n"},
			file: "validators/patch.yaml", url: "URL/x.yaml"},
		{name: "directory of transformers in a base", files: map[string]string{
			"app/kustomization.yaml":  "resources:\n- ../base\n",
			"base/kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- ../transformers\n", "base/cm.yaml": cm,
			"transformers/kustomization.yaml": "resources:\n- patch.yaml\n",
			"transformers/patch.yaml":         "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: URL/x.yaml\n"},
			file: "transformers/patch.yaml", url: "URL/x.yaml"},
		{name: "config computed by a replacement in a directory of transformers", files: map[string]string{
			"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- ../transformers\n", "app/cm.yaml": cm,
			// No config names a URL: a replacement copies one out of a ConfigMap into the patch's path, and the
			// annotation keeps both out of the directory's own output.
			"transformers/kustomization.yaml": "resources:\n- patch.yaml\n- source.yaml\nreplacements:\n- source: {kind: ConfigMap, name: source, fieldPath: data.where}\n  targets:\n  - select: {kind: PatchTransformer}\n    fieldPaths: [path]\n",
			"transformers/patch.yaml":         "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\n  annotations: {config.kubernetes.io/local-config: \"true\"}\npath: local.yaml\n",
			"transformers/source.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: source\n  annotations: {config.kubernetes.io/local-config: \"true\"}\ndata:\n  where: URL/x.yaml\n"},
			file: "transformers/kustomization.yaml", url: "URL/x.yaml"},
		{name: "config computed by a patch in a directory of generators", files: map[string]string{
			"app/kustomization.yaml":  "generators:\n- ../gens\n",
			"gens/kustomization.yaml": "resources:\n- cmg.yaml\npatches:\n- path: fix.yaml\n  target: {kind: ConfigMapGenerator}\n",
			"gens/cmg.yaml":           "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\nfiles: [x=local.txt]\n",
			"gens/fix.yaml":           "- op: replace\n  path: /files/0\n  value: x=URL/x.yaml\n"},
			file: "gens/kustomization.yaml", url: "URL/x.yaml"},

		// A kustomization file that is a symlink, in a base (so it is not the one Render starts from).
		{name: "symlinked kustomization.yaml", files: map[string]string{
			"app/kustomization.yaml": "resources:\n- ../base\n",
			"base/real.txt":          "resources:\n- URL/x.yaml\n"},
			setup: func(t *testing.T, dir string) {
				symlink(t, "real.txt", filepath.Join(dir, "base", "kustomization.yaml"))
			},
			file: "base/kustomization.yaml", url: "URL/x.yaml"},

		// Remote spellings kustomize clones with git.
		gitK("user@host:path with any user", "anyone@127.0.0.1:org/repo", "resources:\n- anyone@127.0.0.1:org/repo\n"),
		gitK("github.com:org/repo//path", "github.com:org/repo//deploy", "resources:\n- github.com:org/repo//deploy\n"),
		gitK("GitHub.com/org/repo", "GitHub.com/org/repo/deploy?ref=v1", "resources:\n- GitHub.com/org/repo/deploy?ref=v1\n"),
		gitK("upper-case GIT::", "GIT::ssh://127.0.0.1/org/repo", "resources:\n- GIT::ssh://127.0.0.1/org/repo\n"),
		gitK("git@ in a component", "deploy@127.0.0.1:org/repo.git//c", "components:\n- deploy@127.0.0.1:org/repo.git//c\n"),
		gitK("ssh:// under generators", "ssh://127.0.0.1/org/repo", "generators:\n- ssh://127.0.0.1/org/repo\n"),
		gitK("file:// under transformers", "file:///srv/git/repo", "resources: [cm.yaml]\ntransformers:\n- file:///srv/git/repo\n"),
		gitK("github.com without a scheme", "github.com/org/repo", "resources:\n- github.com/org/repo\n"),
		{name: "git in a nested base", files: map[string]string{
			"app/kustomization.yaml":  "resources:\n- ../base\n",
			"base/kustomization.yaml": "resources:\n- ops@127.0.0.1:org/platform.git//deploy\n"},
			file: "base/kustomization.yaml", url: "ops@127.0.0.1:org/platform.git//deploy", git: true},
	}
	return vectors
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// writeVector writes a vector's tree with its URLs on the listener, and returns the root.
func writeVector(t *testing.T, v offlineVector, h *offlineHarness) string {
	t.Helper()
	files := map[string]string{}
	for name, content := range v.files {
		files[name] = h.expand(content)
	}
	dir := writeTree(t, files)
	if v.setup != nil {
		v.setup(t, dir)
	}
	return dir
}

// TestRenderNeverReachesOutWithoutAllowRemote renders every vector without --allow-remote and checks that the
// render refuses it with a finding that names the file and the URL, sends no request and runs no git. It also
// renders each with remote bases allowed, to show that the vector does reach out then: the test would notice.
func TestRenderNeverReachesOutWithoutAllowRemote(t *testing.T) {
	h := newOfflineHarness(t)
	for _, v := range offlineVectors() {
		t.Run(v.name, func(t *testing.T) {
			dir := writeVector(t, v, h)
			url := h.expand(v.url)
			h.reset(t)
			r, err := Render(context.Background(), filepath.Join(dir, "app"), WithRoot(dir))
			if err != nil {
				t.Fatal(err)
			}
			if hits, git := h.reached(); hits > 0 || git != "" {
				t.Errorf("Render() sent %d request(s) and ran %q", hits, git)
			}
			want := remoteFinding(v.file, url)
			found := false
			for _, f := range r.Findings {
				found = found || f == want
			}
			if !found {
				t.Errorf("Render() findings = %v\nwant %v", r.Findings, want)
			}

			h.reset(t)
			if _, err := Render(context.Background(), filepath.Join(dir, "app"), WithRoot(dir), WithAllowRemote(true)); err != nil {
				t.Fatal(err)
			}
			hits, git := h.reached()
			if v.git && git == "" {
				t.Errorf("with remote bases allowed, kustomize did not run git: the vector tests nothing")
			}
			if !v.git && hits == 0 {
				t.Errorf("with remote bases allowed, kustomize sent no request: the vector tests nothing")
			}
		})
	}
}

// TestRootFSAloneKeepsKustomizeOffline runs kustomize on every vector through rootFS alone, as if the pre-scan and
// the checks of directories of configs had missed everything: rootFS still refuses, with a finding, before a
// request is sent or git runs.
func TestRootFSAloneKeepsKustomizeOffline(t *testing.T) {
	h := newOfflineHarness(t)
	for _, v := range offlineVectors() {
		t.Run(v.name, func(t *testing.T) {
			root, err := filepath.EvalSymlinks(writeVector(t, v, h))
			if err != nil {
				t.Fatal(err)
			}
			h.reset(t)
			r := &renderer{opts: renderOptions{root: root, maxFileSize: DefaultMaxFileSize}, root: root, inputs: map[string]bool{}}
			fsys := r.rootFS(map[string]bool{}, nil)
			kustomizeMu.Lock()
			_, err = runKrusty(kustomizeOptions(false), fsys, filepath.Join(root, "app"))
			openapi.ResetOpenAPI()
			kustomizeMu.Unlock()
			if hits, git := h.reached(); hits > 0 || git != "" {
				t.Errorf("kustomize sent %d request(s) and ran %q", hits, git)
			}
			if err == nil || len(fsys.findings) == 0 {
				t.Fatalf("kustomize = %v, findings %v; want an error and a finding", err, fsys.findings)
			}
			url, named := h.expand(v.url), false
			for _, f := range fsys.findings {
				switch {
				case f.Rule == "kustomize/remote-base":
					named = named || strings.Contains(f.Message, fmt.Sprintf("%q", url))
				case f.Rule == "kustomize/unchecked-configs":
					named = true // a directory of configs: what it holds is not known without building it
				default:
					t.Errorf("finding %v, want kustomize/remote-base or kustomize/unchecked-configs", f)
				}
			}
			if !named {
				t.Errorf("findings %v do not name %s", fsys.findings, url)
			}
		})
	}
}

// TestRenderChecksDirectoriesOfConfigs checks that a directory of configs with nothing remote in it builds as it
// would without the checks, local configs and vars included.
func TestRenderChecksDirectoriesOfConfigs(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"app/kustomization.yaml":          "resources: [cm.yaml]\ntransformers:\n- ../transformers\n",
		"app/cm.yaml":                     cm,
		"app/patch.yaml":                  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {patched: \"yes\"}\n",
		"transformers/kustomization.yaml": "resources:\n- patch.yaml\n",
		"transformers/patch.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\n" +
			"  annotations: {config.kubernetes.io/local-config: \"true\"}\npath: patch.yaml\n",
	})
	r, err := Render(context.Background(), filepath.Join(dir, "app"), WithRoot(dir))
	if err != nil || len(r.Findings) > 0 || len(r.Objects) != 1 {
		t.Fatalf("Render() = %v, %v", err, r.Findings)
	}
	if !strings.Contains(string(r.Objects[0].YAML), "patched: \"yes\"") {
		t.Errorf("the transformer from the directory did not run:\n%s", r.Objects[0].YAML)
	}
	want := "app/cm.yaml app/kustomization.yaml app/patch.yaml transformers/kustomization.yaml transformers/patch.yaml"
	if got := strings.Join(r.Inputs, " "); got != want {
		t.Errorf("Render() inputs = %s, want %s", got, want)
	}
}
