package statepack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testcharts"
	"github.com/statepack/statepack/internal/testregistry"
)

// repoChartTree is a tree whose kustomization (app/kustomization.yaml) renders chart web from repo at version,
// with the rest of the helmCharts entry (releaseName, values…) given as YAML lines indented under it, and files
// added.
func repoChartTree(t testing.TB, repo, version, entry string, files map[string]string) string {
	t.Helper()
	all := map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: web\n  repo: " + repo + "\n  version: \"" + version + "\"\n" + entry}
	for k, v := range files {
		all[k] = v
	}
	return writeFiles(t, all)
}

// renderedYAML is the tree's objects as `statepack render` prints them.
func renderedYAML(s *Source) string {
	var b strings.Builder
	for i, o := range s.Objects() {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(o.YAML)
	}
	return b.String()
}

// objectIDs lists the IDs of the tree's objects, in order.
func objectIDs(s *Source) string {
	var ids []string
	for _, o := range s.Objects() {
		ids = append(ids, o.ID.String())
	}
	return strings.Join(ids, " ")
}

// helmChartFinding is the kustomize/helm-chart finding of s, or nil.
func helmChartFinding(s *Source) *build.Finding {
	for i := range s.Findings {
		if s.Findings[i].Rule == "kustomize/helm-chart" {
			return &s.Findings[i]
		}
	}
	return nil
}

// TestKustomizeRepoChartsHTTP: a helmCharts entry with an HTTP repo is resolved as `helm pull --version` resolves
// it (newest match of the range, no pre-release), rendered, listed in the provenance and the inventory, makes the
// render live until `statepack lock` pins it; then the lock holds the version when a newer one appears, and an
// offline run with the cache renders without the repository. Offline without a lock, and --helm=off, refuse the
// entry saying what to do.
func TestKustomizeRepoChartsHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.1.0"), webChart(t, "1.2.3"), webChart(t, "1.3.0-rc.1"), webChart(t, "2.0.0"))
	root := repoChartTree(t, repo.URL(), "1.x", "  releaseName: front\n", nil)
	app := filepath.Join(root, "app")
	cache := t.TempDir()
	o := LoadOptions{Root: root, Helm: HelmOptions{ChartCache: cache}}

	// Offline before any lock: nothing to resolve from.
	s, err := Load(ctx, app, LoadOptions{Root: root, Helm: HelmOptions{ChartCache: cache, Offline: true}})
	if err != nil {
		t.Fatal(err)
	}
	if f := helmChartFinding(s); f == nil || f.File != "app/kustomization.yaml" || f.Line != 2 || !strings.Contains(f.Message, "run `statepack lock` online") {
		t.Errorf("offline without a lock: findings %v, want app/kustomization.yaml:2 saying to run statepack lock", s.Findings)
	}
	if n := repo.Hits("/charts/index.yaml"); n != 0 {
		t.Errorf("an offline run fetched the index %d time(s)", n)
	}

	// --helm=off fetches nothing: the entry cannot be rendered.
	s, err = Load(ctx, app, LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmOff}})
	if err != nil {
		t.Fatal(err)
	}
	if f := helmChartFinding(s); f == nil || f.Severity != build.SeverityError || !strings.Contains(f.Message, "vendor it where kustomize keeps what it pulls") || !strings.Contains(f.Message, "--helm=pin") {
		t.Errorf("--helm=off: findings %v, want the entry refused with how to vendor it and --helm=pin", s.Findings)
	}

	s, err = Load(ctx, app, o)
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	if got := objectIDs(s); got != "Deployment.apps/front" {
		t.Errorf("objects %s, want the chart's Deployment front", got)
	}
	if y := renderedYAML(s); !strings.Contains(y, "image: example.com/web:1.2.3") {
		t.Errorf("rendered with the chart's own values.yaml of 1.2.3, want its image:\n%s", y)
	}
	rc := s.Rendering.RemoteCharts
	if len(rc) != 1 || rc[0].Chart != "web@1.2.3" || rc[0].Kustomization != "app/kustomization.yaml" || rc[0].Line != 2 ||
		rc[0].URL != repo.URL()+"/web-1.2.3.tgz" || !strings.HasPrefix(rc[0].Digest, "sha256:") {
		t.Fatalf("RemoteCharts %+v, want web@1.2.3 from its archive URL, at app/kustomization.yaml:2", rc)
	}
	if !strings.Contains(s.settings("v", PackageOptions{}), "charts=live") {
		t.Error("a chart resolved without a lock must make the render live (an incremental publish renders again)")
	}
	if !slices.Contains(s.Rendering.Inputs, "app/"+LockFileName) {
		t.Errorf("inputs %v: the lock file (absent or not) is an input of the render", s.Rendering.Inputs)
	}

	b, err := s.Bundle(BuildContext{}, PackageOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps := provenance(BuildContext{}, "registry.example.com/apps", nil, s, b).BuildDefinition.ResolvedDependencies
	if len(deps) != 1 || deps[0].URI != rc[0].URL || "sha256:"+deps[0].Digest["sha256"] != rc[0].Digest || deps[0].Name != "web" {
		t.Errorf("provenance resolvedDependencies %+v, want the chart archive's URL and digest", deps)
	}
	found := false
	for _, p := range predicates(BuildContext{}, "registry.example.com/apps", nil, s, b, nil, false) {
		if inv, ok := p.Value.(build.Inventory); ok {
			found = true
			want := build.InventoryChart{Release: "front", Kustomization: "app/kustomization.yaml", Chart: "web@1.2.3", Digest: rc[0].Digest, URL: rc[0].URL, Hydrated: true}
			if len(inv.Charts) != 1 || inv.Charts[0] != want {
				t.Errorf("inventory charts %+v, want %+v", inv.Charts, want)
			}
		}
	}
	if !found {
		t.Error("no inventory among the predicates")
	}

	res, err := Lock(ctx, app, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Charts) != 1 || res.Charts[0].Version != "1.2.3" || !res.Changed {
		t.Fatalf("lock %+v, want web pinned at 1.2.3", res)
	}
	data, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if lock := string(data); !strings.Contains(lock, "constraint: 1.x") || !strings.Contains(lock, "name: web") {
		t.Errorf("the lock entry is keyed by the request (repository, name, constraint as written):\n%s", lock)
	}

	// A newer 1.x appears: the locked tree stays on 1.2.3, and is no longer live.
	repo.Set(t, webChart(t, "1.2.3"), webChart(t, "1.4.0"))
	s, err = Load(ctx, app, o)
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	if rc := s.Rendering.RemoteCharts; len(rc) != 1 || rc[0].Chart != "web@1.2.3" {
		t.Errorf("RemoteCharts %+v: the lock did not hold 1.2.3", rc)
	}
	if strings.Contains(s.settings("v", PackageOptions{}), "charts=live") {
		t.Error("a chart resolved from the lock must not make the render live")
	}

	// Offline, with the lock and the cache, the repository is not needed.
	repo.Close()
	s, err = Load(ctx, app, LoadOptions{Root: root, Helm: HelmOptions{ChartCache: cache, Offline: true}})
	if err != nil || s.Findings.HasErrors() || objectIDs(s) != "Deployment.apps/front" {
		t.Fatalf("offline with lock and cache: %v %v", err, s.Findings)
	}
}

