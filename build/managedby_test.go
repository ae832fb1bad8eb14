package build

import (
	"context"
	"os"
	"regexp"
	"testing"
)

// TestManagedByLabel: buildMetadata: [managedByLabel] writes the label `kustomize build` writes (issue #16, item 6),
// kustomize-<release>, not the kustomize-(devel) or kustomize-<statepack's version> the linked engine would.
func TestManagedByLabel(t *testing.T) {
	t.Parallel()
	r, err := Render(context.Background(), "../testdata/managed-by", WithRoot("../testdata/managed-by"))
	if err != nil || len(r.Findings) > 0 || len(r.Objects) != 1 {
		t.Fatalf("Render = %v, %v", r, err)
	}
	want, err := os.ReadFile("../testdata/managed-by/expected.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(r.Objects[0].YAML); got != string(want) {
		t.Errorf("rendered\n%s\nwant (as kustomize %s builds it)\n%s", got, KustomizeVersion, want)
	}
}

// TestKustomizeVersion holds KustomizeVersion to the kustomize engine go.mod links: each kustomize CLI release
// requires one sigs.k8s.io/kustomize/api version in its go.mod (v5.8.1: v0.21.1, v5.8.2: v0.21.2, v5.8.3: v0.21.3).
func TestKustomizeVersion(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/kustomize/api (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require sigs.k8s.io/kustomize/api")
	}
	release := map[string]string{"v0.21.1": "v5.8.1", "v0.21.2": "v5.8.2", "v0.21.3": "v5.8.3"}
	if want, ok := release[string(m[1])]; !ok || want != KustomizeVersion {
		t.Errorf("KustomizeVersion = %s, but go.mod links sigs.k8s.io/kustomize/api %s, which kustomize %q requires: set KustomizeVersion (and this table) to the kustomize release whose go.mod requires it",
			KustomizeVersion, m[1], want)
	}
}
