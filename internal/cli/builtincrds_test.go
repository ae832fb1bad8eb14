package cli

import (
	"strings"
	"testing"
)

// TestBuiltinCRDs: a Flux tree is checked against Flux's own CRDs without --crd-dir (issue #16, item 8): a misspelt
// field of a Kustomization and a HelmRelease without the interval Flux requires are errors on their lines, naming
// the release the CRD comes from; --builtin-crds=false leaves them unchecked; --help names the releases.
func TestBuiltinCRDs(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{"flux.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
  healthCheck: []
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: flux-system}
spec:
  chart:
    spec:
      chart: web
      version: 1.2.3
      sourceRef: {kind: HelmRepository, name: charts}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: flux-system}
spec: {interval: 1h, url: "https://charts.example.com"}
`})
	r := mustRun(t, 1, nil, "validate", dir, "--helm", "off")
	for _, want := range []string{
		"flux.yaml:9: error: Kustomization.kustomize.toolkit.fluxcd.io/flux-system/apps: spec.healthCheck is not a field of Kustomization kustomize.toolkit.fluxcd.io/v1 (CustomResourceDefinition kustomizations.kustomize.toolkit.fluxcd.io, built in from Flux v2.9.4): did you mean spec.healthChecks? [schema/unknown-field]",
		"flux.yaml:14: error: HelmRelease.helm.toolkit.fluxcd.io/flux-system/web: spec.interval is missing: HelmRelease helm.toolkit.fluxcd.io/v2 (CustomResourceDefinition helmreleases.helm.toolkit.fluxcd.io, built in from Flux v2.9.4) requires it [schema/required]",
		": 3 object(s), 2 error(s), 0 warning(s)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate of a Flux tree:\n%s\nwant it to hold\n%s", r.stdout, want)
		}
	}
	r = mustRun(t, 0, nil, "validate", dir, "--helm", "off", "--builtin-crds=false")
	if !strings.Contains(r.stdout, "3 object(s), 0 error(s), 3 warning(s)") || strings.Count(r.stdout, "[schema/no-schema]") != 3 {
		t.Errorf("validate --builtin-crds=false:\n%s\nwant three no-schema warnings", r.stdout)
	}
	r = mustRun(t, 0, nil, "validate", "--help")
	if help := strings.Join(strings.Fields(r.stdout), " "); !strings.Contains(help, "Flux v2.9.4, Argo CD v3.6.2, Gateway API v1.7.0 (experimental channel), cert-manager v1.21.2") {
		t.Errorf("validate --help does not name the built-in CRDs' releases:\n%s", r.stdout)
	}
}
