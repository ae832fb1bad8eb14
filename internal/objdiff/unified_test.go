package objdiff

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		context  int
		want     string
	}{
		{name: "equal", from: "a\nb\n", to: "a\nb\n", context: 3, want: ""},
		{name: "both empty", from: "", to: "", context: 3, want: ""},
		{
			name: "one line changed", context: 1,
			from: "a\nb\nc\nd\ne\n", to: "a\nb\nC\nd\ne\n",
			want: "--- a\n+++ b\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n",
		},
		{
			name: "added to empty", context: 3, from: "", to: "x\ny\n",
			want: "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n",
		},
		{
			name: "removed all", context: 3, from: "x\n", to: "",
			want: "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n",
		},
		{
			name: "insert at start", context: 0, from: "b\nc\n", to: "a\nb\nc\n",
			want: "--- a\n+++ b\n@@ -0,0 +1 @@\n+a\n",
		},
		{
			name: "insert at start with context", context: 2, from: "b\nc\nd\n", to: "a\nb\nc\nd\n",
			want: "--- a\n+++ b\n@@ -1,2 +1,3 @@\n+a\n b\n c\n",
		},
		{
			name: "two hunks", context: 1,
			from: "1\n2\n3\n4\n5\n6\n7\n8\n", to: "1\nX\n3\n4\n5\n6\nY\n8\n",
			want: "--- a\n+++ b\n@@ -1,3 +1,3 @@\n 1\n-2\n+X\n 3\n@@ -6,3 +6,3 @@\n 6\n-7\n+Y\n 8\n",
		},
		{
			name: "changes close together share a hunk", context: 1,
			from: "1\n2\n3\n4\n5\n", to: "1\nX\n3\nY\n5\n",
			want: "--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n-4\n+Y\n 5\n",
		},
		{
			name: "no newline at end", context: 3, from: "a\nb", to: "a\nb\n",
			want: "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
		},
		{
			name: "zero context", context: 0, from: "a\nb\nc\n", to: "a\nB\nc\n",
			want: "--- a\n+++ b\n@@ -2 +2 @@\n-b\n+B\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Unified(tc.from, tc.to, "a", "b", tc.context)
			if got != tc.want {
				t.Errorf("Unified(%q, %q) =\n%s\nwant\n%s", tc.from, tc.to, got, tc.want)
			}
			checkPatch(t, tc.from, tc.to, got)
		})
	}
}

// TestUnifiedDiffIsShortest checks the edit script against the length of a longest common subsequence, computed the
// slow and obvious way, on many small random inputs over a small alphabet (where diffs have many equal choices).
func TestUnifiedDiffIsShortest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		a := randomLines(rng, rng.IntN(12), 3)
		b := randomLines(rng, rng.IntN(12), 3)
		ops := editScript(a, b)
		edits := 0
		for _, o := range ops {
			if o.kind != opEqual {
				edits++
			}
		}
		if want := len(a) + len(b) - 2*lcsLength(a, b); edits != want {
			t.Fatalf("editScript(%q, %q) makes %d edits, the shortest makes %d", a, b, edits, want)
		}
		checkPatch(t, strings.Join(a, ""), strings.Join(b, ""), Unified(strings.Join(a, ""), strings.Join(b, ""), "a", "b", rng.IntN(4)))
	}
}

func TestUnifiedDiffLargeInputs(t *testing.T) {
	// Two unrelated texts of 20,000 lines: linear space, and done in well under a second on any machine.
	rng := rand.New(rand.NewPCG(3, 4))
	a := strings.Join(randomLines(rng, 20000, 1000), "")
	b := strings.Join(randomLines(rng, 20000, 1000), "")
	checkPatch(t, a, b, Unified(a, b, "a", "b", 3))

	// A long text with every tenth line changed: past the search bound, and still a correct diff that keeps most
	// lines as context.
	lines := randomLines(rng, 20000, 1_000_000)
	changed := append([]string(nil), lines...)
	for i := 0; i < len(changed); i += 10 {
		changed[i] = "changed " + changed[i]
	}
	a, b = strings.Join(lines, ""), strings.Join(changed, "")
	d := Unified(a, b, "a", "b", 0)
	checkPatch(t, a, b, d)
	if removed := strings.Count(d, "\n-"); removed > 4000 {
		t.Errorf("the diff removes %d lines, want about 2000", removed)
	}
}

