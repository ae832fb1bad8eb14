package sign

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature/kms"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
)

// kmsSchemes are the key-reference schemes of the cloud KMS providers that a build with the kms tag links
// (kms_providers.go). In a build without them these references get an error that says how to get a build with them.
var kmsSchemes = map[string]bool{"awskms": true, "gcpkms": true, "azurekms": true, "hashivault": true}

// kmsBuildHint ends the error for a KMS reference in a build without the providers.
const kmsBuildHint = "this statepack was built without the kms build tag; " +
	"build it with `go build -tags kms ./cmd/statepack` to use awskms://, gcpkms://, azurekms:// and hashivault:// keys"

// kmsCredentialVars name the environment variables the KMS providers read credentials from. The providers read
// them themselves (a caller cannot hand them in), so their values, when set, are cut out of any error a provider
// returns: no provider is known to repeat them, and this makes sure none ever does.
var kmsCredentialVars = []string{
	"VAULT_TOKEN",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD",
}

// IsKMSRef reports whether keyRef names a key held in a KMS (awskms://, gcpkms://, azurekms://, hashivault://), in
// this build or in one with the kms tag. Such a key has no password to ask for, and a KMS that cannot be reached or
// refuses the caller is an I/O failure rather than a mistake in the reference.
func IsKMSRef(keyRef string) bool {
	scheme, _, ok := strings.Cut(keyRef, "://")
	return ok && kmsSchemes[scheme] || hasKMSProvider(keyRef)
}

// hasKMSProvider reports whether a KMS provider linked into this binary takes ref. Only linked providers count:
// sigstore's kms.Get would otherwise look for a plugin program named after the scheme on PATH and run it.
func hasKMSProvider(ref string) bool {
	for _, prefix := range kms.SupportedProviders() {
		if strings.HasPrefix(ref, prefix) {
			return true
		}
	}
	return false
}

// loadKMS gets the key that ref names from its KMS provider, hashing with SHA-256 as cosign does, and fetches its
// public key: a key that does not exist, or that the caller's credentials may not use, fails here, before anything
// is pushed. kind ("private key", "public key") goes into the messages, which never hold a credential.
func loadKMS(ctx context.Context, ref, kind string) (kms.SignerVerifier, string, error) {
	source := redactURL(ref)
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, source, fmt.Errorf("loading %s %s: %w", kind, source, redactError(err, ref))
	}
	if _, err := sv.PublicKey(sigopts.WithContext(ctx)); err != nil {
		return nil, source, fmt.Errorf("loading %s %s: getting its public key from the KMS: %w", kind, source, redactError(err, ref))
	}
	return sv, source, nil
}

// urlPattern finds URLs in an error message: a scheme, "://", and everything up to a space or a quote, less the
// punctuation that ends a sentence or a clause ("…/key?x=1: 403").
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]*[^\s"'<>.,:;)\]]`)

// redactError returns err with its message cleaned for output: ref as redactURL shows it, passwords and query
// values dropped from every URL in it, and the values of kmsCredentialVars cut out. Like redactToken, it answers
// errors.Is for the package's sentinels and for a context that ended, never for the original error.
func redactError(err error, ref string) error {
	msg := redactSecrets(err.Error(), ref)
	if msg == err.Error() {
		return err
	}
	sentinel := sentinelOf(err)
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, ctxErr) {
			sentinel = ctxErr
		}
	}
	return &redactedError{msg: msg, sentinel: sentinel}
}

func redactSecrets(msg, ref string) string {
	if ref != "" {
		msg = strings.ReplaceAll(msg, ref, redactURL(ref))
	}
	msg = urlPattern.ReplaceAllStringFunc(msg, redactURL)
	for _, name := range kmsCredentialVars {
		// A value shorter than 4 bytes would cut ordinary letters out of the message; a credential is longer
		// (Vault's dev-mode token "root" is the shortest in common use).
		if v := os.Getenv(name); len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[REDACTED]")
		}
	}
	return msg
}
