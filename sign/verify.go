package sign

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"oras.land/oras-go/v2"
)

// Verification is what Verify found.
type Verification struct {
	// Subject is the digest whose signatures were checked.
	Subject digest.Digest
	// SignatureManifest is the manifest tagged sha256-<hex>.sig that the legacy signatures were read from; it is zero
	// when the subject has none.
	SignatureManifest ocispec.Descriptor
	// Checked is how many signatures were checked: the sigstore bundles among the subject's referrers, then the
	// layers of its legacy signature manifest.
	Checked int
	// Verified lists the signatures that verified, bundles first, each format in the order it was found; there is
	// at least one.
	Verified []VerifiedSignature
	// LegacyOnly says that the subject was accepted through WithLegacyFallback alone: sigstore bundles refer to it
	// and none verifies, so Flux's source-controller (v1.8 and later) and `cosign verify`, which then read only the
	// bundles, refuse it. It is always false without that option, under which Verify fails instead.
	LegacyOnly bool
}

// VerifiedSignature is one signature that verified.
type VerifiedSignature struct {
	// Format is the signature's format: FormatLegacy or FormatBundle.
	Format Format
	// KeyIndex is the index, in the verifiers given to Verify, of the first key that verified the signature; -1 for
	// a keyless signature.
	KeyIndex int
	// Identity is, for a keyless signature, what its certificate names: the certificate identity in Subject and the
	// OIDC issuer in Issuer. It is zero for a key signature.
	Identity Identity
	// Certificate is a keyless signature's Fulcio certificate; nil for a key signature.
	Certificate *x509.Certificate
	// TlogVerified says that the signature's transparency-log entry (its Rekor bundle, or the bundle's tlog entry)
	// was verified. It is false for key signatures, which are checked without the log, and for keyless ones under
	// WithIgnoreTlog.
	TlogVerified bool
	// Image is, for a legacy signature, the signed payload's "<docker-reference>@<digest>"; for a bundle, whose
	// statement names no repository, the digest alone.
	Image string
	// Annotations are the payload's optional annotations (cosign sign -a); nil when there are none, and always for
	// a bundle.
	Annotations map[string]interface{}
	// Layer is the digest of the layer that holds the signature: in the legacy signature manifest, or the bundle.
	Layer digest.Digest
	// Manifest is, for a bundle, the referrer manifest that holds it; zero for a legacy signature (see
	// Verification.SignatureManifest).
	Manifest ocispec.Descriptor
}

