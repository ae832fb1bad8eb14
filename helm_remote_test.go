package statepack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/releases"
	"github.com/statepack/statepack/internal/testcharts"
	"github.com/statepack/statepack/internal/testregistry"
)

// webChart packages a small chart "web" at version.
func webChart(t *testing.T, version string) testcharts.Chart {
	t.Helper()
	dir := writeFiles(t, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: " + version + "\n",
		"values.yaml": "image: example.com/web:" + version + "\n",
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: {{ .Values.image }}}]
`,
	})
	return testcharts.Chart{Name: "web", Version: version, Data: testcharts.Package(t, dir)}
}

// remoteTree is a Flux tree whose HelmRelease asks the HelmRepository at url for chart web at version.
func remoteTree(t *testing.T, url, version string) string {
	t.Helper()
	return releaseTree(t, "apps/release.yaml", url, version, "values: {}")
}

// releaseTree is remoteTree with the HelmRelease in file and tail as the rest of its spec ("values: {…}",
// "valuesFrom: […]").
func releaseTree(t *testing.T, file, url, version, tail string) string {
	t.Helper()
	return writeFiles(t, map[string]string{file: releaseYAMLOf(url, version, tail)})
}

// releaseYAMLOf is the YAML of remoteTree's HelmRepository and HelmRelease.
func releaseYAMLOf(url, version, tail string) string {
	return `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: default}
spec: {url: "` + url + `"}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: default}
spec:
  interval: 10m
  chart:
    spec: {chart: web, version: "` + version + `", sourceRef: {kind: HelmRepository, name: charts}}
  ` + tail + `
