package releases

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/statepack/statepack/internal/manifest"
)

// SourceType says where a release's chart comes from.
type SourceType string

const (
	// SourceHelm is an HTTP(S) chart repository with an index.yaml (a Flux HelmRepository of the default type, an
	// Argo CD Helm repository).
	SourceHelm SourceType = "helm"
	// SourceHelmOCI is an OCI registry holding charts under a path, chart name appended (a Flux HelmRepository of
	// type oci, an Argo CD OCI Helm repository).
	SourceHelmOCI SourceType = "helm-oci"
	// SourceOCI is one OCI repository that is the chart (a Flux OCIRepository named by a HelmRelease's chartRef).
	SourceOCI SourceType = "oci"
	// SourceLocal is a chart directory of the tree (a HelmRelease's chart from a GitRepository).
	SourceLocal SourceType = "local"
)

// Chart is the chart a release asks for, as declared.
type Chart struct {
	Type SourceType
	// Repository is the repository's URL ("https://…", "oci://host/path"); for SourceLocal the chart directory,
	// slash-separated and relative to the source root.
	Repository string
	// Name is the chart's name in the repository; "" for SourceOCI and SourceLocal.
	Name string
	// Version is the version or semver constraint as declared; "" means the newest stable version. For SourceOCI
	// it is the OCIRepository's ref.semver, or its ref.tag when Tag is set.
	Version string
	// Tag is true when Version is an OCIRepository's ref.tag (an exact tag, not a constraint).
	Tag bool
	// Digest is a digest the tree already pins (an OCIRepository's ref.digest).
	Digest string
	// SemverFilter is an OCIRepository's ref.semverFilter: a regular expression a tag must match to be considered.
	SemverFilter string
	// ValuesFiles are files of the chart merged over its values.yaml (HelmRelease chart.spec.valuesFiles, Argo
	// CD helm.valueFiles).
	ValuesFiles []string
}

// Exact reports whether the chart reference already names one chart: a digest, or an exact version (not a
// range) of a repository that serves each version once.
func (c Chart) Exact() bool {
	switch c.Type {
	case SourceLocal:
		return true
	case SourceOCI:
		return c.Digest != ""
	}
	return isExactVersion(c.Version)
}

// Release is one Helm release the tree declares.
type Release struct {
	// Object is the index, in the objects given to Find, of the HelmRelease or Application.
	Object int
	// Source is the index of the HelmRepository or OCIRepository the chart comes from; -1 when none (an Argo CD
	// Application names its repository itself; a chart directory).
	Source int
	// Kind is "HelmRelease" or "Application".
	Kind string
	// ID is the declaring object's identity.
	ID manifest.ObjectID
	// Name and Namespace are the release's, by the consumer's rules (see the package documentation).
	Name, Namespace string
	Chart           Chart
	// Values are the user-supplied values before the chart's ValuesFiles are merged under them: valuesFrom, then
	// values, numbers as JSON reads them (the consumers read them from JSON).
	Values map[string]any
	// ValuesUnknown says why the values cannot be known from the tree (a valuesFrom object only the cluster holds,
	// or only it can decrypt); "" when they can. Such a release can be pinned but not rendered.
	ValuesUnknown string
	// Sets are Argo CD parameters, applied after Values as `helm template --set` (or --set-string).
	Sets []Set
	// CRDs is helm-controller's install.crds policy: "Create" (the default), "CreateReplace" or "Skip"; for an
	// Argo CD Application "Skip" when helm.skipCrds.
	CRDs string
	// PostRenderers are a HelmRelease's spec.postRenderers, as declared.
	PostRenderers []any
	// Where names the declaring object for messages: "apps/base/podinfo/release.yaml:3: HelmRelease podinfo/podinfo".
	Where string
}

// Set is one `--set` of an Argo CD Application's helm.parameters.
type Set struct {
	Name, Value string
	String      bool // forceString: --set-string
}

// Finding rules of this package.
const (
	// RuleUnpinned is a chart reference that floats (a semver range, a tag without a digest) and cannot be pinned:
	// its source is not in the tree, or --helm=off.
	RuleUnpinned = "chart-unpinned"
	// RuleRelease is a release that cannot be rendered as declared (a missing values reference, a malformed chart
	// reference).
	RuleRelease = "helm/release"
	// RuleValuesUnknown is a release whose values come (in part) from an object only the cluster holds: its chart
	// reference is pinned, but what it renders cannot be known here. A warning, which --allow can turn off.
	RuleValuesUnknown = "helm/values-unknown"
)

