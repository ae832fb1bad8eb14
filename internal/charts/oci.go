package charts

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/publish"
)

// Helm's OCI media types (helm.sh/helm/v4/pkg/registry/constants.go).
const (
	helmConfigMediaType      = "application/vnd.cncf.helm.config.v1+json"
	helmChartLayerMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	helmLegacyChartMediaType = "application/tar+gzip"
	// maxConfigSize bounds a chart's config blob (Chart.yaml as JSON).
	maxConfigSize = 1 << 20
)

func (f *Fetcher) target(ctx context.Context, ref publish.Ref) (*publish.Target, error) {
	return f.shared.targets.do(ctx, ref.Name(), func() (*publish.Target, error) {
		return publish.Open(ctx, ref, f.o.Registry...)
	})
}

// resolveOCI lists the repository's tags and resolves the chosen one to its manifest digest, then checks that the
// manifest is a Helm chart's.
func (f *Fetcher) resolveOCI(ctx context.Context, k key) (Pin, error) {
	ref, _ := k.ociRef() // checked by key.check
	t, err := f.target(ctx, ref)
	if err != nil {
		return Pin{}, err
	}
	reference, version := k.version, ""
	if !digestPattern.MatchString(k.version) {
		tags, err := t.Tags(ctx)
		if err != nil {
			return Pin{}, err
		}
		filter, _ := k.tagFilter() // checked by key.check
		reference, version, err = pickTag(tags, k.version, k.name != "", filter)
		if err != nil {
			return Pin{}, err
		}
	}
	desc, err := t.Resolve(ctx, reference)
	if err != nil {
		return Pin{}, err
	}
	p := Pin{Repository: k.repository, Name: k.name, Version: version, Digest: desc.Digest.String(), URL: "oci://" + ref.WithDigest(desc.Digest.String())}
	m, err := f.manifest(ctx, t, p, desc.Size)
	if err != nil {
		return Pin{}, err
	}
	if p.Version == "" {
		// A digest asked for: the version is the chart's own, from its config (Chart.yaml as JSON).
		if p.Version, err = f.configVersion(ctx, t, m); err != nil {
			return Pin{}, err
		}
	}
	return p, nil
}

// pickTag chooses a tag as Helm (helm pull oci://…, Flux's HelmRepository type oci) or Flux's OCIRepository
// (ref.tag, ref.semver, ref.semverFilter) does: a tag equal to the version asked for first; else the newest tag
// that matches the filter, if any, and satisfies the constraint. Helm reads tags as strict semver with "_" standing for "+" (OCI tags cannot hold "+") and reports
// the version; an OCIRepository reads them leniently ("v1.2.3") and reports the tag.
func pickTag(tags []string, constraint string, helmRules bool, filter *regexp.Regexp) (tag, version string, err error) {
	for _, tag := range tags {
		switch {
		case constraint == "":
		case !helmRules && tag == constraint:
			return tag, tag, nil
		case helmRules && (tag == constraint || strings.ReplaceAll(tag, "_", "+") == constraint):
			// Helm sees only the tags that are versions.
			if _, err := semver.StrictNewVersion(strings.ReplaceAll(tag, "_", "+")); err == nil {
				return tag, strings.ReplaceAll(tag, "_", "+"), nil
			}
		}
	}
	c, err := semver.NewConstraint(cmp.Or(constraint, "*"))
	if err != nil {
		return "", "", fmt.Errorf("%w: version %q is neither a tag of the repository nor a semver constraint: %v", ErrInvalidRequest, constraint, err)
	}
	type tagged struct {
		v   *semver.Version
		tag string
	}
	var semverTags []tagged
	for _, tag := range tags {
		if filter != nil && !filter.MatchString(tag) {
			continue
		}
		var v *semver.Version
		if helmRules {
			v, err = semver.StrictNewVersion(strings.ReplaceAll(tag, "_", "+"))
		} else {
			v, err = semver.NewVersion(tag)
		}
		if err == nil {
			semverTags = append(semverTags, tagged{v, tag})
		}
	}
	slices.SortStableFunc(semverTags, func(a, b tagged) int { return b.v.Compare(a.v) })
	for _, st := range semverTags {
		if c.Check(st.v) {
			if helmRules {
				return st.tag, st.v.String(), nil
			}
			return st.tag, st.tag, nil
		}
	}
	vs := make([]string, len(semverTags))
	for i, st := range semverTags {
		vs[i] = st.tag
	}
	if len(vs) == 0 {
		return "", "", fmt.Errorf("%w %s: the repository has no semver tag (tags: %s)", ErrNoVersion, describeConstraint(constraint), listVersions(tags))
	}
	return "", "", fmt.Errorf("%w %s: the repository has %s", ErrNoVersion, describeConstraint(constraint), listVersions(vs))
}

