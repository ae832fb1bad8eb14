// Package manifest holds the vocabulary every stage of statepack shares: a rendered Kubernetes object, its identity,
// where it came from, the findings about it, and the Validator interface. build renders and packages objects,
// internal/schema and the policies validate them, objdiff compares them: each imports this package rather than
// one another. build re-exports every name here (build.Object is manifest.Object), which is how users see them.
//
// It holds types and their methods only: no rendering, no I/O.
package manifest

import (
	"fmt"
	"strings"
)

// Object is one rendered Kubernetes object.
type Object struct {
	// ID identifies the object: group, kind, namespace, name.
	ID ObjectID
	// APIVersion is the object's apiVersion as written.
	APIVersion string
	// Content is the decoded object: maps, slices, strings, bools, int64, float64 and nil only.
	Content map[string]any
	// YAML is the canonical serialisation (sorted keys, two-space indent) that render prints and package stores.
	YAML []byte
	// Source says where the object came from, as far as it is known.
	Source Source
	// Kustomization is the kustomization file that built the object (slash-separated, relative to the source root);
	// "" for an object read from plain YAML.
	Kustomization string
	// Substituted says Flux's postBuild substitution has been applied to the object, so that a ${var} left in it is
	// literal text rather than a placeholder Flux has yet to replace.
	Substituted bool
}

// Source is a position in the source tree. File is slash-separated and relative to the source root; Line is 1-based
// and 0 when unknown (objects that kustomize produced).
type Source struct {
	File string
	Line int
}

func (s Source) String() string {
	switch {
	case s.File == "":
		return "(generated)"
	case s.Line > 0:
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	default:
		return s.File
	}
}

// ObjectID is what Kubernetes uses to tell objects apart.
type ObjectID struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (id ObjectID) String() string {
	gk := id.Kind
	if id.Group != "" {
		gk += "." + id.Group
	}
	if id.Namespace == "" {
		return gk + "/" + id.Name
	}
	return gk + "/" + id.Namespace + "/" + id.Name
}

// GroupOf returns the API group of an apiVersion ("apps/v1" → "apps", "v1" → "").
func GroupOf(apiVersion string) string {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

// NewObject fills the identity fields of an object from its decoded content. Missing or mistyped fields are left
// empty: the structural validator reports them.
func NewObject(content map[string]any, yamlBytes []byte, src Source) Object {
	apiVersion, _ := content["apiVersion"].(string)
	kind, _ := content["kind"].(string)
	meta, _ := content["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	return Object{
		ID:         ObjectID{Group: GroupOf(apiVersion), Kind: kind, Namespace: ns, Name: name},
		APIVersion: apiVersion,
		Content:    content,
		YAML:       yamlBytes,
		Source:     src,
	}
}

// FindingID is the identity a finding shows for the object: its ID, with "<generateName>*" as the name of an object
// the server names (a hook), so that no finding names an object by an empty name.
func (o Object) FindingID() ObjectID {
	id := o.ID
	if id.Name == "" {
		meta, _ := o.Content["metadata"].(map[string]any)
		if gn, _ := meta["generateName"].(string); gn != "" {
			id.Name = gn + "*"
		}
	}
	return id
}
