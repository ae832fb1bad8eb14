package statepack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testcharts"
)

// podinfoStaging copies the corpus's Flux example apps into a temporary root with the HelmRepository pointed at a
// loopback repository serving the real podinfo chart, and returns the root and the repository.
func podinfoStaging(b *testing.B) (string, *testcharts.Repo) {
	b.Helper()
	corpus := filepath.Join("..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(corpus, "charts", "podinfo", "Chart.yaml")); err != nil {
		b.Skipf("the shared corpus is not at %s: %v", corpus, err)
	}
	repo := testcharts.NewRepo(b, testcharts.Chart{Name: "podinfo", Version: "6.14.1", Data: testcharts.Package(b, filepath.Join(corpus, "charts", "podinfo"))})
	root := b.TempDir()
	if err := os.CopyFS(filepath.Join(root, "apps"), os.DirFS(filepath.Join(corpus, "flux2-kustomize-helm-example", "apps"))); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(root, "apps", "base", "podinfo", "repository.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "https://stefanprodan.github.io/podinfo", repo.URL(), 1)), 0o644); err != nil {
		b.Fatal(err)
	}
	return root, repo
}

// BenchmarkHelmHydrateStaging: the Flux example's apps/staging hydrated (kustomize build, podinfo's chart resolved
// from the lock, read from a warm chart cache and rendered in-process, validated) — what docs/benchmarks.md sets
// against `kustomize build` + `helm template`.
func BenchmarkHelmHydrateStaging(b *testing.B) {
	root, _ := podinfoStaging(b)
	ctx := context.Background()
	o := LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate, ChartCache: b.TempDir()}}
	staging := filepath.Join(root, "apps", "staging")
	if _, err := Lock(ctx, staging, o); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := Load(ctx, staging, o)
		if err != nil || s.Findings.HasErrors() {
			b.Fatal(err, s.Findings)
		}
	}
}

// BenchmarkHelmFleet24: a fleet of 24 targets that install one chart with different values (a release per
// target), loaded with one ChartShare as a fleet command does: the chart is fetched once per run and each distinct
// (chart, values) rendered once. Reported per fleet run.
func BenchmarkHelmFleet24(b *testing.B) {
	root, repo := podinfoStaging(b)
	ctx := context.Background()
	var targets []string
	for i := range 24 {
		dir := filepath.Join(root, "fleet", fmt.Sprintf("cluster-%02d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		kust := "resources: [../../apps/base/podinfo]\npatches:\n  - target: {kind: HelmRelease}\n    patch: |\n" +
			"      - {op: add, path: /spec/values/replicaCount, value: " + fmt.Sprint(1+i%3) + "}\n"
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
			b.Fatal(err)
		}
		targets = append(targets, dir)
	}
	cache := b.TempDir()
	for _, shared := range []bool{true, false} {
		b.Run(fmt.Sprintf("shared=%v", shared), func(b *testing.B) {
			before := repo.Hits("/charts/index.yaml")
			for b.Loop() {
				var share *ChartShare
				if shared {
					share = NewChartShare()
				}
				for _, dir := range targets {
					s, err := Load(ctx, dir, LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate, ChartCache: cache, Share: share}})
					if err != nil || s.Findings.HasErrors() {
						b.Fatal(err, s.Findings)
					}
				}
			}
			b.ReportMetric(float64(repo.Hits("/charts/index.yaml")-before)/float64(b.N), "index-GETs/run")
		})
	}
}
