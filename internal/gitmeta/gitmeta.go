// Package gitmeta reads what statepack records about the commit a tree comes from: the repository's remote URL
// (credentials stripped), the revision in Flux's "<ref>@sha1:<commit>" form and the commit time. It reads the
// repository with go-git and needs no git binary.
package gitmeta

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// ErrNotRepository is returned by Read when the directory is not inside a git work tree.
var ErrNotRepository = errors.New("not inside a git repository")

// Info describes the commit checked out in a work tree.
type Info struct {
	// TopLevel is the root of the work tree.
	TopLevel string
	// Source is the URL of the remote named origin (else the first remote by name), without credentials; "" when
	// the repository has no remote.
	Source string
	// Revision is "<branch or tag>@sha1:<commit>", or "sha1:<commit>" on a detached HEAD with no ref hint.
	Revision string
	// Commit is the full hex commit id of HEAD.
	Commit string
	// CommitTime is the committer time of HEAD, in UTC.
	CommitTime time.Time
}

// Read inspects the work tree that holds dir. refHint names the branch or tag when HEAD is detached, as it is in
// most CI checkouts (the CLI passes GITHUB_REF_NAME and friends); it is ignored when HEAD is on a branch.
func Read(dir, refHint string) (*Info, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the git repository at %s: %w", dir, err)
	}
	info := &Info{}
	if wt, err := repo.Worktree(); err == nil {
		info.TopLevel = wt.Filesystem.Root()
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("reading HEAD of the git repository at %s (a repository without commits?): %w", info.TopLevel, err)
	}
	info.Commit = head.Hash().String()
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", info.Commit, err)
	}
	info.CommitTime = commit.Committer.When.UTC()
	info.Revision = revision(head, refHint)
	remotes, err := repo.Remotes()
	if err == nil && len(remotes) > 0 {
		slices.SortFunc(remotes, func(a, b *git.Remote) int {
			if a.Config().Name == "origin" {
				return -1
			}
			if b.Config().Name == "origin" {
				return 1
			}
			return strings.Compare(a.Config().Name, b.Config().Name)
		})
		if urls := remotes[0].Config().URLs; len(urls) > 0 {
			info.Source = StripCredentials(urls[0])
		}
	}
	return info, nil
}

func revision(head *plumbing.Reference, hint string) string {
	sha := "sha1:" + head.Hash().String()
	if head.Name().IsBranch() {
		return head.Name().Short() + "@" + sha
	}
	if hint != "" {
		return hint + "@" + sha
	}
	return sha
}

// StripCredentials turns a remote URL into the form statepack records: no user information, query or fragment
// (where tokens hide: "https://x-access-token:TOKEN@github.com/org/repo"), and one spelling per repository, so that
// an SSH clone on a laptop and an HTTPS clone in CI give the same annotation and the same digest:
// "git@github.com:org/repo.git" and "ssh://git@github.com/org/repo" both become "https://github.com/org/repo". A
// local path is returned as it is; an unparseable URL as "", rather than risk printing a secret.
func StripCredentials(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
		u.User = nil
		u.RawQuery = ""
		u.Fragment = ""
		if u.Scheme == "ssh" || u.Scheme == "git" || u.Scheme == "git+ssh" {
			u.Scheme = "https"
			u.Host = u.Hostname() // an SSH port says nothing about the HTTPS one
		}
		u.Path = strings.TrimSuffix(u.Path, ".git")
		return u.String()
	}
	if i := strings.Index(raw, "@"); i >= 0 && strings.Contains(raw[i:], ":") && !strings.Contains(raw, "://") {
		// scp-like "user@host:path"
		host, path, _ := strings.Cut(raw[i+1:], ":")
		return "https://" + host + "/" + strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".git")
	}
	if strings.Contains(raw, "://") {
		return ""
	}
	return raw
}
