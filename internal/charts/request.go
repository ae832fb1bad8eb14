package charts

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/statepack/statepack/internal/redact"
	"github.com/statepack/statepack/publish"
)

// Request is one chart the tree asks for.
type Request struct {
	// Repository is "https://charts.example.com/stable" (an HTTP repository with an index.yaml; http:// too, as
	// Flux allows) or "oci://registry/path" (an OCI repository: the chart is at path/Name).
	Repository string
	// Name is the chart's name. For a Flux OCIRepository (a HelmRelease's chartRef) Name is "" and Repository is
	// the full oci://host/repository of the chart.
	Name string
	// Version is an exact version, a semver constraint (">=1.0.0-alpha", "1.x", "~6.5"), or "" for the newest
	// stable version ("*"), as Helm and Flux read chart.spec.version. For OCI it may also name a tag exactly (an
	// OCIRepository's ref.tag, which need not be semver) or a manifest digest "sha256:…" (ref.digest).
	Version string
	// SemverFilter is a Flux OCIRepository's ref.semverFilter: a regular expression (Go syntax) a tag must match
	// to be considered for a semver constraint. OCI repositories only; "" filters nothing.
	SemverFilter string
	// Declared says where the tree asks for the chart, for messages: "apps/base/podinfo/release.yaml: HelmRelease
	// podinfo/podinfo". It is not part of the request's identity: two objects asking for the same chart and
	// version share one resolution and one lock entry.
	Declared string
}

// Pin is a resolved, content-addressed chart.
type Pin struct {
	// Repository and Name are the request's (Repository normalised: no trailing slash).
	Repository, Name string
	// Version is the exact chart version: the index entry's version, the OCI tag with Helm's "_" read as "+", or
	// for an OCIRepository the tag itself.
	Version string
	// Digest is "sha256:…": for OCI the manifest's digest, for HTTP the archive's (checked against the index's
	// digest when the index has one).
	Digest string
	// URL is where the archive came from: the absolute HTTP URL without user information or query, where tokens
	// travel (so a locked chart whose repository needs a token in its chart URLs is fetched from the cache, or
	// re-locked), or "oci://host/repository@sha256:…".
	URL string
}

// key is a request's identity: what the lock records and what is resolved once per Fetcher.
type key struct{ repository, name, version, filter string }

func (r Request) key() key {
	return key{normalizeRepository(r.Repository), strings.TrimSpace(r.Name), strings.TrimSpace(r.Version), r.SemverFilter}
}

func normalizeRepository(s string) string { return strings.TrimRight(strings.TrimSpace(s), "/") }

// kind is where a repository's charts come from.
type kind int

const (
	kindHTTP kind = iota + 1
	kindOCI
)

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// describe names the chart a key asks for, for messages: `chart "podinfo" >=6.0 from https://…`.
func (k key) describe() string {
	var b strings.Builder
	b.WriteString("chart ")
	if k.name != "" {
		fmt.Fprintf(&b, "%q ", k.name)
	}
	fmt.Fprintf(&b, "%s from %s", cmp.Or(k.version, `"" (newest stable)`), redact.URL(k.repository))
	if k.filter != "" {
		fmt.Fprintf(&b, " (tags matching %q)", k.filter)
	}
	return b.String()
}

// check says what kind of repository a key names, refusing what cannot be fetched safely.
func (k key) check() (kind, error) {
	u, err := url.Parse(k.repository)
	if err != nil || u.Host == "" {
		return 0, fmt.Errorf("%w: repository %q is not a URL: write https://host/path for an HTTP repository or oci://host/path for an OCI one", ErrInvalidRequest, redact.URL(k.repository))
	}
	if u.User != nil {
		return 0, fmt.Errorf("%w: repository %s carries credentials in its URL: give them as credentials for the repository, never in the URL (it ends up in the lock file and in logs)", ErrInvalidRequest, redact.URL(k.repository))
	}
	switch u.Scheme {
	case "http", "https":
		if k.name == "" {
			return 0, fmt.Errorf("%w: no chart name for the HTTP repository %s", ErrInvalidRequest, redact.URL(k.repository))
		}
		if digestPattern.MatchString(k.version) {
			return 0, fmt.Errorf("%w: version %q is a digest, which only OCI repositories resolve", ErrInvalidRequest, k.version)
		}
		if k.filter != "" {
			return 0, fmt.Errorf("%w: a semver filter applies to OCI tags, and %s is an HTTP repository", ErrInvalidRequest, redact.URL(k.repository))
		}
		return kindHTTP, nil
	case "oci":
		if _, err := k.ociRef(); err != nil {
			return 0, err
		}
		if _, err := k.tagFilter(); err != nil {
			return 0, err
		}
		return kindOCI, nil
	}
	return 0, fmt.Errorf("%w: repository %s has scheme %q: only http, https and oci repositories are fetched", ErrInvalidRequest, redact.URL(k.repository), u.Scheme)
}

// ociRef is the OCI repository of the chart: oci://host/path/name, or oci://host/path for an OCIRepository.
func (k key) ociRef() (publish.Ref, error) {
	s := strings.TrimPrefix(k.repository, "oci://")
	if k.name != "" {
		s += "/" + k.name
	}
	ref, err := publish.ParseRef(s)
	if err != nil {
		return publish.Ref{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if ref.Tag != "" || ref.Digest != "" {
		return publish.Ref{}, fmt.Errorf("%w: repository %s names a tag or digest: give the repository alone and the version (tag, semver range or sha256 digest) as the version", ErrInvalidRequest, k.repository)
	}
	return ref, nil
}

// tagFilter compiles the semver filter; nil when there is none.
func (k key) tagFilter() (*regexp.Regexp, error) {
	if k.filter == "" {
		return nil, nil
	}
	re, err := regexp.Compile(k.filter)
	if err != nil {
		return nil, fmt.Errorf("%w: semver filter %q is not a regular expression: %v", ErrInvalidRequest, k.filter, err)
	}
	return re, nil
}
