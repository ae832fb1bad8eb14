package build

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under ../testdata/helmcharts-golden")

// helmTrees are the kustomizations of ../testdata/helmcharts whose helmCharts render: a local chart with inline
// values over a kustomization's namespace, prefix, labels and images; a values file with valuesMerge merge and
// additional values files; valuesMerge replace with a kubeVersion; includeCRDs, skipTests and skipHooks under
// sortOptions fifo; the same under fifo with ConfigMap and Secret generators beside the chart (a merge into an
// object of the base's chart); a base's chart under an overlay's namespace, annotations and patch.
var helmTrees = []string{"apps/inline", "apps/merge", "apps/replace", "apps/crds", "apps/fifo", "overlay"}

const helmRoot = "../testdata/helmcharts"

// renderYAML renders path as `statepack render` prints it.
func renderYAML(t *testing.T, path string, opts ...RenderOption) (string, *Rendering) {
	t.Helper()
	r, err := Render(context.Background(), path, append([]RenderOption{WithRoot(helmRoot)}, opts...)...)
	if err != nil {
		t.Fatalf("Render(%s) = %v", path, err)
	}
	var b strings.Builder
	for i, o := range r.Objects {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(o.YAML)
	}
	return b.String(), r
}

// TestHelmChartsGolden: a kustomization's helmCharts render in-process, without --enable-helm or a helm binary,
// into what `kustomize build --enable-helm` prints with helm v4.3.2 (the goldens were checked against it; CI has
// no helm, so the goldens are what CI checks; TestHelmChartsAsKustomizeBuilds compares with the real thing).
func TestHelmChartsGolden(t *testing.T) {
	t.Parallel()
	for _, tree := range helmTrees {
		t.Run(tree, func(t *testing.T) {
			t.Parallel()
			got, r := renderYAML(t, filepath.Join(helmRoot, tree))
			if len(r.Findings) > 0 {
				t.Fatalf("Render(%s) found %v", tree, r.Findings)
			}
			golden := filepath.Join("..", "testdata", "helmcharts-golden", strings.ReplaceAll(tree, "/", "-")+".yaml")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading the golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("Render(%s) differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", tree, golden, got, want)
			}
		})
	}
}

