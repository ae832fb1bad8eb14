// Package charts is the pin stage for Helm charts: it resolves the charts a tree asks for (a HelmRelease's chart
// from an HTTP or OCI HelmRepository, an OCIRepository chartRef, an Argo CD Application's Helm source, a
// kustomize helmCharts entry) to exact, content-addressed pins, records them in a lock file, and fetches their
// archives through a content-addressed cache.
//
// Resolution follows Helm and Flux: an HTTP repository's index.yaml is parsed by the Helm SDK's types and its
// version rules (helm.sh/helm/v4/pkg/repo/v1: newest match, an exact version first, pre-releases only for a
// constraint that names one); an OCI repository's tags are read as Helm reads them ("_" for "+", strict semver)
// or, for an OCIRepository, as Flux's source-controller does (lenient semver, the tag itself). An HTTP chart is
// pinned by the sha256 of its archive, checked against the index's digest; an OCI chart by its manifest digest,
// whose config and layer media types must be Helm's.
//
// The network is reached only for the repositories a Request names, and only through this package: net/http for
// HTTP repositories (basic auth sent to the repository's own host only, never to another host an absolute chart
// URL points to) and publish.Open for OCI registries, so that registry credentials, plain HTTP for loopback,
// retries and timeouts are exactly publish's. The SDK's getters and registry client are not used. Offline, only
// the lock and the cache are read.
//
// It does not find chart references in a tree, merge values, rewrite references or render charts: the root
// package does the first three and internal/helm renders the bytes Fetch returns.
package charts
