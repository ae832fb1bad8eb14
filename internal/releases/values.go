package releases

import (
	"encoding/base64"
	"fmt"
	"strings"

	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/manifest"
)

// fluxValues merges a HelmRelease's spec.valuesFrom in order, then spec.values, as helm-controller does. A
// required reference this tree cannot read — a ConfigMap or Secret that is not in it (the cluster may hold it), a
// Secret that SOPS encrypts (Flux decrypts it there) — leaves the values unknown: unknown says why, and Flux would
// accept the tree, so it is no finding. A reference the cluster would refuse too (a kind other than ConfigMap or
// Secret, a key the object lacks, values that are not YAML) is an error.
func fluxValues(objs []manifest.Object, idx map[manifest.ObjectID]int, i int) (values map[string]any, unknown string, findings manifest.Findings) {
	o := objs[i]
	result := map[string]any{}
	refs, _ := path(o.Content, "spec", "valuesFrom").([]any)
	for n, raw := range refs {
		ref, _ := raw.(map[string]any)
		kind, _ := ref["kind"].(string)
		name, _ := ref["name"].(string)
		key, _ := ref["valuesKey"].(string)
		if key == "" {
			key = "values.yaml"
		}
		target, _ := ref["targetPath"].(string)
		optional, _ := ref["optional"].(bool)
		at := fmt.Sprintf("spec.valuesFrom[%d] (%s %s, key %s)", n, kind, nsName(o.ID.Namespace, name), key)
		if kind != "ConfigMap" && kind != "Secret" {
			return nil, "", manifest.Findings{fail(o, RuleRelease, "%s: kind must be ConfigMap or Secret", at)}
		}
		j, ok := idx[manifest.ObjectID{Kind: kind, Namespace: o.ID.Namespace, Name: name}]
		if !ok {
			if optional {
				continue
			}
			return nil, at + " is not in this tree", nil
		}
		if _, sops := objs[j].Content["sops"]; sops {
			return nil, at + " is encrypted with SOPS, which Flux decrypts in the cluster", nil
		}
		data, found, err := dataKey(objs[j], key)
		if err != nil {
			return nil, "", manifest.Findings{fail(o, RuleRelease, "%s: %v", at, err)}
		}
		if !found {
			if optional {
				continue
			}
			return nil, "", manifest.Findings{fail(o, RuleRelease, "%s: %s %s has no key %q", at, kind, name, key)}
		}
		if target != "" {
			if err := replacePathValue(result, target, data); err != nil {
				return nil, "", manifest.Findings{fail(o, RuleRelease, "%s: targetPath %q: %v", at, target, err)}
			}
			continue
		}
		var layer map[string]any
		if err := yaml.Unmarshal([]byte(data), &layer); err != nil {
			return nil, "", manifest.Findings{fail(o, RuleRelease, "%s: the values are not YAML: %v", at, err)}
		}
		result = helm.MergeValues(result, layer)
	}
	inline, _ := path(o.Content, "spec", "values").(map[string]any)
	values, err := jsonValues(helm.MergeValues(result, inline))
	if err != nil {
		return nil, "", manifest.Findings{fail(o, RuleRelease, "spec.values: %v", err)}
	}
	return values, "", nil
}

// replacePathValue is helm-controller's: the value set at a dotted path with Helm's --set parser, a quoted value
// as a string.
func replacePathValue(values map[string]any, target, value string) error {
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		return strvals.ParseIntoString(target+"="+strings.Trim(value, `"'`), values)
	}
	return strvals.ParseInto(target+"="+value, values)
}

// dataKey reads key of a ConfigMap (data, binaryData) or Secret (stringData, data base64-decoded).
func dataKey(o manifest.Object, key string) (string, bool, error) {
	if o.ID.Kind == "Secret" {
		if s, ok := path(o.Content, "stringData", key).(string); ok {
			return s, true, nil
		}
		if s, ok := path(o.Content, "data", key).(string); ok {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", false, fmt.Errorf("data.%s of Secret %s is not base64: %v", key, o.ID.Name, err)
			}
			return string(b), true, nil
		}
		return "", false, nil
	}
	if s, ok := path(o.Content, "data", key).(string); ok {
		return s, true, nil
	}
	if s, ok := path(o.Content, "binaryData", key).(string); ok {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", false, fmt.Errorf("ConfigMap %s: binaryData.%s is not base64: %v", o.ID.Name, key, err)
		}
		return string(b), true, nil
	}
	return "", false, nil
}

// application reads an Argo CD Application with one Helm chart source (spec.source, or the one of spec.sources
// that names a chart).
func application(objs []manifest.Object, i int) (*Release, manifest.Findings) {
	o := objs[i]
	src, _ := path(o.Content, "spec", "source").(map[string]any)
	if src == nil {
		sources, _ := path(o.Content, "spec", "sources").([]any)
		for _, s := range sources {
			if m, _ := s.(map[string]any); m != nil && m["chart"] != nil {
				if src != nil {
					return nil, manifest.Findings{warn(o, RuleUnpinned, "spec.sources names more than one chart; statepack pins and renders Applications with one chart source")}
				}
				src = m
			}
		}
	}
	chart, _ := src["chart"].(string)
	if chart == "" {
		return nil, nil // a Git or plain OCI source, not a Helm chart
	}
	repo, _ := src["repoURL"].(string)
	r := &Release{Object: i, Source: -1, Kind: "Application", ID: o.ID, Where: where(o), CRDs: "Create"}
	r.Chart = Chart{Type: SourceHelm, Repository: repo, Name: chart}
	r.Chart.Version, _ = src["targetRevision"].(string)
	if r.Chart.Version == "*" {
		r.Chart.Version = ""
	}
	if !strings.HasPrefix(repo, "http://") && !strings.HasPrefix(repo, "https://") {
		// Argo CD names OCI Helm repositories without a scheme (or, since 3.1, with oci://).
		r.Chart.Type = SourceHelmOCI
		r.Chart.Repository = "oci://" + strings.TrimPrefix(repo, "oci://")
	}
	h, _ := src["helm"].(map[string]any)
	r.Name = str(h, "releaseName")
	if r.Name == "" {
		r.Name = o.ID.Name
	}
	r.Namespace = str(o.Content, "spec", "destination", "namespace")
	if skip, _ := h["skipCrds"].(bool); skip {
		r.CRDs = "Skip"
	}
	r.Chart.ValuesFiles = strings1(h["valueFiles"])
	values := map[string]any{}
	if vo, _ := h["valuesObject"].(map[string]any); vo != nil {
		values = vo // Argo CD reads valuesObject instead of values when both are set (ValuesYAML)
	} else if s, _ := h["values"].(string); s != "" {
		if err := yaml.Unmarshal([]byte(s), &values); err != nil {
			return nil, manifest.Findings{fail(o, RuleRelease, "spec.source.helm.values is not YAML: %v", err)}
		}
	}
	var err error
	if r.Values, err = jsonValues(values); err != nil {
		return nil, manifest.Findings{fail(o, RuleRelease, "spec.source.helm values: %v", err)}
	}
	params, _ := h["parameters"].([]any)
	for _, p := range params {
		m, _ := p.(map[string]any)
		name, _ := m["name"].(string)
		value, _ := m["value"].(string)
		force, _ := m["forceString"].(bool)
		if name != "" {
			r.Sets = append(r.Sets, Set{Name: name, Value: value, String: force})
		}
	}
	return r, nil
}
