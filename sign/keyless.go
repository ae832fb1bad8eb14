package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	rekorgen "github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/oauthflow"
	"github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
)

// Public Sigstore's services, the defaults of keyless signing.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
)

// KeylessOption configures LoadKeylessSigner. An option given a value it cannot use makes LoadKeylessSigner fail
// before it contacts anything.
type KeylessOption func(*keylessOptions) error

type keylessOptions struct {
	fulcioURL, rekorURL *url.URL
	tlogUpload          bool
	fulcioRoots         *certPools
	trustedRoot         *root.TrustedRoot
	skipSCT             bool
}

func makeKeylessOptions(opts []KeylessOption) (*keylessOptions, error) {
	fulcio, _ := url.Parse(DefaultFulcioURL)
	rekor, _ := url.Parse(DefaultRekorURL)
	o := &keylessOptions{fulcioURL: fulcio, rekorURL: rekor, tlogUpload: true}
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

// WithFulcioURL names the Fulcio that certifies the signer (cosign's --fulcio-url). The default is
// DefaultFulcioURL, public Sigstore's.
func WithFulcioURL(u string) KeylessOption {
	return func(o *keylessOptions) error {
		p, err := serviceURL("Fulcio", u)
		if err != nil {
			return err
		}
		o.fulcioURL = p
		return nil
	}
}

// WithRekorURL names the Rekor transparency log signatures are recorded in (cosign's --rekor-url). The default is
// DefaultRekorURL, public Sigstore's.
func WithRekorURL(u string) KeylessOption {
	return func(o *keylessOptions) error {
		p, err := serviceURL("Rekor", u)
		if err != nil {
			return err
		}
		o.rekorURL = p
		return nil
	}
}

// WithTlogUpload says whether each signature is recorded in Rekor (cosign's --tlog-upload). The default is true:
// the log entry is what lets a verifier accept the signature after the certificate's ten minutes are over. With
// false the signature carries no log entry; verifiers then need IgnoreTlog, and cosign accepts such a signature only
// while its certificate is valid.
func WithTlogUpload(upload bool) KeylessOption {
	return func(o *keylessOptions) error {
		o.tlogUpload = upload
		return nil
	}
}

// WithFulcioRoots gives the PEM chain of a private Fulcio's CA (the content of --fulcio-root, or of
// SIGSTORE_ROOT_FILE as cosign reads it): the certificate Fulcio issues must chain to one of its self-signed roots,
// through its other certificates or the chain Fulcio returns. The default is not to check the chain, as cosign does
// not; Verify checks it.
func WithFulcioRoots(pemChain []byte) KeylessOption {
	return func(o *keylessOptions) error {
		p, err := parseCertPools(pemChain)
		if err != nil {
			return fmt.Errorf("reading the Fulcio roots: %w", err)
		}
		o.fulcioRoots = p
		return nil
	}
}

// WithSigningTrustedRoot gives a sigstore trusted_root.json (the content of --trusted-root) describing a private
// Sigstore: the issued certificate must chain to one of its certificate authorities, and its SCT must verify with
// one of its CT logs. The default is public Sigstore's trusted root, fetched through TUF, and only for the SCT.
func WithSigningTrustedRoot(trustedRootJSON []byte) KeylessOption {
	return func(o *keylessOptions) error {
		tr, err := parseTrustedRoot(trustedRootJSON)
		if err != nil {
			return err
		}
		o.trustedRoot = tr
		return nil
	}
}

// WithInsecureSkipSCT skips checking the certificate's signed certificate timestamp, the proof that Fulcio logged
// it in a certificate-transparency log; it is for a Fulcio that runs without one (cosign's
// --insecure-skip-verify). The default is to check it.
func WithInsecureSkipSCT(skip bool) KeylessOption {
	return func(o *keylessOptions) error {
		o.skipSCT = skip
		return nil
	}
}

// serviceURL checks the URL of a Sigstore service; what is put in errors has its credentials removed.
func serviceURL(service, u string) (*url.URL, error) {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil {
		return nil, fmt.Errorf("URL of %s: %w", service, err)
	}
	if (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return nil, fmt.Errorf("URL of %s %q: want an http:// or https:// URL with a host", service, p.Redacted())
	}
	return p, nil
}

// keylessSigner signs with an ephemeral key that Fulcio certified for the identity in an OIDC token, as
// `cosign sign` does without --key, and records each signature in Rekor unless told not to.
type keylessSigner struct {
	sv       signature.SignerVerifier
	cert     *x509.Certificate
	certPEM  []byte
	chainPEM []byte
	rekor    *rekorgen.Rekor // nil: no upload
	rekorURL string
}

var _ payloadSigner = (*keylessSigner)(nil)

func (k *keylessSigner) signPayload(ctx context.Context, payload []byte) (oci.Signature, error) {
	if err := k.stillValid(); err != nil {
		return nil, err
	}
	raw, err := k.sv.SignMessage(bytes.NewReader(payload), sigopts.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	opts := []static.Option{static.WithCertChain(k.certPEM, k.chainPEM)}
	if k.rekor != nil {
		// What `cosign sign` does: a hashedrekord entry for the payload's SHA-256, the signature and the
		// certificate, whose entry becomes the signature's bundle annotation.
		h := sha256.New()
		h.Write(payload)
		entry, err := cosign.TLogUpload(ctx, k.rekor, raw, h, k.certPEM)
		if err != nil {
			return nil, fmt.Errorf("recording the signature in the transparency log %s: %w", k.rekorURL, err)
		}
		opts = append(opts, static.WithBundle(cbundle.EntryToBundle(entry)))
	}
	return static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw), opts...)
}