func randomLines(rng *rand.Rand, n, alphabet int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = strconv.Itoa(rng.IntN(alphabet)) + "\n"
	}
	return lines
}

func lcsLength(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

// checkPatch applies the unified diff to from, strictly (every context and deleted line must match), and fails
// unless the result is to.
func checkPatch(t *testing.T, from, to, diff string) {
	t.Helper()
	got, err := applyUnified(from, diff)
	if err != nil {
		t.Fatalf("applying the diff of %q → %q: %v\n%s", from, to, err, diff)
	}
	if got != to {
		t.Fatalf("applying the diff to %q gives %q, want %q\n%s", from, got, to, diff)
	}
}

func applyUnified(from, diff string) (string, error) {
	if diff == "" {
		return from, nil
	}
	src := splitLines(from)
	lines := splitLines(diff)
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		return "", fmt.Errorf("no headers")
	}
	lines = lines[2:]
	var out []string
	pos := 0 // next line of src to copy
	for len(lines) > 0 {
		m := hunkHeader.FindStringSubmatch(strings.TrimSuffix(lines[0], "\n"))
		if m == nil {
			return "", fmt.Errorf("expected a hunk header, got %q", lines[0])
		}
		aStart, _ := strconv.Atoi(m[1])
		aCount := 1
		if m[2] != "" {
			aCount, _ = strconv.Atoi(m[2])
		}
		bCount := 1
		if m[4] != "" {
			bCount, _ = strconv.Atoi(m[4])
		}
		first := aStart - 1 // 0-based index of the hunk's first line in src
		if aCount == 0 {
			first = aStart
		}
		if first < pos || first > len(src) {
			return "", fmt.Errorf("hunk at line %d overlaps or is out of range", aStart)
		}
		out = append(out, src[pos:first]...)
		pos = first
		lines = lines[1:]
		seenA, seenB := 0, 0
		for len(lines) > 0 && !strings.HasPrefix(lines[0], "@@") {
			l := lines[0]
			lines = lines[1:]
			noEOL := len(lines) > 0 && lines[0] == "\\ No newline at end of file\n"
			if noEOL {
				lines = lines[1:]
			}
			text := l[1:]
			if noEOL {
				text = strings.TrimSuffix(text, "\n")
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != text {
					return "", fmt.Errorf("line %d: diff says %q, text has something else", pos+1, text)
				}
				pos++
				seenA++
				if l[0] == ' ' {
					out = append(out, text)
					seenB++
				}
			case '+':
				out = append(out, text)
				seenB++
			default:
				return "", fmt.Errorf("unexpected line %q", l)
			}
		}
		if seenA != aCount || seenB != bCount {
			return "", fmt.Errorf("hunk header says -%d +%d, body has -%d +%d", aCount, bCount, seenA, seenB)
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), nil
}

// FuzzUnifiedDiff checks, for any two texts, that the diff of a text with itself is empty, that the diff of two
// different texts is not, and that applying the diff to the first text gives the second.
func FuzzUnifiedDiff(f *testing.F) {
	seeds := [][2]string{
		{"", ""},
		{"a\n", ""},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n"},
		{"a\nb\nc", "a\nb\nc\n"},
		{"spec:\n  replicas: 2\n  template: {}\n", "spec:\n  replicas: 3\n  template: {}\n"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "9\n8\n7\n6\n5\n4\n3\n2\n1\n"},
		{"\n\n\n", "\n"},
		{"x\r\ny\r\n", "x\ny\n"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], 3)
	}
	f.Fuzz(func(t *testing.T, from, to string, context int) {
		context = context % 8
		if self := Unified(from, from, "a", "b", context); self != "" {
			t.Fatalf("Unified(x, x) = %q, want empty", self)
		}
		d := Unified(from, to, "a", "b", context)
		if (d == "") != (from == to) {
			t.Fatalf("Unified(%q, %q) = %q: empty exactly when the texts are equal", from, to, d)
		}
		checkPatch(t, from, to, d)
	})
}
