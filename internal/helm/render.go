package helm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	loaderv2 "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"
)

// DefaultKubernetesVersion is the version .Capabilities.KubeVersion reports when ReleaseOptions names none: the
// one `helm template` of the linked SDK (v4.3.2, client-go v0.37) reports. It is a constant, unlike the SDK's
// default, which follows the linked client-go and reads v1.20.0 inside `go test`.
const DefaultKubernetesVersion = "v1.37.0"

const (
	defaultTimeout   = time.Minute
	defaultMaxOutput = 64 << 20
)

// ReleaseOptions say what release a chart is rendered as, and bound the render.
type ReleaseOptions struct {
	// Name is the release name (.Release.Name), required; Helm's rules apply (at most 53 characters, DNS-1123).
	Name string
	// Namespace is .Release.Namespace. Default "default", as `helm template` has it.
	Namespace string
	// KubernetesVersion is .Capabilities.KubeVersion ("1.31.2", "v1.31.2-gke.100"). Default
	// DefaultKubernetesVersion. A chart whose kubeVersion constraint excludes it fails to render, as it would
	// fail to install.
	KubernetesVersion string
	// APIVersions are added to .Capabilities.APIVersions, which otherwise holds the built-in groups of the
	// linked client-go (`helm template --api-versions`).
	APIVersions []string
	// IsUpgrade renders as an upgrade (.Release.IsUpgrade, revision 1 still), as `helm template --is-upgrade`.
	IsUpgrade bool

	// Timeout bounds the render. Default one minute. See Render for what a timeout leaves behind.
	Timeout time.Duration
	// MaxOutput bounds the rendered text in bytes, and what a single template function may build (repeat,
	// indent, until, seq, randBytes, …). Default 64 MiB.
	MaxOutput int64
}

// Manifest is one object of the release: one YAML document of a template's output.
type Manifest struct {
	// Source is the template it came from, chart-qualified: "podinfo/templates/deployment.yaml",
	// "podinfo/charts/redis/templates/svc.yaml". helm template prints it as "# Source: …".
	Source string
	// Kind and APIVersion are read from the document's head.
	APIVersion, Kind string
	// Content is the document as rendered, without its "---" separator.
	Content string
}

// Hook is an object with a helm.sh/hook annotation: Helm applies it at the events it names rather than with the
// release. Its Content keeps every annotation (helm.sh/hook, -weight, -delete-policy), as helm template prints
// it and as Argo CD reads it to map the hook onto its own phases.
type Hook struct {
	Manifest
	// Name is the object's metadata.name.
	Name string
	// Events are the helm.sh/hook values ("pre-install", "post-upgrade", "test", …).
	Events []string
	// Weight is helm.sh/hook-weight (0 when absent).
	Weight int
	// DeletePolicies are the helm.sh/hook-delete-policy values.
	DeletePolicies []string
}

// CRD is a file of a crds/ directory, of the chart or a subchart: Helm applies these, unrendered, before
// anything else (helm template prints them with --include-crds; helm-controller creates them by default).
type CRD struct {
	// Source is chart-qualified: "podinfo/crds/crontab.yaml".
	Source  string
	Content string
}

// Release is a rendered chart.
type Release struct {
	// Manifests are the release's objects in Helm's install order (kind, then source, then position), hooks and
	// CRDs left out.
	Manifests []Manifest
	// Hooks are in Helm's order too (weight, then kind order, then name).
	Hooks []Hook
	// CRDs are in the order Helm reads them: the chart's, then each subchart's.
	CRDs []CRD
	// Notes is the chart's rendered templates/NOTES.txt (subcharts' notes are left out, as Helm does by default).
	Notes string
}

// ErrRenderTimeout is returned when a render outlives ReleaseOptions.Timeout or its context.
var ErrRenderTimeout = errors.New("rendering the chart took too long")

// Render renders c as `helm template` and helm-controller's install do, with the SDK's own steps in the order
// action.Install runs them in client-only dry-run mode: the release name checked, dependencies enabled or
// disabled by their conditions and tags and their import-values applied, values coalesced with the chart's
// defaults (values wins; a null deletes a default), values checked against every values.schema.json, the
// chart's kubeVersion checked, templates rendered, NOTES.txt set aside, the output split into objects and sorted
// into manifests and hooks in install order. values are the user-supplied values, already merged (MergeValues).
//
// Unlike the SDK:
//   - templates have no cluster: lookup returns an empty map, getHostByName an empty string, env and expandenv
//     do not exist (the SDK's behaviour without a cluster, made explicit);
//   - values.schema.json files are compiled with no loader, so a $ref to a file or an http(s) URL fails rather
//     than being read (the SDK reads both, from the machine and the network); urn: refs are allowed as the SDK
//     allows them, by an always-true schema;
//   - the render is bounded: ReleaseOptions.Timeout (ErrRenderTimeout), ReleaseOptions.MaxOutput (ErrTooLarge),
//     including for what a template function may build; every Sprig function checks the deadline before it runs.
//
// Go's template engine cannot be interrupted. After a timeout Render returns, and the abandoned render stops at
// the next Sprig function it calls; a template that loops or recurses through include alone, calling no other
// function, runs on until the process ends. A long-running embedder that renders untrusted charts should render
// them in a child process it can kill.
func Render(ctx context.Context, c *Chart, values map[string]any, opts ReleaseOptions) (*Release, error) {
	if opts.Name == "" {
		return nil, errors.New("rendering a chart: the release name is empty")
	}
	if err := chartutil.ValidateReleaseName(opts.Name); err != nil {
		return nil, fmt.Errorf("rendering a chart: release name %q: %w", opts.Name, err)
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.KubernetesVersion == "" {
		opts.KubernetesVersion = DefaultKubernetesVersion
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = defaultMaxOutput
	}
	kubeVersion, err := common.ParseKubeVersion(opts.KubernetesVersion)
	if err != nil {
		return nil, fmt.Errorf("rendering a chart: Kubernetes version %q: %w", opts.KubernetesVersion, err)
	}
	if values == nil {
		values = map[string]any{}
	} else {
		values = CopyValues(values)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var stop atomic.Bool
	type result struct {
		rel *Release
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("rendering the chart %s: %v", c.Name(), r)}
			}
		}()
		rel, err := render(ctx, c, values, opts, kubeVersion, &stop)
		done <- result{rel, err}
	}()
	select {
	case r := <-done:
		return r.rel, r.err
	case <-ctx.Done():
		stop.Store(true)
		return nil, fmt.Errorf("%w: rendering the chart %s: %w", ErrRenderTimeout, c.Name(), context.Cause(ctx))
	}
}

