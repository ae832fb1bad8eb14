package sign

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/tuf"
)

// certPools is a PEM chain of Fulcio CA certificates split as x509 wants it: the self-signed ones are roots, the
// others intermediates (nil when there are none, so that cosign takes them from the signature's chain annotation).
type certPools struct {
	roots, intermediates *x509.CertPool
}

// parseCertPools reads a PEM chain of CA certificates, the content of cosign's --certificate-chain,
// SIGSTORE_ROOT_FILE or statepack's --fulcio-root.
func parseCertPools(pemChain []byte) (*certPools, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(pemChain)
	if err != nil {
		return nil, fmt.Errorf("not a PEM certificate chain: %w", err)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	p := &certPools{roots: x509.NewCertPool()}
	nroots := 0
	for _, c := range certs {
		if isSelfSigned(c) {
			p.roots.AddCert(c)
			nroots++
			continue
		}
		if p.intermediates == nil {
			p.intermediates = x509.NewCertPool()
		}
		p.intermediates.AddCert(c)
	}
	if nroots == 0 {
		return nil, fmt.Errorf("none of its %d certificate(s) is a self-signed root", len(certs))
	}
	return p, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// parseTrustedRoot reads a sigstore trusted_root.json, the file cosign's --trusted-root and Flux's trusted root
// take.
func parseTrustedRoot(trustedRootJSON []byte) (*root.TrustedRoot, error) {
	if len(bytes.TrimSpace(trustedRootJSON)) == 0 {
		return nil, errors.New("trusted root: empty")
	}
	tr, err := root.NewTrustedRootFromJSON(trustedRootJSON)
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	return tr, nil
}

// publicTrustedRoot returns public Sigstore's trusted root, fetched through its TUF repository (the root of trust
// embedded in sigstore-go, the cache under ~/.sigstore) as cosign does when it is given no other; it is fetched
// once per process. It is a variable so that package tests can see whether it is reached.
var publicTrustedRoot = func() (root.TrustedMaterial, error) {
	publicRoot.Lock()
	defer publicRoot.Unlock()
	if publicRoot.tm != nil {
		return publicRoot.tm, nil
	}
	tr, err := root.FetchTrustedRoot()
	if err != nil {
		return nil, fmt.Errorf("fetching public Sigstore's trusted root: %w (offline or private Sigstore? give a trusted root)", err)
	}
	publicRoot.tm = tr
	return tr, nil
}

var publicRoot struct {
	sync.Mutex
	tm root.TrustedMaterial
}

// logKeys converts the transparency or CT logs of a trusted root into the key set cosign's legacy checks
// (VerifySCT, the Rekor bundle of a legacy signature) take.
func logKeys(logs map[string]*root.TransparencyLog) (*cosign.TrustedTransparencyLogPubKeys, error) {
	keys := cosign.NewTrustedTransparencyLogPubKeys()
	for id, l := range logs {
		if l == nil || l.PublicKey == nil {
			continue
		}
		pemKey, err := cryptoutils.MarshalPublicKeyToPEM(l.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", id, err)
		}
		if err := keys.AddTransparencyLogPubKey(pemKey, tuf.Active); err != nil {
			return nil, fmt.Errorf("log %s: %w", id, err)
		}
	}
	return &keys, nil
}
