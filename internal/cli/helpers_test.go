package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/statepack/statepack/internal/testsigstore"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// result is what one statepack invocation produced.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run executes statepack in-process with only the environment given (no variable of the test process leaks in,
// so CI's own GITHUB_* variables do not change results).
func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Run(ctx, args, Env{
		Stdin:   strings.NewReader(stdin),
		Stdout:  &stdout,
		Stderr:  &stderr,
		Getenv:  func(k string) string { return env[k] },
		Version: "test",
	})
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	planted.Range(func(k, _ any) bool {
		if secret := k.(string); strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("the planted secret %q appears in the output of statepack %s:\n%s", secret, strings.Join(args, " "), r)
		}
		return true
	})
	return r
}

// planted holds every secret a test has handed to statepack (passwords, tokens, credentials in URLs). Every run of
// statepack in this package checks that none of them appears in its stdout or stderr.
var planted sync.Map

// plant registers secrets for that check; they must be distinctive enough not to occur in normal output.
func plant(secrets ...string) {
	for _, s := range secrets {
		planted.Store(s, true)
	}
}

// mustRun runs statepack and fails the test unless it exits with want.
func mustRun(t *testing.T, want int, env map[string]string, args ...string) result {
	t.Helper()
	r := run(t, env, "", args...)
	if r.code != want {
		t.Fatalf("statepack %s: %s\nwant exit %d", strings.Join(args, " "), r, want)
	}
	return r
}

// keyPair writes a cosign key pair encrypted with password into a temporary directory.
func keyPair(t *testing.T, password string) (key, pub string) {
	t.Helper()
	return testsigstore.KeyPair(t, password)
}

// commitTime is the committer time of every test repository, so their digests are predictable.
var commitTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))

// gitRepo copies the testdata tree src into a new git repository at dir/<name>, commits it on branch main with a
// fixed author and time, and sets remote origin to remoteURL (when not empty).
func gitRepo(t *testing.T, src, remoteURL string) (dir string, commit string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "repo")
	copyDir(t, src, dir)
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: commitTime}
	h, err := wt.Commit("initial", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	if remoteURL != "" {
		if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{remoteURL}}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, h.String()
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenAt(t, filepath.Join("testdata", name), got)
}

// goldenAt compares got with the file at path, or rewrites it with -update.
func goldenAt(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// corpus returns the path of a tree in ../shared/corpus, or skips the test when the corpus is absent.
func corpus(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "corpus", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("corpus tree %s is absent (../shared/corpus is not checked out beside this repository): %v", rel, err)
	}
	return p
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
