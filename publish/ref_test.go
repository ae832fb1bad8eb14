package publish

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/redact"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	dg := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		in      string
		want    Ref
		wantErr string // a part of the message; the error must also wrap ErrInvalidReference
	}{
		{name: "registry with tag", in: "ghcr.io/acme/fleet/prod:main", want: Ref{Registry: "ghcr.io", Repository: "acme/fleet/prod", Tag: "main"}},
		{name: "flux oci scheme", in: "oci://ghcr.io/acme/app:v1.2.3", want: Ref{Registry: "ghcr.io", Repository: "acme/app", Tag: "v1.2.3"}},
		{name: "port, no tag", in: "localhost:5000/app", want: Ref{Registry: "localhost:5000", Repository: "app"}},
		{name: "localhost without port", in: "localhost/app:x", want: Ref{Registry: "localhost", Repository: "app", Tag: "x"}},
		{name: "digest", in: "127.0.0.1:5000/a/b@" + dg, want: Ref{Registry: "127.0.0.1:5000", Repository: "a/b", Digest: dg}},
		{name: "tag and digest", in: "registry.example.com/a:t@" + dg, want: Ref{Registry: "registry.example.com", Repository: "a", Tag: "t", Digest: dg}},
		{name: "oci scheme with digest", in: "oci://registry.example.com:443/a@" + dg, want: Ref{Registry: "registry.example.com:443", Repository: "a", Digest: dg}},
		{name: "ipv6", in: "[::1]:5000/app:v1", want: Ref{Registry: "[::1]:5000", Repository: "app", Tag: "v1"}},
		{name: "repository separators", in: "r.io/a-b/c__d/e.f:1_x", want: Ref{Registry: "r.io", Repository: "a-b/c__d/e.f", Tag: "1_x"}},
		{name: "layout", in: "oci:dist/demo", want: Ref{Layout: "dist/demo"}},
		{name: "relative layout with tag", in: "oci:./dist/demo:latest", want: Ref{Layout: "dist/demo", Tag: "latest"}},
		{name: "absolute layout with digest", in: "oci:/abs/dir@" + dg, want: Ref{Layout: "/abs/dir", Digest: dg}},
		{name: "absolute layout with tag and digest", in: "oci:/abs/dir:v1@" + dg, want: Ref{Layout: "/abs/dir", Tag: "v1", Digest: dg}},
		{name: "layout: colon inside the path", in: "oci:/x:y/z", want: Ref{Layout: "/x:y/z"}},
		{name: "layout: colon inside the path and a tag", in: "oci:/x:y/z:t", want: Ref{Layout: "/x:y/z", Tag: "t"}},
		{name: "layout: colon in last element, trailing slash", in: "oci:odd:name/", want: Ref{Layout: "odd:name"}},
		{name: "layout: colon in last element, trailing slash, tag", in: "oci:odd:name/:v2", want: Ref{Layout: "odd:name", Tag: "v2"}},
		{name: "layout: at sign in path", in: "oci:a@b/c:t", want: Ref{Layout: "a@b/c", Tag: "t"}},
		{name: "layout: dot", in: "oci:.:t", want: Ref{Layout: ".", Tag: "t"}},

		{name: "empty", in: "", wantErr: "the reference is empty"},
		{name: "docker hub short name", in: "nginx:1", wantErr: "name the registry host, e.g. docker.io/library/nginx:1"},
		{name: "docker hub user repo", in: "library/nginx", wantErr: "name the registry host, e.g. docker.io/library/nginx"},
		{name: "host without repository", in: "ghcr.io", wantErr: "the repository is missing"},
		{name: "host with slash only", in: "ghcr.io/", wantErr: "the repository is missing"},
		{name: "uppercase repository", in: "ghcr.io/Acme/App:v1", wantErr: "repository names are lower case"},
		{name: "space in tag", in: "ghcr.io/acme/app:bad tag", wantErr: `tag "bad tag" is not valid`},
		{name: "tag too long", in: "ghcr.io/acme/app:" + strings.Repeat("t", 129), wantErr: "is not valid"},
		{name: "tag starting with dash", in: "ghcr.io/acme/app:-x", wantErr: "is not valid"},
		{name: "empty tag", in: "ghcr.io/acme/app:", wantErr: "the tag after ':' is empty"},
		{name: "empty digest", in: "ghcr.io/acme/app@", wantErr: "'@' must be followed by a digest"},
		{name: "short digest", in: "ghcr.io/acme/app@sha256:abc", wantErr: "not sha256:<64 lower-case hex digits>"},
		{name: "uppercase digest", in: "ghcr.io/acme/app@sha256:" + strings.Repeat("AB", 32), wantErr: "not sha256:<64 lower-case hex digits>"},
		{name: "sha512 digest", in: "ghcr.io/acme/app@sha512:" + strings.Repeat("ab", 64), wantErr: "only sha256 digests are supported"},
		{name: "invalid tag before digest", in: "ghcr.io/acme/app:a:b@" + dg, wantErr: `tag "a:b" is not valid`},
		{name: "https scheme", in: "https://ghcr.io/acme/app", wantErr: "the only scheme accepted is oci://"},
		{name: "double oci scheme", in: "oci://oci://ghcr.io/acme/app", wantErr: "the only scheme accepted is oci://"},
		{name: "oci scheme without host", in: "oci://app:v1", wantErr: "name the registry host"},
		{name: "port out of range", in: "localhost:99999/app", wantErr: "port 99999 is out of range"},
		{name: "bad host", in: "bad_host.io/app", wantErr: `registry "bad_host.io" is not a host name`},
		{name: "empty port", in: "ghcr.io:/app", wantErr: "is not a host name"},
		{name: "layout without directory", in: "oci:", wantErr: "the OCI layout directory is missing"},
		{name: "layout with tag only", in: "oci::v1", wantErr: "the OCI layout directory is missing"},
		{name: "layout with bad tag", in: "oci:dist:v1+build", wantErr: `tag "v1+build" is not valid`},
		{name: "layout with empty tag", in: "oci:dist:", wantErr: `tag "" is not valid`},
		{name: "layout with bad digest", in: "oci:dir@sha256:xyz", wantErr: "not sha256:<64 lower-case hex digits>"},
		{name: "layout with control character", in: "oci:a\nb", wantErr: "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRef(tc.in)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRef(%q) = %+v, %v; want an ErrInvalidReference containing %q", tc.in, got, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "invalid reference "+strconv.Quote(tc.in)) {
					t.Errorf("ParseRef(%q) error %q does not quote the input", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if again, err := ParseRef(got.String()); err != nil || again != got {
				t.Errorf("ParseRef(%q).String() = %q, which parses to %+v, %v", tc.in, got.String(), again, err)
			}
		})
	}
}

