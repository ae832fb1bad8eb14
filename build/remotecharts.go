package build

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/redact"
)

// A helmCharts entry with a repo pulls its chart: `kustomize build --enable-helm` (and so Argo CD) runs `helm pull
// --repo REPO NAME --version VERSION --untar --untardir CHARTHOME/NAME-VERSION` when the chart is not already
// there, then renders the pulled directory. build does not fetch: it may not import the chart machinery (registry
// clients, credentials, the lock file), which lives above it. The caller hands Render a ChartResolver
// (WithRemoteCharts) that resolves the entry's version to an exact, content-addressed chart; build loads the
// archive and renders it exactly as it renders a vendored chart. A chart vendored where helm pull would put it
// wins, as it does for kustomize: it is read from the tree, without the resolver and without the network.

// ChartResolver pulls the chart name from the chart repository repo ("https://…" with an index.yaml, or
// "oci://host/path", where the chart is path/name) at version: exact, a semver range (the newest match; pre-releases
// only when the range names one), or "" for the newest stable version, as `helm pull --version` reads it. An entry
// with devel and no version asks for ">0.0.0-0", as `helm pull --devel` does. The error should say what failed
// (unreachable, not found, digest mismatch): the finding adds the kustomization, the entry and how to vendor it.
type ChartResolver func(ctx context.Context, repo, name, version string) (PulledChart, error)

// PulledChart is a chart a ChartResolver pulled.
type PulledChart struct {
	// Archive is the chart archive (.tgz), as `helm package` writes it.
	Archive []byte
	// Version is the exact version the entry's version resolved to; Digest the sha256 of the archive (HTTP) or of
	// its OCI manifest; URL where it came from, without credentials or query.
	Version, Digest, URL string
}

// RemoteChart is a helmCharts entry rendered from a chart its resolver pulled (Rendering.RemoteCharts).
type RemoteChart struct {
	// Kustomization is the kustomization file (slash-separated, relative to the source root); Line the line of the
	// entry in it (0 when unknown); Entry its index in helmCharts.
	Kustomization string
	Line, Entry   int
	// ReleaseName is the entry's releaseName; Repo and Version its repo (without user information or query) and
	// version as written.
	ReleaseName, Repo, Version string
	// Chart is "name@version" of the chart rendered; Digest and URL as PulledChart's.
	Chart, Digest, URL string
}

// WithRemoteCharts renders the helmCharts entries whose chart comes from a repository (repo:) and is not vendored
// under chartHome, with the chart resolve pulls. Default: none; such an entry is a finding (rule
// kustomize/helm-chart) that says how to vendor the chart.
func WithRemoteCharts(resolve ChartResolver) RenderOption {
	return func(o *renderOptions) error { o.charts = resolve; return nil }
}

// pullVersion is the version an entry asks helm pull for: its version, or with devel and none, any version
// including pre-releases, as `helm pull --devel` (which ignores devel when a version is given).
func pullVersion(c types.HelmChart) string {
	if c.Version == "" && c.Devel {
		return ">0.0.0-0"
	}
	return c.Version
}

// pullCommand is the `helm pull` that vendors the chart of an entry into chartHome, as kustomize runs it.
func pullCommand(c types.HelmChart, chartHome string) string {
	repo := redact.URL(c.Repo)
	pull := fmt.Sprintf("helm pull %s --repo %s", c.Name, repo)
	if strings.HasPrefix(c.Repo, "oci://") {
		pull = "helm pull " + strings.TrimSuffix(repo, "/") + "/" + c.Name
	}
	if c.Version != "" {
		pull += " --version " + c.Version
	}
	if c.Devel {
		pull += " --devel"
	}
	return pull + " --untar --untardir " + chartHome
}

// pull loads the chart of an entry that is not vendored from its repository, through the resolver, and says what
// it pulled. Without a resolver it says how to vendor the chart.
func (s *kustomizationScan) pull(at entryAt, c types.HelmChart, chartHome string) (*helm.Chart, RemoteChart, error) {
	vendor := fmt.Sprintf("vendor it where kustomize keeps what it pulls (%s)", pullCommand(c, s.r.rel(chartHome)))
	repo := redact.URL(c.Repo)
	if s.r.opts.charts == nil {
		return nil, RemoteChart{}, fmt.Errorf("the chart comes from the repository %s, and statepack renders a kustomization's charts only from the tree: %s, or render with --helm=pin (statepack's default; --helm=off fetches no chart), which pulls the chart and pins it in statepack.lock", repo, vendor)
	}
	p, err := s.r.opts.charts(s.ctx, c.Repo, c.Name, pullVersion(c))
	if err != nil {
		return nil, RemoteChart{}, fmt.Errorf("pulling the chart from %s: %w; to render it without the repository, %s (with --helm=off the entry is refused: the kustomization cannot be rendered without its chart)", repo, err, vendor)
	}
	ch, err := helm.LoadArchive(p.Archive, helm.Limits{})
	if err != nil {
		return nil, RemoteChart{}, fmt.Errorf("the chart %s@%s from %s: %w", c.Name, p.Version, p.URL, err)
	}
	if ch.Name() != c.Name {
		return nil, RemoteChart{}, fmt.Errorf("the repository %s served a chart named %q for %q: helm pull would untar it where kustomize does not look for it; correct name", repo, ch.Name(), c.Name)
	}
	return ch, RemoteChart{Kustomization: s.r.rel(at.kf), Line: at.line, Entry: at.index, ReleaseName: c.ReleaseName,
		Repo: repo, Version: c.Version, Chart: c.Name + "@" + ch.Version(), Digest: p.Digest, URL: p.URL}, nil
}

// inPulledChart says whether the values file p (relative to the kustomization's directory dir) lies in the
// directory chartDir where `helm pull --untar` would have put the chart, and names it there (slash-separated): the
// generator reads it after the pull, so it is the pulled chart's file (its values.yaml when the entry names none).
func inPulledChart(dir, chartDir, p string) (string, bool) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	rel, err := filepath.Rel(chartDir, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// chartValues is the values file name of a pulled chart, as the generator reads it from the untarred chart.
func chartValues(ch *helm.Chart, name string) ([]byte, error) {
	data, ok := ch.File(name)
	if !ok {
		return nil, fmt.Errorf("the chart %s@%s has no %s, which kustomize reads as the values file: give a valuesFile of the tree, or valuesInline with valuesMerge replace", ch.Name(), ch.Version(), name)
	}
	return data, nil
}

// entryAt is where a helmCharts entry is: its kustomization file, its index and its line there (0 when unknown).
type entryAt struct {
	kf          string
	index, line int
}

// helmChartLines are the lines of the n helmCharts entries of a kustomization file's data, for findings; all 0
// when its helmCharts do not list exactly n entries (kustomize moved deprecated helmChartInflationGenerator entries
// in, or the key is spelled in another case), since a line then cannot be told for sure. The data has passed
// checkExpansion.
func helmChartLines(data []byte, n int) []int {
	lines := make([]int, n)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return lines
	}
	seq := mappingValue(doc.Content[0], "helmCharts")
	if seq == nil || seq.Kind != yaml.SequenceNode || len(seq.Content) != n {
		return lines
	}
	for i, item := range seq.Content {
		lines[i] = item.Line
	}
	return lines
}
