package statepack

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/statepack/statepack/internal/testcharts"
)

// BenchmarkKustomizeRepoChart: what a kustomization's repo: chart costs a Load over the same chart vendored under
// chartHome: "locked" resolves from statepack.lock and reads the archive from the chart cache (--offline, the CI
// steady state); "vendored" reads the chart directory; "live" resolves against the loopback repository each time
// (a fresh fetcher per Load: index and archive fetched, digest checked).
func BenchmarkKustomizeRepoChart(b *testing.B) {
	ctx := context.Background()
	chart := testcharts.Chart{Name: "web", Version: "1.2.3", Data: testcharts.Package(b, writeFiles(b, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: 1.2.3\n",
		"values.yaml": "image: example.com/web:1.2.3\n",
		"templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: {{ .Release.Name }}}\nspec:\n" +
			"  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n" +
			"    spec:\n      containers: [{name: web, image: {{ .Values.image }}}]\n",
	}))}
	repo := testcharts.NewRepo(b, chart)
	entry := "  releaseName: web\n  valuesInline: {image: example.com/inline:1}\n"
	cache := b.TempDir()

	pulled := repoChartTree(b, repo.URL(), "1.x", entry, nil)
	if _, err := Lock(ctx, filepath.Join(pulled, "app"), LoadOptions{Root: pulled, Helm: HelmOptions{ChartCache: cache}}); err != nil {
		b.Fatal(err)
	}
	vendored := repoChartTree(b, repo.URL(), "1.2.3", entry, nil)
	if err := chartutil.Expand(filepath.Join(vendored, "app", "charts", "web-1.2.3"), bytes.NewReader(chart.Data)); err != nil {
		b.Fatal(err)
	}
	live := repoChartTree(b, repo.URL(), "1.x", entry, nil)
	for _, bc := range []struct {
		name, root string
		helm       HelmOptions
	}{
		{"locked", pulled, HelmOptions{ChartCache: cache, Offline: true}},
		{"vendored", vendored, HelmOptions{}},
		{"live", live, HelmOptions{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := Load(ctx, filepath.Join(bc.root, "app"), LoadOptions{Root: bc.root, Helm: bc.helm, RenderOnly: true})
				if err != nil || s.Findings.HasErrors() || len(s.Objects()) != 1 {
					b.Fatalf("%v %v", err, s.Findings)
				}
			}
		})
	}
}
