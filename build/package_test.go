package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var exampleAnnotations = map[string]string{
	AnnotationCreated:  "2024-05-01T12:00:00Z",
	AnnotationRevision: "main@sha1:0123456789abcdef0123456789abcdef01234567",
	AnnotationSource:   "https://github.com/example/gitops",
}

// Example_reproducible pins the digest of the demo overlay's artifact: any change to the bytes statepack produces
// (YAML serialisation, file names, tar headers, gzip, manifest) shows up here as a failure.
func Example_reproducible() {
	r, err := Render(context.Background(), "../testdata/demo/production", WithRoot("../testdata/demo"))
	if err != nil {
		panic(err)
	}
	b, err := Package(r.Objects, WithAnnotations(exampleAnnotations))
	if err != nil {
		panic(err)
	}
	fmt.Println("manifest", b.ManifestDescriptor.Digest)
	for _, f := range b.Files {
		fmt.Println(f.Name)
	}
	// Output:
	// manifest sha256:674d0fea74dd4a0772c81ce072ddfd7face7bfafe405ce8d56523e7353755052
	// configmap_podinfo_podinfo-config-846h8fk62c.yaml
	// deployment.apps_podinfo_podinfo.yaml
	// namespace_podinfo.yaml
	// service_podinfo_podinfo.yaml
}

func packageTree(t *testing.T, path, root string) *Bundle {
	t.Helper()
	r, err := Render(context.Background(), path, WithRoot(root))
	if err != nil || r.Findings.HasErrors() {
		t.Fatalf("Render(%s) = %v, %v", path, err, r.Findings)
	}
	b, err := Package(r.Objects, WithAnnotations(exampleAnnotations))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyTree copies src to dst giving every file mode and every directory dirMode.
func copyTree(t *testing.T, src, dst string, mode, dirMode fs.FileMode) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			return os.Chmod(p, dirMode)
		}
		return nil
	})
	t.Cleanup(func() {
		_ = filepath.WalkDir(dst, func(p string, d fs.DirEntry, _ error) error { return os.Chmod(p, 0o755) })
	})
}

func TestPackageIsReproducible(t *testing.T) {
	want := packageTree(t, "../testdata/demo/production", "../testdata/demo")
	for _, tc := range []struct {
		name          string
		mode, dirMode fs.FileMode
	}{
		{"group-writable files", 0o664, 0o775},
		{"executable files", 0o755, 0o755},
		{"private files", 0o600, 0o700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "elsewhere", "checkout")
			copyTree(t, "../testdata/demo", dst, tc.mode, tc.dirMode)
			got := packageTree(t, filepath.Join(dst, "production"), dst)
			if got.ManifestDescriptor.Digest != want.ManifestDescriptor.Digest || !bytes.Equal(got.Layer, want.Layer) {
				t.Errorf("copy with %s: manifest %s, want %s", tc.name, got.ManifestDescriptor.Digest, want.ManifestDescriptor.Digest)
			}
		})
	}
	t.Run("object order", func(t *testing.T) {
		r, _ := Render(context.Background(), "../testdata/demo/production", WithRoot("../testdata/demo"))
		objs := append([]Object(nil), r.Objects...)
		for i, j := 0, len(objs)-1; i < j; i, j = i+1, j-1 {
			objs[i], objs[j] = objs[j], objs[i]
		}
		got, err := Package(objs, WithAnnotations(exampleAnnotations))
		if err != nil {
			t.Fatal(err)
		}
		if got.ManifestDescriptor.Digest != want.ManifestDescriptor.Digest {
			t.Errorf("reversed objects: manifest %s, want %s", got.ManifestDescriptor.Digest, want.ManifestDescriptor.Digest)
		}
	})

	// Keys yaml.v2 used to order by Go's random map iteration ("1", "0A", "000022A" in one mapping): the same
	// layer on every run.
	t.Run("keys yaml.v2 orders by chance", func(t *testing.T) {
		dir := t.TempDir()
		cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keys, namespace: default}\ndata: {\"1\": a, 0A: b, 000022A: c, kind: d}\n"
		if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(cm), 0o644); err != nil {
			t.Fatal(err)
		}
		var first []byte
		for i := range 30 {
			r, err := Render(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Package(r.Objects)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = got.Layer
			} else if !bytes.Equal(got.Layer, first) {
				t.Fatalf("run %d packaged another layer for the same tree", i+1)
			}
		}
	})
}