// Find returns the Helm releases among objs, and findings for the ones that cannot be read: a chart whose source
// is not in the tree is a warning (the cluster may hold it), a malformed reference an error. It reads only objs.
func Find(objs []manifest.Object) ([]Release, manifest.Findings) {
	idx := index(objs)
	var out []Release
	var findings manifest.Findings
	for i, o := range objs {
		var r *Release
		var fs manifest.Findings
		switch {
		case o.ID.Group == "helm.toolkit.fluxcd.io" && o.ID.Kind == "HelmRelease":
			r, fs = helmRelease(objs, idx, i)
		case o.ID.Group == "argoproj.io" && o.ID.Kind == "Application":
			r, fs = application(objs, i)
		}
		findings = append(findings, fs...)
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, findings
}

// index finds objects by group, kind, namespace and name.
func index(objs []manifest.Object) map[manifest.ObjectID]int {
	m := make(map[manifest.ObjectID]int, len(objs))
	for i, o := range objs {
		m[o.ID] = i
	}
	return m
}

func where(o manifest.Object) string {
	return o.Source.String() + ": " + o.ID.Kind + " " + nsName(o.ID.Namespace, o.ID.Name)
}

func nsName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func warn(o manifest.Object, rule, format string, args ...any) manifest.Finding {
	return newFinding(manifest.SeverityWarning, o, rule, format, args...)
}

func fail(o manifest.Object, rule, format string, args ...any) manifest.Finding {
	return newFinding(manifest.SeverityError, o, rule, format, args...)
}

func newFinding(sev manifest.Severity, o manifest.Object, rule, format string, args ...any) manifest.Finding {
	id := o.FindingID()
	return manifest.Finding{Severity: sev, Rule: rule, File: o.Source.File, Line: o.Source.Line, Object: &id,
		Message: fmt.Sprintf(format, args...)}
}

// path reads a nested field of decoded content.
func path(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func str(m map[string]any, keys ...string) string {
	s, _ := path(m, keys...).(string)
	return s
}

func helmRelease(objs []manifest.Object, idx map[manifest.ObjectID]int, i int) (*Release, manifest.Findings) {
	o := objs[i]
	c := o.Content
	r := &Release{Object: i, Source: -1, Kind: "HelmRelease", ID: o.ID, Where: where(o)}
	r.Namespace = o.ID.Namespace
	if t := str(c, "spec", "targetNamespace"); t != "" {
		r.Namespace = t
	}
	r.Name = str(c, "spec", "releaseName")
	if r.Name == "" {
		r.Name = o.ID.Name
		if t := str(c, "spec", "targetNamespace"); t != "" {
			r.Name = t + "-" + o.ID.Name
		}
	}
	r.Name = shortenName(r.Name)
	r.CRDs = str(c, "spec", "install", "crds")
	if r.CRDs == "" {
		r.CRDs = "Create"
	}
	r.PostRenderers, _ = path(c, "spec", "postRenderers").([]any)

	var findings manifest.Findings
	ref, _ := path(c, "spec", "chartRef").(map[string]any)
	spec, _ := path(c, "spec", "chart", "spec").(map[string]any)
	switch {
	case ref != nil:
		kind, _ := ref["kind"].(string)
		name, _ := ref["name"].(string)
		ns, _ := ref["namespace"].(string)
		if ns == "" {
			ns = o.ID.Namespace
		}
		if kind != "OCIRepository" {
			// A HelmChart object is made by source-controller; statepack cannot know what it points at.
			return nil, manifest.Findings{warn(o, RuleUnpinned, "spec.chartRef names a %s, which statepack does not follow: name an OCIRepository, or a chart with spec.chart.spec", kind)}
		}
		j, ok := idx[manifest.ObjectID{Group: "source.toolkit.fluxcd.io", Kind: "OCIRepository", Namespace: ns, Name: name}]
		if !ok {
			return nil, manifest.Findings{warn(o, RuleUnpinned, "its chart comes from OCIRepository %s, which is not in this tree: the chart is neither pinned nor rendered (add the OCIRepository to the tree, or --helm=off)", nsName(ns, name))}
		}
		r.Source = j
		oci := objs[j].Content
		r.Chart = Chart{Type: SourceOCI, Repository: str(oci, "spec", "url"), Digest: str(oci, "spec", "ref", "digest"),
			SemverFilter: str(oci, "spec", "ref", "semverFilter")}
		switch {
		case str(oci, "spec", "ref", "semver") != "":
			r.Chart.Version = str(oci, "spec", "ref", "semver")
		case str(oci, "spec", "ref", "tag") != "":
			r.Chart.Version, r.Chart.Tag = str(oci, "spec", "ref", "tag"), true
		default:
			r.Chart.Version, r.Chart.Tag = "latest", true // source-controller's default
		}
		if !strings.HasPrefix(r.Chart.Repository, "oci://") {
			return nil, manifest.Findings{fail(objs[j], RuleRelease, "spec.url %q is not an oci:// URL", r.Chart.Repository)}
		}
	case spec != nil:
		name, _ := spec["chart"].(string)
		r.Chart.Version, _ = spec["version"].(string)
		if r.Chart.Version == "*" {
			r.Chart.Version = ""
		}
		r.Chart.ValuesFiles = strings1(spec["valuesFiles"])
		if f, _ := spec["valuesFile"].(string); f != "" { // deprecated, read before valuesFiles
			r.Chart.ValuesFiles = append([]string{f}, r.Chart.ValuesFiles...)
		}
		src, _ := spec["sourceRef"].(map[string]any)
		kind, _ := src["kind"].(string)
		sname, _ := src["name"].(string)
		ns, _ := src["namespace"].(string)
		if ns == "" {
			ns = o.ID.Namespace
		}
		switch kind {
		case "HelmRepository":
			j, ok := idx[manifest.ObjectID{Group: "source.toolkit.fluxcd.io", Kind: "HelmRepository", Namespace: ns, Name: sname}]
			if !ok {
				if !isExactVersion(r.Chart.Version) {
					findings = append(findings, warn(o, RuleUnpinned, "chart %s %q comes from HelmRepository %s, which is not in this tree: the chart is neither pinned nor rendered (add the HelmRepository to the tree, or --helm=off)", name, orNewest(r.Chart.Version), nsName(ns, sname)))
				}
				return nil, findings
			}
			r.Source = j
			repo := objs[j].Content
			r.Chart.Repository, r.Chart.Name = str(repo, "spec", "url"), name
			r.Chart.Type = SourceHelm
			if str(repo, "spec", "type") == "oci" || strings.HasPrefix(r.Chart.Repository, "oci://") {
				r.Chart.Type = SourceHelmOCI
			}
		case "GitRepository", "Bucket":
			// The chart is a directory of the source; statepack takes the source to be this tree, as a Flux
			// GitRepository of the repository being published is.
			r.Chart = Chart{Type: SourceLocal, Repository: strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/"), Version: r.Chart.Version, ValuesFiles: r.Chart.ValuesFiles}
		default:
			return nil, manifest.Findings{fail(o, RuleRelease, "spec.chart.spec.sourceRef.kind %q: Flux takes HelmRepository, GitRepository or Bucket", kind)}
		}
		if name == "" {
			return nil, manifest.Findings{fail(o, RuleRelease, "spec.chart.spec.chart is empty: name the chart")}
		}
	default:
		return nil, manifest.Findings{fail(o, RuleRelease, "neither spec.chart nor spec.chartRef is set: helm-controller needs one")}
	}

	values, unknown, fs := fluxValues(objs, idx, i)
	findings = append(findings, fs...)
	if fs.HasErrors() {
		return nil, findings
	}
	r.Values, r.ValuesUnknown = values, unknown
	return r, findings
}

func orNewest(v string) string {
	if v == "" {
		return "(newest)"
	}
	return v
}

func strings1(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// shortenName is helm-controller's release.ShortenName.
func shortenName(name string) string {
	if len(name) <= 53 {
		return name
	}
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(name)))
	return name[:53-13] + "-" + sum[:12]
}

// jsonValues gives values the types a consumer reading them from JSON sees (float64 numbers), so that templates
// print them as helm-controller's and Argo CD's do.
func jsonValues(v map[string]any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// isExactVersion reports whether v is one version rather than a constraint: a full semantic version, a leading
// "v" allowed as Helm allows it.
func isExactVersion(v string) bool {
	_, err := semver.StrictNewVersion(strings.TrimPrefix(strings.TrimSpace(v), "v"))
	return err == nil
}
