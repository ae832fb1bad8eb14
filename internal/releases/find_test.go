package releases

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/manifest"
)

func decode(t *testing.T, y string) []manifest.Object {
	t.Helper()
	objs, fs := build.DecodeManifests("tree.yaml", []byte(y))
	if len(fs) > 0 {
		t.Fatalf("decoding the test tree: %v", fs)
	}
	return objs
}

const helmRepo = `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: apps}
spec: {url: "https://charts.example.com/stable"}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: ocicharts, namespace: apps}
spec: {type: oci, url: "oci://registry.example.com/charts"}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: web-chart, namespace: apps}
spec:
  url: oci://registry.example.com/charts/web
  ref: {semver: "1.x"}
  layerSelector: {mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", operation: copy}
---
`

// TestFindReleases reads each way a release names its chart, with helm-controller's and Argo CD's naming rules.
func TestFindReleases(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 30)
	for _, tc := range []struct {
		name, yaml string
		want       Release
	}{
		{"http repository, default name", `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec: {chart: {spec: {chart: web, version: ">=1.0.0-alpha", sourceRef: {kind: HelmRepository, name: charts}}}}`,
			Release{Kind: "HelmRelease", Name: "web", Namespace: "apps", CRDs: "Create",
				Chart: Chart{Type: SourceHelm, Repository: "https://charts.example.com/stable", Name: "web", Version: ">=1.0.0-alpha"}}},
		{"oci helm repository, target namespace", `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec: {targetNamespace: prod, install: {crds: Skip}, chart: {spec: {chart: web, version: "*", sourceRef: {kind: HelmRepository, name: ocicharts}}}}`,
			Release{Kind: "HelmRelease", Name: "prod-web", Namespace: "prod", CRDs: "Skip",
				Chart: Chart{Type: SourceHelmOCI, Repository: "oci://registry.example.com/charts", Name: "web"}}},
		{"chartRef to an OCIRepository, long name shortened as helm-controller does", `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: ` + long + `, namespace: apps}
spec: {targetNamespace: ` + long + `, chartRef: {kind: OCIRepository, name: web-chart}}`,
			Release{Kind: "HelmRelease", Name: (long + "-" + long)[:40] + "-" + fmt.Sprintf("%x", sha256.Sum256([]byte(long+"-"+long)))[:12], Namespace: long, CRDs: "Create",
				Chart: Chart{Type: SourceOCI, Repository: "oci://registry.example.com/charts/web", Version: "1.x"}}},
		{"argo cd application, oci repository without a scheme", `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  destination: {namespace: prod}
  source:
    repoURL: registry.example.com/charts
    chart: web
    targetRevision: 1.2.3
    helm: {releaseName: frontend, skipCrds: true, valuesObject: {a: 1}, values: "b: 2", parameters: [{name: c, value: "3", forceString: true}]}`,
			Release{Kind: "Application", Name: "frontend", Namespace: "prod", CRDs: "Skip", Values: map[string]any{"a": float64(1)},
				Sets:  []Set{{Name: "c", Value: "3", String: true}},
				Chart: Chart{Type: SourceHelmOCI, Repository: "oci://registry.example.com/charts", Name: "web", Version: "1.2.3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := decode(t, helmRepo+tc.yaml)
			found, fs := Find(objs)
			if len(fs) > 0 || len(found) != 1 {
				t.Fatalf("found %d releases, findings %v", len(found), fs)
			}
			got := found[0]
			if got.Kind != tc.want.Kind || got.Name != tc.want.Name || got.Namespace != tc.want.Namespace || got.CRDs != tc.want.CRDs ||
				got.Chart.Type != tc.want.Chart.Type || got.Chart.Repository != tc.want.Chart.Repository || got.Chart.Name != tc.want.Chart.Name ||
				got.Chart.Version != tc.want.Chart.Version || len(got.Sets) != len(tc.want.Sets) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if len(got.Name) > 53 {
				t.Errorf("release name %q is longer than Helm allows", got.Name)
			}
			if tc.want.Values != nil && got.Values["a"] != tc.want.Values["a"] || got.Values["b"] != nil && tc.want.Kind == "Application" {
				t.Errorf("values %v, want %v (valuesObject replaces values, as Argo CD reads them)", got.Values, tc.want.Values)
			}
		})
	}
}