// Verify checks that subject carries, in t, a signature that verifies, and that Flux's source-controller (v1.8 and
// later, Flux 2.8) and `cosign verify` would accept it too. It looks where they look: first the sigstore bundles
// among subject's referrers (FormatBundle: found through the registry's referrers API, else its referrers tag
// sha256-<hex>, or an OCI layout's index), then the legacy signatures under the sha256-<hex>.sig tag. A signature
// counts when it verifies with one of verifiers (public keys; the transparency log is not consulted, as `cosign
// verify --key --insecure-ignore-tlog` and Flux check keys), or, when WithIdentities is given, when it is keyless,
// with a Fulcio certificate that chains to the trusted roots, names one of the expected identities, carries a
// verifying SCT (unless WithIgnoreSCT) and has a verifying Rekor entry (unless WithIgnoreTlog). Either verifiers or
// identities, or both, must be given.
//
// Legacy signatures are checked with cosign's own VerifyImageSignature: the signature must verify over the payload,
// and the payload must name subject's digest. Bundles are checked with sigstore-go as cosign's VerifyNewBundle
// checks them: the DSSE envelope's signature, over an in-toto statement with cosign's signature predicate type
// (https://sigstore.dev/cosign/sign/v1) that names subject's digest. Bundles carry no annotations, so
// WithRequiredAnnotations leaves only legacy signatures.
//
// Bundles present, legacy signatures not read: when any sigstore bundle refers to subject, Flux and cosign check
// only the bundles and never fall back to the legacy signatures, so Verify requires one of the bundles to verify
// as well. Like them, it counts every bundle cosign finds, attestations included: an attestation bundle of
// subject's digest that verifies satisfies them (though Verify still wants a signature, and never reports an
// attestation as one), and one that does not makes them refuse an artifact whose legacy signatures verify. When a
// legacy signature verifies but none of the bundles does, Verify fails with an error wrapping ErrVerification that
// names the rule and says why each bundle was refused. WithLegacyFallback(true) accepts the legacy signature
// instead, with a warning to the logger and Verification.LegacyOnly set, for callers that serve verifiers reading
// either format. When the referrers cannot be listed, Flux and cosign check the legacy signatures, and so does
// Verify.
//
// Keyless verification reads nothing but t, unless it is given neither WithRootCerts nor WithTrustedRoot, or is
// given WithRootCerts without ignoring the logs: it then fetches public Sigstore's trusted root through TUF, once
// per process, as cosign does.
//
// It returns an error wrapping ErrNoSignature when there is no signature at all, and one wrapping ErrVerification,
// saying how many signatures were checked and why each was refused (for an identity: what the certificate names
// and what was expected; for a bundle: which referrer manifest held it), when none verifies, or when only legacy
// signatures verify while bundles are present. Only subject.Digest is used; the subject itself need not be in t
// (an OCI layout finds referrers only of manifests it holds).
func Verify(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor, verifiers []signature.Verifier, opts ...VerifyOption) (*Verification, error) {
	o, err := verifyArgs(subject, verifiers, opts, "verifying")
	if err != nil {
		return nil, err
	}
	ev, err := readEvidence(ctx, t, subject, o)
	if err != nil {
		return nil, err
	}
	bundles := bundlesOfType(ev.bundles, ctypes.CosignSignPredicateType)
	if len(bundles) == 0 && len(ev.list) == 0 {
		if ev.listErr != nil {
			return nil, fmt.Errorf("verifying %s: %w", subject.Digest, ev.listErr)
		}
		if ev.sigs == nil {
			return nil, fmt.Errorf("%w for %s: the target has no tag %s", ErrNoSignature, subject.Digest, ev.tag)
		}
		return nil, fmt.Errorf("%w for %s: tag %s holds no signature layer", ErrNoSignature, subject.Digest, ev.tag)
	}

	res := &Verification{Subject: subject.Digest, Checked: len(bundles) + len(ev.list)}
	if ev.sigs != nil {
		res.SignatureManifest = ev.sigs.desc
	}
	checks := len(verifiers)
	if len(o.identities) > 0 {
		checks++
	}
	many := res.Checked > 1 || checks > 1
	var refusals []error
	if ev.listErr != nil {
		refusals = append(refusals, ev.listErr)
	}

	bc, err := newBundleChecker(subject.Digest, verifiers, o)
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", subject.Digest, err)
	}
	// Each bundle is checked once; gate keeps, for the error below, why each one that Flux would read was refused.
	var gate []error
	bundleVerified, err := verifyBundles(ctx, bundles, bc, o, many, res, &refusals, &gate)
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", subject.Digest, err)
	}
	if err := ev.verifyLegacy(ctx, verifiers, o, many, res, &refusals); err != nil {
		return nil, err
	}
	if len(res.Verified) == 0 {
		return nil, fmt.Errorf("%w for %s: %d signature(s) checked, none verifies with %s: %w",
			ErrVerification, subject.Digest, res.Checked, expectation(len(verifiers), len(o.identities)), errors.Join(refusals...))
	}

	present := bundlesPresent(ev.bundles)
	if present == 0 || bundleVerified {
		return res, nil
	}
	// A legacy signature verified, and bundles are present: what Flux decides depends on the other bundles.
	others, err := verifyOtherBundles(ctx, ev.bundles, bc, o, len(bundles), &gate)
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", subject.Digest, err)
	}
	if others {
		return res, nil
	}
	if o.legacyFallback {
		o.logger.WarnContext(ctx, "only a legacy signature verifies: Flux's source-controller (v1.8 and later) and cosign verify read only the sigstore bundles when an artifact has any, and refuse it",
			"subject", subject.Digest, "bundles", present)
		res.LegacyOnly = true
		return res, nil
	}
	return nil, fmt.Errorf("%w for %s: %s, and none of the %d bundle(s) referring to it verifies with %s; %d legacy signature(s) do, which only verifiers that read either format accept (sign it as a bundle with a trusted key, or remove the bundles that do not verify): %w",
		ErrVerification, subject.Digest, ruleSignatures, present, expectation(len(verifiers), len(o.identities)), len(res.Verified), errors.Join(gate...))
}

