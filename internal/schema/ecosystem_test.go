package schema

import (
	"slices"
	"testing"
)

// TestBuiltinCRDsConvert holds every embedded CRD to what a CRD of the tree must meet: it converts for every
// embedded Kubernetes release without a finding (a pattern that does not compile, a CEL rule that does not), since
// builtinCRD drops such findings — they would be the built-in data's fault, not the user's. The index generated
// beside the data names each CRD where it is.
func TestBuiltinCRDsConvert(t *testing.T) {
	t.Parallel()
	if len(ecosystemIndex) < 30 {
		t.Fatalf("%d built-in CRDs, want the Flux, Argo CD, Gateway API and cert-manager sets", len(ecosystemIndex))
	}
	for _, minor := range Versions() {
		cat, err := loadCatalog(minor)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range ecosystemIndex {
			if !slices.ContainsFunc(ecosystemSets, func(s Ecosystem) bool { return s.Name == e.set }) {
				t.Errorf("built-in CRD %s/%s names set %q, which ecosystemSets lacks", e.group, e.kind, e.set)
			}
			obj, err := builtinObject(i)
			if err != nil {
				t.Fatal(err)
			}
			c, fs := crdFromObject(obj, cat)
			if c == nil || len(fs) > 0 || len(c.versions) == 0 || c.group != e.group || c.kind != e.kind {
				t.Errorf("Kubernetes %s: built-in CRD %d (%s %s/%s): %v", minor, i, e.set, e.group, e.kind, fs)
			}
			if scope, _ := obj.Content["spec"].(map[string]any)["scope"].(string); (scope == "Cluster") != e.cluster {
				t.Errorf("built-in CRD %s/%s: scope %s, index says cluster=%v", e.group, e.kind, scope, e.cluster)
			}
		}
	}
}

// BenchmarkBuiltinObject is what the first custom resource of a built-in kind costs a process before conversion:
// reading that kind's CRD (HelmRelease, and Argo CD's ApplicationSet, the largest).
func BenchmarkBuiltinObject(b *testing.B) {
	for _, key := range []string{"helm.toolkit.fluxcd.io/HelmRelease", "argoproj.io/ApplicationSet"} {
		b.Run(key, func(b *testing.B) {
			for b.Loop() {
				if _, err := builtinObject(builtinIndex()[key]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