// TestKustomizeRepoChartsRenderAsVendored: an entry with a repo renders byte for byte what the same entry renders
// from the chart vendored where `helm pull --untar` puts it (chartHome/NAME-VERSION/NAME), which is what
// kustomize renders after pulling: with the chart's own values, with valuesInline over them (override and merge),
// and with includeCRDs and a values file of the tree. The vendored chart wins: its repository is never asked.
func TestKustomizeRepoChartsRenderAsVendored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	chart := webChart(t, "1.2.3")
	repo := testcharts.NewRepo(t, chart)
	unused := testcharts.NewRepo(t, chart)
	for _, tc := range []struct{ name, entry string }{
		{"chart values", "  releaseName: web\n"},
		{"valuesInline override", "  releaseName: web\n  namespace: shop\n  valuesInline: {image: example.com/inline:1}\n"},
		{"valuesInline merge", "  releaseName: web\n  valuesMerge: merge\n  valuesInline: {image: example.com/inline:1, extra: 2}\n"},
		{"values file and CRDs", "  releaseName: web\n  includeCRDs: true\n  valuesFile: values.yaml\n  kubeVersion: \"1.31.0\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"app/values.yaml": "image: example.com/file:2\n"}
			root := repoChartTree(t, repo.URL(), "1.2.3", tc.entry, files)
			pulled, err := Load(ctx, filepath.Join(root, "app"), LoadOptions{Root: root})
			if err != nil || pulled.Findings.HasErrors() || len(pulled.Rendering.RemoteCharts) != 1 {
				t.Fatalf("%v %v", err, pulled.Findings)
			}

			vroot := repoChartTree(t, unused.URL(), "1.2.3", tc.entry, files)
			if err := chartutil.Expand(filepath.Join(vroot, "app", "charts", "web-1.2.3"), bytes.NewReader(chart.Data)); err != nil {
				t.Fatal(err)
			}
			vendored, err := Load(ctx, filepath.Join(vroot, "app"), LoadOptions{Root: vroot})
			if err != nil || vendored.Findings.HasErrors() {
				t.Fatalf("%v %v", err, vendored.Findings)
			}
			if got, want := renderedYAML(pulled), renderedYAML(vendored); got != want || got == "" {
				t.Errorf("rendered from the repository:\n%s\nwant what the vendored chart renders:\n%s", got, want)
			}
			if len(vendored.Rendering.RemoteCharts) != 0 {
				t.Errorf("a vendored chart is listed as pulled: %+v", vendored.Rendering.RemoteCharts)
			}
		})
	}
	t.Cleanup(func() {
		if n, m := unused.Hits("/charts/index.yaml"), unused.Hits("/charts/web-1.2.3.tgz"); n != 0 || m != 0 {
			t.Errorf("a vendored chart made %d index and %d archive request(s), want none", n, m)
		}
	})
}

