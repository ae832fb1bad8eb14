package publish

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Ref
		wantErr string
	}{
		{in: "ghcr.io/acme/fleet/prod:main", want: Ref{Registry: "ghcr.io", Repository: "acme/fleet/prod", Tag: "main"}},
		{in: "oci://ghcr.io/acme/app:v1.2.3", want: Ref{Registry: "ghcr.io", Repository: "acme/app", Tag: "v1.2.3"}},
		{in: "localhost:5000/app", want: Ref{Registry: "localhost:5000", Repository: "app"}},
		{in: "localhost/app:x", want: Ref{Registry: "localhost", Repository: "app", Tag: "x"}},
		{in: "127.0.0.1:5000/a/b@" + digest, want: Ref{Registry: "127.0.0.1:5000", Repository: "a/b", Digest: digest}},
		{in: "registry.example.com/a:t@" + digest, want: Ref{Registry: "registry.example.com", Repository: "a", Tag: "t", Digest: digest}},
		{in: "[::1]:5000/app:v1", want: Ref{Registry: "[::1]:5000", Repository: "app", Tag: "v1"}},
		{in: "oci:dist/demo", want: Ref{Layout: "dist/demo"}},
		{in: "oci:./dist/demo:latest", want: Ref{Layout: "dist/demo", Tag: "latest"}},
		{in: "oci:/abs/dir@" + digest, want: Ref{Layout: "/abs/dir", Digest: digest}},
		{in: "oci:/abs/dir:v1@" + digest, want: Ref{Layout: "/abs/dir", Tag: "v1", Digest: digest}},
		{in: "", wantErr: "empty"},
		{in: "nginx:1", wantErr: "name the registry host"},
		{in: "library/nginx", wantErr: "name the registry host"},
		{in: "ghcr.io/Acme/App:v1", wantErr: "invalid"},
		{in: "ghcr.io/acme/app:bad tag", wantErr: "invalid"},
		{in: "ghcr.io/acme/app@sha256:abc", wantErr: "invalid"},
		{in: "https://ghcr.io/acme/app", wantErr: "only oci:// is accepted"},
		{in: "oci:", wantErr: "directory is missing"},
		{in: "oci:dir:-bad", wantErr: "tag \"-bad\" is not valid"},
		{in: "oci:dir@sha256:xyz", wantErr: "not sha256:<64 hex digits>"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRef(tc.in)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRef(%q) = %+v, %v; want an ErrInvalidReference containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestRefHelpers(t *testing.T) {
	for _, tc := range []struct {
		in       string
		loopback bool
		name     string
	}{
		{"localhost:5000/a:v1", true, "localhost:5000/a"},
		{"127.0.0.7/a", true, "127.0.0.7/a"},
		{"[::1]:5000/a", true, "[::1]:5000/a"},
		{"ghcr.io/a/b", false, "ghcr.io/a/b"},
		{"10.0.0.1:5000/a", false, "10.0.0.1:5000/a"},
		{"localhost.example.com/a", false, "localhost.example.com/a"},
		{"oci:dir:v1", false, "oci:dir"},
	} {
		r, err := ParseRef(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if r.IsLoopback() != tc.loopback || r.Name() != tc.name {
			t.Errorf("ParseRef(%q): IsLoopback() = %v, Name() = %q; want %v, %q", tc.in, r.IsLoopback(), r.Name(), tc.loopback, tc.name)
		}
	}
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("https://user:s3cret@storage.example.com/blob?X-Amz-Signature=abc&token=t0k#frag")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "abc") || strings.Contains(got, "t0k") || strings.Contains(got, "user") {
		t.Errorf("RedactURL() = %q still carries a secret", got)
	}
}

// FuzzParseRef checks that ParseRef never panics and that what it accepts round-trips through String.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"ghcr.io/acme/app:v1", "oci://localhost:5000/a/b@sha256:" + strings.Repeat("0", 64),
		"oci:./dist/demo:latest", "oci:/x:y@sha256:" + strings.Repeat("f", 64), "[::1]:5000/a:b", "nginx", "a/b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		again, err := ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRef(%q) = %+v; its String() %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}
