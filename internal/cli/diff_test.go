package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/objdiff"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testtree"
	"github.com/statepack/statepack/publish"
)

// diffTree is a small plain-YAML tree: a namespace, a deployment, a service and a config map.
var diffTree = map[string]string{
	"namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
	"app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
          ports:
            - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
    - port: 80
      targetPort: 8080
`,
	"config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  LOG_LEVEL: info\n",
}

// writeTree writes files into a new directory outside any git work tree, so that publishing it gives the same
// digest on every run (with SOURCE_DATE_EPOCH set).
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// with returns a copy of files with changes applied; an empty body removes the file.
func with(files map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

var fixedEpoch = map[string]string{"SOURCE_DATE_EPOCH": "1714564800"}

func publishTree(t *testing.T, dir, ref string, extra ...string) string {
	t.Helper()
	r := mustRun(t, 0, fixedEpoch, append([]string{"publish", dir, ref}, extra...)...)
	return strings.TrimSpace(r.stdout)
}

// diffHeaders lists the objects a text diff shows, from its "--- " and "+++ " lines.
func diffHeaders(out string) []string {
	var h []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
			h = append(h, l)
		}
	}
	return h
}

func TestDiffTreeAgainstArtifact(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ref := reg.Host + "/shop/app:v1"
	dir := writeTree(t, diffTree)
	digestRef := publishTree(t, dir, ref)

	r := mustRun(t, 0, nil, "diff", dir, ref)
	if want := fmt.Sprintf("from %s (4 objects) to %s (4 objects): no differences\n", digestRef, dir); r.stdout != want {
		t.Errorf("diff of the published tree: stdout = %q, want %q", r.stdout, want)
	}

	t.Run("changed replicas", func(t *testing.T) {
		changed := writeTree(t, with(diffTree, map[string]string{"app.yaml": strings.Replace(diffTree["app.yaml"], "replicas: 2", "replicas: 3", 1)}))
		r := mustRun(t, 1, nil, "diff", changed, ref)
		headers := diffHeaders(r.stdout)
		want := []string{"--- a/Deployment.apps/shop/web", "+++ b/Deployment.apps/shop/web"}
		if strings.Join(headers, "\n") != strings.Join(want, "\n") {
			t.Errorf("diff headers = %q, want only the Deployment's %q\n%s", headers, want, r.stdout)
		}
		if !strings.Contains(r.stdout, "\n-  replicas: 2\n+  replicas: 3\n") {
			t.Errorf("diff does not show the replica change:\n%s", r.stdout)
		}
		if !strings.HasSuffix(r.stdout, "1 changed, 3 unchanged\n") {
			t.Errorf("diff summary: %q", r.stdout)
		}
	})

	t.Run("added and removed", func(t *testing.T) {
		changed := writeTree(t, with(diffTree, map[string]string{
			"config.yaml": "",
			"extra.yaml":  "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: shop\n",
		}))
		r := mustRun(t, 1, nil, "diff", changed, ref, "-o", "json")
		var got diffResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("diff -o json printed %q: %v", r.stdout, err)
		}
		if got.Equal || len(got.Added) != 1 || got.Added[0].Object != "ServiceAccount/shop/robot" ||
			len(got.Removed) != 1 || got.Removed[0].Object != "ConfigMap/shop/settings" || len(got.Changed) != 0 || got.Unchanged != 3 {
			t.Errorf("diff -o json = %+v", got)
		}
		if !strings.Contains(got.Added[0].Diff, "+  name: robot\n") || !strings.Contains(got.Removed[0].Diff, "-  LOG_LEVEL: info\n") {
			t.Errorf("added/removed diffs = %q, %q", got.Added[0].Diff, got.Removed[0].Diff)
		}
	})

	t.Run("reordered and reformatted", func(t *testing.T) {
		// The same objects in other files, in another order, with other key orders, flow style, comments, quoting,
		// a JSON file and a List: no difference.
		reformatted := writeTree(t, map[string]string{
			"z/all.yaml": `# the service first, keys reversed
spec:
  ports: [{targetPort: 8080, port: 80}]
  selector:
    app: "web"
metadata: {namespace: shop, name: web}
kind: Service
apiVersion: v1
---
kind: List
apiVersion: v1
items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop}, data: {LOG_LEVEL: 'info'}}
`,
			"a/deployment.json": `{"kind": "Deployment", "apiVersion": "apps/v1",
 "spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": 8080}], "image": "registry.example.com/web:1.0.0", "name": "web"}]},
  "metadata": {"labels": {"app": "web"}}}, "selector": {"matchLabels": {"app": "web"}}, "replicas": 2},
 "metadata": {"labels": {"app": "web"}, "namespace": "shop", "name": "web"}}`,
			"ns.yml": "kind: Namespace\napiVersion: v1\nmetadata:\n    name: shop\n",
		})
		mustRun(t, 0, nil, "diff", reformatted, ref)
	})
}

func TestDiffTwoArtifacts(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	v1 := publishTree(t, writeTree(t, diffTree), reg.Host+"/shop/app:v1")
	layout := "oci:" + filepath.Join(t.TempDir(), "layout")
	changed := with(diffTree, map[string]string{"config.yaml": strings.Replace(diffTree["config.yaml"], "info", "debug", 1)})
	v2 := publishTree(t, writeTree(t, changed), layout+":v2")

	mustRun(t, 0, nil, "diff", v1, reg.Host+"/shop/app:v1")
	r := mustRun(t, 1, nil, "diff", reg.Host+"/shop/app:v1", layout+":v2")
	if headers := diffHeaders(r.stdout); len(headers) != 2 || headers[0] != "--- a/ConfigMap/shop/settings" {
		t.Errorf("diff of two artifacts shows %q, want the config map only\n%s", headers, r.stdout)
	}
	if !strings.Contains(r.stdout, "-  LOG_LEVEL: info\n+  LOG_LEVEL: debug\n") || !strings.Contains(r.stdout, "from "+v1+" ") ||
		!strings.Contains(r.stdout, " to "+v2+" ") {
		t.Errorf("diff REF1 REF2:\n%s", r.stdout)
	}
	// The other way round, the change is reversed.
	r = mustRun(t, 1, nil, "diff", layout+":v2", v1)
	if !strings.Contains(r.stdout, "-  LOG_LEVEL: debug\n+  LOG_LEVEL: info\n") {
		t.Errorf("diff REF2 REF1:\n%s", r.stdout)
	}
}

// TestDiffOutputs pins the three formats in golden files (run with -update to rewrite them).
func TestDiffOutputs(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ref := reg.Host + "/shop/app:v1"
	publishTree(t, writeTree(t, diffTree), ref)
	dir := writeTree(t, with(diffTree, map[string]string{
		"app.yaml":    strings.Replace(diffTree["app.yaml"], "web:1.0.0", "web:1.1.0", 1),
		"config.yaml": "",
		"extra.yaml":  "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: shop\n",
	}))
	normalise := func(s string) string {
		s = strings.ReplaceAll(s, dir, "TREE")
		s = strings.ReplaceAll(s, reg.Host, "REGISTRY")
		return regexp.MustCompile(`sha256:[0-9a-f]{64}`).ReplaceAllString(s, "sha256:DIGEST")
	}
	for _, format := range []string{"text", "json", "markdown"} {
		t.Run(format, func(t *testing.T) {
			r := mustRun(t, 1, nil, "diff", dir, ref, "--format", format)
			golden(t, "diff-"+format+".golden", normalise(r.stdout))
		})
	}
	r := mustRun(t, 1, nil, "diff", dir, ref, "-o", "markdown")
	if !strings.Contains(r.stdout, "<details><summary>changed <code>Deployment.apps/shop/web</code></summary>") {
		t.Errorf("-o markdown is not the markdown result:\n%s", r.stdout)
	}
}

func TestDiffMarkdownLimit(t *testing.T) {
	t.Parallel()
	var from, to []objdiff.Object
	for i := range 200 {
		id := objdiff.ID{Kind: "ConfigMap", Namespace: "big", Name: fmt.Sprintf("cm-%03d", i)}
		from = append(from, objdiff.Object{ID: id, YAML: []byte(strings.Repeat("a: 1\n", 50))})
		to = append(to, objdiff.Object{ID: id, YAML: []byte(strings.Repeat("a: 2\n", 50))})
	}
	rep, err := objdiff.Compare(from, to)
	if err != nil {
		t.Fatal(err)
	}
	side := &diffSide{Label: "x", Objects: 200}
	md := diffMarkdown(side, side, rep, 20_000)
	if len(md) > 20_000 {
		t.Errorf("markdown is %d bytes, want at most the limit 20000", len(md))
	}
	if !strings.Contains(md, "of 200 objects listed") || !strings.Contains(md, "Run `statepack diff` for the full output") {
		t.Errorf("markdown over the limit does not say what it left out:\n%s", md[len(md)-300:])
	}
	// Backticks in a diff get a longer fence, so that the block cannot be closed early.
	tick := []objdiff.Object{{ID: objdiff.ID{Kind: "ConfigMap", Name: "t"}, YAML: []byte("a: '```'\n")}}
	rep, _ = objdiff.Compare(nil, tick)
	if md := diffMarkdown(side, side, rep, markdownLimit); !strings.Contains(md, "\n````diff\n") {
		t.Errorf("markdown of a diff with ``` uses a short fence:\n%s", md)
	}
}

