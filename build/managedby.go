package build

import (
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provenance"
	"sigs.k8s.io/kustomize/api/resource"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// KustomizeVersion is the release of the kustomize CLI built on the kustomize engine statepack links
// (sigs.k8s.io/kustomize/api v0.21.2 is what kustomize v5.8.2's go.mod requires): what `kustomize build` of that
// release writes in the managed-by label of buildMetadata: [managedByLabel]. TestKustomizeVersion holds it to the
// engine in go.mod.
const KustomizeVersion = "v5.8.2"

// linkedManagedBy is the managed-by label the kustomize engine writes in this process: kustomize- and the version
// its provenance finds, which only the kustomize CLI's own build sets. A program that links the engine gets
// "(devel)" or its own main module's version instead.
var linkedManagedBy = "kustomize-" + provenance.GetProvenance().Semver()

// managedBy gives a resource the managed-by label `kustomize build` would write, in place of the one the linked
// engine wrote, so that render equals kustomize's.
func managedBy(res *resource.Resource) error {
	if want := "kustomize-" + KustomizeVersion; linkedManagedBy != want && res.GetLabels()[konfig.ManagedbyLabelKey] == linkedManagedBy {
		return res.PipeE(kyaml.SetLabel(konfig.ManagedbyLabelKey, want))
	}
	return nil
}
