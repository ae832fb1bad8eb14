package schema

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/statepack/statepack/internal/manifest"
)

// ecosystemFS holds the CustomResourceDefinitions of the projects almost every GitOps tree uses, pinned and
// extracted by ./gen (see gen/ecosystem.go): Flux, Argo CD, Gateway API, cert-manager, one compressed file each, so
// that a tree pays only for the kinds it uses. ecosystemIndex (generated beside it) says which kinds it holds.
//
//go:embed data/ecosystem/*.json.gz
var ecosystemFS embed.FS

// Ecosystem is a project whose CRDs are built in, at the release they were taken from.
type Ecosystem struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Note    string `json:"note,omitempty"` // "experimental channel"
}

// String is "Flux v2.9.4" or "Gateway API v1.7.0 (experimental channel)".
func (e Ecosystem) String() string {
	if e.Note != "" {
		return e.Name + " " + e.Version + " (" + e.Note + ")"
	}
	return e.Name + " " + e.Version
}

// builtinEntry is one built-in CRD in the generated index.
type builtinEntry struct {
	set, name, group, kind string
	cluster                bool // scope Cluster
}

// Ecosystems lists the projects whose CRDs are built in, with their releases.
func Ecosystems() []Ecosystem { return slices.Clone(ecosystemSets) }

// ClusterScopedKinds returns the built-in CRDs' cluster-scoped kinds as "group/kind" (ClusterIssuer,
// GatewayClass, …).
func ClusterScopedKinds() []string {
	var out []string
	for _, e := range ecosystemIndex {
		if e.cluster {
			out = append(out, e.group+"/"+e.kind)
		}
	}
	return out
}

// builtinIndex finds a built-in CRD's position by "group/kind".
var builtinIndex = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, len(ecosystemIndex))
	for i, e := range ecosystemIndex {
		m[e.group+"/"+e.kind] = i
	}
	return m
})

// builtinObject decodes the built-in CRD at position i of the index.
func builtinObject(i int) (manifest.Object, error) {
	name := ecosystemIndex[i].name
	gz, err := ecosystemFS.ReadFile("data/ecosystem/" + name + ".json.gz")
	if err != nil {
		return manifest.Object{}, fmt.Errorf("reading the built-in CRD %s: %w", name, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return manifest.Object{}, fmt.Errorf("reading the built-in CRD %s: %w", name, err)
	}
	var content map[string]any
	if err := json.NewDecoder(zr).Decode(&content); err != nil {
		return manifest.Object{}, fmt.Errorf("decoding the built-in CRD %s: %w", name, err)
	}
	return manifest.Object{APIVersion: "apiextensions.k8s.io/v1", Content: content,
		ID: manifest.ObjectID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: name}}, nil
}

// builtinCRDs are the embedded CRDs converted for one catalog, each on first use: most trees use a handful of them
// and some (Argo CD's ApplicationSet) are large.
var builtinCRDs sync.Map // catalog version + "\x00" + "group/kind" → func() *crd

// builtinCRD returns the built-in CRD of "group/kind" converted for cat and the set it comes from, or nil.
func builtinCRD(cat *catalog, key string) (*crd, Ecosystem) {
	i, ok := builtinIndex()[key]
	if !ok {
		return nil, Ecosystem{}
	}
	f, _ := builtinCRDs.LoadOrStore(cat.version+"\x00"+key, sync.OnceValue(func() *crd {
		obj, err := builtinObject(i)
		if err != nil { // only a broken build of statepack gets here: the data is embedded and tested
			return nil
		}
		c, _ := crdFromObject(obj, cat) // TestBuiltinCRDsConvert holds every embedded CRD to no findings
		return c
	}))
	set := ecosystemSets[slices.IndexFunc(ecosystemSets, func(s Ecosystem) bool { return s.Name == ecosystemIndex[i].set })]
	return f.(func() *crd)(), set
}
