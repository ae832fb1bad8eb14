package sign

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2"
)

// ErrNoAttestation is returned by VerifyAttestations when the subject has no attestation of a requested predicate
// type at all. errors.Is also matches it with ErrNoSignature, so callers that treat a missing signature as a
// verification failure treat a missing attestation the same way.
var ErrNoAttestation error = noAttestation{}

type noAttestation struct{}

func (noAttestation) Error() string        { return "no attestation found" }
func (noAttestation) Is(target error) bool { return target == ErrNoSignature }

// AttestationVerification is what VerifyAttestations found.
type AttestationVerification struct {
	// Subject is the digest whose attestations were checked.
	Subject digest.Digest
	// Manifest is the manifest tagged sha256-<hex>.att that the attestations were read from.
	Manifest ocispec.Descriptor
	// Checked is how many attestations of the requested predicate types that manifest holds.
	Checked int
	// Verified lists the attestations that verified, in the manifest's order; there is at least one per requested
	// predicate type.
	Verified []VerifiedAttestation
	// LegacyOnly lists the predicate types accepted through WithLegacyFallback alone: sigstore bundles refer to the
	// subject and none of that type verifies, so `cosign verify-attestation`, which then reads only the bundles,
	// refuses them. It is always empty without that option, under which VerifyAttestations fails instead.
	LegacyOnly []string
}

// VerifiedAttestation is one attestation that verified.
type VerifiedAttestation struct {
	// Statement is the signed in-toto statement; its Predicate is the predicate's JSON.
	Statement Statement
	// KeyIndex, Identity, Certificate and TlogVerified say who signed it, as for VerifiedSignature.
	KeyIndex     int
	Identity     Identity
	Certificate  *x509.Certificate
	TlogVerified bool
	// Layer is the digest of the attestation's layer in the attestation manifest, or of the bundle layer.
	Layer digest.Digest
	// Format is where the attestation was found: cosign's legacy .att tag, or a sigstore bundle referring to the
	// subject; Manifest is then that bundle's referrer manifest.
	Format   Format
	Manifest ocispec.Descriptor
}

