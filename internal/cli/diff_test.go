package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// tarGzOf writes files into a gzip'd tar the way `flux push artifact` does: directories first, then the files as
// they are.
func tarGzOf(t testing.TB, dirs []string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, dir := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fluxArtifact pushes what `flux push artifact` makes of a directory: a tar+gzip of the files as they are, in
// directories, with Flux's media types.
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

// TestDiffReadsArchivesAlike checks that reading an archive in memory as two streams gives the objects that
// extracting it and rendering the directory gives, byte for byte, or falls back to that.
func TestDiffReadsArchivesAlike(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		fallback bool // the shortcut must not be taken
		wantErr  string
	}{
		{name: "statepack files", files: map[string]string{
			"configmap_shop_settings.yaml":  "apiVersion: v1\ndata:\n  LOG_LEVEL: info\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n",
			"namespace_shop.yaml":           "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
			"deployment.apps_shop_web.yaml": diffTree["app.yaml"][:strings.Index(diffTree["app.yaml"], "---")],
			"configmap_shop_url.yaml":       "apiVersion: v1\ndata:\n  URL: https://x.example.com/?a=1&b=2\nkind: ConfigMap\nmetadata:\n  name: url\n  namespace: shop\n",
			"serviceaccount_shop_robot.yml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot, namespace: shop}\n",
			"sub/dir/more.yaml":             diffTree["app.yaml"],
			"sub/.hidden/ignored.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hidden}\n",
			"README.md":                     "# not a manifest\n",
			"values.json":                   `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"}}{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json2"}}`,
			"empty.yaml":                    "",
			"comments.yaml":                 "# nothing but a comment\n---\n",
		}},
		{name: "byte-order marks and CRLF", files: map[string]string{
			"a.yaml": "\xef\xbb\xbfapiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n",
			"b.json": "\xef\xbb\xbf{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}",
		}},
		{name: "block scalar at the end of a file without a line end", files: map[string]string{
			"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  script: |\n    echo hi",
			"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
		}},
		{name: "anchors stay in their file", files: map[string]string{
			"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &l {x: y}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a2\n  labels: *l\n",
			"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: *l\n",
		}, fallback: true, wantErr: "b.yaml"},
		{name: "syntax error", files: map[string]string{
			"good.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n",
			"bad.yaml":  "kind: [unclosed\n",
		}, fallback: true, wantErr: "bad.yaml"},
		{name: "kustomization", files: map[string]string{
			"app/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: p-\n",
			"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		}, fallback: true},
	}
	ctx := context.Background()
	log := (&globalOptions{}).logger(&Env{Stderr: io.Discard})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blob := tarGzOf(t, nil, tc.files)
			files, err := objdiff.ReadArchive(bytes.NewReader(blob), objdiff.Limits{MaxFiles: 1000, MaxTotal: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			fast, ok, err := decodeBatched(ctx, files)
			if err != nil || ok == tc.fallback {
				t.Fatalf("decodeBatched() = ok %v, %v; want ok %v", ok, err, !tc.fallback)
			}
			// The reference: extract and render, as pull and Flux would see the files.
			dir := filepath.Join(t.TempDir(), "x")
			if _, err := publish.Extract(bytes.NewReader(blob), dir, publish.Limits{}); err != nil {
				t.Fatal(err)
			}
			r, err := build.Render(ctx, dir, build.WithRoot(dir))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readLayerObjects(ctx, log, blob)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !r.Findings.HasErrors() {
					t.Fatalf("readLayerObjects() = %v, want an error naming %s (render: %v)", err, tc.wantErr, r.Findings)
				}
				return
			}
			if err != nil || r.Findings.HasErrors() {
				t.Fatalf("readLayerObjects() = %v; render: %v", err, r.Findings)
			}
			if a, b := objectSet(got), objectSet(r.Objects); !slices.Equal(a, b) {
				t.Errorf("objects read in memory:\n%s\nobjects rendered from the extracted files:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			if ok && !slices.Equal(objectSet(fast), objectSet(r.Objects)) {
				t.Errorf("the shortcut decodes other objects than the render")
			}
		})
	}
}

// objectSet lists objects as "ID\nYAML", sorted.
func objectSet(objs []build.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.ID.String() + "\n" + string(o.YAML)
	}
	slices.Sort(out)
	return out
}

func TestDiffVerifiesFirst(t *testing.T) {
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

// BenchmarkDiffArtifact is the part of `statepack diff PATH REF` that is not the render, on the generated
// 2,000-object tree: fetch the artifact from a real registry, extract and decode it, compare with the rendered
// objects. One Deployment differs (its image), so one unified diff is made.
func BenchmarkDiffArtifact(b *testing.B) {
	reg := testregistry.Start(b)
	root := b.TempDir()
	overlay, err := testtree.Kustomize(root, 100, 20)
	if err != nil {
		b.Fatal(err)
	}
	ref := reg.Host + "/bench/diff:v1"
	statepack(b, fixedEpoch, "publish", overlay, ref, "--root", root)
	ctx := context.Background()
	r, err := build.Render(ctx, overlay, build.WithRoot(root))
	if err != nil || r.Findings.HasErrors() {
		b.Fatal(err, r.Findings)
	}
	tree := diffObjects(r.Objects)
	for i := range tree {
		if tree[i].ID.Kind == "Deployment" {
			tree[i].YAML = bytes.Replace(tree[i].YAML, []byte("image: "), []byte("image: changed-"), 1)
			break
		}
	}
	pr, _ := publish.ParseRef(ref)
	t, err := publish.Open(ctx, pr)
	if err != nil {
		b.Fatal(err)
	}
	log := (&globalOptions{}).logger(&Env{Stderr: os.Stderr})
	b.ResetTimer()
	for b.Loop() {
		side, err := loadArtifactSide(ctx, log, t, pr, nil)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := objdiff.Compare(side.objects, tree)
		if err != nil || len(rep.Entries) != 1 || side.Objects != 2001 {
			b.Fatalf("Compare() = %d entries of %d objects, %v; want 1 of 2001", len(rep.Entries), side.Objects, err)
		}
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
	statepack(b, fixedEpoch, "publish", overlay, ref, "--root", root)
	for b.Loop() {
		statepack(b, nil, "diff", overlay, ref, "--root", root)
	}
}
