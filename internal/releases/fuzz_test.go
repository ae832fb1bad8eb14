package releases

import (
	"testing"

	"github.com/statepack/statepack/build"
)

// FuzzReleases feeds any tree to Find, Pin and Hydrate: HelmReleases, sources and Applications come from the user's
// repository, in any shape. None may panic; Pin keeps the number of objects and Hydrate never invents one.
func FuzzReleases(f *testing.F) {
	f.Add([]byte(helmRepo + `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: b, namespace: apps}
spec: {chartRef: {kind: OCIRepository, name: web-chart}, valuesFrom: [{kind: ConfigMap, name: v, targetPath: "a.b[0]"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: v, namespace: apps}
data: {values.yaml: "x: 1"}
`))
	f.Add([]byte(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: c}
spec: {sources: [{chart: web, repoURL: x, helm: {values: "a: [", parameters: [{name: "a[", value: b}]}}]}
`))
	f.Add([]byte(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: x}
spec: {chart: {spec: [1]}, chartRef: 3, postRenderers: {a: b}}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := build.DecodeManifests("fuzz.yaml", data)
		found, _ := Find(objs)
		out := objs
		for i := range found {
			pinned, err := Pin(out, &found[i], Pinned{Version: "1.0.0", Digest: "sha256:0000"})
			if err == nil {
				if len(pinned) != len(out) {
					t.Fatalf("Pin changed the number of objects: %d → %d", len(out), len(pinned))
				}
				out = pinned
			}
		}
		rendered := make([]*Rendered, len(found))
		for i := range rendered {
			rendered[i] = &Rendered{}
		}
		if h := Hydrate(objs, found, found, rendered); len(h) > len(objs) {
			t.Fatalf("Hydrate with nothing rendered grew the tree: %d → %d", len(objs), len(h))
		}
	})
}