// TestHelmChartsAsKustomizeBuilds compares the render with kustomize's own generator running the real helm
// binary: krusty with HelmConfig enabled, on the disk. It needs helm on PATH (v4.3.2, as statepack links), which
// CI does not have: there it is skipped, and TestHelmChartsGolden holds the same outputs.
func TestHelmChartsAsKustomizeBuilds(t *testing.T) {
	t.Parallel()
	helmBin, err := exec.LookPath("helm")
	if err != nil {
		t.Skip("helm is not on PATH: kustomize's own generator needs it (the goldens of TestHelmChartsGolden were checked against helm v4.3.2)")
	}
	for _, tree := range helmTrees {
		t.Run(tree, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(helmRoot, tree)
			got, _ := renderYAML(t, path)
			opts := krusty.MakeDefaultOptions()
			opts.Reorder = krusty.ReorderOptionUnspecified
			opts.LoadRestrictions = types.LoadRestrictionsNone
			opts.PluginConfig = types.EnabledPluginConfig(types.BploUseStaticallyLinked)
			opts.PluginConfig.HelmConfig = types.HelmConfig{Enabled: true, Command: helmBin}
			m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), path)
			if err != nil {
				t.Fatalf("kustomize build --enable-helm %s: %v", path, err)
			}
			want, err := m.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("render of %s differs from kustomize build --enable-helm's:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// TestHelmChartsInputs: the chart's files and the values files a helmCharts entry reads are inputs of the render
// (a change to any of them changes what is published), and the rendered file that exists only in the build is not.
func TestHelmChartsInputs(t *testing.T) {
	t.Parallel()
	_, r := renderYAML(t, filepath.Join(helmRoot, "apps/merge"))
	for _, want := range []string{"apps/merge/kustomization.yaml", "apps/merge/values.yaml", "apps/merge/more-values.yaml",
		"charts/web/", "charts/web/Chart.yaml", "charts/web/templates/deployment.yaml", "charts/web/templates/_helpers.tpl", "charts/web/crds/widget.yaml"} {
		if !slices.Contains(r.Inputs, want) {
			t.Errorf("Render(apps/merge).Inputs = %v, want %s among them", r.Inputs, want)
		}
	}
	for _, in := range r.Inputs {
		if strings.Contains(in, helmChartsFile) {
			t.Errorf("Render(apps/merge).Inputs holds %s, which is not a file of the tree", in)
		}
	}
}

// TestHelmChartsSourcePositions: with source positions on, an object a chart rendered points at the kustomization
// whose helmCharts configured it, as kustomize's origin annotation points a generated object at its kustomization.
func TestHelmChartsSourcePositions(t *testing.T) {
	t.Parallel()
	_, r := renderYAML(t, filepath.Join(helmRoot, "overlay"), WithSourcePositions(true))
	if len(r.Findings) > 0 {
		t.Fatalf("Render(overlay) found %v", r.Findings)
	}
	for _, o := range r.Objects {
		if o.Source.File != "base/app/kustomization.yaml" {
			t.Errorf("%s: Source = %+v, want base/app/kustomization.yaml", o.ID, o.Source)
		}
		if bytes.Contains(o.YAML, []byte("config.kubernetes.io/")) {
			t.Errorf("%s keeps a build annotation:\n%s", o.ID, o.YAML)
		}
	}
}

// TestHelmChartsFindings: an entry that cannot be rendered is a finding naming the kustomization, the entry and
// what to do; nothing is built.
func TestHelmChartsFindings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, kustomization string
		files               map[string]string
		opts                []RenderOption
		want                []string
	}{
		{name: "no chart and a repository chart", kustomization: `helmCharts:
- name: nowhere
  releaseName: nowhere
- name: podinfo
  repo: https://stefanprodan.github.io/podinfo
  version: 6.14.1
  releaseName: podinfo
`, want: []string{
			`app/kustomization.yaml:2: error: helmCharts[0] (nowhere): no chart directory app/charts/nowhere (chartHome "", default "charts" beside the kustomization, then the chart name): put the chart there, or correct name or helmGlobals.chartHome [kustomize/helm-chart]`,
			`app/kustomization.yaml:4: error: helmCharts[1] (podinfo): the chart comes from the repository https://stefanprodan.github.io/podinfo, and statepack renders a kustomization's charts only from the tree: vendor it where kustomize keeps what it pulls (helm pull podinfo --repo https://stefanprodan.github.io/podinfo --version 6.14.1 --untar --untardir app/charts/podinfo-6.14.1), or render with --helm=pin (statepack's default; --helm=off fetches no chart), which pulls the chart and pins it in statepack.lock [kustomize/helm-chart]`,
		}},
		{name: "no release name", kustomization: "helmCharts:\n- name: web\n", files: chartFiles, want: []string{
			`app/kustomization.yaml:2: error: helmCharts[0] (web): releaseName is empty: kustomize would have helm generate a name from the clock, so the output would change with every build; give the release a name [kustomize/helm-chart]`,
		}},
		{name: "a bad valuesMerge", kustomization: "helmCharts:\n- name: web\n  releaseName: web\n  valuesMerge: deep\n", files: chartFiles, want: []string{
			`app/kustomization.yaml:2: error: helmCharts[0] (web): valuesMerge must be one of [merge override replace], not "deep" [kustomize/helm-chart]`,
		}},
		{name: "a values file that is not YAML", kustomization: "helmCharts:\n- name: web\n  releaseName: web\n  valuesFile: bad.yaml\n",
			files: with(chartFiles, "app/bad.yaml", "replicas: [1\n"), want: []string{
				`app/kustomization.yaml:2: error: helmCharts[0] (web): the values file bad.yaml: cannot unmarshal yaml document: error converting YAML to JSON: yaml: line 1: did not find expected ',' or ']' [kustomize/helm-chart]`,
			}},
		{name: "a missing values file", kustomization: "helmCharts:\n- name: web\n  releaseName: web\n  additionalValuesFiles: [gone.yaml]\n",
			files: chartFiles, want: []string{
				`app/kustomization.yaml:2: error: helmCharts[0] (web): additionalValuesFiles: reading the values file app/gone.yaml: lstat app/gone.yaml: no such file or directory [kustomize/helm-chart]`,
			}},
		{name: "a values file on the network", kustomization: "helmCharts:\n- name: web\n  releaseName: web\n  valuesFile: https://example.com/values.yaml\n",
			files: chartFiles, opts: []RenderOption{WithAllowRemote(true)}, want: []string{
				`app/kustomization.yaml:2: error: helmCharts[0] (web): "https://example.com/values.yaml" is a URL: statepack reads values files from the tree only; vendor it [kustomize/helm-chart]`,
			}},
		{name: "a values file outside the kustomization under LoadRestrictionsRootOnly", kustomization: "helmCharts:\n- name: web\n  releaseName: web\n  valuesFile: ../values.yaml\n",
			files: with(chartFiles, "values.yaml", "replicas: 2\n"), opts: []RenderOption{WithLoadRestrictor(LoadRestrictionsRootOnly)}, want: []string{
				`app/kustomization.yaml:2: error: helmCharts[0] (web): the values file values.yaml is not in or below app, which the load restrictor LoadRestrictionsRootOnly requires`,
			}},
		{name: "a chart outside the source root", kustomization: "helmGlobals:\n  chartHome: ../../outside\nhelmCharts:\n- name: web\n  releaseName: web\n",
			want: []string{
				`app/kustomization.yaml:4: error: helmCharts[0] (web): the chart directory `,
			}},
		{name: "a template that fails", kustomization: "helmCharts:\n- name: web\n  releaseName: web\n",
			files: with(chartFiles, "app/charts/web/templates/bad.yaml", "{{ fail \"no\" }}\n"), want: []string{
				`app/kustomization.yaml:2: error: helmCharts[0] (web): rendering the chart web: execution error at (web/templates/bad.yaml:1:3): no [kustomize/helm-chart]`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"root/app/kustomization.yaml": tc.kustomization,
				"outside/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n"}
			for name, content := range tc.files {
				files["root/"+name] = content
			}
			root := filepath.Join(writeTree(t, files), "root")
			opts := append([]RenderOption{WithRoot(root)}, tc.opts...)
			r, err := Render(context.Background(), filepath.Join(root, "app"), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Objects) > 0 || len(r.Findings) != len(tc.want) {
				t.Fatalf("Render = %d objects, findings %v; want none, and %d finding(s)", len(r.Objects), r.Findings, len(tc.want))
			}
			for i, f := range r.Findings {
				if got := strings.ReplaceAll(f.String(), root+"/", ""); !strings.HasPrefix(got, tc.want[i]) {
					t.Errorf("finding %d = %s\nwant %s", i, got, tc.want[i])
				}
			}
		})
	}
}

