// Package publish moves artifacts between memory and OCI targets: a repository in a registry, or a local OCI image
// layout. It pushes blobs and manifests by digest, tags last when told, resolves and fetches, and extracts layers
// safely. It knows nothing of kustomize or signing; build produces the bytes and sign writes signatures through
// Target.Storage.
package publish
