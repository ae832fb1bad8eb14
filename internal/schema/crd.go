package schema

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/statepack/statepack/internal/manifest"
)

// crd is what validation needs from one CustomResourceDefinition.
type crd struct {
	name, group, kind string
	versions          map[string]*node  // served version → schema of the whole object
	deprecated        map[string]string // served version marked deprecated → the warning the API server gives
}

// crdIndex finds CRDs by "group/kind".
type crdIndex map[string]*crd

func (c *crd) servedAPIVersions() []string {
	var out []string
	for v := range c.versions {
		out = append(out, c.group+"/"+v)
	}
	slices.Sort(out)
	return out
}

// crdFromObject reads a CustomResourceDefinition (apiextensions.k8s.io/v1, or v1beta1 as found in older
// --crd-dir files). Findings report CRDs that cannot be used.
func crdFromObject(o manifest.Object, cat *catalog) (*crd, manifest.Findings) {
	w := &walker{obj: o}
	spec, _ := o.Content["spec"].(map[string]any)
	group, _ := spec["group"].(string)
	names, _ := spec["names"].(map[string]any)
	kind, _ := names["kind"].(string)
	if group == "" || kind == "" {
		w.add(manifest.SeverityError, RuleCRD, "CustomResourceDefinition %s has no spec.group or spec.names.kind: its custom resources cannot be checked", o.ID.Name)
		return nil, w.findings
	}
	c := &crd{name: o.ID.Name, group: group, kind: kind, versions: map[string]*node{}, deprecated: map[string]string{}}
	preserveAll, _ := spec["preserveUnknownFields"].(bool) // v1beta1 only
	var shared map[string]any                              // v1beta1: spec.validation.openAPIV3Schema
	if val, ok := spec["validation"].(map[string]any); ok {
		shared, _ = val["openAPIV3Schema"].(map[string]any)
	}
	versions, _ := spec["versions"].([]any)
	if v, ok := spec["version"].(string); ok && len(versions) == 0 {
		versions = []any{map[string]any{"name": v, "served": true}}
	}
	for _, v := range versions {
		v, _ := v.(map[string]any)
		name, _ := v["name"].(string)
		if served, ok := v["served"].(bool); name == "" || (ok && !served) {
			continue
		}
		if dep, _ := v["deprecated"].(bool); dep {
			msg, _ := v["deprecationWarning"].(string)
			if msg == "" { // the API server's default warning
				msg = fmt.Sprintf("%s/%s %s is deprecated", group, name, kind)
			}
			c.deprecated[name] = msg
		}
		s := shared
		if sch, ok := v["schema"].(map[string]any); ok {
			s, _ = sch["openAPIV3Schema"].(map[string]any)
		}
		var root *node
		if s == nil || preserveAll {
			root = &node{typ: "object", freeForm: true}
		} else {
			conv := &converter{version: cat.version}
			root = conv.node(s, "openAPIV3Schema", 0)
			for _, p := range conv.problems {
				w.add(manifest.SeverityError, RuleCRD, "CustomResourceDefinition %s version %s: %s", o.ID.Name, name, p)
			}
		}
		c.versions[name] = withObjectFields(root, cat)
	}
	return c, w.findings
}

// withObjectFields returns the root schema of a custom resource: apiVersion, kind and metadata are always there
// and metadata is an ObjectMeta, whatever the CRD says.
func withObjectFields(root *node, cat *catalog) *node {
	r := *root
	r.typ = "object"
	r.props = make(map[string]*node, len(root.props)+3)
	for k, p := range root.props {
		r.props[k] = p
	}
	r.props["apiVersion"] = &node{typ: "string"}
	r.props["kind"] = &node{typ: "string"}
	r.props["metadata"] = cat.objectMeta
	if r.props["metadata"] == nil {
		r.props["metadata"] = &node{typ: "object", freeForm: true}
	}
	return &r
}

// loadCRDDirs renders each directory and indexes the CustomResourceDefinitions in it. Problems become findings.
func loadCRDDirs(ctx context.Context, dirs []string, read DirReader, cat *catalog) (crdIndex, manifest.Findings) {
	idx := crdIndex{}
	var findings manifest.Findings
	for _, dir := range dirs {
		objs, dirFindings, err := read(ctx, dir)
		if err != nil {
			findings = append(findings, manifest.Finding{Severity: manifest.SeverityError, Rule: RuleCRD, File: dir,
				Message: fmt.Sprintf("reading CRD directory: %v", err)})
			continue
		}
		for _, f := range dirFindings {
			f.File = filepath.ToSlash(filepath.Join(dir, f.File))
			findings = append(findings, f)
		}
		for _, o := range objs {
			if o.ID.Kind != "CustomResourceDefinition" || o.ID.Group != "apiextensions.k8s.io" {
				continue
			}
			c, fs := crdFromObject(o, cat)
			for _, f := range fs {
				f.File = filepath.ToSlash(filepath.Join(dir, f.File))
				findings = append(findings, f)
			}
			if c != nil {
				idx[c.group+"/"+c.kind] = c
			}
		}
	}
	return idx, findings
}