// ruleSignatures names the rule Verify applies when bundles are present, as Flux's source-controller does
// (fluxcd/source-controller internal/oci/cosign/cosign.go, CosignVerifier.Verify, v1.8.0 for Flux 2.8, from
// fluxcd/source-controller#1961): when cosign.GetBundles finds any bundle it calls cosign.VerifyImageAttestations
// with NewBundleFormat, which verifies the bundles alone, and only otherwise cosign.VerifyImageSignatures, which
// reads the .sig tag. The cosign v2.6.5 CLI does the same in cmd/cosign/cli/verify/verify.go (VerifyCommand.Exec,
// bundle detection backported by sigstore/cosign#4727), and cosign v3 by default.
const ruleSignatures = "bundles present: legacy signatures are not read by Flux ≥ 2.8 (nor by cosign verify)"

// verifyArgs checks Verify's arguments and makes its options; doing names the operation in its errors.
func verifyArgs(subject ocispec.Descriptor, verifiers []signature.Verifier, opts []VerifyOption, doing string) (*verifyOptions, error) {
	o, err := makeVerifyOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", doing, subject.Digest, err)
	}
	if err := subject.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%s %q: %w", doing, subject.Digest, err)
	}
	if _, err := v1.NewHash(subject.Digest.String()); err != nil {
		return nil, fmt.Errorf("%s %s: %w", doing, subject.Digest, err)
	}
	if len(verifiers) == 0 && len(o.identities) == 0 {
		return nil, fmt.Errorf("%s %s: no public key given, and no expected identity for keyless signatures", doing, subject.Digest)
	}
	for i, v := range verifiers {
		if v == nil {
			return nil, fmt.Errorf("%s %s: public key %d is nil (use LoadVerifiers)", doing, subject.Digest, i)
		}
	}
	if o.rootCerts != nil && o.trustedRoot != nil {
		return nil, fmt.Errorf("%s %s: give the Fulcio roots or a trusted root, not both", doing, subject.Digest)
	}
	return o, nil
}

// evidence is what a target holds about a subject, read once: the sigstore bundles among its referrers, of every
// predicate type, and its legacy signatures.
type evidence struct {
	subject digest.Digest
	h       v1.Hash
	tag     string // the legacy signature tag
	bundles []foundBundle
	// listErr says why the referrers could not be listed; bundles is then empty, and the legacy signatures are read
	// alone, as Flux and cosign read them when cosign.GetBundles fails.
	listErr error
	sigs    *legacySignatures // nil when the tag does not exist
	list    []oci.Signature
}

func readEvidence(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor, o *verifyOptions) (*evidence, error) {
	h, err := v1.NewHash(subject.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", subject.Digest, err)
	}
	ev := &evidence{subject: subject.Digest, h: h, tag: SignatureTag(subject.Digest)}
	// The bundles first, as Flux looks for them. A target that cannot list referrers does not stop the legacy
	// check; its error is reported only when nothing else verifies.
	if full, err := resolveSubject(ctx, t, subject); err != nil {
		ev.listErr = err
	} else if ev.bundles, err = readBundles(ctx, t, full, ""); err != nil {
		ev.listErr = err
	}
	if ev.listErr != nil {
		ev.bundles = nil
		ev.listErr = fmt.Errorf("the sigstore bundles among its referrers could not be listed: %w", ev.listErr)
		o.logger.WarnContext(ctx, "listing referrers failed; checking legacy signatures only", "subject", subject.Digest, "error", ev.listErr)
	}
	if ev.sigs, err = readLegacy(ctx, t, subject.Digest); err != nil {
		return nil, err
	}
	if ev.sigs != nil {
		if ev.list, err = ev.sigs.Get(); err != nil {
			return nil, fmt.Errorf("verifying %s: reading tag %s: %w", subject.Digest, ev.tag, err)
		}
	}
	return ev, nil
}

// verifyBundles checks each signature bundle with bc, appending what verifies to res and why the others were
// refused to refusals (named as the other signatures are) and to gate (always named, for the bundles-present
// error). A bundle that verifies is still refused when annotations are required, which bundles cannot carry; it
// returns whether one verified all the same, as that is what Flux and cosign, which know no annotations, decide on.
func verifyBundles(ctx context.Context, bundles []foundBundle, bc *bundleChecker, o *verifyOptions,
	many bool, res *Verification, refusals, gate *[]error) (bool, error) {
	verified := false
	for i, fb := range bundles {
		refuse := func(by string, err error) {
			o.logger.DebugContext(ctx, "bundle refused", "subject", bc.subject, "bundle", i+1, "manifest", fb.manifest.Digest, "by", by, "error", err)
			*refusals = append(*refusals, bundleRefusal(many, i, fb.manifest.Digest, by, err))
			if fb.cosignCounts {
				*gate = append(*gate, bundleRefusal(true, i, fb.manifest.Digest, by, err))
			}
		}
		s, rs, ok, err := bc.check(fb)
		if err != nil {
			return false, err
		}
		if !ok {
			for _, r := range rs {
				refuse(r.by, r.err)
			}
			continue
		}
		verified = true
		if o.annotations != nil {
			have, _ := json.Marshal(o.annotations)
			refuse("", fmt.Errorf("a sigstore bundle carries no annotations, and %s are required", have))
			continue
		}
		o.logger.DebugContext(ctx, "bundle verified", "subject", bc.subject, "bundle", i+1, "manifest", fb.manifest.Digest, "key", s.keyIndex, "identity", s.identity.Subject)
		res.Verified = append(res.Verified, VerifiedSignature{
			Format: FormatBundle, KeyIndex: s.keyIndex, Identity: s.identity, Certificate: s.cert, TlogVerified: s.tlog,
			Image: bc.subject.String(), Layer: fb.layer.Digest, Manifest: fb.manifest,
		})
	}
	return verified, nil
}

