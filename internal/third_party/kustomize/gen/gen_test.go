package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestForkIsUpstreamWithEdits proves that the fork in api/ is exactly upstream kustomize at the version go.mod
// requires with the edits in edits.go: a file changed by hand, an edit not regenerated, or a new upstream version
// not regenerated fails here, naming the file.
func TestForkIsUpstreamWithEdits(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	t.Parallel()
	want, version, err := fork(edits)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	err = filepath.WalkDir("../api", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel("../api", p)
		if err != nil {
			return err
		}
		got[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("api/%s is missing: run go generate ./internal/third_party/kustomize/", name)
		case !bytes.Equal(g, w):
			t.Errorf("api/%s is not %s@%s with the edits of edits.go: run go generate ./internal/third_party/kustomize/ "+
				"(and put any change to the fork into edits.go)", name, upstream, version)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("api/%s is not part of the fork: remove it or run go generate ./internal/third_party/kustomize/", name)
		}
	}
}

// TestEveryEditApplies fails when the text an edit replaces is not in upstream exactly once, or an edit adds a
// file upstream has: fork refuses both, so the generator can never write a half-edited fork.
func TestEveryEditApplies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	t.Parallel()
	for _, tc := range []struct {
		name string
		e    edit
	}{
		{"text absent", edit{file: "resmap/reswrangler.go", why: "test", old: "no such text in kustomize", new: "x"}},
		{"text twice", edit{file: "resmap/reswrangler.go", why: "test", old: "func (m *resWrangler)", new: "x"}},
		{"file absent", edit{file: "resmap/nosuchfile.go", why: "test", old: "x", new: "y"}},
		{"adds an upstream file", edit{file: "resmap/reswrangler.go", why: "test", new: "package resmap\n"}},
	} {
		if _, _, err := fork(append(edits[:len(edits):len(edits)], tc.e)); err == nil {
			t.Errorf("%s: fork() = nil error, want the edit refused", tc.name)
		}
	}
}
