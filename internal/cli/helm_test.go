package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testcharts"
)

const helmLocal = "../../testdata/helm-local"

// TestRenderHelmHydrate: `render --helm hydrate` prints what the HelmRelease installs in its place, rendered
// in-process with no helm binary (golden); `--helm off` prints the HelmRelease itself.
func TestRenderHelmHydrate(t *testing.T) {
	t.Parallel()
	r := mustRun(t, 0, nil, "render", helmLocal+"/apps/web", "--root", helmLocal, "--helm", "hydrate")
	golden(t, "render-helm-hydrate.yaml", r.stdout)
	r = mustRun(t, 0, nil, "render", helmLocal+"/apps/web", "--root", helmLocal, "--helm", "off")
	if !strings.Contains(r.stdout, "kind: HelmRelease") || strings.Contains(r.stdout, "kind: Deployment") {
		t.Errorf("--helm off rendered the chart:\n%s", r.stdout)
	}
}

// TestValidateHelmPinsByDefault: validate renders the chart beside the tree by default and says so; a bad
// --helm value is a usage error naming the values it takes.
func TestValidateHelmPinsByDefault(t *testing.T) {
	t.Parallel()
	r := mustRun(t, 0, nil, "validate", helmLocal+"/apps/web", "--root", helmLocal)
	if !strings.Contains(r.stdout, "3 object(s) (1 Helm release(s) rendering 3 object(s), validated beside them)") {
		t.Errorf("validate did not report the release it rendered:\n%s", r)
	}
	r = mustRun(t, 2, nil, "validate", helmLocal+"/apps/web", "--root", helmLocal, "--helm", "template")
	if !strings.Contains(r.stderr, "pin") || !strings.Contains(r.stderr, "hydrate") || !strings.Contains(r.stderr, "off") {
		t.Errorf("a bad --helm value: %s", r)
	}
}