// verifyOtherBundles checks, until one verifies, the bundles Flux and cosign find that are not signature bundles
// (attestations), numbering them after the first signature ones and adding why each was refused to gate. It says
// whether one verified.
func verifyOtherBundles(ctx context.Context, found []foundBundle, bc *bundleChecker, o *verifyOptions, first int, gate *[]error) (bool, error) {
	i := first
	for _, fb := range found {
		if !fb.cosignCounts || fb.ofType(ctypes.CosignSignPredicateType) {
			continue
		}
		_, rs, ok, err := bc.check(fb)
		if err != nil {
			return false, err
		}
		if ok {
			o.logger.DebugContext(ctx, "attestation bundle verified", "subject", bc.subject, "manifest", fb.manifest.Digest, "predicateType", fb.predicateType)
			return true, nil
		}
		name := fmt.Sprintf("bundle %d (manifest %s, an attestation of type %s)", i+1, fb.manifest.Digest, fb.predicateType)
		if fb.predicateType == "" {
			name = fmt.Sprintf("bundle %d (manifest %s)", i+1, fb.manifest.Digest)
		}
		for _, r := range rs {
			if r.by != "" {
				*gate = append(*gate, fmt.Errorf("%s, %s: %w", name, r.by, r.err))
			} else {
				*gate = append(*gate, fmt.Errorf("%s: %w", name, r.err))
			}
		}
		i++
	}
	return false, nil
}

// verifyLegacy checks each legacy signature with each key, then as keyless, appending what verifies to res and why
// the others were refused to refusals.
func (ev *evidence) verifyLegacy(ctx context.Context, verifiers []signature.Verifier, o *verifyOptions, many bool, res *Verification, refusals *[]error) error {
	var keyless *keylessCheck // made on the first signature that needs it: it may fetch a trusted root
	for i, sig := range ev.list {
		layer, _ := sig.Digest()
		// cosign copies each signature into a static one before checking it; so do we, to check the same thing.
		sig, err := static.Copy(sig)
		if err != nil {
			*refusals = append(*refusals, refusal(many, i, layer, "", err))
			continue
		}
		verified := false
		for k, v := range verifiers {
			co := &cosign.CheckOpts{
				SigVerifier:   v,
				IgnoreTlog:    true,
				ClaimVerifier: claimVerifier,
				Annotations:   anyMap(o.annotations),
			}
			if _, err := cosign.VerifyImageSignature(ctx, sig, ev.h, co); err != nil {
				o.logger.DebugContext(ctx, "signature refused", "subject", ev.subject, "signature", i+1, "key", k, "error", err)
				*refusals = append(*refusals, refusal(many, i, layer, fmt.Sprintf("key %d", k), err))
				continue
			}
			vs, err := describe(sig, k, layer)
			if err != nil {
				return fmt.Errorf("verifying %s: signature %d: %w", ev.subject, i+1, err)
			}
			o.logger.DebugContext(ctx, "signature verified", "subject", ev.subject, "signature", i+1, "key", k, "image", vs.Image)
			res.Verified = append(res.Verified, vs)
			verified = true
			break
		}
		if verified || len(o.identities) == 0 {
			continue
		}
		if keyless == nil {
			if keyless, err = newKeylessCheck(o); err != nil {
				return fmt.Errorf("verifying %s: %w", ev.subject, err)
			}
		}
		cert, tlog, err := keyless.check(ctx, sig, ev.h)
		if err != nil {
			o.logger.DebugContext(ctx, "signature refused", "subject", ev.subject, "signature", i+1, "keyless", true, "error", err)
			*refusals = append(*refusals, refusal(many, i, layer, "keyless", err))
			continue
		}
		vs, err := describe(sig, -1, layer)
		if err != nil {
			return fmt.Errorf("verifying %s: signature %d: %w", ev.subject, i+1, err)
		}
		sans, issuer := certIdentity(cert)
		vs.Identity = Identity{Subject: strings.Join(sans, ", "), Issuer: issuer}
		vs.Certificate = cert
		vs.TlogVerified = tlog
		o.logger.DebugContext(ctx, "signature verified", "subject", ev.subject, "signature", i+1, "identity", vs.Identity.Subject, "issuer", issuer, "image", vs.Image)
		res.Verified = append(res.Verified, vs)
	}
	return nil
}

