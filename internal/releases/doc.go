// Package releases finds the Helm releases a rendered tree declares — Flux HelmReleases (a chart from a
// HelmRepository, an OCIRepository or a chart directory of the tree) and Argo CD Applications with a Helm chart
// source — and turns them into what the rest of statepack works with: chart requests for the pin stage, the values
// each release is installed with (merged as helm-controller merges them), the objects a release renders
// (internal/helm), the tree with every chart reference made exact (pin), or with each release replaced by its
// objects (hydrate).
//
// It does no I/O: charts come in as loaded internal/helm charts, fetched by the caller (the root package, through
// internal/charts for repositories, or from the tree for chart directories).
//
// # Rules, as the consumers apply them
//
// A HelmRelease's release name is spec.releaseName, else "[spec.targetNamespace-]metadata.name", shortened past 53
// characters to 40 characters, "-" and 12 hex digits of its SHA-256 (helm-controller's release.ShortenName); its
// namespace is spec.targetNamespace, else its own. Values are merged as helm-controller does
// (chartutil.ChartValuesFromReferences): each spec.valuesFrom in order (a ConfigMap's or Secret's key, valuesKey
// default "values.yaml", merged as YAML, or set at targetPath with Helm's --set parser, a quoted value as a
// string; a missing optional reference skipped), then spec.values on top. spec.chart.spec.valuesFiles are files
// of the chart merged over its values.yaml, as source-controller packages the chart.
//
// An Argo CD Application's release name is spec.source.helm.releaseName, else the Application's name; its
// namespace is spec.destination.namespace. Values: the valueFiles of the chart in order, then values (a YAML
// string) or valuesObject, then parameters (--set, or --set-string with forceString), as the repo-server runs
// `helm template`.
package releases
