// Package build turns a source tree into a statepack bundle: it renders the desired state (a kustomization or a
// directory of plain YAML/JSON manifests), validates the objects, and packages them reproducibly as the layer, config
// and manifest of an OCI artifact (format v1, see design.md).
//
// build does no network I/O and knows nothing of registries or signing: the publish and sign packages take the
// bytes it produces. It reads no environment variables and no clock; everything that varies (git metadata, the
// creation time) comes in as options.
package build
