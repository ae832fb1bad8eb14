package build

import (
	"context"
	"strings"
	"testing"
)

// TestChartDirectoryAndNonObjects: a Helm chart directory in a plain tree is one finding naming it as a chart, not
// a syntax error per template, and a mapping with neither apiVersion nor kind (a values file) is one finding that
// it is not an object, not three about its missing fields (issue #16, item 11). Both come from the render, so render
// refuses what validate refuses.
func TestChartDirectoryAndNonObjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{name: "a chart in a tree", path: "../testdata/chart-in-tree", want: []string{
			"apps/values.yaml:2: error: document is a mapping without apiVersion and kind (keys: image, replicaCount), not a Kubernetes object: Flux and Argo CD apply every YAML file of the artifact, so it cannot be in the tree; move it out, or list it in .sourceignore [object/not-an-object]",
			"charts/web/Chart.yaml: error: charts/web is a Helm chart (Chart.yaml beside templates/): its templates are not manifests, so statepack does not read it as YAML; deploy it with a Flux HelmRelease or a kustomization's helmCharts, commit what helm template renders instead, or list it in .sourceignore [source/helm-chart]",
		}},
		{name: "the chart itself", path: "../testdata/chart-in-tree/charts/web", want: []string{
			"charts/web/Chart.yaml: error: charts/web is a Helm chart (Chart.yaml beside templates/)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := Render(context.Background(), tc.path, WithRoot("../testdata/chart-in-tree"))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != len(tc.want) {
				t.Fatalf("Render found %v, want %d finding(s)", r.Findings, len(tc.want))
			}
			for i, f := range r.Findings {
				if !strings.HasPrefix(f.String(), tc.want[i]) {
					t.Errorf("finding %d = %s\nwant %s", i, f, tc.want[i])
				}
			}
		})
	}
	// An empty mapping is no object either.
	_, findings := decodeStream("empty.yaml", []byte("{}\n"))
	if len(findings) != 1 || !strings.Contains(findings[0].Message, "document is an empty mapping, not a Kubernetes object") {
		t.Errorf("decoding {} = %v, want one object/not-an-object finding", findings)
	}
}