// bundleRefusal says why one bundle did not verify with one key, or as keyless, naming the bundle and the check
// only when there is more than one of either, as refusal does for legacy signatures.
func bundleRefusal(many bool, i int, manifest digest.Digest, by string, err error) error {
	if !many {
		return err
	}
	if by == "" {
		return fmt.Errorf("bundle %d (manifest %s): %w", i+1, manifest, err)
	}
	return fmt.Errorf("bundle %d (manifest %s), %s: %w", i+1, manifest, by, err)
}

// expectation names what Verify was given to check signatures with, for its failure message.
func expectation(keys, identities int) string {
	var what []string
	if keys > 0 {
		what = append(what, "the given key(s)")
	}
	switch {
	case identities == 1:
		what = append(what, "the expected identity")
	case identities > 1:
		what = append(what, "the expected identities")
	}
	return strings.Join(what, " or ")
}

// refusal says why one signature did not verify with one key, or as keyless; the signature and the check are
// named only when there is more than one of either, so the common single-check message stays short.
func refusal(many bool, i int, layer v1.Hash, by string, err error) error {
	if !many {
		return err
	}
	if by == "" {
		return fmt.Errorf("signature %d (layer %s): %w", i+1, layer, err)
	}
	return fmt.Errorf("signature %d (layer %s), %s: %w", i+1, layer, by, err)
}

// keylessCheck verifies keyless signatures with cosign's CheckOpts built once per Verify.
type keylessCheck struct {
	co         *cosign.CheckOpts
	identities []Identity
	claims     GitHubWorkflowClaims
}

func newKeylessCheck(o *verifyOptions) (*keylessCheck, error) {
	co := &cosign.CheckOpts{
		ClaimVerifier: claimVerifier,
		Annotations:   anyMap(o.annotations),
		IgnoreTlog:    o.ignoreTlog,
		IgnoreSCT:     o.ignoreSCT,
		// The Rekor entry is read from the signature's bundle; no Rekor is ever asked.
		Offline: true,
	}
	for _, id := range o.identities {
		co.Identities = append(co.Identities, id.cosign())
	}
	switch {
	case o.trustedRoot != nil:
		co.TrustedMaterial = o.trustedRoot
	case o.rootCerts != nil:
		co.RootCerts, co.IntermediateCerts = o.rootCerts.roots, o.rootCerts.intermediates
		if !o.ignoreSCT || !o.ignoreTlog {
			tm, err := publicTrustedRoot()
			if err != nil {
				return nil, fmt.Errorf("keys of the transparency and CT logs: %w", err)
			}
			if !o.ignoreSCT {
				if co.CTLogPubKeys, err = logKeys(tm.CTLogs()); err != nil {
					return nil, fmt.Errorf("keys of the CT logs: %w", err)
				}
			}
			if !o.ignoreTlog {
				if co.RekorPubKeys, err = logKeys(tm.RekorLogs()); err != nil {
					return nil, fmt.Errorf("keys of the Rekor logs: %w", err)
				}
			}
		}
	default:
		tm, err := publicTrustedRoot()
		if err != nil {
			return nil, err
		}
		co.TrustedMaterial = tm
	}
	return &keylessCheck{co: co, identities: o.identities, claims: o.githubClaims}, nil
}

// check verifies one keyless signature with cosign, and returns its certificate and whether its Rekor entry was
// verified. Before cosign decides, it looks at what cosign will refuse so as to say so in the user's terms: a
// signature made with a key, a certificate from an untrusted CA, a missing log entry, an identity other than the
// expected ones (named, since the certificate is then known to come from a trusted CA).
func (kc *keylessCheck) check(ctx context.Context, sig oci.Signature, h v1.Hash) (*x509.Certificate, bool, error) {
	cert, err := kc.precheck(sig)
	if err != nil {
		return nil, false, err
	}
	tlog, err := cosign.VerifyImageSignature(ctx, sig, h, kc.co)
	if err != nil {
		return nil, false, err
	}
	return cert, tlog, nil
}

