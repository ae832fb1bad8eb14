package gitmeta

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func TestCleanRemote(t *testing.T) {
	tests := []struct {
		name, in, want string
		secrets        []string // fragments of a credential that must not appear in the output
		dropped        bool
	}{
		{name: "https", in: "https://github.com/acme/gitops.git", want: "https://github.com/acme/gitops"},
		{name: "token as password", in: "https://x-access-token:ghs_SECRET@github.com/acme/gitops.git",
			want: "https://github.com/acme/gitops", secrets: []string{"x-access-token", "ghs_SECRET"}},
		{name: "token as user", in: "https://ghp_TOKENASUSER@github.com/acme/gitops", want: "https://github.com/acme/gitops",
			secrets: []string{"ghp_TOKENASUSER"}},
		{name: "query and fragment", in: "https://gitlab.example.com/acme/gitops.git?private_token=SECRET#frag",
			want: "https://gitlab.example.com/acme/gitops", secrets: []string{"SECRET", "frag"}},
		{name: "ssh", in: "ssh://git@github.com/acme/gitops.git", want: "https://github.com/acme/gitops"},
		{name: "ssh with port", in: "ssh://git@gitea.example.com:2222/acme/gitops.git", want: "https://gitea.example.com/acme/gitops"},
		{name: "ssh IPv6", in: "ssh://git@[2001:db8::1]:2222/acme/gitops.git", want: "https://[2001:db8::1]/acme/gitops"},
		{name: "scp", in: "git@github.com:acme/gitops.git", want: "https://github.com/acme/gitops"},
		{name: "scp without user", in: "github.com:acme/gitops.git", want: "https://github.com/acme/gitops"},
		{name: "scp with password", in: "deploy:SECRET@github.com:acme/gitops.git", want: "https://github.com/acme/gitops",
			secrets: []string{"deploy", "SECRET"}},
		{name: "scp password holding @", in: "ci:S3cr@tPW@github.com:acme/fleet.git", want: "https://github.com/acme/fleet",
			secrets: []string{"ci:", "S3cr", "tPW"}},
		{name: "scp user and token holding @", in: "oauth2:p@TOKEN@host:org/repo.git", want: "https://host/org/repo",
			secrets: []string{"oauth2", "p@", "TOKEN"}},
		{name: "URL password holding @", in: "https://ci:S3cr@tPW@github.com/acme/fleet.git", want: "https://github.com/acme/fleet",
			secrets: []string{"ci:", "S3cr", "tPW"}},
		{name: "URL password holding @@", in: "https://ci:a@@b@github.com/acme/fleet", want: "https://github.com/acme/fleet",
			secrets: []string{"ci:", "a@", "@b"}},
		{name: "URL percent-encoded password", in: "https://ci:S3cr%40tPW@github.com/acme/fleet", want: "https://github.com/acme/fleet",
			secrets: []string{"S3cr", "tPW"}},
		{name: "one slash after the scheme", in: "https:/ci:PW@github.com/acme/fleet", dropped: true, secrets: []string{"ci:", "PW"}},
		{name: "token without scheme or colon", in: "TOKEN@github.com/acme/fleet", dropped: true, secrets: []string{"TOKEN"}},
		{name: "password holding #", in: "https://ci:1234#5678@github.com/acme/fleet", dropped: true, secrets: []string{"ci", "1234", "5678"}},
		{name: "password holding ?", in: "https://ci:1234?5678@github.com/acme/fleet", dropped: true, secrets: []string{"ci", "1234", "5678"}},
		{name: "password holding /", in: "https://ci:12/34@github.com/acme/fleet", dropped: true, secrets: []string{"ci", "12", "34@"}},
		{name: "scp password holding /", in: "ci:pa/ss@github.com:acme/fleet.git", dropped: true, secrets: []string{"ci", "pa", "ss"}},
		{name: "scp with an invalid host", in: "ci:pw@git hub.com:acme/fleet.git", dropped: true, secrets: []string{"ci", "pw"}},
		{name: "unparseable URL", in: "https://user:pa%ss@[bad", dropped: true, secrets: []string{"user", "pa%ss"}},
		{name: "URL without host", in: "https://:SECRET@/acme/fleet", dropped: true, secrets: []string{"SECRET"}},
		{name: "local path", in: "../local/repo", want: "../local/repo"},
		{name: "absolute path", in: "/srv/git/fleet.git", want: "/srv/git/fleet.git"},
		{name: "file URL", in: "file:///srv/git/fleet.git", want: "file:///srv/git/fleet.git"},
		{name: "Windows drive", in: `C:\repos\fleet`, want: `C:\repos\fleet`},
		{name: "no remote", in: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CleanRemote(tc.in)
			if tc.dropped {
				if got != "" || !errors.Is(err, ErrUnsafeRemote) {
					t.Errorf("CleanRemote(%q) = %q, %v; want \"\", ErrUnsafeRemote", tc.in, got, err)
				}
			} else if got != tc.want || err != nil {
				t.Errorf("CleanRemote(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			for _, secret := range tc.secrets {
				if strings.Contains(got, secret) {
					t.Errorf("CleanRemote(%q) = %q, which holds the credential fragment %q", tc.in, got, secret)
				}
			}
			if strings.Contains(got, "@") {
				t.Errorf("CleanRemote(%q) = %q, which holds an @", tc.in, got)
			}
			if again, err := CleanRemote(got); again != got || err != nil {
				t.Errorf("CleanRemote(%q) = %q, %v; want its input back (the CLI cleans Info.Source again)", got, again, err)
			}
			if s := StripCredentials(tc.in); s != got {
				t.Errorf("StripCredentials(%q) = %q, want %q as CleanRemote", tc.in, s, got)
			}
			if err != nil && strings.Contains(err.Error(), tc.in) {
				t.Errorf("CleanRemote(%q) error %q repeats the remote", tc.in, err)
			}
		})
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

// TestReadDropsUnsafeRemote checks that Read leaves out a remote that might hold a credential and says so.
func TestReadDropsUnsafeRemote(t *testing.T) {
	dir := t.TempDir()
	repo, _ := commit(t, dir)
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{"TOKEN@github.com/acme/fleet"}}); err != nil {
		t.Fatal(err)
	}
	info, err := Read(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Source != "" || !info.SourceDropped {
		t.Errorf("Read() Source = %q, SourceDropped = %v; want \"\", true", info.Source, info.SourceDropped)
	}
}

func TestReadOutsideRepository(t *testing.T) {
	if _, err := Read(t.TempDir(), ""); !errors.Is(err, ErrNotRepository) {
		t.Errorf("Read(no repository) = %v, want ErrNotRepository", err)
	}
}

func TestChangedPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	repo, first := commit(t, dir)
	wt, _ := repo.Worktree()
	for name, content := range map[string]string{"a.yaml": "a: 2\n", "apps/b.yaml": "b: 1\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "T", Email: "t@example.com", When: time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)}
	if _, err := wt.Commit("second", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "uncommitted.yaml"), []byte("c: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		since string
		want  []string
	}{
		{first.String(), []string{"a.yaml", "apps/b.yaml"}},
		{"HEAD~1", []string{"a.yaml", "apps/b.yaml"}},
		{"HEAD", nil},
	} {
		got, err := ChangedPaths(filepath.Join(dir, "apps"), tc.since)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ChangedPaths(%s) = %q, %v; want %q", tc.since, got, err, tc.want)
		}
	}
	// A revision that names no commit — an unknown branch, a new branch's all-zero "before", a commit not in the
	// history — is ErrUnknownRevision, naming the revision.
	for _, rev := range []string{"no-such-branch", strings.Repeat("0", 40), strings.Repeat("ab", 20)} {
		if _, err := ChangedPaths(dir, rev); !errors.Is(err, ErrUnknownRevision) || !strings.Contains(err.Error(), `resolving "`+rev+`"`) {
			t.Errorf("ChangedPaths(%s) = %v, want ErrUnknownRevision naming the revision", rev, err)
		}
	}
}
