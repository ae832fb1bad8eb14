package statepack

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/releases"
)

// localChartTree is a repository with a chart directory (charts/web) and a Flux tree (apps/web) that installs it
// from the GitRepository of the repository itself, with values from a ConfigMap of the tree and inline values.
func localChartTree(t *testing.T, extra map[string]string) string {
	t.Helper()
	files := map[string]string{
		"charts/web/Chart.yaml":  "apiVersion: v2\nname: web\nversion: 1.2.3\n",
		"charts/web/values.yaml": "replicas: 1\nimage: example.com/web:1.0\nport: 8080\ncolour: blue\n",
		"charts/web/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {colour: {{ .Values.colour | quote }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
          ports: [{containerPort: {{ .Values.port }}}]
`,
		"charts/web/templates/migrate.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations: {"helm.sh/hook": pre-install, "helm.sh/hook-weight": "1"}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: {{ .Values.image }}}]
`,
		"charts/web/templates/tests/ping.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-ping
  annotations: {"helm.sh/hook": test}
spec:
  restartPolicy: Never
  containers: [{name: ping, image: busybox}]
`,
		"apps/web/kustomization.yaml": "resources: [namespace.yaml, release.yaml, values.yaml]\n",
		"apps/web/namespace.yaml":     "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n",
		"apps/web/values.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: web-values, namespace: web}
data:
  values.yaml: |
    replicas: 2
    colour: green
  port: "9090"
`,
		"apps/web/release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: web}
spec:
  interval: 10m
  chart:
    spec:
      chart: ./charts/web
      sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}
  valuesFrom:
    - {kind: ConfigMap, name: web-values}
    - {kind: ConfigMap, name: web-values, valuesKey: port, targetPath: port}
    - {kind: ConfigMap, name: absent, optional: true}
  values:
    colour: red
`,
	}
	for k, v := range extra {
		files[k] = v
	}
	return writeFiles(t, files)
}

// TestHelmHydrateLocalChart: with --helm=hydrate a HelmRelease of a chart directory is replaced by what the chart
// renders as helm-controller installs it: values from valuesFrom in order (a targetPath set with Helm's --set
// parser), inline values on top; namespaced objects given the release's namespace; hooks kept with their
// annotations; chart tests left out.
func TestHelmHydrateLocalChart(t *testing.T) {
	t.Parallel()
	root := localChartTree(t, nil)
	s, err := Load(context.Background(), root+"/apps/web", LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Findings.HasErrors() {
		t.Fatalf("findings: %v", s.Findings)
	}
	var ids []string
	for _, o := range s.Objects() {
		ids = append(ids, o.ID.String())
	}
	want := []string{"Namespace/web", "Deployment.apps/web/web", "Job.batch/web/web-migrate", "ConfigMap/web/web-values"}
	if !slices.Equal(sorted(ids), sorted(want)) {
		t.Fatalf("hydrated objects %v, want %v", ids, want)
	}
	var dep build.Object
	for _, o := range s.Objects() {
		if o.ID.Kind == "Deployment" {
			dep = o
		}
	}
	y := string(dep.YAML)
	for _, w := range []string{"replicas: 2", "colour: red", "containerPort: 9090", "namespace: web"} {
		if !strings.Contains(y, w) {
			t.Errorf("the hydrated Deployment lacks %q:\n%s", w, y)
		}
	}
	if len(s.Charts) != 1 || s.Charts[0].Chart != "web@1.2.3" {
		t.Errorf("charts %+v, want one release of web@1.2.3", s.Charts)
	}
}

// TestHelmPinLocalChart: by default a HelmRelease stays as it is and its chart is rendered for validation only: a
// finding in the chart's output names the release, the chart and the template, on the HelmRelease's line.
func TestHelmPinLocalChart(t *testing.T) {
	t.Parallel()
	root := localChartTree(t, map[string]string{
		"charts/web/templates/bad.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}}\nspec: {ports: [{port: notanumber}]}\n",
	})
	s, err := Load(context.Background(), root+"/apps/web", LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range s.Objects() {
		ids = append(ids, o.ID.String())
	}
	if !slices.Contains(ids, "HelmRelease.helm.toolkit.fluxcd.io/web/web") || slices.Contains(ids, "Deployment.apps/web/web") {
		t.Errorf("pin packaged %v, want the HelmRelease kept and no rendered object", ids)
	}
	var got *build.Finding
	for i, f := range s.Findings {
		if f.Object != nil && f.Object.Kind == "Service" {
			got = &s.Findings[i]
		}
	}
	if got == nil {
		t.Fatalf("no finding about the chart's Service: %v", s.Findings)
	}
	if got.Severity != build.SeverityError || got.File != "apps/web/release.yaml" || got.Line == 0 ||
		!strings.Contains(got.Message, "HelmRelease web/web, chart web@1.2.3, web/templates/bad.yaml") {
		t.Errorf("finding %v: want an error on the HelmRelease's line naming release, chart and template", got)
	}
}

// TestHelmOffWarnsUnpinned: with --helm=off the releases are left alone, and a chart version range is a
// chart-unpinned warning; an exact version is not.
func TestHelmOffWarnsUnpinned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version  string
		unpinned bool
	}{{">=1.0.0-alpha", true}, {"1.x", true}, {"", true}, {"1.2.3", false}, {"v1.2.3", false}} {
		root := writeFiles(t, map[string]string{"release.yaml": releaseYAMLOf("https://charts.example.com", tc.version, "values: {}")})
		s, err := Load(context.Background(), root, LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmOff}})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(s.Findings, func(f build.Finding) bool { return f.Rule == releases.RuleUnpinned })
		if got != tc.unpinned || s.Findings.HasErrors() {
			t.Errorf("version %q: findings %v, want chart-unpinned warning %v and no error", tc.version, s.Findings, tc.unpinned)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestHelmHydratePostRenderers: a HelmRelease's kustomize post-renderers (patches, images) apply to the manifests
// the chart renders, as helm-controller applies them; hooks are not post-rendered, as Helm hands them over.
func TestHelmHydratePostRenderers(t *testing.T) {
	t.Parallel()
	root := localChartTree(t, map[string]string{"apps/web/release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: web}
spec:
  interval: 10m
  chart:
    spec:
      chart: ./charts/web
      sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}
  postRenderers:
    - kustomize:
        patches:
          - target: {kind: Deployment}
            patch: |
              - op: replace
                path: /spec/replicas
                value: 7
        images:
          - name: example.com/web
            newTag: "2.0"
`})
	s, err := Load(context.Background(), root+"/apps/web", LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Findings.HasErrors() {
		t.Fatalf("findings: %v", s.Findings)
	}
	for _, o := range s.Objects() {
		y := string(o.YAML)
		switch o.ID.Kind {
		case "Deployment":
			if !strings.Contains(y, "replicas: 7") || !strings.Contains(y, "image: example.com/web:2.0") {
				t.Errorf("the post-renderers did not apply to the Deployment:\n%s", y)
			}
		case "Job":
			if !strings.Contains(y, "image: example.com/web:1.0") {
				t.Errorf("the hook was post-rendered:\n%s", y)
			}
		}
	}
	if len(s.Charts) != 1 || !slices.Contains(s.Charts[0].Templates, "web/templates/deployment.yaml") {
		t.Errorf("post-rendered objects lost their templates: %+v", s.Charts)
	}
}

// TestChartCredentials: a credential covers its URL and the repositories below it, the longest URL wins, and a
// repository under no URL (or beside one that merely shares its first letters) gets none.
func TestChartCredentials(t *testing.T) {
	t.Parallel()
	auth := ChartCredentials(
		ChartCredential{URL: "https://charts.example.com", Username: "all", Password: "p1"},
		ChartCredential{URL: "https://charts.example.com/team/", Username: "team", Password: "p2"},
	)
	for repo, want := range map[string]string{
		"https://charts.example.com":             "all",
		"https://charts.example.com/stable":      "all",
		"https://charts.example.com/team":        "team",
		"https://charts.example.com/team/stable": "team",
		"https://charts.example.com/teams":       "all",
		"https://charts.example.community":       "",
		"https://other.example.com":              "",
	} {
		if user, _, _ := auth(repo); user != want {
			t.Errorf("credentials for %s: %q, want %q", repo, user, want)
		}
	}
	if ChartCredentials() != nil {
		t.Error("no credentials should give no HTTPAuth")
	}
}
