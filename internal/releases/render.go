package releases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/manifest"
)

// RenderOptions say what cluster a release is rendered for.
type RenderOptions struct {
	// KubernetesVersion is .Capabilities.KubeVersion; "" means internal/helm's default.
	KubernetesVersion string
	// APIVersions are added to .Capabilities.APIVersions: the groups/versions (and group/version/Kind) of the
	// CustomResourceDefinitions in the tree, so that a chart that checks for them renders as on a cluster that has
	// them.
	APIVersions []string
	// Namespaced reports whether a kind lives in a namespace (build.Namespaced): a namespaced object the chart
	// leaves without one gets the release's, as Helm's client gives it at install. nil: every kind but Namespace.
	Namespaced func(group, kind string) bool
	// Timeout bounds each render; 0 means internal/helm's default.
	Timeout time.Duration
}

// Rendered is what one release installs.
type Rendered struct {
	// Chart is "name@version" of the chart rendered.
	Chart string
	// Objects are the release's objects in Helm's install order: the chart's crds/ files (unless the release
	// skips CRDs), then the manifests, then the hooks (chart tests left out). Each has the declaring object's
	// source, so that findings point at the release in the tree.
	Objects []build.Object
	// Templates name, for each of Objects, the chart file it came from ("podinfo/templates/deployment.yaml").
	Templates []string
}

// Via says where a rendered object came from, for messages: "HelmRelease podinfo/podinfo, chart podinfo@6.7.1,
// podinfo/templates/deployment.yaml".
func (rd *Rendered) Via(r *Release, i int) string {
	return fmt.Sprintf("%s %s, chart %s, %s", r.Kind, nsName(r.ID.Namespace, r.ID.Name), rd.Chart, rd.Templates[i])
}

// Values returns the values r is installed with, given its chart: the chart's ValuesFiles merged in order, then
// r.Values, then r.Sets.
func Values(r *Release, c *helm.Chart) (map[string]any, error) {
	var layers []map[string]any
	for _, f := range r.Chart.ValuesFiles {
		data, ok := c.File(strings.TrimPrefix(f, "./"))
		if !ok {
			return nil, fmt.Errorf("values file %q is not in chart %s@%s", f, c.Name(), c.Version())
		}
		var layer map[string]any
		if err := yaml.Unmarshal(data, &layer); err != nil {
			return nil, fmt.Errorf("values file %q of chart %s@%s: %v", f, c.Name(), c.Version(), err)
		}
		layers = append(layers, layer)
	}
	values := helm.MergeValues(append(layers, r.Values)...)
	for _, s := range r.Sets {
		parse := strvals.ParseInto
		if s.String {
			parse = strvals.ParseIntoString
		}
		if err := parse(s.Name+"="+s.Value, values); err != nil {
			return nil, fmt.Errorf("parameter %s: %v", s.Name, err)
		}
	}
	return values, nil
}

// Render renders release r of chart c, declared by the object decl. A chart that fails to render is an error
// finding on the declaring object naming the chart (and the template and line, where Helm gives them).
func Render(ctx context.Context, r *Release, c *helm.Chart, decl manifest.Object, o RenderOptions) (*Rendered, manifest.Findings) {
	chart := c.Name() + "@" + c.Version()
	values, err := Values(r, c)
	if err != nil {
		return nil, manifest.Findings{fail(decl, RuleRelease, "%v", err)}
	}
	rel, err := helm.Render(ctx, c, values, helm.ReleaseOptions{Name: r.Name, Namespace: r.Namespace,
		KubernetesVersion: o.KubernetesVersion, APIVersions: o.APIVersions, Timeout: o.Timeout})
	if err != nil {
		msg := err.Error()
		if errors.Is(err, helm.ErrRenderTimeout) {
			msg += ": the chart's templates loop, or render far more than a chart should"
		}
		return nil, manifest.Findings{fail(decl, RuleRelease, "chart %s does not render as release %s in namespace %s: %s", chart, r.Name, r.Namespace, msg)}
	}
	namespaced := o.Namespaced
	if namespaced == nil {
		namespaced = func(group, kind string) bool { return !(group == "" && kind == "Namespace") }
	}
	rd := &Rendered{Chart: chart}
	var findings manifest.Findings
	add := func(source, content string) {
		objs, fs := build.DecodeManifests(source, []byte(content))
		for _, f := range fs {
			f.Message = fmt.Sprintf("chart %s, %s: %s", chart, source, f.Message)
			f.File, f.Line = decl.Source.File, decl.Source.Line
			findings = append(findings, f)
		}
		for _, obj := range objs {
			if obj.ID.Namespace == "" && namespaced(obj.ID.Group, obj.ID.Kind) {
				meta, _ := obj.Content["metadata"].(map[string]any)
				if meta == nil {
					continue // the structural validator reports it
				}
				meta["namespace"] = r.Namespace
				var err error
				if obj, err = build.NewObject(obj.Content, obj.Source); err != nil {
					findings = append(findings, fail(decl, RuleRelease, "chart %s, %s: %v", chart, source, err))
					continue
				}
			}
			obj.Source = decl.Source
			rd.Objects = append(rd.Objects, obj)
			rd.Templates = append(rd.Templates, source)
		}
	}
	if r.CRDs != "Skip" {
		for _, crd := range rel.CRDs {
			add(crd.Source, crd.Content)
		}
	}
	if len(r.PostRenderers) == 0 {
		for _, m := range rel.Manifests {
			add(m.Source, m.Content)
		}
	} else {
		// A post-renderer sees the manifests as one stream: what it returns is named after the templates the
		// objects came from, where an object keeps its kind and name.
		var all strings.Builder
		from := map[string]string{}
		for _, m := range rel.Manifests {
			all.WriteString("---\n" + m.Content + "\n")
			if objs, _ := build.DecodeManifests(m.Source, []byte(m.Content)); len(objs) == 1 {
				from[objs[0].ID.Kind+"/"+objs[0].ID.Name] = m.Source
			}
		}
		out, err := postRender(all.String(), r.PostRenderers)
		if err != nil {
			return nil, manifest.Findings{fail(decl, RuleRelease, "chart %s: %v", chart, err)}
		}
		objs, fs := build.DecodeManifests("post-renderer", []byte(out))
		if len(fs) > 0 {
			return nil, append(findings, fail(decl, RuleRelease, "chart %s: the post-renderers' output: %v", chart, fs[0].Message))
		}
		for _, o := range objs {
			source := from[o.ID.Kind+"/"+o.ID.Name]
			if source == "" {
				source = "spec.postRenderers"
			}
			add(source, string(o.YAML))
		}
	}
	for _, h := range rel.Hooks {
		if slices.ContainsFunc(h.Events, func(e string) bool { return strings.HasPrefix(e, "test") }) {
			continue // chart tests: run by `helm test`, never installed
		}
		add(h.Source, h.Content)
	}
	return rd, findings
}
