package publish

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"oras.land/oras-go/v2/registry"
)

// Ref is a parsed artifact reference: a repository in a registry, or a local OCI image layout directory.
type Ref struct {
	// Layout is the directory of a local OCI image layout when the reference was "oci:DIR[...]" (cleaned with
	// filepath.Clean); "" for a registry.
	Layout string
	// Registry is host[:port] of a registry reference.
	Registry string
	// Repository is the path inside the registry.
	Repository string
	// Tag is optional.
	Tag string
	// Digest is optional: "sha256:<hex>" when the reference carried "@sha256:…".
	Digest string
}

var (
	// tagPattern is the OCI distribution spec's tag grammar.
	tagPattern    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	// hostPattern is a DNS name or a bracketed IPv6 address with an optional port.
	hostPattern = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(:([0-9]{1,5}))?$`)
)

const tagRule = "letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'"

// ParseRef parses an artifact reference:
//
//   - "host[:port]/repo/path[:tag][@sha256:hex]", optionally with Flux's "oci://" prefix. The registry host must be
//     named (it contains "." or ":" or is "localhost"): "nginx:1" is refused rather than silently sent to Docker Hub.
//   - "oci:DIR[:tag][@sha256:hex]" for a local OCI image layout; DIR may be relative or absolute. The part after the
//     last ":" is the tag unless it contains a "/" (then it is part of DIR); "@" likewise. A directory whose last
//     element holds ":" or "@" is written with a trailing slash: "oci:odd:name/:tag". Name and String write it so.
//
// Errors wrap ErrInvalidReference and quote the input, except for credentials embedded in a registry reference,
// which are refused without being repeated.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, invalid(s, "the reference is empty: write host/repository[:tag] or oci:DIR[:tag]")
	}
	if rest, ok := strings.CutPrefix(s, "oci:"); ok && !strings.HasPrefix(rest, "//") {
		return parseLayoutRef(s, rest)
	}
	return parseRegistryRef(s)
}

func invalid(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidReference, s, fmt.Sprintf(format, args...))
}

func parseLayoutRef(s, rest string) (Ref, error) {
	var r Ref
	if i := strings.LastIndex(rest, "@"); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		r.Digest, rest = rest[i+1:], rest[:i]
		if !digestPattern.MatchString(r.Digest) {
			return Ref{}, invalid(s, "digest %q is not sha256:<64 lower-case hex digits>", r.Digest)
		}
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		r.Tag, rest = rest[i+1:], rest[:i]
		if !tagPattern.MatchString(r.Tag) {
			return Ref{}, invalid(s, "tag %q is not valid (%s); a directory whose name holds ':' is written with a trailing slash, oci:DIR/", r.Tag, tagRule)
		}
	}
	if rest == "" {
		return Ref{}, invalid(s, "the OCI layout directory is missing: write oci:DIR[:tag]")
	}
	if strings.ContainsFunc(rest, unicode.IsControl) {
		return Ref{}, invalid(s, "the OCI layout directory contains a control character")
	}
	r.Layout = filepath.Clean(rest)
	return r, nil
}

func parseRegistryRef(s string) (Ref, error) {
	// In a registry reference "@" only introduces the digest at the end; an "@" with a "/" after it is
	// user:password@host/…, and the input holds a secret that must never be repeated (passwords may contain "/").
	if at := strings.Index(s, "@"); at >= 0 && strings.Contains(s[at:], "/") {
		return Ref{}, fmt.Errorf("%w: credentials do not belong in a reference: use `docker login` or --username/--password-stdin", ErrInvalidReference)
	}
	rest := strings.TrimPrefix(s, "oci://")
	if strings.Contains(rest, "://") {
		return Ref{}, invalid(s, "the only scheme accepted is oci://; write host/repository[:tag]")
	}
	first, path, hasSlash := strings.Cut(rest, "/")
	looksLikeHost := strings.ContainsAny(first, ".[") || strings.EqualFold(first, "localhost") ||
		strings.HasPrefix(strings.ToLower(first), "localhost:") || (hasSlash && strings.Contains(first, ":"))
	if !looksLikeHost {
		hint := "docker.io/" + rest
		if !hasSlash {
			hint = "docker.io/library/" + rest
		}
		return Ref{}, invalid(s, "name the registry host, e.g. %s or localhost:5000/%s", hint, rest)
	}
	if !hasSlash || path == "" {
		return Ref{}, invalid(s, "the repository is missing: write %s/REPOSITORY[:tag]", first)
	}
	if !hostPattern.MatchString(first) {
		return Ref{}, invalid(s, "registry %q is not a host name or address with an optional port", first)
	}
	if _, port, err := net.SplitHostPort(first); err == nil {
		if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
			return Ref{}, invalid(s, "port %s is out of range", port)
		}
	}
	// oras-go drops a tag that comes with a digest without looking at it; take it apart ourselves so that it is
	// validated, and refuse the empty tag and digest that it accepts.
	name, dgst, hasDigest := strings.Cut(path, "@")
	name, tag, hasTag := strings.Cut(name, ":")
	switch {
	case hasDigest && dgst == "":
		return Ref{}, invalid(s, "'@' must be followed by a digest, sha256:<hex>")
	case hasDigest && !digestPattern.MatchString(dgst) && !strings.HasPrefix(dgst, "sha"):
		// Not a digest at all: do not repeat what follows "@", it may be a password typed in the wrong place.
		return Ref{}, invalid(s[:strings.Index(s, "@")]+"@…", "'@' must be followed by a digest, sha256:<hex>")
	case hasTag && tag == "":
		return Ref{}, invalid(s, "the tag after ':' is empty")
	case hasTag && !tagPattern.MatchString(tag):
		return Ref{}, invalid(s, "tag %q is not valid (%s)", tag, tagRule)
	case hasDigest && !strings.HasPrefix(dgst, "sha256:"):
		return Ref{}, invalid(s, "only sha256 digests are supported")
	case hasDigest && !digestPattern.MatchString(dgst):
		return Ref{}, invalid(s, "digest %q is not sha256:<64 lower-case hex digits>", dgst)
	}
	ref, err := registry.ParseReference(rest)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "invalid reference: ")
		if strings.ToLower(name) != name {
			msg += ": repository names are lower case"
		}
		return Ref{}, invalid(s, "%s", msg)
	}
	return Ref{Registry: ref.Registry, Repository: ref.Repository, Tag: tag, Digest: dgst}, nil
}

// ValidateTag checks a tag against the OCI distribution grammar, so that callers refuse a bad tag before pushing
// anything. Errors wrap ErrInvalidReference.
func ValidateTag(tag string) error {
	if !tagPattern.MatchString(tag) {
		return fmt.Errorf("%w: tag %q is not valid (%s)", ErrInvalidReference, tag, tagRule)
	}
	return nil
}

// IsLayout reports whether r names a local OCI layout.
func (r Ref) IsLayout() bool { return r.Layout != "" }

// Name is "host/repo" or "oci:DIR", without tag or digest. A layout directory whose last element holds ':' or '@'
// gets a trailing slash, so that Name()+":tag" and Name()+"@digest" parse back to the same directory.
func (r Ref) Name() string {
	if r.IsLayout() {
		dir := r.Layout
		if last := dir[strings.LastIndex(dir, "/")+1:]; strings.ContainsAny(last, ":@") {
			dir += "/"
		}
		return "oci:" + dir
	}
	return r.Registry + "/" + r.Repository
}

// String is the whole reference; it parses back to r.
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// WithDigest is the immutable reference to digest d in r's repository or layout: "host/repo@sha256:…" or
// "oci:DIR@sha256:…".
func (r Ref) WithDigest(d string) string { return r.Name() + "@" + d }

// IsLoopback reports whether a registry reference points at this machine: localhost, 127.0.0.0/8 or ::1. It is
// false for layouts.
func (r Ref) IsLoopback() bool {
	if r.IsLayout() {
		return false
	}
	return isLoopbackHost(r.Registry)
}

func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