`
}

func releaseYAML(t *testing.T, s *Source) string {
	t.Helper()
	for _, o := range s.Objects() {
		if o.ID.Kind == "HelmRelease" {
			return string(o.YAML)
		}
	}
	t.Fatalf("no HelmRelease among %d objects", len(s.Objects()))
	return ""
}

// TestHelmPinFromHTTPRepository: a version range is resolved against the repository's index as Flux resolves it
// (newest match, pre-releases only when the range asks for them) and written into the HelmRelease; the chart is
// rendered for validation; the lock makes it the same tomorrow, refuses other bytes under the locked version, and
// lets an offline run with the cache do without the repository.
func TestHelmPinFromHTTPRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.1.0"), webChart(t, "1.2.3"), webChart(t, "1.3.0-rc.1"), webChart(t, "2.0.0"))
	root := remoteTree(t, repo.URL(), "1.x")
	cache := t.TempDir()
	o := LoadOptions{Root: root, Helm: HelmOptions{ChartCache: cache}}

	s, err := Load(ctx, filepath.Join(root, "apps"), o)
	if err != nil {
		t.Fatal(err)
	}
	if s.Findings.HasErrors() {
		t.Fatalf("findings: %v", s.Findings)
	}
	if y := releaseYAML(t, s); !strings.Contains(y, "version: 1.2.3") {
		t.Errorf("the HelmRelease was not pinned to 1.2.3:\n%s", y)
	}
	if len(s.Charts) != 1 || s.Charts[0].Chart != "web@1.2.3" || !strings.HasPrefix(s.Charts[0].Digest, "sha256:") {
		t.Errorf("charts %+v: want web@1.2.3 with its archive digest", s.Charts)
	}

	// The provenance names the chart the artifact was made with.
	b, err := s.Bundle(BuildContext{}, PackageOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps := provenance(BuildContext{}, "registry.example.com/apps", nil, s, b).BuildDefinition.ResolvedDependencies
	if len(deps) != 1 || deps[0].URI != repo.URL()+"/web-1.2.3.tgz" || "sha256:"+deps[0].Digest["sha256"] != s.Charts[0].Digest || deps[0].Name != "web" {
		t.Errorf("provenance resolvedDependencies %+v, want the chart archive's URL and digest", deps)
	}

	// The inventory lists the chart and the images it deploys, which no object of the artifact names.
	found := false
	for _, p := range predicates(BuildContext{}, "registry.example.com/apps", nil, s, b, nil, false) {
		if inv, ok := p.Value.(build.Inventory); ok {
			found = true
			if len(inv.Images) != 1 || inv.Images[0].Reference != "example.com/web:1.2.3" ||
				len(inv.Charts) != 1 || inv.Charts[0].Chart != "web@1.2.3" || inv.Charts[0].Digest != s.Charts[0].Digest {
				t.Errorf("inventory images %+v charts %+v: want the chart's image and the chart", inv.Images, inv.Charts)
			}
		}
	}
	if !found {
		t.Error("no inventory among the predicates")
	}

	res, err := Lock(ctx, filepath.Join(root, "apps"), o)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(res.Path)
	if err != nil || !res.Changed || !strings.Contains(string(lock), "version: 1.2.3") || !strings.Contains(string(lock), "constraint: 1.x") {
		t.Fatalf("lock file (%v):\n%s", err, lock)
	}
	if res, err = Lock(ctx, filepath.Join(root, "apps"), o); err != nil || res.Changed {
		t.Errorf("locking again changed the file (%v)", err)
	}

	// A newer 1.x appears: the locked tree stays on 1.2.3.
	repo.Set(t, webChart(t, "1.2.3"), webChart(t, "1.4.0"))
	s, err = Load(ctx, filepath.Join(root, "apps"), o)
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	if y := releaseYAML(t, s); !strings.Contains(y, "version: 1.2.3") {
		t.Errorf("the lock did not hold the version:\n%s", y)
	}

	// Offline, with the lock and the cache, the repository is not needed.
	repo.Close()
	s, err = Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root, Helm: HelmOptions{ChartCache: cache, Offline: true}})
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("offline with lock and cache: %v %v", err, s.Findings)
	}
}

// TestHelmLockRefusesOtherBytes: a repository that serves other bytes for a locked version is an error naming the
// release and what to do, and nothing is rendered from those bytes.
func TestHelmLockRefusesOtherBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"))
	root := remoteTree(t, repo.URL(), "~1.2")
	if _, err := Lock(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	other := webChart(t, "1.2.3")
	other.Data = testcharts.Package(t, writeFiles(t, map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: web\nversion: 1.2.3\ndescription: republished\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
	}))
	repo.Set(t, other)
	s, err := Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var f *build.Finding
	for i := range s.Findings {
		if s.Findings[i].Rule == releases.RuleRelease {
			f = &s.Findings[i]
		}
	}
	if f == nil || f.Severity != build.SeverityError || f.File != "apps/release.yaml" || !strings.Contains(f.Message, "statepack lock") {
		t.Errorf("findings %v: want an error on apps/release.yaml saying the bytes changed and to run statepack lock", s.Findings)
	}
	if err := s.FindingsError(); !errors.Is(err, build.ErrInvalidInput) {
		t.Errorf("FindingsError = %v, want findings that stop a publish", err)
	}
}

// TestHelmPinOCI: charts in a real OCI registry, pushed as `helm push` pushes them. An OCIRepository that follows a
// semver range is pinned to the manifest digest of the newest match (ref.digest, which Flux takes over tag and
// semver), and a HelmRepository of type oci to the exact version; both render; hydrate leaves out the sources that
// only served hydrated releases.
func TestHelmPinOCI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t)
	old, newest := webChart(t, "1.0.0"), webChart(t, "1.1.0")
	testcharts.Push(t, reg.Host, "charts/web", "1.0.0", old.Data, nil)
	want := testcharts.Push(t, reg.Host, "charts/web", "1.1.0", newest.Data, nil)
	testcharts.Push(t, reg.Host, "charts/web", "2.0.0", webChart(t, "2.0.0").Data, nil)
	root := writeFiles(t, map[string]string{"apps/release.yaml": `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: web, namespace: default}
