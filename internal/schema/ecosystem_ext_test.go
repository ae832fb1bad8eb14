package schema_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/schema"
)

const fluxSet = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: app, namespace: flux-system}
spec:
  interval: 5m
  url: https://github.com/example/app
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: app, namespace: flux-system}
spec:
  interval: 10m
  path: ./deploy
  prune: true
  sourceRef: {kind: GitRepository, name: app}
  postBuild:
    substitute: {cluster: prod}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo, namespace: flux-system}
spec: {interval: 1h, url: https://stefanprodan.github.io/podinfo}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 10m
  url: oci://ghcr.io/stefanprodan/charts/podinfo
  ref: {semver: ">=6.0.0"}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: flux-system}
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: "6.x"
      sourceRef: {kind: HelmRepository, name: podinfo}
  values: {replicaCount: 2}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: flux-system}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: ">=1.0.0"}}
`

const argoSet = `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team, namespace: argocd}
spec:
  sourceRepos: ["*"]
  destinations: [{namespace: "*", server: https://kubernetes.default.svc}]
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: team
  source: {repoURL: https://github.com/argoproj/argocd-example-apps, path: guestbook, targetRevision: HEAD}
  destination: {server: https://kubernetes.default.svc, namespace: guestbook}
  syncPolicy: {automated: {prune: true, selfHeal: true}}
`

// A route as users write it: backendRefs without group and kind, a path match without type. The API server
// defaults them before the CRD's CEL rules read them.
const gatewaySet = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: envoy}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: envoy
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{name: web}]
  rules:
    - matches: [{path: {value: /shop}}]
      backendRefs: [{name: web, port: 80}]
`

const certManagerSet = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: letsencrypt}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: letsencrypt}
    solvers: [{http01: {ingress: {ingressClassName: nginx}}}]
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: shop}
spec:
  secretName: web-tls
  dnsNames: [shop.example.com]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
`

// TestBuiltinCRDs: the kinds almost every GitOps tree holds are checked without --crd-dir, against the CRDs of the
// release Ecosystems names; valid objects as the projects document them pass, mistakes are named with the CRD and
// the release it comes from, and a CRD of the tree or of a CRD directory replaces the built-in one.
func TestBuiltinCRDs(t *testing.T) {
	t.Parallel()
	helmReleaseV2beta1CRD := strings.ReplaceAll(widgetCRD, "example.com", "helm.toolkit.fluxcd.io")
	helmReleaseV2beta1CRD = strings.ReplaceAll(helmReleaseV2beta1CRD, "widgets", "helmreleases")
	helmReleaseV2beta1CRD = strings.ReplaceAll(helmReleaseV2beta1CRD, "Widget", "HelmRelease")
	helmReleaseV2beta1CRD = strings.ReplaceAll(helmReleaseV2beta1CRD, "name: v1\n", "name: v2beta1\n")
	type want = wantFinding
	tests := []struct {
		name  string
		files map[string]string
		opts  []schema.Option
		want  []want
	}{
		{name: "Flux objects as documented", files: map[string]string{"flux.yaml": fluxSet}},
		{name: "Argo CD objects as documented", files: map[string]string{"argo.yaml": argoSet}},
		{name: "Gateway API objects as users write them (defaults before CEL)", files: map[string]string{"gw.yaml": gatewaySet}},
		{name: "cert-manager objects as documented", files: map[string]string{"cm.yaml": certManagerSet}},
		{
			name: "a misspelt HelmRelease field",
			files: map[string]string{"hr.yaml": strings.Replace(fluxSet[strings.Index(fluxSet, "apiVersion: helm.toolkit"):strings.Index(fluxSet, "---\napiVersion: image")],
				"sourceRef:", "sourceReff:", 1)},
			want: []want{
				{"schema/required", "error", "spec.chart.spec", "spec.chart.spec.sourceRef is missing: HelmRelease helm.toolkit.fluxcd.io/v2 (CustomResourceDefinition helmreleases.helm.toolkit.fluxcd.io, built in from Flux v2.9.4) requires it"},
				{"schema/unknown-field", "error", "spec.chart.spec.sourceReff", "spec.chart.spec.sourceReff is not a field of HelmRelease helm.toolkit.fluxcd.io/v2 (CustomResourceDefinition helmreleases.helm.toolkit.fluxcd.io, built in from Flux v2.9.4): did you mean spec.chart.spec.sourceRef?"},
			},
		},
		{
			name:  "an Application's destination of the wrong type",
			files: map[string]string{"app.yaml": strings.Replace(argoSet, "destination: {server: https://kubernetes.default.svc, namespace: guestbook}", "destination: in-cluster", 1)},
			want:  []want{{"schema/type", "error", "spec.destination", `spec.destination must be a mapping, not the string "in-cluster"`}},
		},
		{
			name:  "a route path the Gateway API's CEL rules refuse",
			files: map[string]string{"gw.yaml": strings.Replace(gatewaySet, "value: /shop", "value: shop", 1)},
			want:  []want{{"schema/cel", "error", "spec.rules[0].matches[0].path", ""}},
		},
		{
			// A CEL rule that fails only on a Flux placeholder is a pending warning: the value is not known yet.
			name:  "a route path Flux substitutes later",
			files: map[string]string{"gw.yaml": strings.Replace(gatewaySet, "value: /shop", `value: "${shop_path}"`, 1)},
			want: []want{{"flux/substitution-pending", "warning", "spec.rules[0].matches[0].path", ""},
				{"flux/substitution-pending", "warning", "spec.rules[0].matches[0].path", ""}},
		},
		{
			name:  "a Certificate without its secretName",
			files: map[string]string{"cm.yaml": strings.Replace(certManagerSet, "  secretName: web-tls\n", "", 1)},
			want:  []want{{"schema/required", "error", "spec", "spec.secretName is missing: Certificate cert-manager.io/v1 (CustomResourceDefinition certificates.cert-manager.io, built in from cert-manager v1.21.2) requires it"}},
		},
		{
			// The cluster may run an older Flux that serves v2beta1: a warning that says how to check it, no error.
			name:  "an apiVersion the built-in release no longer serves",
			files: map[string]string{"hr.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2beta1\nkind: HelmRelease\nmetadata: {name: a, namespace: flux-system}\nspec: {}\n"},
			want: []want{{"schema/unserved-apiversion", "warning", "apiVersion", "apiVersion helm.toolkit.fluxcd.io/v2beta1 is not served by CustomResourceDefinition helmreleases.helm.toolkit.fluxcd.io of Flux v2.9.4: " +
				"use helm.toolkit.fluxcd.io/v2, or, if the cluster runs a Flux release that serves it, give its CRDs with --crd-dir so the object is checked"}},
		},
		{
			name: "a CRD of the tree replaces the built-in one",
			files: map[string]string{"crd.yaml": helmReleaseV2beta1CRD,
				"hr.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2beta1\nkind: HelmRelease\nmetadata: {name: a, namespace: flux-system}\nspec: {size: 3}\n"},
		},
		{
			name:  "built-in CRDs turned off",
			files: map[string]string{"cm.yaml": certManagerSet},
			opts:  []schema.Option{schema.BuiltinCRDs(false)},
			want: []want{
				{"schema/no-schema", "warning", "", "no schema for ClusterIssuer cert-manager.io/v1: add its CustomResourceDefinition to the tree or to a CRD directory (--crd-dir) so it can be checked"},
				{"schema/no-schema", "warning", "", "no schema for Certificate cert-manager.io/v1: add its CustomResourceDefinition to the tree or to a CRD directory (--crd-dir) so it can be checked"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkValidate(t, tc.files, tc.opts, tc.want)
		})
	}
}

// TestEcosystems: the releases are named for --help and the README, and the cluster-scoped kinds among the
// built-in CRDs are known to the namespace rules.
func TestEcosystems(t *testing.T) {
	t.Parallel()
	var names []string
	for _, e := range schema.Ecosystems() {
		names = append(names, e.String())
	}
	want := []string{"Flux v2.9.4", "Argo CD v3.6.2", "Gateway API v1.7.0 (experimental channel)", "cert-manager v1.21.2"}
	if !slices.Equal(names, want) {
		t.Errorf("Ecosystems() = %q, want %q", names, want)
	}
	scoped := schema.ClusterScopedKinds()
	for _, k := range []string{"cert-manager.io/ClusterIssuer", "gateway.networking.k8s.io/GatewayClass"} {
		if !slices.Contains(scoped, k) {
			t.Errorf("ClusterScopedKinds() = %q, want it to hold %s", scoped, k)
		}
	}
	if slices.Contains(scoped, "helm.toolkit.fluxcd.io/HelmRelease") {
		t.Errorf("ClusterScopedKinds() holds the namespaced HelmRelease: %q", scoped)
	}
}