// chartFiles is a small chart under app/charts.
var chartFiles = map[string]string{
	"app/charts/web/Chart.yaml":             "apiVersion: v2\nname: web\nversion: 1.0.0\n",
	"app/charts/web/values.yaml":            "replicas: 1\n",
	"app/charts/web/templates/service.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
}

// with returns a copy of files with one more.
func with(files map[string]string, name, content string) map[string]string {
	out := map[string]string{name: content}
	for k, v := range files {
		out[k] = v
	}
	return out
}

// FuzzHelmChartsRewrite fuzzes the two parsers of outside input the helmCharts path adds: the rewrite of a
// kustomization (its helm fields gone, the rendered file listed last among resources or bases, everything else as
// kustomize decodes it) and the reading of a chart's output into helm-generated objects (each object once, marked).
func FuzzHelmChartsRewrite(f *testing.F) {
	for _, tree := range helmTrees {
		data, err := os.ReadFile(filepath.Join(helmRoot, tree, "kustomization.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte("---\n# Source: web/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"))
	}
	f.Add([]byte("bases: [../base]\nhelmChartInflationGenerator:\n- chartName: web\n"), []byte("NOTES\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n"))
	f.Add([]byte("resources: 3\n"), []byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, kustomization, rendered []byte) {
		if checkExpansion(kustomization) != nil || checkExpansion(rendered) != nil {
			return // refused before either is read
		}
		out := withHelmCharts(kustomization)
		var before, after types.Kustomization
		if !bytes.Equal(out, kustomization) && before.Unmarshal(kustomization) == nil {
			if err := after.Unmarshal(out); err != nil {
				t.Fatalf("withHelmCharts(%q) = %q, which kustomize cannot read: %v", kustomization, out, err)
			}
			after.FixKustomization()
			if len(after.HelmCharts) > 0 || after.HelmGlobals != nil || len(after.Resources) == 0 || after.Resources[len(after.Resources)-1] != helmChartsFile {
				t.Fatalf("withHelmCharts(%q) = %q: helm fields kept, or the rendered file not last", kustomization, out)
			}
		}
		objs, err := helmGenerated(rendered, "")
		if err != nil {
			return
		}
		rm, err := kustomizeResources().NewResMapFromBytes(objs)
		if err != nil {
			t.Fatalf("helmGenerated(%q) = %q, which kustomize cannot read back: %v", rendered, objs, err)
		}
		for _, res := range rm.Resources() {
			if res.GetAnnotations(konfig.HelmGeneratedAnnotation)[konfig.HelmGeneratedAnnotation] != "true" {
				t.Fatalf("helmGenerated(%q): %s is not marked helm-generated", rendered, res.CurId())
			}
		}
	})
}
