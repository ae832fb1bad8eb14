package releases

import (
	"fmt"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/helm"
)

// Pinned is the exact chart a release's reference resolved to.
type Pinned struct {
	// Version is the chart's exact version.
	Version string
	// Digest is the OCI manifest digest of an OCI chart, "" for other sources (an HTTP repository's archive digest
	// cannot be written into a HelmRelease; the lock and the provenance record it).
	Digest string
	// URL is where the chart came from ("https://…/web-1.2.3.tgz", "oci://host/repo@sha256:…"); "" for a chart
	// directory of the tree.
	URL string
	// ArchiveDigest is the digest the chart is recorded under (OCI manifest or archive sha256); "" for a chart
	// directory of the tree.
	ArchiveDigest string
}

// Pin returns objs with r's chart reference made exact, as its consumer reads it: a HelmRelease's
// chart.spec.version, an OCIRepository's ref (digest and the tag it had; semver and semverFilter removed), an
// Argo CD Application's targetRevision. objs is not modified; the objects changed are serialised anew.
func Pin(objs []build.Object, r *Release, p Pinned) ([]build.Object, error) {
	out := append([]build.Object(nil), objs...)
	edit := func(i int, set func(c map[string]any) error) error {
		c := helm.CopyValues(out[i].Content)
		if err := set(c); err != nil {
			return fmt.Errorf("%s: %w", r.Where, err)
		}
		o, err := build.NewObject(c, out[i].Source)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Where, err)
		}
		out[i] = o
		return nil
	}
	var err error
	switch {
	case r.Chart.Type == SourceLocal:
		return out, nil
	case r.Kind == "Application":
		err = edit(r.Object, func(c map[string]any) error {
			src := applicationSource(c)
			if src == nil {
				return fmt.Errorf("no chart source to pin")
			}
			src["targetRevision"] = p.Version
			return nil
		})
	case r.Chart.Type == SourceOCI:
		if p.Digest == "" {
			return nil, fmt.Errorf("%s: the OCI chart resolved without a digest", r.Where)
		}
		err = edit(r.Source, func(c map[string]any) error {
			spec := mapAt(c, "spec")
			spec["ref"] = map[string]any{"digest": p.Digest, "tag": p.Version}
			return nil
		})
	default:
		err = edit(r.Object, func(c map[string]any) error {
			mapAt(mapAt(mapAt(c, "spec"), "chart"), "spec")["version"] = p.Version
			return nil
		})
	}
	return out, err
}

// applicationSource is the Application's chart source: spec.source, or the element of spec.sources with a chart.
func applicationSource(c map[string]any) map[string]any {
	if src, _ := path(c, "spec", "source").(map[string]any); src != nil {
		return src
	}
	sources, _ := path(c, "spec", "sources").([]any)
	for _, s := range sources {
		if m, _ := s.(map[string]any); m != nil && m["chart"] != nil {
			return m
		}
	}
	return nil
}

// mapAt returns m[key] as a map, creating it when absent.
func mapAt(m map[string]any, key string) map[string]any {
	if v, ok := m[key].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[key] = v
	return v
}

// Hydrate returns objs with each release of hydrated replaced, where it stood, by the objects it renders, and the
// HelmRepositories and OCIRepositories that served only hydrated releases left out. rendered[i] is hydrated[i]'s.
func Hydrate(objs []build.Object, all []Release, hydrated []Release, rendered []*Rendered) []build.Object {
	replaced := map[int][]build.Object{}
	for i, r := range hydrated {
		replaced[r.Object] = rendered[i].Objects
	}
	// A source stays while any release that is not hydrated (or any object the package does not know) uses it.
	sourceUsers := map[int]int{}
	for _, r := range all {
		if r.Source >= 0 {
			sourceUsers[r.Source]++
		}
	}
	for _, r := range hydrated {
		if r.Source >= 0 {
			sourceUsers[r.Source]--
		}
	}
	var out []build.Object
	for i, o := range objs {
		if objs, ok := replaced[i]; ok {
			out = append(out, objs...)
			continue
		}
		if n, ok := sourceUsers[i]; ok && n == 0 {
			continue
		}
		out = append(out, o)
	}
	return out
}