spec:
  interval: 10m
  url: oci://` + reg.Host + `/charts/web
  ref: {semver: "1.x"}
  layerSelector: {mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", operation: copy}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: default}
spec:
  interval: 10m
  chartRef: {kind: OCIRepository, name: web}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: default}
spec: {type: oci, url: "oci://` + reg.Host + `/charts"}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: api, namespace: default}
spec:
  interval: 10m
  chart:
    spec: {chart: web, version: "<1.1.0", sourceRef: {kind: HelmRepository, name: charts}}
`})
	s, err := Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root})
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	for _, o := range s.Objects() {
		y := string(o.YAML)
		switch o.ID.Kind + "/" + o.ID.Name {
		case "OCIRepository/web":
			if !strings.Contains(y, "digest: "+want) || strings.Contains(y, "semver") {
				t.Errorf("the OCIRepository is not pinned to %s:\n%s", want, y)
			}
		case "HelmRelease/api":
			if !strings.Contains(y, "version: 1.0.0") {
				t.Errorf("the HelmRelease of the OCI HelmRepository is not pinned to 1.0.0:\n%s", y)
			}
		}
	}
	if len(s.Charts) != 2 {
		t.Fatalf("charts %+v, want both releases rendered", s.Charts)
	}

	s, err = Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate}})
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	var ids []string
	for _, o := range s.Objects() {
		ids = append(ids, o.ID.String())
	}
	if got := strings.Join(sorted(ids), " "); got != "Deployment.apps/default/api Deployment.apps/default/web" {
		t.Errorf("hydrated tree %s, want the two releases' Deployments and no source", got)
	}
}

// TestHelmArgoApplication: an Argo CD Application with a Helm chart source is pinned (targetRevision) and hydrated
// as the repo-server renders it: release name from helm.releaseName, namespace from the destination, valuesObject,
// then parameters (--set).
func TestHelmArgoApplication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"), webChart(t, "1.3.0"))
	root := writeFiles(t, map[string]string{"apps/app.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  project: default
  destination: {server: "https://kubernetes.default.svc", namespace: prod}
  source:
    repoURL: "` + repo.URL() + `"
    chart: web
    targetRevision: "~1.2"
    helm:
      releaseName: frontend
      valuesObject: {image: "example.com/other:9"}
      parameters: [{name: image, value: "example.com/set:10"}]
`})
	s, err := Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root})
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	if y := string(s.Objects()[0].YAML); !strings.Contains(y, "targetRevision: 1.2.3") {
		t.Errorf("the Application is not pinned:\n%s", y)
	}
	s, err = Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate}})
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("%v %v", err, s.Findings)
	}
	if len(s.Objects()) != 1 || s.Objects()[0].ID.String() != "Deployment.apps/prod/frontend" || !strings.Contains(string(s.Objects()[0].YAML), "image: example.com/set:10") {
		t.Errorf("hydrated %v, want the Deployment frontend in prod with the parameter's image", objectSet(s.Objects()))
	}
}

// TestHelmChartShare: Loads that share a ChartShare (the targets of a fleet, each with its own lock or none)
// fetch the index and the archive once between them, and a release with other values still renders its own.
func TestHelmChartShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"))
	share := NewChartShare()
	var images []string
	for i, image := range []string{"example.com/a:1", "example.com/a:1", "example.com/b:2"} {
		file := fmt.Sprintf("apps/release-%d.yaml", i)
		root := releaseTree(t, file, repo.URL(), "1.x", `values: {image: "`+image+`"}`)
		s, err := Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate, Share: share}})
		if err != nil || s.Findings.HasErrors() || len(s.Objects()) != 1 {
			t.Fatalf("target %d: %v %v", i, err, s.Findings)
		}
		if s.Objects()[0].Source.File != file {
			t.Errorf("target %d: a shared render kept another tree's source %v", i, s.Objects()[0].Source)
		}
		images = append(images, build.Images(s.Objects()[0])...)
	}
	if got := strings.Join(images, " "); got != "example.com/a:1 example.com/a:1 example.com/b:2" {
		t.Errorf("images %s: each release must render with its own values", got)
	}
	if n, m := repo.Hits("/charts/index.yaml"), repo.Hits("/charts/web-1.2.3.tgz"); n != 1 || m != 1 {
		t.Errorf("three targets fetched the index %d and the archive %d time(s), want once each", n, m)
	}
}

