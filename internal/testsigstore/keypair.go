package testsigstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// KeyPair writes a cosign key pair encrypted with password (cosign.key, cosign.pub) into a temporary directory and
// returns their paths.
//
// The key is what cosign generate-key-pair writes (an ECDSA P-256 key, PKCS #8, in a SIGSTORE PEM block) but
// encrypted with scrypt's legacy parameters (N=2^15, those of cosign v1, which cosign and statepack still read)
// rather than v2's standard ones (N=2^16): under the race detector one scrypt with the standard parameters takes
// about 1.6 s of CPU, and the tests generate and load keys by the hundred. Keys of sign.GenerateKeyPair (what
// statepack generate-key-pair writes) keep their own tests in sign and in the root package's examples.
func KeyPair(t testing.TB, password string) (key, pub string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encrypted.EncryptWithCustomKDFParameters(der, []byte(password), encrypted.Legacy)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: cosign.SigstorePrivateKeyPemType, Bytes: enc}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, pub
}
