// Package publish moves artifacts between memory and OCI targets: a repository in a registry, or a local OCI image
// layout directory ("oci:DIR").
//
// It parses references (ParseRef), opens targets with credentials, retries and timeouts (Open), pushes blobs and
// then the manifest by digest (Target.PushArtifact), tags only when told (Target.Tag, which callers run last, after
// signing), resolves and fetches with digest verification, and extracts a layer safely (Extract). Registries on
// loopback addresses are spoken to in plain HTTP by default, all others in HTTPS with verified TLS.
//
// It knows nothing of kustomize or of signing: build produces the bytes, and sign writes signatures through
// Target.Storage. Errors say what was being done and to what, carry a hint where the user can fix the cause, never
// show credentials or query strings, and match the sentinels in errors.go.
package publish
