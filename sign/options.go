package sign

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// Format names how signatures are stored next to an artifact.
type Format string

const (
	// FormatLegacy is cosign's original format: a manifest tagged sha256-<hex>.sig in the artifact's repository,
	// one simple-signing layer per signature. It is the default and the one every verifier reads: cosign, Flux's
	// source-controller, Kyverno, policy-controller.
	FormatLegacy Format = "legacy"
	// FormatBundle is the sigstore bundle format as `cosign sign --new-bundle-format` (cosign v2.6) writes it: a
	// sigstore bundle v0.3 holding a DSSE envelope over an in-toto statement that names the artifact's digest
	// (predicate type https://sigstore.dev/cosign/sign/v1), with the signer's public-key hint, or its Fulcio
	// certificate and Rekor entry, stored as an OCI 1.1 manifest whose subject is the artifact (a referrer). A registry
	// with the referrers API indexes it; on one without, the referrers tag sha256-<hex> lists it, as the OCI
	// distribution spec's fallback says. Flux's source-controller reads it from v1.8 on, instead of the legacy
	// signatures once any bundle is present, and `cosign verify` finds it by itself. Kyverno's SigstoreBundle
	// verifier finds it only where the listing gives its artifact type (the referrers tag oras-go writes does) and
	// checks keyless bundles only; policy-controller reads bundles for keyless attestations, not signatures.
	FormatBundle Format = "bundle"
	// FormatBoth writes the legacy signature, then the bundle, for fleets whose verifiers differ.
	FormatBoth Format = "both"
)

// SignOption configures Signer.Sign. An option that is given a value it cannot use makes Sign fail before it
// signs or writes anything.
type SignOption func(*signOptions) error

type signOptions struct {
	annotations map[string]string
	logger      *slog.Logger
	format      Format
}

