package build

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRealPaths: realPaths answers what filepath.EvalSymlinks answers — for a plain file, a symlinked file, a file
// below a symlinked directory (also once that directory's real path is remembered), a symlink chain, a missing file
// (an error that is os.ErrNotExist) and a file below a missing directory.
func TestRealPaths(t *testing.T) {
	t.Parallel()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"real/sub", "other"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"real/sub/a.yaml", "other/b.yaml"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"real/sub/link.yaml": filepath.Join(root, "other/b.yaml"), // a file
		"real/dirlink":       filepath.Join(root, "other"),        // a directory
		"real/chain.yaml":    filepath.Join(root, "real/sub/link.yaml"),
	}
	for l, to := range links {
		if err := os.Symlink(to, filepath.Join(root, l)); err != nil {
			t.Skipf("symlinks: %v", err)
		}
	}
	var r realPaths
	for _, p := range []string{"real/sub/a.yaml", "real/sub/link.yaml", "real/dirlink/b.yaml", "real/dirlink/b.yaml",
		"real/chain.yaml", "real/sub/missing.yaml", "real/nodir/missing.yaml", "real/dirlink"} {
		abs := filepath.Join(root, p)
		want, wantErr := filepath.EvalSymlinks(abs)
		got, err := r.resolve(abs)
		if got != want || (err == nil) != (wantErr == nil) || errors.Is(err, os.ErrNotExist) != errors.Is(wantErr, os.ErrNotExist) {
			t.Errorf("resolve(%s) = %q, %v; want %q, %v (EvalSymlinks)", p, got, err, want, wantErr)
		}
	}
}