// manifest returns a chart's manifest, once per Fetcher, from the cache or the registry, checked against the
// pin's digest and against Helm's media types, and stores it in the cache (it ties the pinned digest to the chart
// layer offline).
func (f *Fetcher) manifest(ctx context.Context, t *publish.Target, p Pin, size int64) (ocispec.Manifest, error) {
	return f.shared.manifests.do(ctx, p.Digest, func() (ocispec.Manifest, error) { return f.loadManifest(ctx, t, p, size) })
}

func (f *Fetcher) loadManifest(ctx context.Context, t *publish.Target, p Pin, size int64) (ocispec.Manifest, error) {
	raw, ok := f.cached(p.Digest)
	if !ok {
		if f.o.Offline {
			return ocispec.Manifest{}, f.notCached(p)
		}
		if size == 0 {
			desc, err := t.Resolve(ctx, p.Digest)
			if err != nil {
				return ocispec.Manifest{}, err
			}
			size = desc.Size
		}
		var err error
		_, raw, err = t.FetchManifest(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(p.Digest), Size: size})
		if err != nil && errors.Is(err, publish.ErrNotStatepackArtifact) {
			return ocispec.Manifest{}, fmt.Errorf("%w: %s: %w", ErrNotAChart, p.URL, err)
		}
		if err != nil {
			return ocispec.Manifest{}, err
		}
		if got := digestOf(raw); got != p.Digest {
			return ocispec.Manifest{}, mismatch(p, got)
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Manifest{}, fmt.Errorf("%w: %s: the manifest does not decode: %v", ErrNotAChart, p.URL, err)
	}
	if m.Config.MediaType != helmConfigMediaType {
		return ocispec.Manifest{}, fmt.Errorf("%w: %s has config media type %q, not Helm's %q: is it a chart pushed with `helm push`?", ErrNotAChart, p.URL, m.Config.MediaType, helmConfigMediaType)
	}
	if _, err := chartLayer(m); err != nil {
		return ocispec.Manifest{}, fmt.Errorf("%w: %s %v", ErrNotAChart, p.URL, err)
	}
	if !ok {
		f.store(raw)
	}
	return m, nil
}

// chartLayer is the manifest's one chart layer (Helm's media type, or the legacy one Helm still reads).
func chartLayer(m ocispec.Manifest) (ocispec.Descriptor, error) {
	var found []ocispec.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == helmChartLayerMediaType || l.MediaType == helmLegacyChartMediaType {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return ocispec.Descriptor{}, fmt.Errorf("has %d layers of media type %q; a chart has exactly one", len(found), helmChartLayerMediaType)
	}
	return found[0], nil
}

func (f *Fetcher) configVersion(ctx context.Context, t *publish.Target, m ocispec.Manifest) (string, error) {
	if m.Config.Size > maxConfigSize {
		return "", fmt.Errorf("%w: the chart config is %d bytes, the limit is %d", ErrTooLarge, m.Config.Size, maxConfigSize)
	}
	data, err := f.blob(ctx, t, m.Config)
	if err != nil {
		return "", err
	}
	var meta struct{ Version string }
	if err := json.Unmarshal(data, &meta); err != nil || meta.Version == "" {
		return "", fmt.Errorf("%w: the chart config %s names no version", ErrNotAChart, m.Config.Digest)
	}
	return meta.Version, nil
}

// blob returns a blob's bytes from the cache or the registry (verified against its descriptor) and caches them.
func (f *Fetcher) blob(ctx context.Context, t *publish.Target, d ocispec.Descriptor) ([]byte, error) {
	if data, ok := f.cached(d.Digest.String()); ok {
		return data, nil
	}
	rc, err := t.FetchBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		return nil, err
	}
	f.store(buf.Bytes())
	return buf.Bytes(), nil
}

func (f *Fetcher) fetchOCI(ctx context.Context, k key, p Pin) ([]byte, error) {
	ref, _ := k.ociRef() // checked by Fetch
	var t *publish.Target
	if !f.o.Offline {
		var err error
		if t, err = f.target(ctx, ref); err != nil {
			return nil, err
		}
	}
	m, err := f.manifest(ctx, t, p, 0)
	if err != nil {
		return nil, err
	}
	layer, _ := chartLayer(m) // checked by manifest
	if data, ok := f.cached(layer.Digest.String()); ok {
		return data, nil
	}
	if f.o.Offline {
		return nil, f.notCached(p)
	}
	if layer.Size > f.maxArchive() || layer.Size < 0 {
		return nil, fmt.Errorf("fetching chart %s: %w: the chart layer is %d bytes, the limit is %d", p.URL, ErrTooLarge, layer.Size, f.maxArchive())
	}
	return f.blob(ctx, t, layer)
}
