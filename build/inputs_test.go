package build

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestInputsNoticeNewFilesInPlainTrees: a plain tree's render depends on which files its directories hold, so a
// new manifest file changes the inputs digest even though no file the last render read has changed.
func TestInputsNoticeNewFilesInPlainTrees(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "sub/README.md": "x"})
	r, err := Render(context.Background(), dir)
	if err != nil || len(r.Findings) > 0 {
		t.Fatal(err, r.Findings)
	}
	if !slices.Equal(r.Inputs, []string{"./", "a.yaml", "sub/"}) {
		t.Fatalf("Inputs = %v", r.Inputs)
	}
	digest := func() string {
		in, err := HashInputs(r.Root, r.Inputs)
		if err != nil {
			t.Fatal(err)
		}
		return InputsDigest(in, "settings")
	}
	before := digest()
	if err := os.WriteFile(filepath.Join(dir, "sub", "notes.txt"), []byte("not a manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	if digest() != before {
		t.Error("a file plain mode ignores changed the inputs digest")
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "b.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if digest() == before {
		t.Error("a new manifest in a listed directory left the inputs digest unchanged")
	}
	if _, err := HashInputs(r.Root, []string{"../etc/passwd"}); err == nil {
		t.Error("HashInputs read a path outside the root")
	}
}
