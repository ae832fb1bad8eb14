package build

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/statepack/statepack/internal/testtree"
)

// TestRenderOutputIsKustomizeBuild checks that what `statepack render` writes for a kustomization (the objects'
// YAML, separated by "---") is, byte for byte, what `kustomize build --load-restrictor LoadRestrictionsNone` writes:
// krusty run directly on the disk, without statepack's file system, checks or decoding. Over every kustomize tree of
// the suite without render findings, a generated tree, and the corpus's trees when ../shared/corpus holds them.
func TestRenderOutputIsKustomizeBuild(t *testing.T) {
	t.Parallel()
	generated := t.TempDir()
	overlay, err := testtree.Kustomize(generated, 20, 6)
	if err != nil {
		t.Fatal(err)
	}
	corpus := filepath.Join("..", "..", "shared", "corpus")
	trees := [][2]string{
		{overlay, generated},
		{"../testdata/demo/production", "../testdata/demo"},
		{"../testdata/bad/kustomize-invalid-name/app", "../testdata/bad/kustomize-invalid-name"},
		{"../testdata/bad/generated-secret/app", "../testdata/bad/generated-secret"},
	}
	for _, tree := range []string{"overlay-transforms", "same-name", "base-twice", "components", "delete-and-list", "replacements"} {
		trees = append(trees, [2]string{filepath.Join("../testdata/locate", tree, "app"), filepath.Join("../testdata/locate", tree)})
	}
	for _, p := range []string{
		"flux2-kustomize-helm-example/apps/staging",
		"flux2-kustomize-helm-example/apps/production",
		"flux2-kustomize-helm-example/infrastructure/configs",
		"flux2-kustomize-helm-example/infrastructure/controllers",
		"microservices-demo-kustomize",
		"microservices-demo-kustomize/tests/memorystore-with-all-components",
		"microservices-demo-kustomize/tests/service-mesh-istio-with-all-components",
		"microservices-demo-kustomize/tests/spanner-with-all-components",
	} {
		trees = append(trees, [2]string{filepath.Join(corpus, p), corpus})
	}
	for _, tree := range trees {
		t.Run(tree[0], func(t *testing.T) {
			t.Parallel()
			if _, err := os.Stat(tree[0]); err != nil {
				t.Skipf("%s is absent (the shared corpus is not on this machine): %v", tree[0], err)
			}
			r, err := Render(context.Background(), tree[0], WithRoot(tree[1]))
			if err != nil || len(r.Findings) > 0 {
				t.Fatalf("Render(%s) = %v, %v", tree[0], err, r.Findings)
			}
			var got bytes.Buffer
			for i, o := range r.Objects {
				if i > 0 {
					got.WriteString("---\n")
				}
				got.Write(o.YAML)
			}
			opts := krusty.MakeDefaultOptions()
			opts.Reorder = krusty.ReorderOptionUnspecified // what kustomize build's CLI sets without --reorder
			opts.LoadRestrictions = types.LoadRestrictionsNone
			opts.PluginConfig = types.DisabledPluginConfig()
			m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), tree[0])
			if err != nil {
				t.Fatalf("kustomize build %s: %v", tree[0], err)
			}
			want, err := m.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("render of %s differs from kustomize build's:\n%s\nwant:\n%s", tree[0], got.String(), want)
			}
		})
	}
}