func TestPackageFormat(t *testing.T) {
	b := packageTree(t, "../testdata/demo/production", "../testdata/demo")
	var m ocispec.Manifest
	if err := json.Unmarshal(b.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.SchemaVersion != 2 {
		t.Errorf("manifest mediaType = %q schemaVersion %d", m.MediaType, m.SchemaVersion)
	}
	if m.Config.MediaType != ConfigMediaType || string(b.Config) != "{}" {
		t.Errorf("config = %q %q, want %s {}", m.Config.MediaType, b.Config, ConfigMediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != LayerMediaType || m.Layers[0].Digest != b.LayerDescriptor.Digest {
		t.Errorf("layers = %+v, want one %s", m.Layers, LayerMediaType)
	}
	for k, v := range exampleAnnotations {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}

	// The gzip header names no file and no time; the tar is flat, sorted, with fixed modes, owners and times.
	zr, err := gzip.NewReader(bytes.NewReader(b.Layer))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header = name %q modtime %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.ModTime.Unix() != 0 || strings.Contains(h.Name, "/") {
			t.Errorf("tar header %+v is not flat, fixed and zeroed", h)
		}
		data, _ := io.ReadAll(tr)
		objs, findings := decodeStream(h.Name, data)
		if len(findings) > 0 || len(objs) != 1 {
			t.Errorf("%s holds %d objects, findings %v; want exactly one object", h.Name, len(objs), findings)
		}
	}
	want := []string{"configmap_podinfo_podinfo-config-846h8fk62c.yaml", "deployment.apps_podinfo_podinfo.yaml", "namespace_podinfo.yaml", "service_podinfo_podinfo.yaml"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("archive entries = %v, want %v", names, want)
	}
}

func TestPackageFluxLayerType(t *testing.T) {
	r, _ := Render(context.Background(), "../testdata/plain")
	b, err := Package(r.Objects, WithLayerMediaType(FluxLayerMediaType))
	if err != nil {
		t.Fatal(err)
	}
	if b.LayerDescriptor.MediaType != FluxLayerMediaType {
		t.Errorf("layer media type = %s, want %s", b.LayerDescriptor.MediaType, FluxLayerMediaType)
	}
	if _, err := Package(r.Objects, WithLayerMediaType("application/vnd.oci.image.layer.v1.tar")); err == nil {
		t.Error("Package accepted an uncompressed layer type; Flux's extract needs gzip")
	}
}

func TestPackageRefuses(t *testing.T) {
	obj := func(kind, ns, name string) Object {
		m := map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": name, "namespace": ns}}
		o, err := objectFromMap(m, Source{})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	tests := []struct {
		name string
		objs []Object
		opts []PackageOption
		want string
	}{
		{"nothing to package", nil, nil, "rendered no objects"},
		{"duplicate objects", []Object{obj("ConfigMap", "a", "x"), obj("ConfigMap", "a", "x")}, nil, "defined twice"},
		{"local created time", []Object{obj("ConfigMap", "a", "x")}, []PackageOption{WithAnnotations(map[string]string{AnnotationCreated: "2024-05-01T12:00:00+02:00"})}, "in UTC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Package(tc.objs, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Package() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFileNames(t *testing.T) {
	mk := func(group, kind, ns, name string) Object {
		return Object{ID: ObjectID{Group: group, Kind: kind, Namespace: ns, Name: name}}
	}
	objs := []Object{
		mk("", "Namespace", "", "team-a"),
		mk("apps", "Deployment", "team-a", "web"),
		mk("rbac.authorization.k8s.io", "ClusterRole", "", "system:aggregate-to-view"),
		mk("rbac.authorization.k8s.io", "ClusterRole", "", "system-aggregate-to-view"),
		mk("example.com", "Widget", "ns", "Upper"),
	}
	got := fileNames(objs)
	want := []string{
		"namespace_team-a.yaml",
		"deployment.apps_team-a_web.yaml",
		"clusterrole.rbac.authorization.k8s.io_system-aggregate-to-view-",
		"clusterrole.rbac.authorization.k8s.io_system-aggregate-to-view-",
		"widget.example.com_ns_upper.yaml",
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("fileNames()[%d] = %s, want prefix %s", i, got[i], want[i])
		}
	}
	if got[2] == got[3] {
		t.Errorf("names that collide after sanitising are not told apart: %s", got[2])
	}
	again := fileNames([]Object{objs[3], objs[2]})
	if again[0] != got[3] || again[1] != got[2] {
		t.Errorf("collision suffixes depend on order: %v vs %v", again, got[2:4])
	}
}
