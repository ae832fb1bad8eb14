package statepack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2"

	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// Policy says who must have signed an artifact, as Flux's OCIRepository spec.verify says it: public keys (any may
// match, as Flux takes every *.pub of its Secret), or keyless identities.
type Policy struct {
	// Keys are cosign public keys: file paths, env://VAR (with LookupEnv) or KMS URIs (in a build with the kms tag).
	Keys []string
	// Identity and IdentityRegexp: the keyless signer's identity, exactly or by a regular expression.
	Identity, IdentityRegexp string
	// Issuer and IssuerRegexp: the OIDC issuer of the keyless signer's certificate.
	Issuer, IssuerRegexp string
	// GitHub are claims of the signing workflow that the certificate must carry.
	GitHub sign.GitHubWorkflowClaims
	// FulcioRoots is the PEM chain of a private Fulcio's CA; TrustedRoot a sigstore trusted_root.json. nil: public
	// Sigstore.
	FulcioRoots, TrustedRoot []byte
	// IgnoreTlog and IgnoreSCT accept keyless signatures without a Rekor entry or a certificate-transparency SCT.
	IgnoreTlog, IgnoreSCT bool
	// Attestations are predicate types (AttestationTypes, or any other) whose attestations must verify too, by the
	// same keys or identities.
	Attestations []string
	// LookupEnv resolves "env://VAR" keys; nil refuses them (the library reads no environment of its own).
	LookupEnv func(name string) (string, bool)
}

// Keyless says whether the policy names keyless identities.
func (p Policy) Keyless() bool {
	return p.Identity != "" || p.IdentityRegexp != "" || p.Issuer != "" || p.IssuerRegexp != "" || p.GitHub != (sign.GitHubWorkflowClaims{})
}

// Empty says whether the policy asks for no verification.
func (p Policy) Empty() bool { return len(p.Keys) == 0 && !p.Keyless() }

// Verifier checks artifacts against a Policy; NewVerifier makes one, with its keys loaded.
type Verifier struct {
	keys []signature.Verifier
	// keyNames are the keys as the policy gave them, for reports; keyless says that it accepts keyless signatures.
	keyNames     []string
	keyless      bool
	opts         []sign.VerifyOption
	attestations []string
}

// NewVerifier loads the policy's keys and checks it: keyless verification needs an identity and an issuer, as
// Flux's matchOIDCIdentity does. It returns nil (and no error) for an empty policy: nothing to verify. A key that
// does not load is an ErrInvalidOption unless it names a KMS that could not be reached.
func NewVerifier(ctx context.Context, p Policy) (*Verifier, error) {
	if p.Empty() {
		if len(p.Attestations) > 0 {
			return nil, invalidf("--attestation needs --key, or --certificate-identity and --certificate-oidc-issuer: who must have signed it")
		}
		return nil, nil
	}
	v := &Verifier{keys: []signature.Verifier{}, keyNames: slices.Clone(p.Keys), keyless: p.Keyless(),
		attestations: slices.Compact(slices.Clone(p.Attestations))}
	if len(p.Keys) > 0 {
		keys, err := sign.Keys{LookupEnv: p.LookupEnv}.LoadVerifiers(ctx, p.Keys...)
		if err != nil {
			return nil, KeyError(err, p.Keys...)
		}
		v.keys = keys
	}
	if !p.Keyless() {
		if p.FulcioRoots != nil || p.TrustedRoot != nil {
			return nil, invalidf("--fulcio-root and --trusted-root need --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]")
		}
		// Key signatures are checked without the log, as Flux does.
		v.opts = []sign.VerifyOption{sign.WithIgnoreTlog(true)}
		return v, nil
	}
	if (p.Identity == "" && p.IdentityRegexp == "") || (p.Issuer == "" && p.IssuerRegexp == "") {
		return nil, invalidf("keyless verification needs both --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp], as Flux's matchOIDCIdentity does")
	}
	v.opts = []sign.VerifyOption{
		sign.WithIdentities(sign.Identity{Subject: p.Identity, SubjectRegexp: p.IdentityRegexp, Issuer: p.Issuer, IssuerRegexp: p.IssuerRegexp}),
		sign.WithIgnoreTlog(p.IgnoreTlog), sign.WithIgnoreSCT(p.IgnoreSCT), sign.WithGitHubWorkflowClaims(p.GitHub),
	}
	if p.FulcioRoots != nil {
		v.opts = append(v.opts, sign.WithRootCerts(p.FulcioRoots))
	}
	if p.TrustedRoot != nil {
		v.opts = append(v.opts, sign.WithTrustedRoot(p.TrustedRoot))
	}
	return v, nil
}

