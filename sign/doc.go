// Package sign signs and verifies artifacts by digest in any OCI target, the way cosign does.
//
// It knows digests, not files, kustomize or registries: every function works against an oras.Target, so the same
// code signs an artifact in a remote registry (oras-go's registry/remote) and in a local OCI layout directory
// (oras-go's content/oci), and the signature always lands in the same target as the artifact.
//
// Signatures are written in cosign's legacy format by default, byte for byte what `cosign sign --key` writes: a
// manifest tagged sha256-<hex>.sig whose layers are simple-signing payloads with the base64 signature in the layer
// annotation dev.cosignproject.cosign/signature. Every verifier in use today reads it: `cosign verify`, Flux's
// source-controller, Kyverno, policy-controller.
//
// On request (WithFormat) they are written in the sigstore bundle format instead, or as well, as `cosign sign
// --new-bundle-format` writes it: a sigstore bundle v0.3 holding a DSSE envelope over an in-toto statement naming
// the digest, stored as an OCI 1.1 manifest whose subject is the artifact. Registries with the referrers API index
// it; on registries without it the referrers tag sha256-<hex> lists it; an OCI layout records it in its index.
// Flux's source-controller reads bundles from v1.8 on and, when any refers to the artifact, reads no legacy
// signature; Kyverno's SigstoreBundle verifier takes no public key and keeps only referrers listed with a bundle
// artifact type, and policy-controller reads bundles for keyless attestations only, so the legacy format, or both,
// serves mixed fleets.
//
// A Signer signs with a cosign key pair (LoadSigner) or keyless (LoadKeylessSigner): with an ephemeral key that
// Fulcio certifies for the identity in an OIDC token (GitHubActionsToken gets GitHub Actions' one), the signature
// then carrying the certificate chain and, unless turned off, its Rekor transparency-log entry, as `cosign sign`
// writes them.
//
// Verification follows cosign and Flux: it looks for bundles first, then legacy signatures, and a signature counts
// when its payload names the subject's digest and it verifies with one of the given public keys (without the
// transparency log, as `cosign verify --key --insecure-ignore-tlog` and Flux check keys), or is keyless with a
// certificate from a trusted Fulcio that names an expected identity (`cosign verify --certificate-identity
// --certificate-oidc-issuer`, Flux's matchOIDCIdentity). Bundles holding attestations are not signatures. It reaches
// their verdict: when any sigstore bundle refers to the artifact, Flux 2.8 and later and `cosign verify` read only
// the bundles, so a legacy signature by a trusted key does not save an artifact whose bundles were all made by other
// keys; Verify refuses it too, unless asked to accept either format (WithLegacyFallback). BundleOnlyRisk tells a
// publisher which consumers a bundle under a new key leaves behind.
//
// Attest signs in-toto statements (v1) about an artifact — statepack writes SLSA provenance v1 and its own
// inventory predicate — as DSSE envelopes, and stores them in cosign's legacy attestation format, as `cosign attest`
// writes them: a manifest tagged sha256-<hex>.att, one layer per attestation annotated with its predicateType.
// VerifyAttestations checks them by predicate type with the same keys, identities and trust roots as Verify;
// cosign's VerifyImageAttestations accepts them.
//
// A key may also stay in a KMS: LoadSigner and LoadVerifiers take cosign's awskms://, gcpkms://, azurekms:// and
// hashivault:// references, the key's provider reading its credentials from the environment as the cloud's CLI
// does. The providers bring the AWS, Google Cloud, Azure and Vault SDKs, a third of the binary, so only a build with
// the kms tag links them (`go build -tags kms ./cmd/statepack`); the default build refuses these references with an
// error wrapping ErrUnsupported that names the tag.
//
// The package is not for rendering, packaging or pushing artifacts (see build and publish). It never reads the
// environment on its own (but for the KMS providers, which read their own credential variables): an "env://VAR" key
// reference is resolved through the LookupEnv the caller gives Keys, and the CLI reads
// COSIGN_PASSWORD, the GitHub Actions token variables and SIGSTORE_ROOT_FILE and passes their values. Its only
// network access besides the target is Fulcio, Rekor and GitHub's token endpoint when signing keyless, and public
// Sigstore's TUF repository when keyless verification or signing is given no trusted root of its own.
package sign