// TestFindFindings: what Find cannot follow is a finding, with the right severity: a source outside the tree (the
// cluster may have it) a warning, a release with no chart an error.
func TestFindFindings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, rule, message string
		severity                  manifest.Severity
	}{
		{"source not in the tree", `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec: {chart: {spec: {chart: web, version: "1.x", sourceRef: {kind: HelmRepository, name: elsewhere}}}}`, RuleUnpinned, "HelmRepository apps/elsewhere, which is not in this tree", manifest.SeverityWarning},
		{"no chart at all", `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec: {interval: 1m}`, RuleRelease, "neither spec.chart nor spec.chartRef", manifest.SeverityError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, fs := Find(decode(t, helmRepo+tc.yaml))
			if len(fs) != 1 || fs[0].Rule != tc.rule || fs[0].Severity != tc.severity || !strings.Contains(fs[0].Message, tc.message) {
				t.Errorf("findings %v, want one %v %s containing %q", fs, tc.severity, tc.rule, tc.message)
			}
		})
	}
}

// TestFluxValuesOrder: valuesFrom merge in order, a targetPath sets a value with Helm's --set parser (a quoted value
// stays a string), optional references that are missing are skipped, and inline values win.
func TestFluxValuesOrder(t *testing.T) {
	t.Parallel()
	objs := decode(t, helmRepo+`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  chart: {spec: {chart: web, version: "1.0.0", sourceRef: {kind: HelmRepository, name: charts}}}
  valuesFrom:
    - {kind: ConfigMap, name: base}
    - {kind: Secret, name: override}
    - {kind: ConfigMap, name: base, valuesKey: port, targetPath: service.port}
    - {kind: ConfigMap, name: base, valuesKey: tag, targetPath: image.tag}
    - {kind: ConfigMap, name: missing, optional: true}
    - {kind: ConfigMap, name: base, valuesKey: missing, optional: true}
  values: {replicas: 5}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: base, namespace: apps}
data:
  values.yaml: "replicas: 1\nimage: {repository: web, tag: old}\nservice: {port: 80, type: ClusterIP}\n"
  port: "8080"
  tag: '"1.10"'
---
apiVersion: v1
kind: Secret
metadata: {name: override, namespace: apps}
stringData:
  values.yaml: "replicas: 3\nservice: {type: LoadBalancer}\n"
`)
	found, fs := Find(objs)
	if len(fs) > 0 || len(found) != 1 {
		t.Fatalf("findings %v", fs)
	}
	v := found[0].Values
	service, _ := v["service"].(map[string]any)
	image, _ := v["image"].(map[string]any)
	if v["replicas"] != float64(5) || service["type"] != "LoadBalancer" || service["port"] != float64(8080) && service["port"] != int64(8080) ||
		image["tag"] != "1.10" || image["repository"] != "web" {
		t.Errorf("values %v: want replicas 5 (inline wins), service LoadBalancer:8080, image web:1.10 (a string)", v)
	}
}

// TestFindValuesOnlyTheClusterHas: a required valuesFrom object that is not in the tree, or that SOPS encrypts, is
// no finding (Flux accepts the tree: the cluster supplies and decrypts it) but leaves the values unknown, saying why;
// a key missing from an object that is in the tree is an error, as helm-controller fails on it.
func TestFindValuesOnlyTheClusterHas(t *testing.T) {
	t.Parallel()
	release := `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  chart: {spec: {chart: web, version: "1.0.0", sourceRef: {kind: HelmRepository, name: charts}}}
  valuesFrom: [{kind: %s, name: %s, valuesKey: %s}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: apps}
data: {values.yaml: ENC}
sops: {version: 3.8.1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain, namespace: apps}
data: {values.yaml: "a: 1"}
`
	for _, tc := range []struct{ kind, name, key, unknown, finding string }{
		{"ConfigMap", "gone", "values.yaml", "spec.valuesFrom[0] (ConfigMap apps/gone, key values.yaml) is not in this tree", ""},
		{"Secret", "creds", "values.yaml", "is encrypted with SOPS, which Flux decrypts in the cluster", ""},
		{"ConfigMap", "plain", "other.yaml", "", `ConfigMap plain has no key "other.yaml"`},
	} {
		found, fs := Find(decode(t, helmRepo+fmt.Sprintf(release, tc.kind, tc.name, tc.key)))
		switch {
		case tc.finding != "":
			if len(fs) != 1 || fs[0].Severity != manifest.SeverityError || !strings.Contains(fs[0].Message, tc.finding) || len(found) != 0 {
				t.Errorf("%s %s: findings %v, want one error containing %q", tc.kind, tc.name, fs, tc.finding)
			}
		case len(fs) > 0 || len(found) != 1 || !strings.Contains(found[0].ValuesUnknown, tc.unknown):
			t.Errorf("%s %s: findings %v, releases %+v: want no finding and values unknown because %q", tc.kind, tc.name, fs, found, tc.unknown)
		}
	}
}