func TestParseRefExactMessage(t *testing.T) {
	t.Parallel()
	_, err := ParseRef("nginx:1")
	want := `invalid reference "nginx:1": name the registry host, e.g. docker.io/library/nginx:1 or localhost:5000/nginx:1`
	if err == nil || err.Error() != want {
		t.Errorf("ParseRef(nginx:1) = %v, want %s", err, want)
	}
}

func TestParseRefNeverRepeatsCredentials(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"alice:s3cr3t-t0ken@ghcr.io/acme/app:v1", "oci://alice:s3cr3t-t0ken@ghcr.io/acme/app"} {
		_, err := ParseRef(in)
		if !errors.Is(err, ErrInvalidReference) || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "credentials do not belong in a reference") {
			t.Errorf("ParseRef(%q) = %v; want a refusal that does not repeat the secret", in, err)
		}
	}
}

func TestRefMethods(t *testing.T) {
	t.Parallel()
	dg := "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		in, name, withDigest string
		loopback             bool
	}{
		{"localhost:5000/a:v1", "localhost:5000/a", "localhost:5000/a@" + dg, true},
		{"LOCALHOST/a", "LOCALHOST/a", "LOCALHOST/a@" + dg, true},
		{"127.0.0.7/a", "127.0.0.7/a", "127.0.0.7/a@" + dg, true},
		{"127.0.0.1:5000/a", "127.0.0.1:5000/a", "127.0.0.1:5000/a@" + dg, true},
		{"[::1]:5000/a", "[::1]:5000/a", "[::1]:5000/a@" + dg, true},
		{"oci://ghcr.io/a/b:v1", "ghcr.io/a/b", "ghcr.io/a/b@" + dg, false},
		{"10.0.0.1:5000/a", "10.0.0.1:5000/a", "10.0.0.1:5000/a@" + dg, false},
		{"128.0.0.1/a", "128.0.0.1/a", "128.0.0.1/a@" + dg, false},
		{"localhost.example.com/a", "localhost.example.com/a", "localhost.example.com/a@" + dg, false},
		{"oci:dir:v1", "oci:dir", "oci:dir@" + dg, false},
		{"oci:./a/../b/", "oci:b", "oci:b@" + dg, false},
		{"oci:odd:name/:v1", "oci:odd:name/", "oci:odd:name/@" + dg, false},
	} {
		r, err := ParseRef(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Name() != tc.name || r.WithDigest(dg) != tc.withDigest || r.IsLoopback() != tc.loopback {
			t.Errorf("ParseRef(%q): Name() = %q, WithDigest() = %q, IsLoopback() = %v; want %q, %q, %v",
				tc.in, r.Name(), r.WithDigest(dg), r.IsLoopback(), tc.name, tc.withDigest, tc.loopback)
		}
		if back, err := ParseRef(r.WithDigest(dg)); err != nil || back.Name() != r.Name() || back.Digest != dg {
			t.Errorf("ParseRef(%q) = %+v, %v; want %s with digest %s", r.WithDigest(dg), back, err, r.Name(), dg)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	in := `GET "https://user:s3cret@storage.example.com/blob?X-Amz-Signature=abc&token=t0k#frag": 403; then http://h/p?q=1`
	got := redact.Text(in)
	want := `GET "https://storage.example.com/blob?REDACTED": 403; then http://h/p?REDACTED`
	if got != want {
		t.Errorf("redact.Text() = %s\nwant       %s", got, want)
	}
}

// FuzzParseRef checks that ParseRef never panics, and that what it accepts round-trips: String() and
// WithDigest() parse back to the same reference.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"ghcr.io/acme/app:v1", "oci://localhost:5000/a/b@sha256:" + strings.Repeat("0", 64),
		"registry.example.com/a:t@sha256:" + strings.Repeat("ab", 32), "[::1]:5000/a:b",
		"oci:./dist/demo:latest", "oci:/x:y@sha256:" + strings.Repeat("f", 64), "oci:odd:name/:v1", "oci:a@b/c",
		"oci::/", "oci:/x:y/z:t", "nginx", "nginx:1", "a/b:c:d", "user:pw@host.io/a", "localhost:65536/a",
	} {
		f.Add(s)
	}
	dg := "sha256:" + strings.Repeat("e", 64)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("ParseRef(%q) error %v does not wrap ErrInvalidReference", s, err)
			}
			return
		}
		if (r.Layout == "") == (r.Registry == "") {
			t.Fatalf("ParseRef(%q) = %+v: exactly one of Layout and Registry must be set", s, r)
		}
		again, err := ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRef(%q) = %+v; its String() %q parses to %+v, %v", s, r, r.String(), again, err)
		}
		want := r
		want.Tag, want.Digest = "", dg
		if withDigest, err := ParseRef(r.WithDigest(dg)); err != nil || withDigest != want {
			t.Fatalf("ParseRef(%q).WithDigest() = %q parses to %+v, %v; want %+v", s, r.WithDigest(dg), withDigest, err, want)
		}
	})
}

func TestParseRefNeverEchoesPasswords(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"https://bob:s3cret@ghcr.io/org/repo:v1",
		"oci://bob:s3/cret@ghcr.io/org/repo",
		"bob:s3cret@ghcr.io/org/repo",
		"ghcr.io/org/repo@bob:s3cret",
	} {
		_, err := ParseRef(in)
		if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "s3/cret") {
			t.Errorf("ParseRef(%q) = %v, want a refusal that does not repeat the password", in, err)
		}
	}
}

func TestValidateTag(t *testing.T) {
	t.Parallel()
	for tag, ok := range map[string]bool{"v1.2.3": true, "main": true, "a/b": false, "": false, "-x": false, ".x": false, strings.Repeat("a", 129): false} {
		if err := ValidateTag(tag); (err == nil) != ok {
			t.Errorf("ValidateTag(%q) = %v, want ok=%v", tag, err, ok)
		}
	}
}
