package testsigstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/statepack/statepack/sign"
)

// KeyPair writes a cosign key pair encrypted with password (cosign.key, cosign.pub) into a temporary directory and
// returns their paths.
func KeyPair(t testing.TB, password string) (key, pub string) {
	t.Helper()
	priv, pubPEM, err := sign.GenerateKeyPair([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(key, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, pub
}
