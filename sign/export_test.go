package sign

import (
	"context"
	"errors"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"oras.land/oras-go/v2"
)

// ErrPublicTrustedRoot is what reaching for public Sigstore's trusted root gives in this package's tests: they run
// offline, so a test that forgets to give its own trust material fails with this error instead of waiting on TUF.
var ErrPublicTrustedRoot = errors.New("test: public Sigstore's trusted root is out of reach offline")

func init() {
	publicTrustedRoot = func() (root.TrustedMaterial, error) { return nil, ErrPublicTrustedRoot }
}

// WriteBundleReferrer exposes writeBundleReferrer, the hook attestations in the bundle format use, to the tests.
func WriteBundleReferrer(ctx context.Context, t oras.Target, subject ocispec.Descriptor, bundleJSON []byte, annotations map[string]string) (ocispec.Descriptor, error) {
	return writeBundleReferrer(ctx, t, subject, bundleJSON, annotations, nil)
}

// DSSEBundle exposes dsseBundle to the tests: a sigstore bundle of a DSSE envelope over payload, signed by s.
func (s *Signer) DSSEBundle(ctx context.Context, payloadType string, payload []byte) ([]byte, error) {
	return s.dsseBundle(ctx, payloadType, payload)
}

// AgeCertificate makes a keyless signer's certificate expire in left, as if signing had begun ten minutes earlier
// less left; it returns the signer unchanged for a key.
func (s *Signer) AgeCertificate(left time.Duration) *Signer {
	k, ok := s.impl.(*keylessSigner)
	if !ok {
		return s
	}
	aged := *k
	cert := *k.cert
	cert.NotAfter = time.Now().Add(left)
	aged.cert = &cert
	return &Signer{impl: &aged, source: s.source}
}