// TestKustomizeRepoChartsOCI: an entry with an oci:// repo pulls REPO/NAME from a real registry, the newest tag in
// the range, pinned to its manifest digest.
func TestKustomizeRepoChartsOCI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t)
	testcharts.Push(t, reg.Host, "charts/web", "1.0.0", webChart(t, "1.0.0").Data, nil)
	want := testcharts.Push(t, reg.Host, "charts/web", "1.1.0", webChart(t, "1.1.0").Data, nil)
	testcharts.Push(t, reg.Host, "charts/web", "2.0.0", webChart(t, "2.0.0").Data, nil)
	root := repoChartTree(t, "oci://"+reg.Host+"/charts", "~1.0 || ~1.1", "  releaseName: web\n", nil)
	s, err := Load(ctx, filepath.Join(root, "app"), LoadOptions{Root: root})
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	rc := s.Rendering.RemoteCharts
	if len(rc) != 1 || rc[0].Chart != "web@1.1.0" || rc[0].Digest != want || rc[0].URL != "oci://"+reg.Host+"/charts/web@"+want {
		t.Errorf("RemoteCharts %+v, want web@1.1.0 at %s", rc, want)
	}
	if y := renderedYAML(s); !strings.Contains(y, "image: example.com/web:1.1.0") {
		t.Errorf("rendered:\n%s\nwant the 1.1.0 chart's image", y)
	}
}

// TestKustomizeRepoChartsRefuseOtherBytes: a repository that serves other bytes for the locked version is an error
// on the entry's line naming `statepack lock`, and nothing is rendered from those bytes.
func TestKustomizeRepoChartsRefuseOtherBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"))
	root := repoChartTree(t, repo.URL(), "~1.2", "  releaseName: web\n", nil)
	app := filepath.Join(root, "app")
	if _, err := Lock(ctx, app, LoadOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	repo.Set(t, testcharts.Chart{Name: "web", Version: "1.2.3", Data: testcharts.Archive(t, "web", "1.2.3")})
	s, err := Load(ctx, app, LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	f := helmChartFinding(s)
	if f == nil || f.Severity != build.SeverityError || f.File != "app/kustomization.yaml" || f.Line != 2 || !strings.Contains(f.Message, "statepack lock") {
		t.Errorf("findings %v: want an error at app/kustomization.yaml:2 saying the bytes changed and to run statepack lock", s.Findings)
	}
	if len(s.Objects()) != 0 {
		t.Errorf("rendered %s from bytes the lock refuses", objectIDs(s))
	}
}

// TestKustomizeRepoChartsAuth: the repository's credentials (--chart-auth) are sent to it; without them its 401
// is an error on the entry that never shows the password.
func TestKustomizeRepoChartsAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"))
	repo.RequireAuth("reader", "s3cret-pass")
	root := repoChartTree(t, repo.URL(), "1.2.3", "  releaseName: web\n", nil)
	s, err := Load(ctx, filepath.Join(root, "app"), LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if f := helmChartFinding(s); f == nil || !strings.Contains(f.Message, "401") {
		t.Errorf("findings %v: want the repository's 401 on the entry", s.Findings)
	}
	auth := ChartCredentials(ChartCredential{URL: repo.URL(), Username: "reader", Password: "s3cret-pass"})
	s, err = Load(ctx, filepath.Join(root, "app"), LoadOptions{Root: root, Helm: HelmOptions{HTTPAuth: auth}})
	if err != nil || s.Findings.HasErrors() || objectIDs(s) != "Deployment.apps/web" {
		t.Fatalf("with credentials: %v %v %s", err, s.Findings, objectIDs(s))
	}
	for _, f := range s.Findings {
		if strings.Contains(f.Message, "s3cret-pass") {
			t.Errorf("a finding shows the password: %s", f.Message)
		}
	}
}

// TestKustomizeRepoChartsIncremental: an incremental publish of a tree whose kustomization pulls a chart renders
// again every time while the chart is resolved live (the repository may serve another version while no file
// changed), is unchanged once statepack.lock pins it, and notices a re-lock to a newer version.
func TestKustomizeRepoChartsIncremental(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t)
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"))
	root := repoChartTree(t, repo.URL(), "1.x", "  releaseName: web\n", nil)
	app := filepath.Join(root, "app")
	ref := mustRef(t, reg.Host+"/incremental/repochart:main")
	publish := func() PublishResult {
		t.Helper()
		res, err := Publish(ctx, app, ref, PublishOptions{Load: LoadOptions{Root: root}, Incremental: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	publish()
	if r := publish(); r.Unchanged {
		t.Error("a tree whose chart is resolved live was taken as unchanged")
	}
	if _, err := Lock(ctx, app, LoadOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	publish()
	repo.Set(t, webChart(t, "1.2.3"), webChart(t, "1.4.0"))
	if r := publish(); !r.Unchanged {
		t.Error("a locked tree was published again while nothing it is made of changed")
	}
	if _, err := Lock(ctx, app, LoadOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	if r := publish(); r.Unchanged {
		t.Error("a re-lock to 1.4.0 went unnoticed")
	}
}
