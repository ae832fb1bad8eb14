// Package gitmeta reads what statepack records about the commit a tree comes from: the repository's remote URL
// (credentials stripped), the revision in Flux's "<ref>@sha1:<commit>" form and the commit time. It reads the
// repository with go-git and needs no git binary.
package gitmeta

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNotRepository is returned by Read when the directory is not inside a git work tree.
var ErrNotRepository = errors.New("not inside a git repository")

// ErrUnknownRevision is returned by ChangedPaths when the revision to compare with names no commit of the
// repository: an unknown branch or tag, a new branch's all-zero "before", a commit a forced push removed, or one a
// shallow clone did not fetch.
var ErrUnknownRevision = errors.New("no such commit in the repository")

// Info describes the commit checked out in a work tree.
type Info struct {
	// TopLevel is the root of the work tree.
	TopLevel string
	// Source is the URL of the remote named origin (else the first remote by name), without credentials (see
	// CleanRemote); "" when the repository has no remote, or when SourceDropped.
	Source string
	// SourceDropped is true when the remote has a URL that CleanRemote left out (ErrUnsafeRemote): it might hold a
	// credential. Source is then "", and the caller should warn that the source annotation is missing and why.
	SourceDropped bool
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
			var err error
			info.Source, err = CleanRemote(urls[0])
			info.SourceDropped = err != nil
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

// ErrUnsafeRemote is returned by CleanRemote for a remote that is neither a URL with a host ("https://host/path")
// nor scp-like ("[user@]host:path"), or that still holds an "@" where a host or path should be: such a value may hide
// a credential in a place statepack cannot tell apart from the rest ("https:/ci:PW@github.com/acme/fleet",
// "TOKEN@github.com/acme/fleet"), so it is left out. Read reports it as Info.SourceDropped.
var ErrUnsafeRemote = errors.New("the remote URL is neither a URL with a host nor host:path, and may hold a credential: left out of the source annotation")

// StripCredentials is CleanRemote without the error: "" for a remote that CleanRemote leaves out.
func StripCredentials(raw string) string {
	s, _ := CleanRemote(raw)
	return s
}

// CleanRemote turns a remote URL into the form statepack records: no user information, query or fragment (where
// tokens hide: "https://x-access-token:TOKEN@github.com/org/repo"), and one spelling per repository, so that an SSH
// clone on a laptop and an HTTPS clone in CI give the same annotation and the same digest:
// "git@github.com:org/repo.git" and "ssh://git@github.com/org/repo" both become "https://github.com/org/repo".
//
// User information ends at the last "@" before the host, as in git and net/url, so a password holding "@"
// ("ci:S3cr@tPW@github.com:acme/fleet.git") is dropped whole. A local path (no "@", no "host:" prefix) is returned
// as it is; anything else that does not parse as a URL with a host or as scp-like host:path gives "" and
// ErrUnsafeRemote, rather than risk recording a secret. The result never holds an "@". CleanRemote of its own
// result returns it unchanged.
func CleanRemote(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		return cleanURL(scheme, rest)
	}
	// scp-like "[user@]host:path": a colon before the first slash, as git decides (a single letter before it is a
	// Windows drive). User information ends at the last "@" before that slash.
	head, _, _ := strings.Cut(raw, "/")
	hostPath := raw
	if i := strings.LastIndex(head, "@"); i >= 0 {
		hostPath = raw[i+1:]
	}
	if host, path, ok := strings.Cut(hostPath, ":"); ok && strings.Contains(head, ":") && len(host) > 1 {
		if !validHost(host) || path == "" || strings.Contains(path, "@") {
			return "", ErrUnsafeRemote
		}
		return "https://" + host + "/" + strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".git"), nil
	}
	if strings.Contains(raw, "@") {
		return "", ErrUnsafeRemote // "TOKEN@github.com/acme/fleet": no URL, no host:path, and a user part
	}
	return raw, nil // a local path
}

// cleanURL cleans "scheme://rest".
func cleanURL(scheme, rest string) (string, error) {
	// The authority ends at the first "/", "?" or "#"; user information at its last "@".
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		authority = authority[i+1:]
	}
	u, err := url.Parse(scheme + "://" + authority + tail)
	if err != nil || strings.Contains(u.Host+u.Path+u.RawPath+u.RawQuery+u.Fragment, "@") {
		// An "@" past the authority means a "/", "?" or "#" in a password cut it short:
		// "https://ci:1234#5678@github.com/acme" has host "ci:1234".
		return "", ErrUnsafeRemote
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	switch {
	case u.Host == "" && u.Scheme == "file":
		return u.String(), nil // a local path, "file:///srv/git/fleet"
	case u.Host == "" || !validHost(u.Hostname()):
		return "", ErrUnsafeRemote
	case u.Scheme == "ssh" || u.Scheme == "git" || u.Scheme == "git+ssh":
		u.Scheme = "https"
		u.Host = u.Hostname() // an SSH port says nothing about the HTTPS one
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	}
	u.Path = strings.TrimSuffix(u.Path, ".git")
	u.RawPath = ""
	return u.String(), nil
}

// validHost reports whether s is a host name (letters, digits, dots, dashes, underscores) or an IP address, IPv6 in
// brackets or not.
func validHost(s string) bool {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return net.ParseIP(s[1:len(s)-1]) != nil
	}
	if s == "" || net.ParseIP(s) != nil {
		return s != ""
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ChangedPaths lists the paths (slash-separated, relative to the work tree's root) that differ between the commit
// since names (a commit id, branch, tag or other revision git understands, such as HEAD~1 or origin/main) and HEAD
// in the repository that holds dir: added, removed, modified and both names of a rename, sorted. Uncommitted
// changes do not count: CI compares commits.
func ChangedPaths(dir, since string) ([]string, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the git repository at %s: %w", dir, err)
	}
	tree := func(rev string) (*object.Tree, error) {
		h, err := repo.ResolveRevision(plumbing.Revision(rev))
		if err == nil {
			var c *object.Commit
			if c, err = repo.CommitObject(*h); err == nil {
				return c.Tree()
			}
		}
		if errors.Is(err, plumbing.ErrReferenceNotFound) || errors.Is(err, plumbing.ErrObjectNotFound) {
			err = fmt.Errorf("%w: %w", ErrUnknownRevision, err)
		}
		return nil, fmt.Errorf("resolving %q in the git repository at %s (in a shallow clone, fetch it first: git fetch --depth=1 origin %s): %w", rev, dir, rev, err)
	}
	from, err := tree(since)
	if err != nil {
		return nil, err
	}
	to, err := tree("HEAD")
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return nil, fmt.Errorf("comparing %s with HEAD: %w", since, err)
	}
	var paths []string
	for _, c := range changes {
		for _, name := range []string{c.From.Name, c.To.Name} {
			if name != "" {
				paths = append(paths, name)
			}
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}