// KeyError classes a key that did not load: the caller's mistake (ErrInvalidOption), except a KMS that could not
// be reached or refused, which stays an I/O failure.
func KeyError(err error, refs ...string) error {
	if slices.ContainsFunc(refs, sign.IsKMSRef) && !errors.Is(err, sign.ErrUnsupported) {
		return err
	}
	return &invalidOption{err}
}

// Attestations are the predicate types whose attestations the verifier requires.
func (v *Verifier) Attestations() []string { return v.attestations }

// Check verifies desc's signatures in t, then the attestations the policy asks for; the attestation result is nil
// when none are asked for. Warnings (a legacy signature Flux would not read, say) go to log.
func (v *Verifier) Check(ctx context.Context, log *slog.Logger, t oras.ReadOnlyTarget, desc ocispec.Descriptor) (*sign.Verification, *sign.AttestationVerification, error) {
	opts := append(slices.Clip(v.opts), sign.WithVerifyLogger(atLeast(logger(log), slog.LevelWarn)))
	sv, err := sign.Verify(ctx, t, desc, v.keys, opts...)
	if err != nil || len(v.attestations) == 0 {
		return sv, nil, err
	}
	a, err := sign.VerifyAttestations(ctx, t, desc, v.keys, v.attestations, opts...)
	if err != nil {
		return sv, nil, err
	}
	return sv, a, nil
}

// checkWithRetry is Check, read again after a transient failure; a signature that does not verify is not retried.
func (v *Verifier) checkWithRetry(ctx context.Context, log *slog.Logger, attempts int, t *publish.Target, desc ocispec.Descriptor) error {
	return retryRead(ctx, log, attempts, "verify", func() error {
		_, _, err := v.Check(ctx, log, t.Storage(), desc)
		return err
	})
}

// ReadOptions are the options of the commands that read an artifact: Verify, Pull, Copy and Diff.
type ReadOptions struct {
	// Registry are the options targets are opened with (credentials, TLS, timeouts).
	Registry []publish.Option
	// StepAttempts is how often an idempotent read is tried; 0 means DefaultStepAttempts.
	StepAttempts int
	// Context gives the version for the user agent.
	Context BuildContext
	// Helm, when set with HelmPin, renders the Helm releases an artifact keeps from the exact charts they name, for
	// a comparison (LoadArtifactSide): what a chart or values change does shows object by object, as TreeSide
	// shows it for a tree. Chart directories of a source tree are not in an artifact and are left out.
	Helm *HelmOptions
	// Logger receives the logs; nil means none.
	Logger *slog.Logger
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	// Ref is the reference with the digest it resolved to.
	Ref    string
	Digest string
	// Signatures and Attestations are what verified; Attestations is nil when none were asked for.
	Signatures   *sign.Verification
	Attestations *sign.AttestationVerification
	// Failure is why the artifact did not verify (the error's cause, without the reference), "" when it did.
	Failure string
	// Explanation says, when the artifact did not verify, which case it is in the terms of Flux's source-controller
	// (v1.8, Flux 2.8, and later), whose own refusal — "no matching signatures were found" — reads the same for all.
	Explanation string
}

// Verify resolves ref (a tag or a digest) and checks its signatures, and the attestations the verifier asks for,
// the way Flux's source-controller does. A signature that does not verify (sign.ErrVerification, sign.ErrNoSignature)
// comes back as the error, with the result's Ref and Digest set; a tag that names unsigned content says so.
func Verify(ctx context.Context, ref publish.Ref, v *Verifier, o ReadOptions) (VerifyResult, error) {
	log := logger(o.Logger)
	if v == nil {
		return VerifyResult{}, invalidf("verify needs --key (the cosign public key), or --certificate-identity and --certificate-oidc-issuer for keyless signatures")
	}
	t, desc, err := o.openResolved(ctx, ref)
	if err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{Ref: ref.WithDigest(desc.Digest.String()), Digest: desc.Digest.String()}
	err = retryRead(ctx, log, o.StepAttempts, "verify", func() (err error) {
		res.Signatures, res.Attestations, err = v.Check(ctx, log, t.Storage(), desc)
		return err
	})
	if err != nil && !errors.Is(err, sign.ErrNoSignature) && !errors.Is(err, sign.ErrVerification) {
		return res, err
	}
	if err != nil {
		res.Failure = err.Error()
		res.Explanation = v.explain(ctx, t.Storage(), desc, err)
		if ref.Tag != "" && ref.Digest == "" && errors.Is(err, sign.ErrNoSignature) && !errors.Is(err, sign.ErrNoAttestation) {
			err = fmt.Errorf("%w (tag %q points at %s: if the tag was moved, the new content is unsigned)", err, ref.Tag, desc.Digest)
		}
		return res, fmt.Errorf("verifying %s: %w", res.Ref, err)
	}
	return res, nil
}

