package gitmeta

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func TestStripCredentials(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://github.com/acme/gitops.git", "https://github.com/acme/gitops"},
		{"https://x-access-token:ghs_SECRET@github.com/acme/gitops.git", "https://github.com/acme/gitops"},
		{"https://ghp_TOKENASUSER@github.com/acme/gitops", "https://github.com/acme/gitops"},
		{"https://gitlab.example.com/acme/gitops.git?private_token=SECRET#frag", "https://gitlab.example.com/acme/gitops"},
		{"ssh://git@github.com/acme/gitops.git", "https://github.com/acme/gitops"},
		{"ssh://git@gitea.example.com:2222/acme/gitops.git", "https://gitea.example.com/acme/gitops"},
		{"git@github.com:acme/gitops.git", "https://github.com/acme/gitops"},
		{"deploy:SECRET@github.com:acme/gitops.git", "https://github.com/acme/gitops"},
		{"../local/repo", "../local/repo"},
		{"https://user:pa%ss@[bad", ""},
	}
	for _, tc := range tests {
		if got := StripCredentials(tc.in); got != tc.want {
			t.Errorf("StripCredentials(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func commit(t *testing.T, dir string) (*git.Repository, plumbing.Hash) {
	t.Helper()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("a.yaml"); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("EST", -5*3600))
	sig := &object.Signature{Name: "T", Email: "t@example.com", When: when}
	h, err := wt.Commit("c", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	return repo, h
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	repo, h := commit(t, dir)
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "upstream", URLs: []string{"https://example.com/upstream.git"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{"https://bot:SECRET@example.com/origin.git"}}); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	info, err := Read(sub, "ignored-on-a-branch")
	if err != nil {
		t.Fatal(err)
	}
	want := Info{TopLevel: dir, Source: "https://example.com/origin", Revision: "main@sha1:" + h.String(),
		Commit: h.String(), CommitTime: time.Date(2024, 5, 1, 17, 0, 0, 0, time.UTC)}
	if *info != want {
		t.Errorf("Read() = %+v\nwant %+v", *info, want)
	}

	// A detached HEAD, as CI checks out: the hint names the ref, else the bare commit.
	wt, _ := repo.Worktree()
	if err := wt.Checkout(&git.CheckoutOptions{Hash: h}); err != nil {
		t.Fatal(err)
	}
	for hint, want := range map[string]string{"v1.2.0": "v1.2.0@sha1:" + h.String(), "": "sha1:" + h.String()} {
		info, err := Read(dir, hint)
		if err != nil || info.Revision != want {
			t.Errorf("Read(detached, %q).Revision = %v, %v; want %s", hint, info, err, want)
		}
	}
}

func TestReadOutsideRepository(t *testing.T) {
	if _, err := Read(t.TempDir(), ""); !errors.Is(err, ErrNotRepository) {
		t.Errorf("Read(no repository) = %v, want ErrNotRepository", err)
	}
}
