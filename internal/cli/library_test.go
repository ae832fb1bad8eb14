package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleDigest is the digest the library's Example prints for the demo tree copied out of git, published by
// version "example" with SOURCE_DATE_EPOCH 2024-05-01T12:00:00Z (example_test.go in the repository root).
const exampleDigest = "sha256:ef25efe49ca7b1fb3f2b3ba955fccb00a3d1fc9ea94ae3092de4fc2a6a8584ae"

// TestLibraryAndCLIPublishAlike checks that `statepack publish` and a Go program on the library publish a tree to
// the same digest: the command line is a thin caller, with no rule of its own about what goes into an artifact.
func TestLibraryAndCLIPublishAlike(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	tree := filepath.Join(work, "tree")
	if err := os.CopyFS(tree, os.DirFS("../../testdata/demo")); err != nil {
		t.Fatal(err)
	}
	key, _ := keyPair(t, "")
	var stdout, stderr bytes.Buffer
	env := map[string]string{"SOURCE_DATE_EPOCH": "1714564800"}
	code := Run(context.Background(), []string{"publish", filepath.Join(tree, "production"), "oci:" + filepath.Join(work, "layout") + ":main",
		"--root", tree, "--key", key}, Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] }, Version: "example"})
	if code != 0 {
		t.Fatalf("statepack publish: exit %d\n%s", code, stderr.String())
	}
	if got := stdout.String(); !strings.HasSuffix(strings.TrimSpace(got), "@"+exampleDigest) {
		t.Errorf("statepack publish printed %q, want the library's %s", got, exampleDigest)
	}
}
