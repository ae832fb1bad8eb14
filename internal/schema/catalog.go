package schema

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

//go:embed data/kubernetes-*.json.gz
var dataFS embed.FS

// Versions returns the Kubernetes minor versions whose schemas are embedded, oldest first.
func Versions() []string {
	entries, _ := dataFS.ReadDir("data")
	var vs []string
	for _, e := range entries {
		vs = append(vs, strings.TrimSuffix(strings.TrimPrefix(e.Name(), "kubernetes-"), ".json.gz"))
	}
	slices.SortFunc(vs, compareMinor)
	return vs
}

func compareMinor(a, b string) int {
	var amaj, amin, bmaj, bmin int
	fmt.Sscanf(a, "%d.%d", &amaj, &amin)
	fmt.Sscanf(b, "%d.%d", &bmaj, &bmin)
	return cmp.Or(cmp.Compare(amaj, bmaj), cmp.Compare(amin, bmin))
}

// node is one schema in the form validation walks, for built-in definitions and CRD schemas alike.
type node struct {
	typ         string // object, array, string, integer, number, boolean; "" takes any type
	props       map[string]*node
	additional  *node // schema of map values
	freeForm    bool  // an object that takes any field
	items       *node
	required    []string
	intOrString bool
	quantity    bool // a resource.Quantity: a string or a number
	embedded    bool // x-kubernetes-embedded-resource: apiVersion, kind and metadata are allowed
	enum        []any
	checks      *checks // value validations and CEL rules; nil for most built-in definitions
	def         any     // the default of a CRD schema, applied when the field is absent (hasDef)
	hasDef      bool
	nullable    bool
}

type gvk struct{ group, version, kind string }

// catalog is the schema of one Kubernetes release.
type catalog struct {
	version    string
	byGVK      map[gvk]*node
	groups     map[string]bool
	objectMeta *node
	lifecycle  map[gvk]lifecycle
}

var catalogs sync.Map // minor → func() (*catalog, error), each loaded once per process

func loadCatalog(minor string) (*catalog, error) {
	f, _ := catalogs.LoadOrStore(minor, sync.OnceValues(func() (*catalog, error) { return readCatalog(minor) }))
	return f.(func() (*catalog, error))()
}

