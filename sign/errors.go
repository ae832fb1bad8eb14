package sign

import "errors"

// Sentinel errors. Test for them with errors.Is: the errors returned carry more detail (the digest, the key source,
// why a signature was refused) around them.
var (
	// ErrNoSignature is returned by Verify when the subject has no signature at all: its sha256-<hex>.sig tag is
	// absent (or names a manifest without a signature layer) and no sigstore bundle signature refers to it.
	ErrNoSignature = errors.New("no signature found")

	// ErrVerification is returned by Verify when signatures exist but none verifies with the given keys or
	// identities: a wrong key, a keyless certificate naming another identity or from an untrusted Fulcio, a
	// tampered signature, or a payload made for another digest (a signature copied under another artifact's tag).
	// The message says how many signatures were checked and why each was refused. Verify and VerifyAttestations
	// also return it when only legacy signatures (attestations) verify while sigstore bundles refer to the subject,
	// which Flux 2.8 and later and cosign then do not read; the message names that rule ("bundles present: …") and
	// says why each bundle was refused.
	ErrVerification = errors.New("signature verification failed")

	// ErrNoIdentityToken is returned by LoadKeylessSigner when it is given no OIDC identity token, and by
	// GitHubActionsToken when the job may not request one (ACTIONS_ID_TOKEN_REQUEST_URL or _TOKEN unset: the
	// workflow lacks the permission id-token: write). Keyless signing never falls back to a browser flow.
	ErrNoIdentityToken = errors.New("no OIDC identity token")

	// ErrUnsupported is returned by LoadSigner, LoadVerifiers and Sign (through WithFormat) for what this build
	// does not do: KMS keys in a build without the kms tag, hardware keys, keys fetched from a URL, signature
	// annotations in the bundle format.
	ErrUnsupported = errors.New("not supported")
)
