package statepack

import (
	"context"
	"slices"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

// demoTree is the demo overlay that `make demo` publishes; its source root is the repository's work tree.
const demoTree = "testdata/demo/production"

// keyPair writes a cosign key pair with the empty password into a temporary directory.
func keyPair(t testing.TB) (key, pub string) {
	t.Helper()
	return testsigstore.KeyPair(t, "")
}

// keySigner is a signer of a new key pair with the empty password, the verifiers of its public key, and the private
// key's file.
func keySigner(t testing.TB) (*sign.Signer, []signature.Verifier, string) {
	t.Helper()
	key, pub := keyPair(t)
	signer, err := sign.LoadSigner(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifiers, err := sign.LoadVerifiers(context.Background(), pub)
	if err != nil {
		t.Fatal(err)
	}
	return signer, verifiers, key
}

// objectSet lists objects as "ID\nYAML", sorted.
func objectSet(objs []build.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.ID.String() + "\n" + string(o.YAML)
	}
	slices.Sort(out)
	return out
}
