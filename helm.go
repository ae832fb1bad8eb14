package statepack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/charts"
	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/releases"
	"github.com/statepack/statepack/internal/schema"
	"github.com/statepack/statepack/publish"
)

// Helm modes: what Load does with the Helm releases a tree declares (Flux HelmReleases, Argo CD Applications with
// a Helm chart).
const (
	// HelmPin (the default) keeps the releases as objects, for helm-controller or Argo CD to install, with every
	// chart reference made exact (a HelmRelease's chart version, an OCIRepository's digest, an Application's
	// targetRevision), and renders each chart in-process so that its objects are validated with the tree's.
	HelmPin = "pin"
	// HelmHydrate replaces each release by the objects it renders, as helm-controller would install them.
	HelmHydrate = "hydrate"
	// HelmOff leaves releases as they are, warning (rule chart-unpinned) about every chart reference that floats.
	HelmOff = "off"
)

// HelmOptions say how the Helm releases of a tree are pinned and rendered, and how their charts are fetched. The
// network is used only for the chart repositories the tree declares, and not at all with Offline.
type HelmOptions struct {
	// Mode is HelmPin (""), HelmHydrate or HelmOff.
	Mode string
	// ChartCache is a content-addressed chart cache kept between runs (`statepack --chart-cache`); "" means none.
	ChartCache string
	// Offline resolves charts only from the lock file (statepack.lock beside the tree) and fetches them only from
	// ChartCache: a chart missing from either is an error naming it.
	Offline bool
	// Registry configures access to OCI chart repositories as publish does (credentials, Docker config, plain
	// HTTP for loopback registries).
	Registry []publish.Option
	// HTTPAuth gives basic-auth credentials for an HTTP chart repository, by its URL; sent to that host only.
	HTTPAuth func(repositoryURL string) (username, password string, ok bool)
	// HTTPClient fetches from HTTP chart repositories; nil means a client with timeouts.
	HTTPClient *http.Client

	// Share is shared by the Loads of one run (the targets of a fleet): each chart is fetched once, and each
	// release of one chart with the same name, namespace and values rendered once, between them. nil shares
	// nothing.
	Share *ChartShare

	ignoreLock bool // Lock resolves everything live
}

// ChartShare holds the charts fetched and the releases rendered by the Loads that share it (HelmOptions.Share).
// It is safe for concurrent use; make one per run with NewChartShare.
type ChartShare struct {
	charts charts.Shared

	mu      sync.Mutex
	renders map[string]*renderCall
}

type renderCall struct {
	done     chan struct{}
	rd       *releases.Rendered
	findings build.Findings
}

// NewChartShare returns an empty ChartShare.
func NewChartShare() *ChartShare { return &ChartShare{renders: map[string]*renderCall{}} }

// render renders rel of chart c once per key between the Loads sharing cs: what a release renders depends on
// nothing but the key (the chart's bytes, and everything the release and the options give it), so a repeated
// release gets the first one's objects, with its own declaring object's source. A nil cs renders every time.
func (cs *ChartShare) render(ctx context.Context, key string, rel *releases.Release, c *helm.Chart, decl build.Object, o releases.RenderOptions) (*releases.Rendered, build.Findings) {
	if cs == nil || key == "" {
		return releases.Render(ctx, rel, c, decl, o)
	}
	cs.mu.Lock()
	call, ok := cs.renders[key]
	if !ok {
		call = &renderCall{done: make(chan struct{})}
		cs.renders[key] = call
		cs.mu.Unlock()
		call.rd, call.findings = releases.Render(ctx, rel, c, decl, o)
		close(call.done)
	} else {
		cs.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, build.Findings{{Severity: build.SeverityError, Rule: releases.RuleRelease, Message: ctx.Err().Error()}}
		}
	}
	// The findings and objects carry the first release's position: give them this one's.
	findings := slices.Clone(call.findings)
	for i := range findings {
		findings[i].File, findings[i].Line = decl.Source.File, decl.Source.Line
		id := decl.FindingID()
		findings[i].Object = &id
	}
	if call.rd == nil {
		return nil, findings
	}
	rd := *call.rd
	rd.Objects = slices.Clone(rd.Objects)
	for i := range rd.Objects {
		rd.Objects[i].Source = decl.Source
	}
	return &rd, findings
}

