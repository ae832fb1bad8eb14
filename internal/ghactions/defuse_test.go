package ghactions

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
)

func TestDefuse(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"command at the start", "::error::pwned", `\::error::pwned`},
		{"after white space", "   \t::warning::x", "\\   \t::warning::x"},
		{"after a no-break space", "\u00a0::add-mask::s", "\\\u00a0::add-mask::s"},
		{"on a later line", "ok\n::stop-commands::tok\nok\n", "ok\n\\::stop-commands::tok\nok\n"},
		{"after a carriage return", "ok\r::set-output name=a::b", "ok\r\\::set-output name=a::b"},
		{"the old syntax anywhere", "x ##[set-output name=a;]b", `x ##\[set-output name=a;]b`},
		{"not at the start of a line", "a :: b ::error::x", "a :: b ::error::x"},
		{"one colon", ":error", ":error"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Defuse(tc.in); got != tc.want {
				t.Errorf("Defuse(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestGuardDefusesWhatIsSplitAcrossWrites: a command split over two writes is still caught, and the runner's own
// commands, written by the Runner, are not defused.
func TestGuardDefusesWhatIsSplitAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	g := Guard(&out)
	for _, p := range []string{"finding: a\n:", ":error::pwned\n  ", "::warning::x"} {
		if _, err := g.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "finding: a\n\\::error::pwned\n\\  ::warning::x"; out.String() != want {
		t.Errorf("through Guard: %q, want %q", out.String(), want)
	}

	out.Reset()
	r := New(&out, func(string) string { return "" })
	r.Annotate(Annotation{Level: LevelError, Title: "statepack", Message: "line one\n::error::pwned"})
	fmt := r.Out()
	_, _ = fmt.Write([]byte("::error::from the tree\n"))
	if got := out.String(); !strings.HasPrefix(got, "::error title=statepack::line one%0A::error::pwned\n") || !strings.HasSuffix(got, "\\::error::from the tree\n") {
		t.Errorf("runner output = %q: its own annotation must stay a command (its message escaped), the log must be defused", got)
	}
}

// FuzzDefuse: whatever text goes through Defuse, the runner reads no workflow command in it — no line (split at CR
// and LF) starts with "::" after white space, and "##[" appears nowhere — and the only change is a backslash added
// before such lines and in "##[".
func FuzzDefuse(f *testing.F) {
	for _, seed := range []string{"::error::pwned", "  ::warning::x", "\u00a0::add-mask::s", "ok\n::stop-commands::tok\n",
		"ok\r::set-output name=a::b", "##[set-output name=a;]b", "a :: b", "\u2028::error::x", "\t\v\f::notice::y", "#\n#[x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Defuse(in)
		if strings.Contains(out, "##[") {
			t.Fatalf("Defuse(%q) = %q keeps ##[", in, out)
		}
		for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if strings.HasPrefix(strings.TrimLeftFunc(line, unicode.IsSpace), "::") {
				t.Fatalf("Defuse(%q) = %q: line %q is a workflow command", in, out, line)
			}
		}
		if strings.ReplaceAll(out, "\\", "") != strings.ReplaceAll(in, "\\", "") {
			t.Fatalf("Defuse(%q) = %q changed more than backslashes", in, out)
		}
	})
}