// VerifyAttestations checks that subject carries in t, for each of predicateTypes, an attestation that verifies —
// a sigstore bundle referring to subject, or one in cosign's legacy format (the sha256-<hex>.att tag) — as `cosign
// verify-attestation --type` does: each DSSE envelope must verify with one of verifiers (without the transparency
// log, as for keys in Verify), or be keyless with a certificate that passes the same checks as Verify's
// (WithIdentities, WithRootCerts, WithTrustedRoot, WithIgnoreTlog, WithIgnoreSCT), and its statement must name
// subject's digest. Attestations of other predicate types are ignored.
//
// Bundles present, legacy attestations not read: when any sigstore bundle refers to subject (a signature bundle as
// well as an attestation), `cosign verify-attestation` verifies the bundles alone and keeps those of the requested
// type (cosign v2.6.5 cmd/cosign/cli/verify/verify_attestation.go, VerifyAttestationCommand.Exec, and
// pkg/cosign/verify.go, verifyImageAttestationsSigstoreBundle; cosign v3 by default): it never reads the .att tag.
// So VerifyAttestations then requires, for each type, a bundle of that type that verifies, and fails with an error
// wrapping ErrVerification that names the rule when only legacy attestations of that type verify.
// WithLegacyFallback(true) accepts those instead, with a warning and the type listed in
// AttestationVerification.LegacyOnly. When the referrers cannot be listed, cosign reads the .att tag, and so does
// VerifyAttestations. (Flux verifies no attestations.)
//
// It returns an error wrapping ErrNoAttestation when a requested type has no attestation at all, and one wrapping
// ErrVerification, saying why each was refused, when none of that type verifies.
func VerifyAttestations(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor, verifiers []signature.Verifier, predicateTypes []string, opts ...VerifyOption) (*AttestationVerification, error) {
	o, err := makeVerifyOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("verifying attestations of %s: %w", subject.Digest, err)
	}
	h, err := v1.NewHash(subject.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("verifying attestations of %q: %w", subject.Digest, err)
	}
	if len(predicateTypes) == 0 {
		return nil, fmt.Errorf("verifying attestations of %s: no predicate type given", subject.Digest)
	}
	if len(verifiers) == 0 && len(o.identities) == 0 {
		return nil, fmt.Errorf("verifying attestations of %s: no public key given, and no expected identity for keyless attestations", subject.Digest)
	}
	if o.rootCerts != nil && o.trustedRoot != nil {
		return nil, fmt.Errorf("verifying attestations of %s: give the Fulcio roots or a trusted root, not both", subject.Digest)
	}
	tag := AttestationTag(subject.Digest)
	atts, err := readCosignTag(ctx, t, subject.Digest, tag, "attestations", maxAttestationLayer)
	if err != nil {
		return nil, err
	}
	var list []oci.Signature
	res := &AttestationVerification{Subject: subject.Digest}
	if atts != nil {
		if list, err = atts.Get(); err != nil {
			return nil, fmt.Errorf("verifying attestations of %s: reading tag %s: %w", subject.Digest, tag, err)
		}
		res.Manifest = atts.desc
	}
	// Every bundle, of every type, once: all of them count towards cosign's choice of the bundles.
	var all []foundBundle
	if full, err := resolveSubject(ctx, t, subject); err != nil {
		o.logger.WarnContext(ctx, "resolving the subject failed; checking legacy attestations only", "subject", subject.Digest, "error", err)
	} else if all, err = readBundles(ctx, t, full, ""); err != nil {
		all = nil
		o.logger.WarnContext(ctx, "listing referrers failed; checking legacy attestations only", "subject", subject.Digest, "error", err)
	}
	present := bundlesPresent(all)
	bc, err := newBundleChecker(subject.Digest, verifiers, o)
	if err != nil {
		return nil, fmt.Errorf("verifying attestations of %s: %w", subject.Digest, err)
	}
	var keyless *keylessCheck
	for _, pt := range predicateTypes {
		before := len(res.Verified)
		bundles := bundlesOfType(all, pt)
		bundlesVerified, refusals, err := verifyAttestationBundles(ctx, bundles, pt, bc, o, res)
		if err != nil {
			return nil, fmt.Errorf("verifying attestations of %s: %w", subject.Digest, err)
		}
		bundleRefusals := refusals
		legacy := 0
		for i, att := range list {
			ann, err := att.Annotations()
			if err != nil || ann[annotationPredicateType] != pt {
				continue
			}
			legacy++
			layer, _ := att.Digest()
			va, err := verifyAttestation(ctx, att, h, pt, verifiers, o, &keyless)
			if err != nil {
				o.logger.DebugContext(ctx, "attestation refused", "subject", subject.Digest, "attestation", i+1, "type", pt, "error", err)
				refusals = append(refusals, fmt.Errorf("attestation %d (layer %s): %w", i+1, layer, err))
				continue
			}
			va.Layer, va.Format, va.Manifest = digest.Digest(layer.String()), FormatLegacy, atts.desc
			res.Verified = append(res.Verified, *va)
		}
		found := len(bundles) + legacy
		res.Checked += found
		switch {
		case found == 0 && atts == nil:
			return nil, fmt.Errorf("%w of type %s for %s: no sigstore bundle of that type refers to it, and the target has no tag %s (was it published with attestations on?)",
				ErrNoAttestation, pt, subject.Digest, tag)
		case found == 0:
			return nil, fmt.Errorf("%w of type %s for %s: no sigstore bundle of that type refers to it, and tag %s holds none of that type", ErrNoAttestation, pt, subject.Digest, tag)
		case len(res.Verified) == before:
			return nil, fmt.Errorf("%w for the %s attestation of %s: %d checked, none verifies with %s: %w",
				ErrVerification, pt, subject.Digest, found, expectation(len(verifiers), len(o.identities)), errors.Join(refusals...))
		case present == 0 || bundlesVerified > 0:
		case o.legacyFallback:
			o.logger.WarnContext(ctx, "only a legacy attestation verifies: cosign verify-attestation reads only the sigstore bundles when an artifact has any, and refuses it",
				"subject", subject.Digest, "predicateType", pt, "bundles", present)
			res.LegacyOnly = append(res.LegacyOnly, pt)
		case len(bundles) == 0:
			return nil, fmt.Errorf("%w for the %s attestation of %s: %s, and none of the %d bundle(s) referring to it is of that type; %d legacy attestation(s) of that type verify, which only verifiers that read either format accept (attest it as a bundle too: FormatBoth writes both)",
				ErrVerification, pt, subject.Digest, ruleAttestations, present, len(res.Verified)-before)
		default:
			return nil, fmt.Errorf("%w for the %s attestation of %s: %s, and none of its %d bundle(s) of that type verifies with %s; %d legacy attestation(s) do, which only verifiers that read either format accept (attest it as a bundle with a trusted key, or remove the bundles that do not verify): %w",
				ErrVerification, pt, subject.Digest, ruleAttestations, len(bundles), expectation(len(verifiers), len(o.identities)), len(res.Verified)-before, errors.Join(bundleRefusals...))
		}
	}
	return res, nil
}

