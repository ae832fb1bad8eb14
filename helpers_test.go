package statepack

import (
	"slices"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testsigstore"
)

// demoTree is the demo overlay that `make demo` publishes; its source root is the repository's work tree.
const demoTree = "testdata/demo/production"

// keyPair writes a cosign key pair with the empty password into a temporary directory.
func keyPair(t testing.TB) (key, pub string) {
	t.Helper()
	return testsigstore.KeyPair(t, "")
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