func render(ctx context.Context, c *Chart, values map[string]any, opts ReleaseOptions, kubeVersion *common.KubeVersion, stop *atomic.Bool) (*Release, error) {
	ch, err := c.load()
	if err != nil {
		return nil, err
	}
	// action.Install.RunWithContext, client-only dry run, step by step.
	if err := chartutil.ProcessDependencies(ch, values); err != nil {
		return nil, fmt.Errorf("rendering the chart %s: dependencies: %w", ch.Name(), err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion
	caps.APIVersions = append(append(common.VersionSet{}, caps.APIVersions...), opts.APIVersions...)
	renderValues, err := commonutil.ToRenderValuesWithSchemaValidation(ch, values, common.ReleaseOptions{
		Name:      opts.Name,
		Namespace: opts.Namespace,
		Revision:  1,
		IsInstall: !opts.IsUpgrade,
		IsUpgrade: opts.IsUpgrade,
	}, caps, true)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart %s: values: %w", ch.Name(), err)
	}
	coalesced, _ := renderValues["Values"].(common.Values)
	if err := validateSchemas(ch, coalesced); err != nil {
		return nil, fmt.Errorf("rendering the chart %s: values don't meet the specifications of the schema(s) in the following chart(s):\n%w", ch.Name(), err)
	}
	// action.Configuration.renderResources.
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("rendering the chart %s: chart requires kubeVersion: %s which is incompatible with Kubernetes %s", ch.Name(), ch.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	eng := engine.Engine{CustomTemplateFuncs: guardedFuncs(ctx, stop, opts.MaxOutput)}
	files, err := eng.RenderWithContext(ctx, ch, renderValues)
	if stop.Load() {
		return nil, ErrRenderTimeout
	}
	if err != nil {
		return nil, fmt.Errorf("rendering the chart %s: %w", ch.Name(), err)
	}
	var size int64
	for _, content := range files {
		size += int64(len(content))
	}
	if size > opts.MaxOutput {
		return nil, fmt.Errorf("%w: the chart %s renders %d bytes, more than the limit of %d", ErrTooLarge, ch.Name(), size, opts.MaxOutput)
	}
	rel := &Release{}
	notes := path.Join(ch.Name(), "templates", "NOTES.txt")
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			if name == notes {
				rel.Notes = content
			}
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart %s: %w", ch.Name(), err)
	}
	for _, crd := range ch.CRDObjects() {
		rel.CRDs = append(rel.CRDs, CRD{Source: crd.Filename, Content: string(crd.File.Data)})
	}
	for _, m := range manifests {
		man := Manifest{Source: m.Name, Content: m.Content}
		if m.Head != nil {
			man.APIVersion, man.Kind = m.Head.Version, m.Head.Kind
		}
		rel.Manifests = append(rel.Manifests, man)
	}
	for _, h := range hooks {
		hook := Hook{Manifest: Manifest{Source: h.Path, Kind: h.Kind, Content: h.Manifest}, Name: h.Name, Weight: h.Weight}
		if head, err := readHead(h.Manifest); err == nil {
			hook.APIVersion = head
		}
		for _, e := range h.Events {
			hook.Events = append(hook.Events, string(e))
		}
		for _, p := range h.DeletePolicies {
			hook.DeletePolicies = append(hook.DeletePolicies, string(p))
		}
		rel.Hooks = append(rel.Hooks, hook)
	}
	return rel, nil
}

// readHead returns a document's apiVersion, which the SDK's Hook does not keep.
func readHead(doc string) (string, error) {
	var head releaseutil.SimpleHead
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
		return "", err
	}
	return head.Version, nil
}

// ReadValues parses a values file as `helm template -f FILE` reads it: every YAML document of the file merged
// into one map, later documents over earlier ones.
func ReadValues(data []byte) (map[string]any, error) {
	return loaderv2.LoadValues(bytes.NewReader(data))
}

// MergeValues merges layers of user-supplied values, each over the ones before it, as helm-controller merges
// spec.valuesFrom in order and then spec.values: maps merge key by key at every depth, anything else (lists
// included) is replaced. A null is kept, so that Render's coalescing deletes the chart's default there. The
// layers are not modified.
func MergeValues(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, l := range layers {
		out = loaderv2.MergeMaps(out, CopyValues(l))
	}
	return out
}

// copyValues deep-copies the maps and lists of a values tree: the SDK's coalescing and dependency processing
// write into the values they are given.
func CopyValues(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		out[k] = copyValue(x)
	}
	return out
}

func copyValue(x any) any {
	switch t := x.(type) {
	case map[string]any:
		return CopyValues(t)
	case common.Values:
		return CopyValues(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	}
	return x
}