func (k *keylessSigner) verifier() signature.Verifier { return k.sv }

// certificateMargin is how long before its expiry a Fulcio certificate is no longer used: a signature made, and
// logged, in its last seconds could carry a log time past it, which verifiers refuse.
const certificateMargin = 30 * time.Second

// stillValid refuses to sign with a certificate that has expired, or is about to: Fulcio's last ten minutes from
// when LoadKeylessSigner ran. A signature the certificate does not cover would be refused by every verifier, so it
// is better not made.
func (k *keylessSigner) stillValid() error {
	if left := time.Until(k.cert.NotAfter); left < certificateMargin {
		return fmt.Errorf("the Fulcio certificate expired at %s (it is valid for ten minutes from when signing began); the run took longer than that: run it again, or render before asking for the certificate",
			k.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func (k *keylessSigner) publicKey() (crypto.PublicKey, error) { return k.sv.PublicKey() }

// LoadKeylessSigner makes a keyless signer, as `cosign sign` does without --key: it makes an ephemeral ECDSA P-256
// key, proves to Fulcio that it holds it by signing the token's subject (its email claim when there is one, as
// cosign signs), and gets from Fulcio a certificate that binds the key to the identity in identityToken, a raw OIDC
// JWT (GitHubActionsToken gets one inside GitHub Actions; a Tekton task reads its projected service-account token).
// It checks the certificate before returning: its key is the ephemeral one, it chains to the Fulcio roots or
// trusted root when given, and it carries an SCT that verifies (unless WithInsecureSkipSCT).
//
// The Signer's signatures carry the certificate and its chain in the layer annotations
// dev.sigstore.cosign/certificate and dev.sigstore.cosign/chain, and, unless WithTlogUpload(false), the Rekor
// entry in dev.sigstore.cosign/bundle, as cosign writes them. Fulcio certificates are valid for ten minutes: sign
// soon after loading, and load a new signer for a later run.
//
// An empty token gives an error wrapping ErrNoIdentityToken. The token is sent to Fulcio only, and never appears in
// an error or a log.
func LoadKeylessSigner(ctx context.Context, identityToken string, opts ...KeylessOption) (*Signer, error) {
	s, err := loadKeyless(ctx, strings.TrimSpace(identityToken), opts)
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", redactToken(err, identityToken))
	}
	return s, nil
}

func loadKeyless(ctx context.Context, token string, opts []KeylessOption) (*Signer, error) {
	o, err := makeKeylessOptions(opts)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fmt.Errorf("%w (in GitHub Actions, grant the job the permission id-token: write)", ErrNoIdentityToken)
	}
	subject, err := tokenSubject(token)
	if err != nil {
		return nil, fmt.Errorf("reading the OIDC identity token: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, err
	}
	proof, err := sv.SignMessage(strings.NewReader(subject), sigopts.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	fulcioName := o.fulcioURL.Redacted()
	fc, err := requestCertificate(ctx, o.fulcioURL, token, pubPEM, proof)
	if err != nil {
		return nil, fmt.Errorf("requesting a certificate from Fulcio %s: %w", fulcioName, err)
	}
	cert, err := checkCertificate(ctx, fc, priv.Public(), o)
	if err != nil {
		return nil, fmt.Errorf("certificate from Fulcio %s: %w", fulcioName, err)
	}
	ks := &keylessSigner{sv: sv, cert: cert, certPEM: fc.certPEM, chainPEM: fc.chainPEM}
	if o.tlogUpload {
		ks.rekorURL = o.rekorURL.Redacted()
		ks.rekor, err = rekorclient.GetRekorClient(o.rekorURL.String(), rekorclient.WithUserAgent(userAgent))
		if err != nil {
			return nil, fmt.Errorf("connecting to Rekor %s: %w", ks.rekorURL, err)
		}
	}
	sans, issuer := certIdentity(cert)
	return &Signer{impl: ks, source: fmt.Sprintf("a Fulcio certificate for %s from %s", strings.Join(sans, ", "), issuer)}, nil
}

// tokenSubject reads, without verifying the token (Fulcio does), the claim Fulcio wants signed as proof of
// possession: the email when the token has one, else the subject; sigstore's oauthflow decides, as for cosign.
func tokenSubject(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT (want three dot-separated parts)")
	}
	claims, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", errors.New("not a JWT (its claims are not base64url)")
	}
	subject, err := oauthflow.SubjectFromUnverifiedToken(claims)
	if err != nil {
		return "", fmt.Errorf("no usable subject: %w", err)
	}
	return subject, nil
}

// checkCertificate parses what Fulcio issued and checks it: it certifies our key, chains to the roots given, and
// carries a verifying SCT unless told to skip it.
func checkCertificate(ctx context.Context, fc *fulcioCertificate, pub crypto.PublicKey, o *keylessOptions) (*x509.Certificate, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(fc.certPEM)
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("not a PEM certificate (%d certificates, %v)", len(certs), err)
	}
	cert := certs[0]
	chain, err := cryptoutils.UnmarshalCertificatesFromPEM(fc.chainPEM)
	if err != nil {
		return nil, fmt.Errorf("its chain: %w", err)
	}
	if err := cryptoutils.EqualKeys(cert.PublicKey, pub); err != nil {
		return nil, errors.New("it certifies another public key than the one sent")
	}

	var chains [][]*x509.Certificate
	switch {
	case o.trustedRoot != nil:
		if chains, err = verify.VerifyLeafCertificate(cert.NotBefore, cert, o.trustedRoot); err != nil {
			return nil, fmt.Errorf("it does not chain to a certificate authority of the trusted root: %w", err)
		}
	case o.fulcioRoots != nil:
		intermediates := x509.NewCertPool()
		if o.fulcioRoots.intermediates != nil {
			intermediates = o.fulcioRoots.intermediates.Clone()
		}
		for _, c := range chain {
			intermediates.AddCert(c)
		}
		// As cosign verifies: at the certificate's own start, so that the ten-minute validity never fails the check.
		if chains, err = cert.Verify(x509.VerifyOptions{
			CurrentTime:   cert.NotBefore,
			Roots:         o.fulcioRoots.roots,
			Intermediates: intermediates,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		}); err != nil {
			return nil, fmt.Errorf("it does not chain to the given Fulcio roots: %w", err)
		}
	}

	if o.skipSCT {
		return cert, nil
	}
	embedded, err := cosign.ContainsSCT(cert.Raw)
	if err != nil {
		return nil, err
	}
	if !embedded && len(fc.sct) == 0 {
		return nil, errors.New("it carries no SCT: this Fulcio logs no certificate in a certificate-transparency log; for such a Fulcio, skip the check (InsecureSkipSCT, cosign's --insecure-skip-verify)")
	}
	var tm root.TrustedMaterial
	if o.trustedRoot != nil {
		tm = o.trustedRoot
	} else if tm, err = publicTrustedRoot(); err != nil {
		return nil, fmt.Errorf("verifying its SCT: %w", err)
	}
	if embedded && chains != nil {
		if err := verify.VerifySignedCertificateTimestamp(chains, 1, tm); err != nil {
			return nil, fmt.Errorf("verifying its SCT: %w", err)
		}
		return cert, nil
	}
	ctKeys, err := logKeys(tm.CTLogs())
	if err != nil {
		return nil, fmt.Errorf("verifying its SCT: CT log keys: %w", err)
	}
	if err := cosign.VerifySCT(ctx, fc.certPEM, fc.chainPEM, fc.sct, ctKeys); err != nil {
		return nil, fmt.Errorf("verifying its SCT: %w", err)
	}
	return cert, nil
}

