package publish

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"

	"oras.land/oras-go/v2/registry"
)

// Ref is a parsed artifact reference.
type Ref struct {
	// Layout is the directory of a local OCI image layout ("oci:DIR"); empty for a registry.
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
	tagPattern    = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	hostPattern   = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(:[0-9]{1,5})?$`)
)

// ParseRef parses "host[:port]/repo/path[:tag][@sha256:hex]" (an "oci://" prefix, as Flux writes it, is accepted)
// and "oci:DIR[:tag][@sha256:hex]" for an OCI image layout directory. A registry reference must name its registry
// host: "nginx:1" is refused rather than silently sent to Docker Hub.
func ParseRef(s string) (Ref, error) {
	bad := func(format string, args ...any) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s", ErrInvalidReference, s, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return bad("empty")
	}
	if rest, ok := strings.CutPrefix(s, "oci:"); ok && !strings.HasPrefix(rest, "//") {
		var r Ref
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			r.Digest = rest[i+1:]
			rest = rest[:i]
			if !digestPattern.MatchString(r.Digest) {
				return bad("digest %q is not sha256:<64 hex digits>", r.Digest)
			}
		}
		// A tag follows the last colon, unless what follows looks like part of a path.
		if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.ContainsAny(rest[i+1:], `/\`) {
			r.Tag = rest[i+1:]
			rest = rest[:i]
			if !tagPattern.MatchString(r.Tag) {
				return bad("tag %q is not valid: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'", r.Tag)
			}
		}
		if rest == "" {
			return bad("the OCI layout directory is missing: write oci:DIR[:tag]")
		}
		if strings.Contains(rest, ":") {
			return bad("the OCI layout directory must not contain ':' (it separates the tag)")
		}
		r.Layout = filepath.Clean(rest)
		return r, nil
	}
	rest := strings.TrimPrefix(s, "oci://")
	if strings.Contains(rest, "://") {
		return bad("only oci:// is accepted as a scheme")
	}
	first, _, hasSlash := strings.Cut(rest, "/")
	if !hasSlash || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return bad("name the registry host, e.g. ghcr.io/org/repo:tag or localhost:5000/repo:tag (for Docker Hub: docker.io/library/NAME)")
	}
	ref, err := registry.ParseReference(rest)
	if err != nil {
		return bad("%s", strings.TrimPrefix(err.Error(), "invalid reference: "))
	}
	r := Ref{Registry: ref.Registry, Repository: ref.Repository}
	if ref.Reference != "" {
		if err := ref.ValidateReferenceAsDigest(); err == nil {
			r.Digest = ref.Reference
		} else {
			r.Tag = ref.Reference
		}
	}
	// "host/repo:tag@digest" keeps both: ParseReference returns the digest only.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if c := strings.LastIndex(rest[:at], ":"); c > strings.LastIndex(rest[:at], "/") {
			r.Tag = rest[c+1 : at]
		}
	}
	if r.Digest != "" && !digestPattern.MatchString(r.Digest) {
		return bad("only sha256 digests are supported")
	}
	if strings.Contains(rest, "@") && r.Digest == "" {
		return bad("'@' must be followed by a sha256 digest")
	}
	if r.Tag != "" && !tagPattern.MatchString(r.Tag) {
		return bad("tag %q is not valid: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'", r.Tag)
	}
	if !hostPattern.MatchString(r.Registry) {
		return bad("registry host %q is not a host name or address with an optional port", r.Registry)
	}
	return r, nil
}

// IsLayout reports whether r names a local OCI layout.
func (r Ref) IsLayout() bool { return r.Layout != "" }

// Name is "host/repo" or "oci:DIR".
func (r Ref) Name() string {
	if r.IsLayout() {
		return "oci:" + r.Layout
	}
	return r.Registry + "/" + r.Repository
}

// String round-trips through ParseRef.
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

// WithDigest is the immutable reference to digest d in r's repository or layout.
func (r Ref) WithDigest(d string) string { return r.Name() + "@" + d }

// IsLoopback reports whether a registry reference points at this machine (localhost, 127.0.0.0/8, ::1).
func (r Ref) IsLoopback() bool {
	if r.IsLayout() {
		return false
	}
	host := r.Registry
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
