package sign

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// bundleDigestPolicy is the artifact half of the sigstore-go policy every bundle is checked against: its statement
// must name subject, as cosign's VerifyImageAttestations requires with the new bundle format.
func bundleDigestPolicy(subject digest.Digest) (verify.ArtifactPolicyOption, error) {
	raw, err := hex.DecodeString(subject.Encoded())
	if err != nil {
		return nil, err
	}
	return verify.WithArtifactDigest(subject.Algorithm().String(), raw), nil
}

// bundlePrecheck refuses, before any key is tried, a bundle that cannot be a signature of subject: one that could
// not be read as a signature bundle, or whose statement names another digest (a bundle copied from another
// artifact). The message names both digests, as the legacy payload check does.
func bundlePrecheck(fb foundBundle, subject digest.Digest) error {
	if fb.refused != nil {
		return fb.refused
	}
	if ok, named := statementNames(fb.bundle, subject); !ok {
		return fmt.Errorf("statement digest mismatch: the bundle is for %s, not %s (copied from another artifact?)", strings.Join(named, ", "), subject)
	}
	return nil
}

// verifyBundleWithKey checks a bundle against one public key with sigstore-go, as cosign's VerifyNewBundle does
// with a key and without the transparency log (`cosign verify --key --insecure-ignore-tlog`, and Flux for keys):
// the envelope's signature must verify with v, whatever key hint the bundle carries, and its statement must name
// the subject.
func verifyBundleWithKey(b *sgbundle.Bundle, v signature.Verifier, artifact verify.ArtifactPolicyOption) error {
	vc, err := b.VerificationContent()
	if err != nil {
		return fmt.Errorf("reading its verification material: %w", err)
	}
	if vc.Certificate() != nil {
		return errors.New("it has a certificate: it was made keyless, not with a key (verify it with the expected identity)")
	}
	// sigstore-go would say only that no signature met the threshold; say why this one does not verify.
	if err := envelopeVerifies(b, v); err != nil {
		return fmt.Errorf("its signature does not verify with this key: %w", err)
	}
	key := root.NewExpiringKey(v, time.Time{}, time.Time{})
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	sv, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		return err
	}
	_, err = sv.Verify(b, verify.NewPolicy(artifact, verify.WithKey()))
	return err
}

// bundleKeyless verifies keyless bundles with sigstore-go, built once per Verify from the same options as the legacy
// keyless check: the trusted material (a trusted root, the Fulcio roots, or public Sigstore's), the expected
// identities, and whether the transparency log and the SCT are required.
type bundleKeyless struct {
	tm         root.TrustedMaterial
	verifier   *verify.Verifier
	policy     []verify.PolicyOption
	identities []Identity
	claims     GitHubWorkflowClaims
	ignoreTlog bool
}

func newBundleKeyless(o *verifyOptions) (*bundleKeyless, error) {
	tm, err := bundleTrustedMaterial(o)
	if err != nil {
		return nil, err
	}
	// What cosign's CheckOpts.verificationOptions asks of sigstore-go for a certificate.
	var vopts []verify.VerifierOption
	if !o.ignoreSCT {
		vopts = append(vopts, verify.WithSignedCertificateTimestamps(1))
	}
	if o.ignoreTlog {
		vopts = append(vopts, verify.WithCurrentTime())
	} else {
		vopts = append(vopts, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
	}
	v, err := verify.NewVerifier(tm, vopts...)
	if err != nil {
		return nil, err
	}
	bk := &bundleKeyless{tm: tm, verifier: v, identities: o.identities, claims: o.githubClaims, ignoreTlog: o.ignoreTlog}
	for _, id := range o.identities {
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.Subject, id.SubjectRegexp)
		if err != nil {
			return nil, fmt.Errorf("expected identity %s: %w", id, err)
		}
		bk.policy = append(bk.policy, verify.WithCertificateIdentity(ci))
	}
	return bk, nil
}

// bundleTrustedMaterial is what keyless bundles are checked against. A bundle carries only the leaf certificate, so
// the Fulcio CAs come from the options: the trusted root as given; or the Fulcio roots (WithRootCerts) as
// certificate authorities, with the transparency and CT logs of public Sigstore when they are checked, as the legacy
// check takes them; or public Sigstore's trusted root.
func bundleTrustedMaterial(o *verifyOptions) (root.TrustedMaterial, error) {
	switch {
	case o.trustedRoot != nil:
		return o.trustedRoot, nil
	case o.rootPEM != nil:
		cas, err := fulcioAuthorities(o.rootPEM)
		if err != nil {
			return nil, fmt.Errorf("reading the Fulcio roots: %w", err)
		}
		var ctlogs, tlogs map[string]*root.TransparencyLog
		if !o.ignoreSCT || !o.ignoreTlog {
			public, err := publicTrustedRoot()
			if err != nil {
				return nil, fmt.Errorf("keys of the transparency and CT logs: %w", err)
			}
			if !o.ignoreSCT {
				ctlogs = public.CTLogs()
			}
			if !o.ignoreTlog {
				tlogs = public.RekorLogs()
			}
		}
		return root.NewTrustedRoot(root.TrustedRootMediaType01, cas, ctlogs, nil, tlogs)
	default:
		return publicTrustedRoot()
	}
}

