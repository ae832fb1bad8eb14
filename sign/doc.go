// Package sign signs and verifies artifacts by digest in any OCI target, the way cosign does.
//
// It knows digests, not files, kustomize or registries: every function works against an oras.Target, so the same
// code signs an artifact in a remote registry (oras-go's registry/remote) and in a local OCI layout directory
// (oras-go's content/oci), and the signature always lands in the same target as the artifact.
//
// Signatures are written in cosign's legacy format, byte for byte what `cosign sign --key` writes: a manifest tagged
// sha256-<hex>.sig whose layers are simple-signing payloads with the base64 signature in the layer annotation
// dev.cosignproject.cosign/signature. Every verifier in use today reads it: `cosign verify --key`, Flux's
// source-controller, Kyverno, policy-controller. Verification follows `cosign verify --key --insecure-ignore-tlog`
// and Flux: a signature counts when it verifies with one of the given public keys and its payload names the
// subject's digest.
//
// This build signs with cosign key pairs only. Keyless signing (Fulcio), the transparency log, the sigstore bundle
// format, attestations and KMS keys are not here yet; they return ErrUnsupported where a caller could ask for them.
//
// The package is not for rendering, packaging or pushing artifacts (see build and publish), and it never reads the
// environment on its own except to resolve an "env://VAR" key reference the caller gave it.
package sign