// renderKey identifies what a release renders: the chart (by digest; a chart directory by its path, which holds
// the same files for the whole run), the release's name, namespace, values, parameters, CRD policy and
// post-renderers, and the cluster it is rendered for. "" when it cannot be made (the release is rendered anew).
func renderKey(chart string, rel *releases.Release, o releases.RenderOptions) string {
	b, err := json.Marshal([]any{chart, rel.Name, rel.Namespace, rel.Values, rel.Sets, rel.CRDs, rel.PostRenderers,
		rel.Chart.ValuesFiles, o.KubernetesVersion, o.APIVersions})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ChartCredential is the basic auth of the HTTP chart repositories at URL and below it.
type ChartCredential struct {
	URL, Username, Password string
}

// ChartCredentials is an HelmOptions.HTTPAuth that gives each repository the credential of the longest URL it
// is, or lies below ("https://charts.example.com/team" covers ".../team/stable", not ".../teams"); nil for none.
func ChartCredentials(creds ...ChartCredential) func(repositoryURL string) (username, password string, ok bool) {
	if len(creds) == 0 {
		return nil
	}
	return func(repositoryURL string) (string, string, bool) {
		best := -1
		for i, c := range creds {
			prefix := strings.TrimRight(c.URL, "/")
			if (repositoryURL == prefix || strings.HasPrefix(repositoryURL, prefix+"/")) && (best < 0 || len(prefix) > len(strings.TrimRight(creds[best].URL, "/"))) {
				best = i
			}
		}
		if best < 0 {
			return "", "", false
		}
		return creds[best].Username, creds[best].Password, true
	}
}

// LockFileName is the lock file of a tree: the exact chart (version and digest) of each chart reference, written by
// Lock (`statepack lock`) beside the tree, committed by the user, read by Load.
const LockFileName = charts.LockFileName

func (o HelmOptions) mode() string {
	if o.Mode == "" {
		return HelmPin
	}
	return o.Mode
}

// Check refuses a Mode other than HelmPin, HelmHydrate and HelmOff.
func (o HelmOptions) Check() error {
	switch o.mode() {
	case HelmPin, HelmHydrate, HelmOff:
		return nil
	}
	return invalidf("--helm %q: use pin (the default: chart references made exact, charts rendered for validation), hydrate (releases replaced by what they render) or off", o.Mode)
}

// ChartRelease is a Helm release of the tree and what it renders.
type ChartRelease struct {
	// Release is the release as declared: chart source, name, namespace, values.
	Release releases.Release
	// Chart is "name@version" of the chart rendered; Digest its OCI manifest digest or archive sha256, and URL where
	// it came from ("https://…/web-1.2.3.tgz", "oci://host/repo@sha256:…"); both "" for a chart directory of the tree.
	Chart, Digest, URL string
	// Objects are what the release renders (hydrated into the tree with HelmHydrate; validated beside it with
	// HelmPin).
	Objects []build.Object
	// Templates name the chart file each of Objects came from.
	Templates []string
	// Hydrated is true when Objects replaced the release in the tree (HelmHydrate).
	Hydrated bool
}

// helmStage pins, renders or hydrates the Helm releases of the rendering, adding its findings to the rendering's:
// a release that cannot be rendered leaves the rendering incomplete, as a file that cannot be read does. It leaves
// a rendering with errors alone.
func (s *Source) helmStage(ctx context.Context) {
	o := s.opts.Helm
	r := s.Rendering
	if r.Findings.HasErrors() {
		return
	}
	found, findings := releases.Find(r.Objects)
	if o.mode() == HelmOff {
		for _, rel := range found {
			if !rel.Chart.Exact() {
				decl := r.Objects[rel.Object]
				id := decl.FindingID()
				r.Findings = append(r.Findings, build.Finding{Severity: build.SeverityWarning, Rule: releases.RuleUnpinned,
					File: decl.Source.File, Line: decl.Source.Line, Object: &id,
					Message: fmt.Sprintf("chart %s floats (%s): the signed artifact points at whatever the repository serves when the cluster reconciles; publish with --helm=pin to make it exact", describeChart(rel.Chart), orNewest(rel.Chart))})
			}
		}
		return
	}
	r.Findings = append(r.Findings, findings...)
	if findings.HasErrors() {
		return
	}
	ropts := releases.RenderOptions{
		KubernetesVersion: s.opts.kubernetesVersion(),
		APIVersions:       apiVersions(r.Objects),
		Namespaced:        build.Namespaced(r.Objects, schema.ClusterScopedKinds()...),
	}
	objs := r.Objects
	var hydrated []releases.Release
	var rendered []*releases.Rendered
	for _, rel := range found {
		decl := r.Objects[rel.Object]
		c, pin, err := s.chart(ctx, rel)
		if err != nil {
			r.Findings = append(r.Findings, releaseFinding(build.SeverityError, decl, err.Error()))
			continue
		}
		if rel.ValuesUnknown != "" {
			// Flux accepts such a tree: the cluster supplies the values. The chart reference can still be pinned;
			// what the release renders cannot be known here, so it is neither validated nor hydrated.
			if o.mode() == HelmHydrate {
				r.Findings = append(r.Findings, releaseFinding(build.SeverityError, decl, rel.ValuesUnknown+
					": the release cannot be rendered as the cluster would, so it cannot be hydrated: add it to the tree, mark the reference optional, or use --helm=pin"))
				continue
			}
			f := releaseFinding(build.SeverityWarning, decl, rel.ValuesUnknown+
				": the chart reference is pinned, but what the release renders is not validated")
			f.Rule = releases.RuleValuesUnknown
			r.Findings = append(r.Findings, f)
		} else {
			chartID := pin.ArchiveDigest
			if chartID == "" {
				chartID = "dir:" + filepath.Join(s.Root, rel.Chart.Repository)
			}
			rd, fs := o.Share.render(ctx, renderKey(chartID, &rel, ropts), &rel, c, decl, ropts)
			r.Findings = append(r.Findings, fs...)
			if rd == nil {
				continue
			}
			s.Charts = append(s.Charts, ChartRelease{Release: rel, Chart: rd.Chart, Digest: pin.ArchiveDigest, URL: pin.URL, Objects: rd.Objects,
				Templates: rd.Templates, Hydrated: o.mode() == HelmHydrate})
			if o.mode() == HelmHydrate {
				hydrated, rendered = append(hydrated, rel), append(rendered, rd)
				continue
			}
		}
		if objs, err = releases.Pin(objs, &rel, pin); err != nil {
			r.Findings = append(r.Findings, releaseFinding(build.SeverityError, decl, err.Error()))
		}
	}
	if len(hydrated) > 0 {
		objs = releases.Hydrate(objs, found, hydrated, rendered)
	}
	r.Objects = objs
}

// releaseFinding is a finding of the Helm stage about the release that decl declares.
func releaseFinding(sev build.Severity, decl build.Object, msg string) build.Finding {
	id := decl.FindingID()
	return build.Finding{Severity: sev, Rule: releases.RuleRelease, File: decl.Source.File, Line: decl.Source.Line, Object: &id, Message: msg}
}

// chart loads the chart of rel and says what it resolved to.
func (s *Source) chart(ctx context.Context, rel releases.Release) (*helm.Chart, releases.Pinned, error) {
	if rel.Chart.Type == releases.SourceLocal {
		if s.Root == "" {
			return nil, releases.Pinned{}, fmt.Errorf("chart directory %s is in the source tree, not in the artifact", rel.Chart.Repository)
		}
		dir := path.Clean(rel.Chart.Repository)
		if dir == ".." || strings.HasPrefix(dir, "../") || path.IsAbs(dir) {
			return nil, releases.Pinned{}, fmt.Errorf("chart directory %q lies outside the source root %s", rel.Chart.Repository, s.Root)
		}
		c, err := helm.Load(filepath.Join(s.Root, filepath.FromSlash(dir)), helm.Limits{})
		if err != nil {
			return nil, releases.Pinned{}, fmt.Errorf("chart directory %s (relative to the source root, as Flux reads a GitRepository): %v", dir, err)
		}
		s.addInputs(dir)
		return c, releases.Pinned{Version: c.Version()}, nil
	}
	// The finding names the release's file and object already: the request needs no Declared prefix.
	req := charts.Request{Repository: rel.Chart.Repository, Name: rel.Chart.Name, Version: rel.Chart.Version, SemverFilter: rel.Chart.SemverFilter}
	if rel.Chart.Type == releases.SourceOCI && rel.Chart.Digest != "" {
		req.Version = rel.Chart.Digest // an OCIRepository's ref.digest wins over its tag and semver, as in Flux
	}
	pin, data, err := s.fetchChart(ctx, req)
	if err != nil {
		if !errors.Is(err, charts.ErrOffline) && !errors.Is(err, charts.ErrInvalidLock) {
			err = fmt.Errorf("%w (to publish the release as written, unpinned and unrendered: --helm off)", err)
		}
		return nil, releases.Pinned{}, err
	}
	c, err := helm.LoadArchive(data, helm.Limits{})
	if err != nil {
		return nil, releases.Pinned{}, fmt.Errorf("chart %s: %w", pin.URL, err)
	}
	s.addLockInput()
	p := releases.Pinned{Version: pin.Version, URL: pin.URL, ArchiveDigest: pin.Digest}
	if rel.Chart.Type != releases.SourceHelm {
		p.Digest = pin.Digest
	}
	return c, p, nil
}

// fetchChart resolves req (from the lock when it holds req, else live) and fetches the chart's archive, digest
// checked, through the Source's fetcher: the one way the Helm stage and a kustomization's helmCharts get a chart
// from a repository. A chart the lock does not hold makes the render's inputs incomplete (chartsLive): the
// repository may serve another version next time while no file changed.
func (s *Source) fetchChart(ctx context.Context, req charts.Request) (charts.Pin, []byte, error) {
	f, err := s.chartFetcher()
	if err != nil {
		return charts.Pin{}, nil, err
	}
	pin, err := f.Resolve(ctx, req)
	if err != nil {
		return charts.Pin{}, nil, err
	}
	data, err := f.Fetch(ctx, pin)
	if err != nil {
		return charts.Pin{}, nil, err
	}
	if _, locked := s.lock.Lookup(req); !locked {
		s.chartsLive = true
	}
	return pin, data, nil
}

// pullChart is the build.ChartResolver of the Load: a kustomization's helmCharts entry with a repo gets its chart
// as a HelmRelease does, through the same fetcher, lock, cache and credentials, keyed in the lock by the request
// {repository, name, version as written}.
func (s *Source) pullChart(ctx context.Context, repo, name, version string) (build.PulledChart, error) {
	pin, data, err := s.fetchChart(ctx, charts.Request{Repository: repo, Name: name, Version: version})
	if err != nil {
		return build.PulledChart{}, err
	}
	return build.PulledChart{Archive: data, Version: pin.Version, Digest: pin.Digest, URL: pin.URL}, nil
}

// chartFetcher is the Source's fetcher, made on first use with the lock beside the tree: one per Source, so that
// the renders of one Load resolve and fetch each chart once.
func (s *Source) chartFetcher() (*charts.Fetcher, error) {
	if s.fetcher != nil {
		return s.fetcher, nil
	}
	o := s.opts.Helm
	var lock *charts.Lock
	if !o.ignoreLock && s.Path != "" {
		var err error
		if lock, err = charts.ReadLock(filepath.Join(s.Path, charts.LockFileName)); err != nil {
			return nil, err
		}
	}
	co := charts.Options{CacheDir: o.ChartCache, Offline: o.Offline, Lock: lock, Registry: o.Registry,
		HTTPAuth: o.HTTPAuth, HTTPClient: o.HTTPClient, Logger: s.opts.Logger}
	if o.Share != nil {
		co.Shared = &o.Share.charts
	}
	f, err := charts.New(co)
	if err != nil {
		return nil, err
	}
	s.fetcher, s.lock = f, lock
	return f, nil
}

// addLockInput records the lock file (present or not) as an input of the render: adding, changing or removing it
// changes what the tree publishes.
func (s *Source) addLockInput() {
	if rel, err := filepath.Rel(s.Root, filepath.Join(s.Path, charts.LockFileName)); err == nil && !strings.HasPrefix(rel, "..") {
		if p := filepath.ToSlash(rel); !slices.Contains(s.Rendering.Inputs, p) {
			s.Rendering.Inputs = append(s.Rendering.Inputs, p)
			slices.Sort(s.Rendering.Inputs)
		}
	}
}

// addInputs records the files and directories of a chart directory (slash-separated, relative to the root) as
// inputs of the render, so that an incremental publish sees a chart change.
func (s *Source) addInputs(dir string) {
	s.Rendering.Inputs = append(s.Rendering.Inputs, build.ChartInputs(s.Root, filepath.Join(s.Root, filepath.FromSlash(dir)))...)
	slices.Sort(s.Rendering.Inputs)
	s.Rendering.Inputs = slices.Compact(s.Rendering.Inputs)
}

// apiVersions are the group/versions, and group/version/Kinds, of the CustomResourceDefinitions among objs, for a
// chart's .Capabilities.APIVersions.
func apiVersions(objs []build.Object) []string {
	var out []string
	for _, o := range objs {
		if o.ID.Kind != "CustomResourceDefinition" || o.ID.Group != "apiextensions.k8s.io" {
			continue
		}
		spec, _ := o.Content["spec"].(map[string]any)
		group, _ := spec["group"].(string)
		names, _ := spec["names"].(map[string]any)
		kind, _ := names["kind"].(string)
		versions, _ := spec["versions"].([]any)
		for _, v := range versions {
			version, _ := v.(map[string]any)
			name, _ := version["name"].(string)
			if group != "" && name != "" {
				out = append(out, group+"/"+name)
				if kind != "" {
					out = append(out, group+"/"+name+"/"+kind)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func describeChart(c releases.Chart) string {
	if c.Name == "" {
		return c.Repository
	}
	return c.Repository + " " + c.Name
}

func orNewest(c releases.Chart) string {
	switch {
	case c.Tag:
		return "tag " + c.Version + " without a digest"
	case c.Version == "":
		return "the newest version"
	}
	return "version " + c.Version
}

// placeCharts gives the Helm stage's findings, and the objects a pinned release renders, the position their
// declaring object was just placed at (LocateSources places the tree's objects, not what the stage made of them).
func (s *Source) placeCharts() {
	placed := map[build.ObjectID]build.Source{}
	for _, o := range s.Rendering.Objects {
		placed[o.FindingID()] = o.Source
	}
	for i, f := range s.Rendering.Findings {
		if f.Line == 0 && f.Object != nil && (f.Rule == releases.RuleRelease || f.Rule == releases.RuleUnpinned || f.Rule == releases.RuleValuesUnknown) {
			if src, ok := placed[*f.Object]; ok {
				s.Rendering.Findings[i].File, s.Rendering.Findings[i].Line = src.File, src.Line
			}
		}
	}
	for i := range s.Charts {
		c := &s.Charts[i]
		if c.Hydrated || c.Release.Object >= len(s.Rendering.Objects) {
			continue
		}
		src := s.Rendering.Objects[c.Release.Object].Source
		for j := range c.Objects {
			c.Objects[j].Source = src
		}
	}
}

// validateObjects runs the structural checks and validators over the objects of the tree and, with HelmPin, the
// objects its releases render beside them (hydrated ones are among the tree's already). A finding about a rendered
// object says which release, chart and template it came from.
func (s *Source) validateObjects(ctx context.Context, validators []build.Validator) build.Findings {
	objs := s.Rendering.Objects
	var substituted build.Findings
	if len(s.vars) > 0 || s.opts.SubstituteStrict {
		// Flux substitutes what kustomize-controller applies: the tree's objects, hydrated releases included.
		objs, substituted = build.Substitute(objs, s.vars, s.opts.SubstituteStrict)
	}
	via := map[build.ObjectID]string{}
	if len(s.Charts) > 0 {
		objs = slices.Clone(objs)
		for _, c := range s.Charts {
			rd := releases.Rendered{Chart: c.Chart, Templates: c.Templates}
			for i, o := range c.Objects {
				via[o.ID] = rd.Via(&c.Release, i)
				if s.opts.Helm.mode() == HelmPin {
					objs = append(objs, o)
				}
			}
		}
	}
	findings := append(substituted, build.ValidateAllowing(ctx, objs, s.opts.allows, validators...)...)
	for i, f := range findings {
		if f.Object != nil {
			if v, ok := via[*f.Object]; ok {
				findings[i].Message += " (rendered by " + v + ")"
			}
		}
	}
	return findings
}
