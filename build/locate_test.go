package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestLocateSourcesAsOrigins renders each tree twice, without and with kustomize's origin annotations, and checks
// that LocateSources gives every object of the first exactly the source the second gives it — or, for the trees
// beyond its prediction, refuses and changes nothing. The corpus trees are skipped when ../shared/corpus is absent.
func TestLocateSourcesAsOrigins(t *testing.T) {
	t.Parallel()
	corpus := filepath.Join("..", "..", "shared", "corpus")
	for _, tc := range []struct {
		name, path, root string
		located          bool
	}{
		{"prefixes, suffixes, namespace, patches, generators", "../testdata/locate/overlay-transforms/app", "../testdata/locate/overlay-transforms", true},
		{"one name in two bases", "../testdata/locate/same-name/app", "../testdata/locate/same-name", true},
		{"one base twice", "../testdata/locate/base-twice/app", "../testdata/locate/base-twice", true},
		{"a component", "../testdata/locate/components/app", "../testdata/locate/components", true},
		{"a kustomization in a plain tree", "../testdata/locate/plain-mixed", "../testdata/locate/plain-mixed", true},
		{"an overlay of a base", "../testdata/bad/kustomize-invalid-name/app", "../testdata/bad/kustomize-invalid-name", true},
		{"a generated secret", "../testdata/bad/generated-secret/app", "../testdata/bad/generated-secret", true},
		{"the demo", "../testdata/demo/production", "../testdata/demo", true},
		{"a delete patch and a List", "../testdata/locate/delete-and-list/app", "../testdata/locate/delete-and-list", true},
		{"replacements may rename", "../testdata/locate/replacements/app", "../testdata/locate/replacements", false},
		{"corpus apps", filepath.Join(corpus, "flux2-kustomize-helm-example/apps/production"), corpus, true},
		{"corpus infrastructure", filepath.Join(corpus, "flux2-kustomize-helm-example/infrastructure/controllers"), corpus, true},
		{"corpus components", filepath.Join(corpus, "microservices-demo-kustomize/tests/service-mesh-istio-with-all-components"), corpus, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := os.Stat(tc.path); err != nil {
				t.Skipf("%s is absent (the shared corpus is not on this machine): %v", tc.path, err)
			}
			clean, err := Render(context.Background(), tc.path, WithRoot(tc.root))
			if err != nil || clean.Findings.HasErrors() {
				t.Fatalf("Render(%s) = %v, %v", tc.path, err, clean.Findings)
			}
			before := append([]Object(nil), clean.Objects...)
			if got := clean.LocateSources(); got != tc.located {
				t.Fatalf("LocateSources() = %v, want %v", got, tc.located)
			}
			if !tc.located {
				for i := range before {
					if clean.Objects[i].Source != before[i].Source {
						t.Errorf("a refused LocateSources changed %s's source to %v", before[i].ID, clean.Objects[i].Source)
					}
				}
				return
			}
			origins, err := Render(context.Background(), tc.path, WithRoot(tc.root), WithSourcePositions(true))
			if err != nil || len(origins.Objects) != len(clean.Objects) {
				t.Fatalf("Render(%s, WithSourcePositions) = %d objects, %v; want %d", tc.path, len(origins.Objects), err, len(clean.Objects))
			}
			for i, o := range origins.Objects {
				if got := clean.Objects[i]; got.ID != o.ID || got.Source != o.Source {
					t.Errorf("object %d: LocateSources placed %s at %v, origin annotations place %s at %v", i, got.ID, got.Source, o.ID, o.Source)
				}
			}
		})
	}
}

// FuzzLocateSources renders an overlay of a base from fuzzed kustomizations and resources, and holds LocateSources
// to its promise: when it places the objects, every object gets the source a render with kustomize's origin
// annotations gives it; when it cannot, it changes nothing.
func FuzzLocateSources(f *testing.F) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n"
	f.Add("resources: [../base]\nnamePrefix: p-\nnamespace: n\n", "resources: [res.yaml]\nnameSuffix: -s\n", cm)
	f.Add("resources: [../base]\nconfigMapGenerator:\n- name: settings\n  literals: [x=y]\n", "resources: [res.yaml]\n", cm)
	f.Add("resources: [../base]\npatches:\n- patch: |\n    $patch: delete\n    apiVersion: v1\n    kind: Service\n    metadata:\n      name: web\n", "resources: [res.yaml]\n", cm)
	f.Add("resources: [../base, ../base/res.yaml]\n", "resources: [res.yaml]\nnamePrefix: b-\n", cm)
	f.Add("components: [../base]\n", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [res.yaml]\n", cm)
	f.Fuzz(func(t *testing.T, overlay, base, res string) {
		root := t.TempDir()
		for name, content := range map[string]string{"app/kustomization.yaml": overlay, "base/kustomization.yaml": base, "base/res.yaml": res} {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		app := filepath.Join(root, "app")
		clean, err := Render(context.Background(), app, WithRoot(root))
		if err != nil || len(clean.Findings) > 0 {
			return
		}
		before := append([]Object(nil), clean.Objects...)
		if !clean.LocateSources() {
			for i := range before {
				if clean.Objects[i].Source != before[i].Source {
					t.Fatalf("a refused LocateSources changed %s's source", before[i].ID)
				}
			}
			return
		}
		origins, err := Render(context.Background(), app, WithRoot(root), WithSourcePositions(true))
		if err != nil || len(origins.Findings) > 0 || len(origins.Objects) != len(clean.Objects) {
			return // kustomize builds with origins differently; nothing to compare
		}
		for i, o := range origins.Objects {
			if got := clean.Objects[i]; got.ID != o.ID || got.Source != o.Source {
				t.Fatalf("LocateSources placed %s at %v, origin annotations place %s at %v", got.ID, got.Source, o.ID, o.Source)
			}
		}
	})
}