// precheck is what check (and the attestation check) say before cosign decides: the certificate is there, from a
// trusted CA, for an expected identity and GitHub claims, with a log entry unless the log is ignored.
func (kc *keylessCheck) precheck(sig oci.Signature) (*x509.Certificate, error) {
	cert, err := sig.Cert()
	if err != nil {
		return nil, fmt.Errorf("reading its certificate: %w", err)
	}
	if cert == nil {
		return nil, errNoCertificate
	}
	sans, issuer := certIdentity(cert)
	if err := kc.chainsToTrustedCA(sig, cert); err != nil {
		return nil, fmt.Errorf("its certificate (for %s from %s) was not issued by a trusted Fulcio CA: %w", strings.Join(sans, ", "), issuer, err)
	}
	if mismatch := identityMismatch(cert, kc.identities); mismatch != nil {
		return nil, mismatch
	}
	if mismatch := kc.claims.mismatch(cert); mismatch != nil {
		return nil, mismatch
	}
	if !kc.co.IgnoreTlog {
		if b, err := sig.Bundle(); err == nil && b == nil {
			return nil, errors.New("it has no transparency-log entry (signed with the log upload off?); to accept it without one, ignore the log (cosign's --insecure-ignore-tlog)")
		}
	}
	return cert, nil
}

// errNoCertificate refuses a signature made with a key where a keyless one was expected.
var errNoCertificate = errors.New("it has no certificate: it was made with a key, not keyless (verify it with the public key)")

// chainsToTrustedCA repeats the first step of cosign's certificate check (ValidateAndUnpackCert), with the same
// intermediates cosign takes.
func (kc *keylessCheck) chainsToTrustedCA(sig oci.Signature, cert *x509.Certificate) error {
	if kc.co.TrustedMaterial != nil {
		_, err := verify.VerifyLeafCertificate(cert.NotBefore, cert, kc.co.TrustedMaterial)
		return err
	}
	intermediates := kc.co.IntermediateCerts
	if intermediates == nil {
		intermediates = x509.NewCertPool()
		if chain, err := sig.Chain(); err == nil && len(chain) > 1 {
			for _, c := range chain[:len(chain)-1] {
				intermediates.AddCert(c)
			}
		}
	}
	_, err := cert.Verify(x509.VerifyOptions{
		CurrentTime:   cert.NotBefore,
		Roots:         kc.co.RootCerts,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
	return err
}

func describe(sig oci.Signature, key int, layer v1.Hash) (VerifiedSignature, error) {
	p, err := sig.Payload()
	if err != nil {
		return VerifiedSignature{}, err
	}
	var sci payload.SimpleContainerImage
	if err := json.Unmarshal(p, &sci); err != nil {
		return VerifiedSignature{}, err
	}
	return VerifiedSignature{
		Format:      FormatLegacy,
		KeyIndex:    key,
		Image:       sci.Critical.Identity.DockerReference + "@" + sci.Critical.Image.DockerManifestDigest,
		Annotations: sci.Optional,
		Layer:       digest.Digest(layer.String()),
	}, nil
}

// claimVerifier is cosign's SimpleClaimVerifier with a message a human can act on: it names both digests when the
// payload was made for another artifact (a signature copied under this artifact's tag, or a tag that moved).
func claimVerifier(sig oci.Signature, h v1.Hash, annotations map[string]interface{}) error {
	err := cosign.SimpleClaimVerifier(sig, h, annotations)
	if err == nil {
		return nil
	}
	p, perr := sig.Payload()
	if perr != nil {
		return err
	}
	var sci payload.SimpleContainerImage
	if jerr := json.Unmarshal(p, &sci); jerr != nil {
		return fmt.Errorf("payload is not a cosign simple-signing payload: %w", jerr)
	}
	if got := sci.Critical.Image.DockerManifestDigest; got != h.String() {
		return fmt.Errorf("payload digest mismatch: the signature is for %s, not %s (copied from another artifact, or a moved tag?)", got, h)
	}
	if annotations != nil {
		have, _ := json.Marshal(sci.Optional)
		want, _ := json.Marshal(annotations)
		return fmt.Errorf("payload annotations %s lack the required %s", have, want)
	}
	return err
}