// TestHelmCorpusStaging runs the Flux example's apps/staging (a HelmRelease of podinfo at ">=1.0.0-alpha" from a
// HelmRepository) against a loopback chart repository serving the real podinfo chart: lock pins it, validate
// renders it beside the tree, a hydrated render holds podinfo's objects instead of the HelmRelease, and a repository
// that goes away does not matter offline with the lock and the cache.
func TestHelmCorpusStaging(t *testing.T) {
	t.Parallel()
	apps := corpus(t, "flux2-kustomize-helm-example/apps")
	podinfo := corpus(t, "charts/podinfo")
	repo := testcharts.NewRepo(t, testcharts.Chart{Name: "podinfo", Version: "6.14.1", Data: testcharts.Package(t, podinfo)})
	root := t.TempDir()
	copyDir(t, apps, filepath.Join(root, "apps"))
	repoFile := filepath.Join(root, "apps", "base", "podinfo", "repository.yaml")
	data, err := os.ReadFile(repoFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(repoFile, []byte(strings.Replace(string(data), "https://stefanprodan.github.io/podinfo", repo.URL(), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(root, "apps", "staging")
	cache := filepath.Join(t.TempDir(), "charts")
	flags := []string{"--root", root, "--chart-cache", cache}

	r := mustRun(t, 0, nil, append([]string{"lock", staging}, flags...)...)
	if !strings.Contains(r.stdout, "wrote "+filepath.Join(staging, "statepack.lock")+": 1 chart(s)") || !strings.Contains(r.stdout, ">=1.0.0-alpha → 6.14.1 sha256:") {
		t.Errorf("lock: %s", r)
	}
	r = mustRun(t, 0, nil, append([]string{"validate", staging}, flags...)...)
	if !strings.Contains(r.stdout, "1 Helm release(s) rendering") {
		t.Errorf("validate did not render podinfo: %s", r)
	}
	r = mustRun(t, 0, nil, append([]string{"render", staging, "--helm", "pin"}, flags...)...)
	if !strings.Contains(r.stdout, "version: 6.14.1") {
		t.Errorf("pinned render lacks the exact version:\n%s", r.stdout)
	}

	repo.Close()
	r = mustRun(t, 0, nil, append([]string{"render", staging, "--helm", "hydrate", "--offline"}, flags...)...)
	for _, want := range []string{"kind: Deployment", "image: ghcr.io/stefanprodan/podinfo:6.14.1", "kind: HTTPRoute", "podinfo.staging", "public.ecr.aws/docker/library/redis:8.6.2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the hydrated render lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, gone := range []string{"kind: HelmRelease", "kind: HelmRepository", "helm.sh/hook: test"} {
		if strings.Contains(r.stdout, gone) {
			t.Errorf("the hydrated render still holds %q", gone)
		}
	}
}

// TestRenderKustomizeHelmCharts: `statepack render` of a kustomization with helmCharts prints what `kustomize build
// --enable-helm` prints (the build package's golden, checked against kustomize and helm v4.3.2), with no
// --enable-helm and no helm binary; `validate --helm off` of a kustomization whose chart is in a repository exits 1
// with the finding naming the entry and the mode that pulls it.
func TestRenderKustomizeHelmCharts(t *testing.T) {
	t.Parallel()
	const tree = "../../testdata/helmcharts"
	r := mustRun(t, 0, nil, "render", tree+"/apps/inline", "--root", tree)
	want, err := os.ReadFile("../../testdata/helmcharts-golden/apps-inline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Errorf("render of apps/inline:\n%s\nwant:\n%s", r.stdout, want)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("helmCharts:\n- name: podinfo\n  releaseName: podinfo\n  repo: oci://ghcr.io/stefanprodan/charts\n  version: 6.9.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// --helm=off fetches no chart, so the entry cannot be rendered (with the default it is pulled: see the root
	// package's TestKustomizeRepoCharts*).
	r = mustRun(t, 1, nil, "validate", dir, "--root", dir, "--helm", "off")
	if !strings.Contains(r.stdout+r.stderr, "kustomization.yaml:2: error: helmCharts[0] (podinfo): the chart comes from the repository oci://ghcr.io/stefanprodan/charts") ||
		!strings.Contains(r.stdout+r.stderr, "--helm=pin") {
		t.Errorf("validate of a repository chart: %s", r)
	}
}

// releaseFromRepo writes a tree whose apps/release.yaml is testdata/helmrelease-http's Flux HelmRelease of the chart
// web 1.x from the HTTP chart repository at url; it returns the tree's root.
func releaseFromRepo(t *testing.T, url string) string {
	t.Helper()
	data, err := os.ReadFile("../../testdata/helmrelease-http/release.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return writeTree(t, map[string]string{"apps/release.yaml": strings.ReplaceAll(string(data), "REPO_URL", url)})
}

// TestChartAuth: --chart-auth takes an HTTP chart repository's credentials from the environment, sends them to it,
// never prints them; a prefix whose variables are not set is a usage error; without it the repository's 401 is an
// error naming the release.
func TestChartAuth(t *testing.T) {
	t.Parallel()
	repo := testcharts.NewRepo(t, testcharts.Chart{Name: "web", Version: "1.2.3", Data: testcharts.Archive(t, "web", "1.2.3")})
	repo.RequireAuth("reader", "CH4RT-S3CRET-PW")
	plant("CH4RT-S3CRET-PW")
	root := releaseFromRepo(t, repo.URL())
	env := map[string]string{"CHARTS_USERNAME": "reader", "CHARTS_PASSWORD": "CH4RT-S3CRET-PW"}
	apps := filepath.Join(root, "apps")
	r := mustRun(t, 0, env, "render", apps, "--root", root, "--chart-auth", repo.URL()+"=CHARTS")
	if !strings.Contains(r.stdout, "version: 1.2.3") {
		t.Errorf("the release was not pinned through the authenticated repository:\n%s", r)
	}
	r = mustRun(t, 1, nil, "render", apps, "--root", root)
	if !strings.Contains(r.stderr, "apps/release.yaml") || !strings.Contains(r.stderr, "[helm/release]") {
		t.Errorf("without credentials: %s", r)
	}
	r = mustRun(t, 2, nil, "render", apps, "--root", root, "--chart-auth", repo.URL()+"=CHARTS")
	if !strings.Contains(r.stderr, "set CHARTS_USERNAME and CHARTS_PASSWORD") {
		t.Errorf("missing environment: %s", r)
	}
}

// TestKustomizeRepoChart: a kustomization whose helmCharts entry names a repo: `validate` pulls and renders the
// chart (the newest 1.x), `lock` pins it, and `render --offline` renders it from the lock and the chart cache once
// the repository is gone.
func TestKustomizeRepoChart(t *testing.T) {
	t.Parallel()
	chart := func(version string) testcharts.Chart {
		return testcharts.Chart{Name: "web", Version: version, Data: testcharts.Package(t, writeTree(t, map[string]string{
			"Chart.yaml":        "apiVersion: v2\nname: web\nversion: " + version + "\n",
			"values.yaml":       "suffix: \"-" + version + "\"\n",
			"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}{{ .Values.suffix }}\n",
		}))}
	}
	repo := testcharts.NewRepo(t, chart("1.1.0"), chart("1.2.3"), chart("2.0.0"))
	root := writeTree(t, map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: web\n  repo: " + repo.URL() + "\n  version: 1.x\n  releaseName: web\n"})
	app, cache := filepath.Join(root, "app"), t.TempDir()
	mustRun(t, 0, nil, "validate", app, "--root", root, "--chart-cache", cache)
	r := mustRun(t, 0, nil, "lock", app, "--root", root, "--chart-cache", cache)
	if !strings.Contains(r.stdout, "1 chart(s)") || !strings.Contains(r.stdout, repo.URL()+" web 1.x → 1.2.3 sha256:") {
		t.Errorf("lock: %s", r)
	}
	repo.Close()
	r = mustRun(t, 0, nil, "render", app, "--root", root, "--chart-cache", cache, "--offline")
	if !strings.Contains(r.stdout, "name: web-1.2.3") {
		t.Errorf("render --offline: %s", r)
	}
}