// explain names the case of a signature that did not verify as Flux ≥ 2.8 sees it (fluxcd/source-controller
// internal/oci/cosign/cosign.go, v1.8: the sigstore bundles when any refers to the artifact, else the legacy .sig
// tag; either way its error is "no matching signatures were found"): unsigned, signed by another key or identity,
// sigstore bundles by others only, or bundles by others hiding a legacy signature that the trusted key made.
func (v *Verifier) explain(ctx context.Context, t oras.ReadOnlyTarget, desc ocispec.Descriptor, err error) string {
	const flux = "Flux's source-controller refuses it (\"no matching signatures were found\")"
	if errors.Is(err, sign.ErrNoSignature) && !errors.Is(err, sign.ErrNoAttestation) {
		return "unsigned: neither a sigstore bundle nor a .sig tag refers to " + desc.Digest.String() + "; " + flux
	}
	if !errors.Is(err, sign.ErrVerification) {
		return "" // an attestation that is missing or does not verify: Flux does not read attestations
	}
	opts := append(slices.Clip(v.opts), sign.WithLegacyFallback(true))
	if lenient, lerr := sign.Verify(ctx, t, desc, v.keys, opts...); lerr == nil && lenient.LegacyOnly {
		return "mixed: a .sig by a trusted key, but sigstore bundles by other keys or identities refer to it too, and " +
			"Flux 2.8 and later read only the bundles when there are any; " + flux + " (Flux before 2.8 reads the .sig and accepts it): " +
			"sign a bundle with the trusted key too (publish --signature-format bundle or both), or remove the other bundles"
	}
	risk, rerr := sign.BundleOnlyRisk(ctx, t, desc, v.keys, v.opts...)
	if rerr == nil && risk.Bundles > 0 {
		return "sigstore bundles by other keys or identities only: none of the trusted keys or identities made one; " + flux
	}
	return "signed, but not by a trusted key or identity: no .sig layer verifies with the keys or identities given; " + flux
}

// openResolved opens ref's target for reading (a missing layout is an error, not created) and resolves ref in it,
// the resolve retried after a transient failure: the first step of every command that reads an artifact.
func (o ReadOptions) openResolved(ctx context.Context, ref publish.Ref) (*publish.Target, ocispec.Descriptor, error) {
	log := logger(o.Logger)
	t, err := openTarget(ctx, ref, o.Context, log, o.Registry, publish.WithExistingLayout())
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	var desc ocispec.Descriptor
	err = retryRead(ctx, log, o.StepAttempts, "resolve", func() (err error) { desc, err = Resolve(ctx, t, ref); return err })
	return t, desc, err
}

// Resolve finds the manifest ref names in t: by digest when it has one, else by tag.
func Resolve(ctx context.Context, t *publish.Target, ref publish.Ref) (ocispec.Descriptor, error) {
	reference := ref.Digest
	if reference == "" {
		reference = ref.Tag
	}
	return t.Resolve(ctx, reference)
}

// ContentRef parses a reference that must name content: a tag or a digest.
func ContentRef(s string) (publish.Ref, error) {
	ref, err := publish.ParseRef(s)
	if err != nil {
		return publish.Ref{}, err
	}
	if ref.Tag == "" && ref.Digest == "" {
		return publish.Ref{}, invalidf("%s names no tag or digest: add :TAG or @sha256:…", s)
	}
	return ref, nil
}

// PredicateTypes turns short attestation names into predicate types: slsa (or provenance), inventory and vsa (the
// images' verification summary), or a predicate type URI as cosign's --type takes it.
func PredicateTypes(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "slsa", "slsaprovenance1", "provenance":
			out = append(out, sign.PredicateSLSAProvenanceV1)
		case "inventory":
			out = append(out, sign.PredicateInventoryV1)
		case "vsa":
			out = append(out, PredicateVSA)
		default:
			if !strings.Contains(n, "://") {
				return nil, invalidf("--attestation %q: use slsa, inventory, vsa, or a predicate type URI", n)
			}
			out = append(out, n)
		}
	}
	return slices.Compact(out), nil
}
