package sign

import "errors"

// Sentinel errors. Test for them with errors.Is: the errors returned carry more detail (the digest, the key source,
// why a signature was refused) around them.
var (
	// ErrNoSignature is returned by Verify when the subject has no signature at all: its sha256-<hex>.sig tag is
	// absent from the target, or names a manifest without a signature layer.
	ErrNoSignature = errors.New("no signature found")

	// ErrVerification is returned by Verify when signatures exist but none verifies with the given keys: a wrong
	// key, a tampered signature, or a payload made for another digest (a signature copied under another artifact's
	// tag). The message says how many signatures were checked and why each was refused.
	ErrVerification = errors.New("signature verification failed")

	// ErrUnsupported is returned by LoadSigner, LoadVerifiers and Sign (through WithFormat) for what this build
	// does not do yet: KMS and hardware keys, keys fetched from a URL, signature formats other than cosign's legacy one.
	ErrUnsupported = errors.New("not supported")
)