func makeSignOptions(opts []SignOption) (*signOptions, error) {
	o := &signOptions{logger: discardLogger(), format: FormatLegacy}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithAnnotations adds key=value pairs to the signed payload, in its "optional" section, as `cosign sign -a` does.
// They are covered by the signature, and Verify can require them (WithRequiredAnnotations). The default is none,
// which writes "optional": null as cosign does. Keys must not be empty. The bundle format has no place for them
// (cosign v2.6 drops them): Sign refuses annotations with FormatBundle and FormatBoth, with an error wrapping
// ErrUnsupported, rather than sign without them.
func WithAnnotations(annotations map[string]string) SignOption {
	return func(o *signOptions) error {
		for k := range annotations {
			if k == "" {
				return fmt.Errorf("signature annotation with an empty key")
			}
		}
		if len(annotations) == 0 {
			o.annotations = nil
			return nil
		}
		o.annotations = maps.Clone(annotations)
		return nil
	}
}

// WithLogger makes Sign report what it does (signature written, already present) to l. The default, and a nil l,
// is silence.
func WithLogger(l *slog.Logger) SignOption {
	return func(o *signOptions) error {
		if l == nil {
			l = discardLogger()
		}
		o.logger = l
		return nil
	}
}

// WithFormat selects how the signature is stored: FormatLegacy, FormatBundle or FormatBoth. The default, and the
// empty Format, is FormatLegacy.
func WithFormat(f Format) SignOption {
	return func(o *signOptions) error {
		switch f {
		case FormatLegacy, "":
			o.format = FormatLegacy
			return nil
		case FormatBundle, FormatBoth:
			o.format = f
			return nil
		default:
			return fmt.Errorf("unknown signature format %q (want %q, %q or %q)", f, FormatLegacy, FormatBundle, FormatBoth)
		}
	}
}

// VerifyOption configures Verify. An option that is given a value it cannot use makes Verify fail before it reads
// anything.
type VerifyOption func(*verifyOptions) error

type verifyOptions struct {
	annotations map[string]string
	logger      *slog.Logger

	// Keyless verification.
	identities   []Identity
	githubClaims GitHubWorkflowClaims
	rootCerts    *certPools
	rootPEM      []byte // the PEM rootCerts was read from, for bundles, which carry no chain
	trustedRoot  *root.TrustedRoot
	ignoreTlog   bool
	ignoreSCT    bool

	legacyFallback bool
}

func makeVerifyOptions(opts []VerifyOption) (*verifyOptions, error) {
	o := &verifyOptions{logger: discardLogger()}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if !o.githubClaims.isZero() && len(o.identities) == 0 {
		return nil, errors.New("GitHub workflow claims narrow a keyless identity: give the expected identity too")
	}
	return o, nil
}

// WithRequiredAnnotations makes Verify accept only signatures whose payload carries every one of these key=value
// pairs, as `cosign verify -a` does. The default is to require none. Bundle signatures carry no annotations: with
// this option, Verify refuses them and accepts only legacy signatures.
func WithRequiredAnnotations(annotations map[string]string) VerifyOption {
	return func(o *verifyOptions) error {
		for k := range annotations {
			if k == "" {
				return fmt.Errorf("required annotation with an empty key")
			}
		}
		if len(annotations) == 0 {
			o.annotations = nil
			return nil
		}
		o.annotations = maps.Clone(annotations)
		return nil
	}
}

// WithIdentities makes Verify accept keyless signatures, as `cosign verify --certificate-identity[-regexp]
// --certificate-oidc-issuer[-regexp]` and Flux's matchOIDCIdentity do: a signature whose Fulcio certificate chains
// to the trusted roots (WithRootCerts, WithTrustedRoot, or public Sigstore's) and names one of these identities.
// Each identity must say which certificate identity and which OIDC issuer it expects (see Identity). The list
// replaces any given before; the default is none, which accepts key signatures only.
func WithIdentities(ids ...Identity) VerifyOption {
	return func(o *verifyOptions) error {
		for _, id := range ids {
			if err := id.validate(); err != nil {
				return err
			}
		}
		o.identities = slices.Clone(ids)
		return nil
	}
}

// WithRootCerts makes keyless verification trust the Fulcio CA whose PEM chain is given (the content of
// --fulcio-root, or of SIGSTORE_ROOT_FILE as cosign reads it): its self-signed certificates are the roots, the
// others intermediates. The transparency-log and CT-log keys then still come from public Sigstore unless IgnoreTlog
// and IgnoreSCT; give a trusted root (WithTrustedRoot) instead to describe a whole private Sigstore. The default,
// without this option or WithTrustedRoot, is public Sigstore's trusted root, fetched through TUF as cosign does.
func WithRootCerts(pemChain []byte) VerifyOption {
	return func(o *verifyOptions) error {
		p, err := parseCertPools(pemChain)
		if err != nil {
			return fmt.Errorf("reading the Fulcio roots: %w", err)
		}
		o.rootCerts = p
		o.rootPEM = slices.Clone(pemChain)
		return nil
	}
}

// WithTrustedRoot makes keyless verification trust what a sigstore trusted_root.json lists (the content of
// --trusted-root, as cosign and Flux take it): Fulcio CAs, Rekor logs, CT logs. The default is public Sigstore's
// trusted root, fetched through TUF. It cannot be combined with WithRootCerts.
func WithTrustedRoot(trustedRootJSON []byte) VerifyOption {
	return func(o *verifyOptions) error {
		tr, err := parseTrustedRoot(trustedRootJSON)
		if err != nil {
			return err
		}
		o.trustedRoot = tr
		return nil
	}
}

// WithGitHubWorkflowClaims makes keyless signatures (and attestations) count only when their certificate also
// carries these GitHub Actions claims, as cosign's --certificate-github-workflow-* flags require. It needs
// WithIdentities: the claims narrow an identity, they do not replace it.
func WithGitHubWorkflowClaims(c GitHubWorkflowClaims) VerifyOption {
	return func(o *verifyOptions) error {
		o.githubClaims = c
		return nil
	}
}

// WithIgnoreTlog makes keyless verification accept a signature without a transparency-log entry (cosign's
// --insecure-ignore-tlog), such as one made with WithTlogUpload(false). cosign then accepts the signature only
// while its certificate is valid, ten minutes after signing: without the log nothing proves that it was made in
// that window. The default is to require the Rekor entry (a legacy signature's bundle annotation, a sigstore
// bundle's tlog entry) and verify it offline. Key signatures are always verified without the log, as Flux verifies
// them.
func WithIgnoreTlog(ignore bool) VerifyOption {
	return func(o *verifyOptions) error {
		o.ignoreTlog = ignore
		return nil
	}
}

// WithIgnoreSCT makes keyless verification accept a certificate without a verifiable signed certificate timestamp
// (cosign's --insecure-ignore-sct), as a Fulcio without a CT log issues. The default is to require it.
func WithIgnoreSCT(ignore bool) VerifyOption {
	return func(o *verifyOptions) error {
		o.ignoreSCT = ignore
		return nil
	}
}

// WithLegacyFallback(true) makes Verify and VerifyAttestations accept a legacy signature (or attestation) that
// verifies even when sigstore bundles refer to the subject and none of them verifies: the verdict "any format
// verifies", for callers that serve verifiers reading legacy signatures, such as Flux before 2.8 and cosign
// releases without bundle detection. Verify then logs a warning and sets Verification.LegacyOnly (and
// VerifyAttestations lists the predicate types in AttestationVerification.LegacyOnly), so that the caller can say
// that Flux 2.8 and later and `cosign verify` refuse the artifact. The default, false, is their verdict: when bundles
// are present, only bundles count. Neither is the verdict of a verifier that reads legacy signatures alone: for
// that, look for a FormatLegacy entry among Verification.Verified.
func WithLegacyFallback(fallback bool) VerifyOption {
	return func(o *verifyOptions) error {
		o.legacyFallback = fallback
		return nil
	}
}

// WithVerifyLogger makes Verify report each signature it checks to l. The default, and a nil l, is silence.
func WithVerifyLogger(l *slog.Logger) VerifyOption {
	return func(o *verifyOptions) error {
		if l == nil {
			l = discardLogger()
		}
		o.logger = l
		return nil
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// anyMap converts annotations to the map type cosign's payload and claim checks use; nil stays nil.
func anyMap(m map[string]string) map[string]interface{} {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