// redactToken removes the token from an error's message, should anything on the way have repeated it; the
// error's chain is kept only when it does not.
func redactToken(err error, token string) error {
	if err == nil {
		return nil
	}
	msg := redactString(err.Error(), token)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, sentinel: sentinelOf(err)}
}

// redactString replaces the token in s, and each part of it long enough to be a secret on its own (a JWT's
// signature is), with [REDACTED].
func redactString(s, token string) string {
	token = strings.TrimSpace(token)
	if len(token) < 8 {
		return s
	}
	s = strings.ReplaceAll(s, token, "[REDACTED]")
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 {
			s = strings.ReplaceAll(s, part, "[REDACTED]")
		}
	}
	return s
}

// redactedError is an error whose message had a secret removed; it still answers errors.Is for the package's
// sentinels, never for the original error (whose message holds the secret).
type redactedError struct {
	msg      string
	sentinel error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.sentinel }

func sentinelOf(err error) error {
	for _, s := range []error{ErrNoIdentityToken, ErrNoSignature, ErrVerification, ErrUnsupported} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// Certificate returns a keyless signer's Fulcio certificate, PEM-encoded, and the chain Fulcio returned with it;
// both are nil for a signer with a key. The certificate's NotAfter says until when Sign may be called.
func (s *Signer) Certificate() (certPEM, chainPEM []byte) {
	if k, ok := s.impl.(*keylessSigner); ok {
		return bytes.Clone(k.certPEM), bytes.Clone(k.chainPEM)
	}
	return nil, nil
}

// Identity returns the identity a keyless signer's certificate names, its certificate identity in Subject and OIDC
// issuer in Issuer: what a verifier must expect (WithIdentities). ok is false for a signer with a key.
func (s *Signer) Identity() (id Identity, ok bool) {
	k, ok := s.impl.(*keylessSigner)
	if !ok {
		return Identity{}, false
	}
	sans, issuer := certIdentity(k.cert)
	return Identity{Subject: strings.Join(sans, ", "), Issuer: issuer}, true
}