// ruleAttestations names the rule VerifyAttestations applies when bundles are present, as cosign verify-attestation
// does (see VerifyAttestations).
const ruleAttestations = "bundles present: legacy attestations are not read by cosign verify-attestation"

// verifyAttestation checks one attestation with each key, then as keyless, and reads its statement.
func verifyAttestation(ctx context.Context, att oci.Signature, h v1.Hash, predicateType string, verifiers []signature.Verifier, o *verifyOptions, keyless **keylessCheck) (*VerifiedAttestation, error) {
	att, err := static.Copy(att)
	if err != nil {
		return nil, err
	}
	stmt, err := readStatement(att)
	if err != nil {
		return nil, err
	}
	if stmt.PredicateType != predicateType {
		return nil, fmt.Errorf("its layer says predicate type %s but its statement says %s", predicateType, stmt.PredicateType)
	}
	var refusals []error
	for k, v := range verifiers {
		co := &cosign.CheckOpts{SigVerifier: v, IgnoreTlog: true, ClaimVerifier: attestationClaimVerifier}
		if _, err := cosign.VerifyBlobAttestation(ctx, att, h, co); err != nil {
			refusals = append(refusals, fmt.Errorf("key %d: %w", k, envelopeError(err)))
			continue
		}
		return &VerifiedAttestation{Statement: stmt, KeyIndex: k}, nil
	}
	if len(o.identities) == 0 {
		return nil, errors.Join(refusals...)
	}
	if *keyless == nil {
		if *keyless, err = newKeylessCheck(o); err != nil {
			return nil, err
		}
	}
	kc := *keyless
	cert, err := kc.precheck(att)
	if errors.Is(err, errNoCertificate) {
		return nil, errors.Join(append(refusals, err)...)
	}
	if err != nil {
		return nil, err
	}
	sans, issuer := certIdentity(cert)
	co := *kc.co
	co.ClaimVerifier = attestationClaimVerifier
	tlog, err := cosign.VerifyBlobAttestation(ctx, att, h, &co)
	if err != nil {
		return nil, err
	}
	return &VerifiedAttestation{
		Statement:    stmt,
		KeyIndex:     -1,
		Identity:     Identity{Subject: strings.Join(sans, ", "), Issuer: issuer},
		Certificate:  cert,
		TlogVerified: tlog,
	}, nil
}

// envelopeError says in the user's terms what sigstore's DSSE verifier reports as a signature threshold not met.
func envelopeError(err error) error {
	if strings.Contains(err.Error(), "accepted signatures do not match threshold") {
		return fmt.Errorf("its envelope's signature does not verify with this key (signed by another key, or the statement was altered): %w", err)
	}
	return err
}

// readStatement reads the in-toto statement out of an attestation's DSSE envelope, without verifying it.
func readStatement(att oci.Signature) (Statement, error) {
	p, err := att.Payload()
	if err != nil {
		return Statement{}, fmt.Errorf("reading its envelope: %w", err)
	}
	var env ssldsse.Envelope
	if err := json.Unmarshal(p, &env); err != nil {
		return Statement{}, fmt.Errorf("its layer is not a DSSE envelope: %w", err)
	}
	if env.PayloadType != ctypes.IntotoPayloadType {
		return Statement{}, fmt.Errorf("its envelope holds a %q, not an in-toto statement", env.PayloadType)
	}
	raw, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return Statement{}, fmt.Errorf("its envelope's payload is not base64: %w", err)
	}
	var st Statement
	if err := json.Unmarshal(raw, &st); err != nil {
		return Statement{}, fmt.Errorf("its statement is not JSON: %w", err)
	}
	return st, nil
}

// attestationClaimVerifier is cosign's IntotoSubjectClaimVerifier with a message that names both digests when the
// statement is about another artifact (an attestation copied under this artifact's tag, or a tag that moved).
func attestationClaimVerifier(sig oci.Signature, h v1.Hash, annotations map[string]interface{}) error {
	err := cosign.IntotoSubjectClaimVerifier(sig, h, annotations)
	if err == nil {
		return nil
	}
	st, rerr := readStatement(sig)
	if rerr != nil {
		return err
	}
	var names []string
	for _, s := range st.Subject {
		for alg, d := range s.Digest {
			names = append(names, alg+":"+d)
		}
	}
	return fmt.Errorf("its statement is about %s, not %s (an attestation of other content)", strings.Join(names, ", "), h)
}