func readCatalog(minor string) (*catalog, error) {
	gz, err := dataFS.ReadFile("data/kubernetes-" + minor + ".json.gz")
	if err != nil {
		return nil, fmt.Errorf("no embedded schema for Kubernetes %s: %w", minor, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("reading embedded schema for Kubernetes %s: %w", minor, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("reading embedded schema for Kubernetes %s: %w", minor, err)
	}
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
		Lifecycle   []lifecycleEntry          `json:"x-statepack-lifecycle"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("decoding embedded schema for Kubernetes %s: %w", minor, err)
	}
	c := &catalog{version: minor, byGVK: map[gvk]*node{}, groups: map[string]bool{}, lifecycle: map[gvk]lifecycle{}}
	for _, l := range spec.Lifecycle {
		c.lifecycle[gvk{l.Group, l.Version, l.Kind}] = l.lifecycle
	}
	defs := make(map[string]*node, len(spec.Definitions))
	for name := range spec.Definitions {
		defs[name] = &node{}
	}
	conv := &converter{defs: defs, version: minor}
	for name, d := range spec.Definitions {
		n := defs[name]
		*n = *conv.node(d, name, 0)
		switch {
		case strings.HasSuffix(name, ".api.resource.Quantity"):
			*n = node{quantity: true}
		case name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta":
			c.objectMeta = n
		}
		kinds, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, k := range kinds {
			k, _ := k.(map[string]any)
			g, _ := k["group"].(string)
			v, _ := k["version"].(string)
			kind, _ := k["kind"].(string)
			if _, hasKind := n.props["kind"]; !hasKind || n.props["metadata"] == nil {
				continue // DeleteOptions, WatchEvent and the like carry many kinds; they are not objects
			}
			c.byGVK[gvk{g, v, kind}] = n
			c.groups[g] = true
		}
	}
	return c, nil
}

// converter turns schemas from the OpenAPI document or a CRD into nodes. defs resolves "$ref"; it is nil for CRD
// schemas, which have no references. Problems in a schema (a pattern that is not a regular expression, a CEL rule
// that does not compile) are collected for the CRD's findings.
type converter struct {
	defs     map[string]*node
	version  string // Kubernetes minor the schema is checked for
	problems []string
}

func (c *converter) problem(path, format string, args ...any) {
	if path == "" {
		path = "openAPIV3Schema"
	}
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

// node converts one schema; path names it in problems ("openAPIV3Schema.properties.spec").
func (c *converter) node(m map[string]any, path string, depth int) *node {
	defs := c.defs
	if ref, ok := m["$ref"].(string); ok && defs != nil {
		if d := defs[strings.TrimPrefix(ref, "#/definitions/")]; d != nil {
			return d
		}
		return &node{}
	}
	if depth > maxDepth {
		return &node{}
	}
	n := &node{}
	n.typ, _ = m["type"].(string)
	if f, _ := m["format"].(string); f == "int-or-string" {
		n.intOrString, n.typ = true, ""
	}
	if b, _ := m["x-kubernetes-int-or-string"].(bool); b {
		n.intOrString, n.typ = true, ""
	}
	n.freeForm, _ = m["x-kubernetes-preserve-unknown-fields"].(bool)
	n.embedded, _ = m["x-kubernetes-embedded-resource"].(bool)
	if props, ok := m["properties"].(map[string]any); ok {
		n.props = make(map[string]*node, len(props))
		for k, p := range props {
			if p, ok := p.(map[string]any); ok {
				n.props[k] = c.node(p, path+".properties."+k, depth+1)
			}
		}
	}
	switch ap := m["additionalProperties"].(type) {
	case map[string]any:
		n.additional = c.node(ap, path+".additionalProperties", depth+1)
	case bool:
		if ap {
			n.additional = &node{}
		}
	}
	if items, ok := m["items"].(map[string]any); ok {
		n.items = c.node(items, path+".items", depth+1)
	}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				n.required = append(n.required, s)
			}
		}
	}
	n.enum, _ = m["enum"].([]any)
	n.def, n.hasDef = m["default"]
	n.nullable, _ = m["nullable"].(bool)
	n.checks = c.checks(m, n, path, depth)
	// The Kubernetes document describes RawExtension and FieldsV1 as objects without properties: they take
	// anything. CRD schemas are structural: an object without properties takes no field unless it preserves them.
	if defs != nil && n.typ == "object" && n.props == nil && n.additional == nil {
		n.freeForm = true
	}
	return n
}

// unserved explains why group/version/kind has no built-in schema, when it belongs to Kubernetes.
func (c *catalog) unserved(group, version, kind string) (string, bool) {
	apiVersion := version
	if group != "" {
		apiVersion = group + "/" + version
	}
	if r, ok := removedAPIs[gvk{group, version, kind}]; ok {
		if r.replacement == "" {
			return fmt.Sprintf("%s %s was removed in Kubernetes %s and has no replacement: %s", kind, apiVersion,
				r.removedIn, r.hint), true
		}
		if compareMinor(c.version, r.removedIn) >= 0 {
			return fmt.Sprintf("%s %s is not served by Kubernetes %s (removed in %s): use apiVersion: %s", kind,
				apiVersion, c.version, r.removedIn, r.replacement), true
		}
	}
	if !c.groups[group] && !removedGroups[group] {
		return "", false
	}
	if alt := c.servedVersionsOf(group, kind); len(alt) > 0 {
		return fmt.Sprintf("%s %s is not served by Kubernetes %s: use apiVersion: %s", kind, apiVersion, c.version,
			orList(alt)), true
	}
	return fmt.Sprintf("kind %s is not served in %s by Kubernetes %s: check the kind's spelling and apiVersion", kind,
		apiVersion, c.version), true
}

// servedVersionsOf lists the apiVersions that serve kind, in its group first, stable versions first.
func (c *catalog) servedVersionsOf(group, kind string) []string {
	var same, other []string
	for k := range c.byGVK {
		if k.kind != kind {
			continue
		}
		av := k.version
		if k.group != "" {
			av = k.group + "/" + k.version
		}
		if k.group == group {
			same = append(same, av)
		} else {
			other = append(other, av)
		}
	}
	stableFirst := func(a, b string) int {
		return cmp.Or(cmpBool(strings.Contains(a, "alpha") || strings.Contains(a, "beta"),
			strings.Contains(b, "alpha") || strings.Contains(b, "beta")), strings.Compare(a, b))
	}
	slices.SortFunc(same, stableFirst)
	slices.SortFunc(other, stableFirst)
	return append(same, other...)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