// fulcioAuthorities turns a PEM chain of Fulcio CA certificates into sigstore-go certificate authorities: one per
// self-signed root, each with every other certificate of the chain as a possible intermediate.
func fulcioAuthorities(pemChain []byte) ([]root.CertificateAuthority, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(pemChain)
	if err != nil {
		return nil, err
	}
	var roots, intermediates []*x509.Certificate
	for _, c := range certs {
		if isSelfSigned(c) {
			roots = append(roots, c)
		} else {
			intermediates = append(intermediates, c)
		}
	}
	cas := make([]root.CertificateAuthority, 0, len(roots))
	for _, r := range roots {
		cas = append(cas, &root.FulcioCertificateAuthority{Root: r, Intermediates: intermediates})
	}
	return cas, nil
}

// check verifies one keyless bundle and returns its certificate and whether its log entry was verified. As the
// legacy check does, it first says in the user's terms what sigstore-go will refuse: a bundle made with a key, a
// certificate from an untrusted CA, an identity other than the expected ones, a missing log entry.
func (bk *bundleKeyless) check(b *sgbundle.Bundle, artifact verify.ArtifactPolicyOption) (*x509.Certificate, bool, error) {
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, false, fmt.Errorf("reading its verification material: %w", err)
	}
	cert := vc.Certificate()
	if cert == nil {
		return nil, false, errors.New("it has no certificate: it was made with a key, not keyless (verify it with the public key)")
	}
	sans, issuer := certIdentity(cert)
	if _, err := verify.VerifyLeafCertificate(cert.NotBefore, cert, bk.tm); err != nil {
		return nil, false, fmt.Errorf("its certificate (for %s from %s) was not issued by a trusted Fulcio CA: %w", strings.Join(sans, ", "), issuer, err)
	}
	if mismatch := identityMismatch(cert, bk.identities); mismatch != nil {
		return nil, false, mismatch
	}
	if mismatch := bk.claims.mismatch(cert); mismatch != nil {
		return nil, false, mismatch
	}
	if !bk.ignoreTlog {
		if entries, err := b.TlogEntries(); err == nil && len(entries) == 0 {
			return nil, false, errors.New("it has no transparency-log entry (signed with the log upload off?); to accept it without one, ignore the log (cosign's --insecure-ignore-tlog)")
		}
	}
	if _, err := bk.verifier.Verify(b, verify.NewPolicy(artifact, bk.policy...)); err != nil {
		return nil, false, err
	}
	return cert, !bk.ignoreTlog, nil
}

// bundleChecker verifies the bundles of one subject with the given keys, then as keyless, as cosign's
// VerifyNewBundle does, whatever their predicate type: cosign verify and Flux accept any bundle that verifies.
type bundleChecker struct {
	subject   digest.Digest
	artifact  verify.ArtifactPolicyOption
	verifiers []signature.Verifier
	o         *verifyOptions
	keyless   *bundleKeyless // made on the first bundle that needs it: it may fetch a trusted root
}

func newBundleChecker(subject digest.Digest, verifiers []signature.Verifier, o *verifyOptions) (*bundleChecker, error) {
	artifact, err := bundleDigestPolicy(subject)
	if err != nil {
		return nil, err
	}
	return &bundleChecker{subject: subject, artifact: artifact, verifiers: verifiers, o: o}, nil
}

// bundleSigner says who made a bundle that verified: the index of the key that verified it, or -1 and what its
// keyless certificate names.
type bundleSigner struct {
	keyIndex int
	identity Identity
	cert     *x509.Certificate
	tlog     bool
}

// checkRefusal is why one check (a key: "key N", keyless: "keyless", or before any: "") refused a bundle.
type checkRefusal struct {
	by  string
	err error
}

// check verifies fb with each key, then as keyless when identities are expected. It returns who signed it and
// true, with the refusals of the keys tried before the one that verified; or false and why each check refused it.
// Its error is for what stops checking altogether: keyless trust material that cannot be had.
func (bc *bundleChecker) check(fb foundBundle) (bundleSigner, []checkRefusal, bool, error) {
	if err := bundlePrecheck(fb, bc.subject); err != nil {
		return bundleSigner{}, []checkRefusal{{"", err}}, false, nil
	}
	var refusals []checkRefusal
	for k, v := range bc.verifiers {
		if err := verifyBundleWithKey(fb.bundle, v, bc.artifact); err != nil {
			refusals = append(refusals, checkRefusal{fmt.Sprintf("key %d", k), err})
			continue
		}
		return bundleSigner{keyIndex: k}, refusals, true, nil
	}
	if len(bc.o.identities) == 0 {
		return bundleSigner{}, refusals, false, nil
	}
	if bc.keyless == nil {
		var err error
		if bc.keyless, err = newBundleKeyless(bc.o); err != nil {
			return bundleSigner{}, nil, false, err
		}
	}
	cert, tlog, err := bc.keyless.check(fb.bundle, bc.artifact)
	if err != nil {
		return bundleSigner{}, append(refusals, checkRefusal{"keyless", err}), false, nil
	}
	sans, issuer := certIdentity(cert)
	return bundleSigner{keyIndex: -1, identity: Identity{Subject: strings.Join(sans, ", "), Issuer: issuer}, cert: cert, tlog: tlog}, refusals, true, nil
}
