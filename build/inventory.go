package build

import (
	"slices"
	"strings"
)

// Inventory is the predicate of statepack's inventory attestation (predicate type
// https://statepack.dev/inventory/v1): what an artifact deploys, so that an auditor or an admission policy can
// answer "which objects and which images does this desired state hold" from a signed statement, without pulling
// and parsing the layer.
type Inventory struct {
	// Objects lists every object in the artifact, in the archive's order (sorted by file name).
	Objects []InventoryObject `json:"objects"`
	// Images lists every container image the objects deploy, sorted and without duplicates: with Helm releases
	// kept as releases (statepack's --helm=pin), the images their charts render too.
	Images []InventoryImage `json:"images"`
	// Charts lists the Helm charts the artifact's releases install (--helm=pin) or were hydrated from.
	Charts []InventoryChart `json:"charts,omitempty"`
}

// InventoryChart is one Helm release of the artifact and the chart it renders.
type InventoryChart struct {
	// Release is the release's declaring object ("HelmRelease.helm.toolkit.fluxcd.io/ns/name"), or for a
	// kustomization's helmCharts entry its releaseName.
	Release string `json:"release"`
	// Kustomization is, for a helmCharts entry whose chart came from its repository, the kustomization file that
	// lists it (slash-separated, relative to the source root); its objects are in the artifact (Hydrated).
	Kustomization string `json:"kustomization,omitempty"`
	// Chart is "name@version".
	Chart string `json:"chart"`
	// Digest is the chart's OCI manifest digest or archive sha256; URL where it came from. Both empty for a chart
	// directory of the source tree.
	Digest string `json:"digest,omitempty"`
	URL    string `json:"url,omitempty"`
	// Hydrated is true when the release's objects are in the artifact instead of the release.
	Hydrated bool `json:"hydrated,omitempty"`
}

// InventoryObject is one object: its identity, the file that holds it in the archive and that file's digest.
type InventoryObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace,omitempty"`
	Name       string            `json:"name"`
	File       string            `json:"file"`
	Digest     map[string]string `json:"digest"`
}

// InventoryImage is one container image as the objects reference it; Digest is set when the reference pins one
// ("name@sha256:…"), and is then what a cluster will run whatever the tag says.
type InventoryImage struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest,omitempty"`
}

// NewInventory returns the inventory of b, whose objects are objs (the objects Package was given).
func NewInventory(b *Bundle, objs []Object) Inventory {
	byID := make(map[ObjectID]*Object, len(objs))
	for i := range objs {
		byID[objs[i].ID] = &objs[i]
	}
	inv := Inventory{Objects: make([]InventoryObject, 0, len(b.Files)), Images: []InventoryImage{}}
	var images []string
	for _, f := range b.Files {
		io := InventoryObject{
			Kind:      f.Object.Kind,
			Namespace: f.Object.Namespace,
			Name:      f.Object.Name,
			File:      f.Name,
			Digest:    map[string]string{f.Digest.Algorithm().String(): f.Digest.Encoded()},
		}
		if o := byID[f.Object]; o != nil {
			io.APIVersion = o.APIVersion
			images = append(images, Images(*o)...)
		}
		inv.Objects = append(inv.Objects, io)
	}
	slices.Sort(images)
	for _, ref := range slices.Compact(images) {
		img := InventoryImage{Reference: ref}
		if _, d, ok := strings.Cut(ref, "@"); ok && strings.Contains(d, ":") {
			img.Digest = d
		}
		inv.Images = append(inv.Images, img)
	}
	return inv
}

// AddImages adds images the artifact deploys without naming them in its objects (those of the charts its Helm
// releases install), keeping Images sorted and without duplicates.
func (inv *Inventory) AddImages(refs ...string) {
	for _, ref := range refs {
		if slices.ContainsFunc(inv.Images, func(i InventoryImage) bool { return i.Reference == ref }) {
			continue
		}
		img := InventoryImage{Reference: ref}
		if _, d, ok := strings.Cut(ref, "@"); ok && strings.Contains(d, ":") {
			img.Digest = d
		}
		inv.Images = append(inv.Images, img)
	}
	slices.SortFunc(inv.Images, func(a, b InventoryImage) int { return strings.Compare(a.Reference, b.Reference) })
}