// TestHelmDiffShowsChartObjects: a chart bump of a pinned release shows in a comparison object by object — the
// HelmRelease's version and the Deployment its chart renders — on the tree side (TreeSide) and on the artifact side
// (ReadOptions.Helm renders the artifact's releases from their exact charts), as `statepack diff` compares them.
func TestHelmDiffShowsChartObjects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"), webChart(t, "1.3.0"))
	root := remoteTree(t, repo.URL(), "1.2.3")
	ref := mustRef(t, "oci:"+filepath.Join(t.TempDir(), "layout")+":main")
	if _, err := Publish(ctx, filepath.Join(root, "apps"), ref, PublishOptions{Load: LoadOptions{Root: root}}); err != nil {
		t.Fatal(err)
	}
	bumped := remoteTree(t, repo.URL(), "1.3.0")
	tree, _, err := LoadTreeSide(ctx, filepath.Join(bumped, "apps"), LoadOptions{Root: bumped})
	if err != nil {
		t.Fatal(err)
	}
	published, err := LoadArtifactSide(ctx, ref, nil, false, ReadOptions{Helm: &HelmOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(published, tree, 3)
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, e := range rep.Entries {
		changed = append(changed, e.ID.Kind+"/"+string(e.Status))
	}
	if got := strings.Join(sorted(changed), " "); got != "Deployment/changed HelmRelease/changed" {
		t.Errorf("changes %s, want the HelmRelease's version and the chart's Deployment", got)
	}
}

// TestHelmValuesFromTheCluster: a release whose values come from a ConfigMap only the cluster holds is accepted
// as Flux accepts it — pinned, with a warning that what it renders is not validated — and refused by hydrate,
// which cannot render it as the cluster would.
func TestHelmValuesFromTheCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := testcharts.NewRepo(t, webChart(t, "1.2.3"))
	root := releaseTree(t, "apps/release.yaml", repo.URL(), "1.x", "valuesFrom: [{kind: ConfigMap, name: cluster-values}]")
	s, err := Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root})
	if err != nil || s.Findings.HasErrors() {
		t.Fatalf("pin: %v %v", err, s.Findings)
	}
	if y := releaseYAML(t, s); !strings.Contains(y, "version: 1.2.3") || len(s.Charts) != 0 ||
		!slices.ContainsFunc(s.Findings, func(f build.Finding) bool {
			return f.Rule == releases.RuleValuesUnknown && f.Severity == build.SeverityWarning && strings.Contains(f.Message, "is not in this tree")
		}) {
		t.Errorf("pin: want the release pinned, nothing rendered, a helm/values-unknown warning; findings %v\n%s", s.Findings, y)
	}
	// The user who knows the cluster holds the values can say so, as for any warning.
	s, err = Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root,
		Allow: []Allowance{{Rule: releases.RuleValuesUnknown, Reason: "the platform team provides cluster-values"}}})
	if err != nil || len(s.Findings) != 0 || len(s.Allowed) != 1 || s.Allowed[0].Count != 1 {
		t.Errorf("pin with --allow helm/values-unknown: %v, findings %v, allowed %+v: want none left, one allowed", err, s.Findings, s.Allowed)
	}
	s, err = Load(ctx, filepath.Join(root, "apps"), LoadOptions{Root: root, Helm: HelmOptions{Mode: HelmHydrate}})
	if err != nil || !slices.ContainsFunc(s.Findings, func(f build.Finding) bool {
		return f.Severity == build.SeverityError && strings.Contains(f.Message, "cannot be hydrated")
	}) {
		t.Errorf("hydrate: %v, findings %v: want an error saying the release cannot be hydrated", err, s.Findings)
	}
}
