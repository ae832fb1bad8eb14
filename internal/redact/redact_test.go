package redact

import "testing"

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://user:s3cret@charts.example.com/stable?token=abc#frag", "https://charts.example.com/stable?REDACTED"},
		{"oci://ghcr.io/org/charts", "oci://ghcr.io/org/charts"},
		{"https://charts.example.com/index.yaml?", "https://charts.example.com/index.yaml?REDACTED"},
		{"http://[::1", "(unparseable URL)"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got, want := Text(`Get "https://u:pw@r.example.com/v2/?sig=x": EOF; see https://docs.example.com`),
		`Get "https://r.example.com/v2/?REDACTED": EOF; see https://docs.example.com`; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}
