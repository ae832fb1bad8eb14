package build

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/statepack/statepack/internal/testcharts"
)

// TestRemoteChartsResolver: an entry with a repo and no vendored chart asks the WithRemoteCharts resolver for the
// version `helm pull` would ask for (devel without a version: any version, pre-releases included), renders what it
// returns and records it; what the resolver cannot give, or a chart of another name, is a finding on the entry's
// line that says how to vendor the chart; a vendored chart is rendered without asking the resolver.
func TestRemoteChartsResolver(t *testing.T) {
	t.Parallel()
	chart := map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: web\nversion: 1.2.3\n",
		"values.yaml":       "suffix: \"\"\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}{{ .Values.suffix }}\n",
	}
	web := testcharts.Package(t, writeTree(t, chart))
	chart["values-prod.yaml"] = "suffix: -prod\n"
	prod := testcharts.Package(t, writeTree(t, chart))
	delete(chart, "values-prod.yaml")
	for _, tc := range []struct {
		name, entry string
		vendored    bool
		serve       []byte
		fail        error
		wantAsked   string // "repo name version" the resolver was asked for; "" when it must not be asked
		wantObjects string
		wantFinding string
	}{
		{name: "a range", entry: "  repo: https://charts.example.com\n  version: 1.x\n", serve: web,
			wantAsked: "https://charts.example.com web 1.x", wantObjects: "ConfigMap/front"},
		{name: "devel without a version", entry: "  repo: https://charts.example.com\n  devel: true\n", serve: web,
			wantAsked: "https://charts.example.com web >0.0.0-0", wantObjects: "ConfigMap/front"},
		{name: "devel with a version", entry: "  repo: oci://registry.example.com/charts\n  version: ~1.2\n  devel: true\n", serve: web,
			wantAsked: "oci://registry.example.com/charts web ~1.2", wantObjects: "ConfigMap/front"},
		{name: "vendored", entry: "  repo: https://charts.example.com\n  version: 1.2.3\n", vendored: true, wantObjects: "ConfigMap/front"},
		{name: "a chart without values.yaml", entry: "  repo: https://charts.example.com\n", serve: testcharts.Archive(t, "web", "1.2.3"),
			wantAsked:   "https://charts.example.com web ",
			wantFinding: "app/kustomization.yaml:2: error: helmCharts[0] (web): the chart web@1.2.3 has no values.yaml, which kustomize reads as the values file: give a valuesFile of the tree, or valuesInline with valuesMerge replace [kustomize/helm-chart]"},
		{name: "a values file of the pulled chart", entry: "  repo: https://charts.example.com\n  version: 1.2.3\n  valuesFile: charts/web-1.2.3/web/values-prod.yaml\n",
			serve: prod, wantAsked: "https://charts.example.com web 1.2.3", wantObjects: "ConfigMap/front-prod"},
		{name: "credentials in the URL", entry: "  repo: https://reader:s3cret@charts.example.com/x?token=s3cret\n  version: 1.2.3\n", fail: errors.New("refused"),
			wantAsked:   "https://reader:s3cret@charts.example.com/x?token=s3cret web 1.2.3",
			wantFinding: "app/kustomization.yaml:2: error: helmCharts[0] (web): pulling the chart from https://charts.example.com/x?REDACTED: refused; to render it without the repository, vendor it where kustomize keeps what it pulls (helm pull web --repo https://charts.example.com/x?REDACTED --version 1.2.3 --untar --untardir app/charts/web-1.2.3) (with --helm=off the entry is refused: the kustomization cannot be rendered without its chart) [kustomize/helm-chart]"},
		{name: "unreachable", entry: "  repo: oci://registry.example.com/charts\n  version: 1.2.3\n  devel: true\n", fail: errors.New("connection refused"),
			wantAsked:   "oci://registry.example.com/charts web 1.2.3",
			wantFinding: "app/kustomization.yaml:2: error: helmCharts[0] (web): pulling the chart from oci://registry.example.com/charts: connection refused; to render it without the repository, vendor it where kustomize keeps what it pulls (helm pull oci://registry.example.com/charts/web --version 1.2.3 --devel --untar --untardir app/charts/web-1.2.3) (with --helm=off the entry is refused: the kustomization cannot be rendered without its chart) [kustomize/helm-chart]"},
		{name: "another chart", entry: "  repo: https://charts.example.com\n", serve: testcharts.Archive(t, "api", "1.0.0"),
			wantAsked:   "https://charts.example.com web ",
			wantFinding: `app/kustomization.yaml:2: error: helmCharts[0] (web): the repository https://charts.example.com served a chart named "api" for "web": helm pull would untar it where kustomize does not look for it; correct name [kustomize/helm-chart]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: web\n  releaseName: front\n" + tc.entry}
			if tc.vendored {
				for name, content := range chart {
					files["app/charts/web-1.2.3/web/"+name] = content
				}
			}
			root := writeTree(t, files)
			var mu sync.Mutex
			var asked []string
			resolve := func(_ context.Context, repo, name, version string) (PulledChart, error) {
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, repo+" "+name+" "+version)
				return PulledChart{Archive: tc.serve, Version: "1.2.3", Digest: "sha256:" + strings.Repeat("a", 64), URL: repo + "/web-1.2.3.tgz"}, tc.fail
			}
			r, err := Render(context.Background(), filepath.Join(root, "app"), WithRoot(root), WithRemoteCharts(resolve))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tc.wantAsked != "" {
				want = []string{tc.wantAsked}
			}
			if !slices.Equal(asked, want) {
				t.Errorf("the resolver was asked %q, want %q", asked, want)
			}
			var findings []string
			for _, f := range r.Findings {
				findings = append(findings, f.String())
			}
			if got := strings.Join(findings, "\n"); got != tc.wantFinding {
				t.Errorf("findings:\n%s\nwant:\n%s", got, tc.wantFinding)
			}
			var objs []string
			for _, o := range r.Objects {
				objs = append(objs, o.ID.Kind+"/"+o.ID.Name)
			}
			if got := strings.Join(objs, " "); got != tc.wantObjects {
				t.Errorf("objects %q, want %q", got, tc.wantObjects)
			}
			pulled := tc.wantObjects != "" && !tc.vendored
			if pulled != (len(r.RemoteCharts) == 1) {
				t.Errorf("RemoteCharts %+v, want one entry: %v", r.RemoteCharts, pulled)
			}
			if pulled && (r.RemoteCharts[0].Chart != "web@1.2.3" || r.RemoteCharts[0].Kustomization != "app/kustomization.yaml" || r.RemoteCharts[0].Line != 2 || r.RemoteCharts[0].ReleaseName != "front") {
				t.Errorf("RemoteCharts[0] = %+v, want web@1.2.3 of the entry at app/kustomization.yaml:2", r.RemoteCharts[0])
			}
		})
	}
}

// TestRemoteChartsWithoutResolver: without WithRemoteCharts (a library caller, --helm=off) an entry whose chart is
// not vendored is refused, saying how to vendor it and which mode pulls it, with no credential of its URL.
func TestRemoteChartsWithoutResolver(t *testing.T) {
	t.Parallel()
	root := writeTree(t, map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: web\n  releaseName: web\n  repo: oci://reader:s3cret@registry.example.com/charts\n  version: 1.2.3\n"})
	r, err := Render(context.Background(), filepath.Join(root, "app"), WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	want := "app/kustomization.yaml:2: error: helmCharts[0] (web): the chart comes from the repository oci://registry.example.com/charts, and statepack renders a kustomization's charts only from the tree: vendor it where kustomize keeps what it pulls (helm pull oci://registry.example.com/charts/web --version 1.2.3 --untar --untardir app/charts/web-1.2.3), or render with --helm=pin (statepack's default; --helm=off fetches no chart), which pulls the chart and pins it in statepack.lock [kustomize/helm-chart]"
	if len(r.Findings) != 1 || r.Findings[0].String() != want {
		t.Errorf("findings %v, want\n%s", r.Findings, want)
	}
}

// TestHelmChartLines: the line of each helmCharts entry, and none when the entries cannot be matched to the list.
func TestHelmChartLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data string
		n          int
		want       []int
	}{
		{"two entries", "namespace: x\nhelmCharts:\n- name: a\n  releaseName: a\n- name: b\n", 2, []int{3, 5}},
		{"flow style", "helmCharts: [{name: a}, {name: b}]\n", 2, []int{1, 1}},
		{"more entries than listed (deprecated field moved in)", "helmCharts:\n- name: a\n", 2, []int{0, 0}},
		{"another case", "HelmCharts:\n- name: a\n", 1, []int{0}},
		{"not YAML", "helmCharts: [\n", 1, []int{0}},
		{"an alias", "x: &a\n- name: a\nhelmCharts: *a\n", 1, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := helmChartLines([]byte(tc.data), tc.n); !slices.Equal(got, tc.want) {
				t.Errorf("helmChartLines(%q, %d) = %v, want %v", tc.data, tc.n, got, tc.want)
			}
		})
	}
}

// FuzzHelmChartLines: any kustomization text gives n lines, each 0 or a line of the text, and never panics.
func FuzzHelmChartLines(f *testing.F) {
	for _, seed := range []string{"helmCharts:\n- name: a\n- name: b\n", "helmCharts: [{name: a}]\n", "helmCharts: *a\n", "- a\n", "{"} {
		f.Add([]byte(seed), 2)
	}
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if n < 0 || n > 64 || checkExpansion(data) != nil {
			return
		}
		lines := helmChartLines(data, n)
		if len(lines) != n {
			t.Fatalf("%d lines for %d entries", len(lines), n)
		}
		total := strings.Count(string(data), "\n") + 1
		for _, l := range lines {
			if l < 0 || l > total {
				t.Fatalf("line %d of a %d-line text", l, total)
			}
		}
	})
}

// TestRemoteChartsSharedBase: a base with a repo chart that two kustomizations of a plain tree share (and that the
// plain tree builds on its own too) is rendered in each of the three builds, and listed once.
func TestRemoteChartsSharedBase(t *testing.T) {
	t.Parallel()
	root := writeTree(t, map[string]string{
		// The chart has no values.yaml: the entry gives its values inline, alone.
		"base/kustomization.yaml": "helmCharts:\n- name: web\n  releaseName: web\n  repo: https://charts.example.com\n  version: 1.2.3\n  valuesInline: {x: 1}\n  valuesMerge: replace\n",
		"a/kustomization.yaml":    "resources: [../base]\nnamePrefix: a-\n",
		"b/kustomization.yaml":    "resources: [../base]\nnamePrefix: b-\n",
	})
	archive := testcharts.Archive(t, "web", "1.2.3")
	resolve := func(_ context.Context, repo, name, version string) (PulledChart, error) {
		return PulledChart{Archive: archive, Version: version, Digest: "sha256:" + strings.Repeat("b", 64), URL: repo + "/web-1.2.3.tgz"}, nil
	}
	r, err := Render(context.Background(), root, WithRoot(root), WithRemoteCharts(resolve))
	if err != nil || len(r.Findings) > 0 {
		t.Fatalf("%v %v", err, r.Findings)
	}
	if len(r.Objects) != 3 || len(r.RemoteCharts) != 1 || r.RemoteCharts[0].Kustomization != "base/kustomization.yaml" {
		t.Errorf("%d objects, RemoteCharts %+v: want the three builds' ConfigMaps and the chart once", len(r.Objects), r.RemoteCharts)
	}
}