// tarGzOf writes files into a gzip'd tar the way `flux push artifact` does.
func tarGzOf(t testing.TB, dirs []string, files map[string]string) []byte {
	t.Helper()
	b, err := testtree.TarGz(dirs, files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fluxArtifact(t *testing.T, ref string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	buf.Write(tarGzOf(t, []string{"deploy/", "deploy/base/"}, files))
	blob := func(mt string, data []byte) publish.Blob {
		return publish.Blob{Descriptor: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}, Data: data}
	}
	cfg := blob(build.ConfigMediaType, []byte("{}"))
	layer := blob(build.FluxLayerMediaType, buf.Bytes())
	raw, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg.Descriptor, Layers: []ocispec.Descriptor{layer.Descriptor},
		Annotations: map[string]string{"org.opencontainers.image.source": "https://github.com/example/app"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := publish.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := publish.Open(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := tg.PushArtifact(context.Background(), publish.Artifact{Manifest: blob(ocispec.MediaTypeImageManifest, raw), Blobs: []publish.Blob{cfg, layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Tag(context.Background(), desc, r.Tag); err != nil {
		t.Fatal(err)
	}
}

func TestDiffFluxArtifact(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ref := reg.Host + "/flux/app:latest"
	// Files as a user keeps them, in directories, several objects to a file, with a README beside them.
	fluxArtifact(t, ref, map[string]string{
		"deploy/README.md":       "# not a manifest\n",
		"deploy/base/app.yaml":   diffTree["app.yaml"],
		"deploy/base/other.json": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}, "data": {"LOG_LEVEL": "info"}}`,
		"deploy/ns.yml":          diffTree["namespace.yaml"],
	})
	mustRun(t, 0, nil, "diff", writeTree(t, diffTree), ref)
	changed := writeTree(t, with(diffTree, map[string]string{"namespace.yaml": ""}))
	r := mustRun(t, 1, nil, "diff", changed, ref)
	if headers := diffHeaders(r.stdout); len(headers) != 2 || headers[0] != "--- a/Namespace/shop" || headers[1] != "+++ /dev/null" {
		t.Errorf("diff against the Flux artifact shows %q, want the namespace removed\n%s", headers, r.stdout)
	}
}

func TestDiffVerifiesFirst(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	_, otherPub := keyPair(t, "")
	dir := writeTree(t, diffTree)
	publishTree(t, dir, reg.Host+"/shop/signed:v1", "--key", key)
	publishTree(t, dir, reg.Host+"/shop/unsigned:v1")

	r := mustRun(t, 0, nil, "diff", dir, reg.Host+"/shop/signed:v1", "--key", pub, "-o", "json")
	var got diffResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || !got.From.Verified || !got.Equal {
		t.Errorf("diff --key -o json = %s, %v; want from.verified and equal", r.stdout, err)
	}
	for _, tc := range []struct{ name, ref, key, want string }{
		{"wrong key", reg.Host + "/shop/signed:v1", otherPub, "verifying"},
		{"unsigned", reg.Host + "/shop/unsigned:v1", pub, "no signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, 3, nil, "diff", dir, tc.ref, "--key", tc.key)
			if r.stdout != "" || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("diff --key (%s) = %s\nwant nothing on stdout and %q on stderr", tc.name, r, tc.want)
			}
		})
	}
}

func TestDiffFailures(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	dir := writeTree(t, diffTree)
	ref := reg.Host + "/shop/app:v1"
	publishTree(t, dir, ref)
	broken := writeTree(t, with(diffTree, map[string]string{"bad.yaml": "kind: [unclosed\n"}))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no ref", []string{dir}, 2, "diff needs an artifact to compare with"},
		{"two trees", []string{dir, dir}, 2, "diff needs an artifact"},
		{"bad format", []string{dir, ref, "-o", "yaml"}, 2, "text, json or markdown"},
		{"no tag", []string{dir, reg.Host + "/shop/app"}, 2, "names no tag or digest"},
		{"neither", []string{"no/such/dir", ref}, 2, "neither a directory nor an artifact reference"},
		{"missing tag", []string{dir, reg.Host + "/shop/app:nope"}, 3, "not found"},
		{"missing layout", []string{dir, "oci:" + filepath.Join(t.TempDir(), "none") + ":v1"}, 3, "oci-layout"},
		{"tree does not render", []string{broken, ref}, 3, "does not render"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, tc.code, nil, append([]string{"diff"}, tc.args...)...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q, want it to say %q", r.stderr, tc.want)
			}
		})
	}
}

// BenchmarkDiffCommand is the whole `statepack diff PATH REF` on the same tree, render included.
func BenchmarkDiffCommand(b *testing.B) {
	reg := testregistry.Start(b)
	root := b.TempDir()
	overlay, err := testtree.Kustomize(root, 100, 20)
	if err != nil {
		b.Fatal(err)
	}
	ref := reg.Host + "/bench/diff:v1"
	runCLI(b, fixedEpoch, "publish", overlay, ref, "--root", root)
	for b.Loop() {
		runCLI(b, nil, "diff", overlay, ref, "--root", root)
	}
}
