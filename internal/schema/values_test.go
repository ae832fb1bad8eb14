package schema_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/statepack/statepack/internal/schema"
)

// limitsCRD has a string, a list and a mapping whose validations the tests fill in (SLIMITS, LLIMITS, MLIMITS).
var limitsCRD = specCRD("Limit", `properties:
  s: {type: string, SLIMITS}
  l: {type: array, items: {type: string}, LLIMITS}
  m: {type: object, additionalProperties: {type: string}, MLIMITS}
`)

const limitsObject = `apiVersion: example.com/v1
kind: Limit
metadata: {name: x, namespace: default}
spec: {s: abc, l: [a, b], m: {a: b}}
`

// validateLimits renders the CRD with the validations of its string (s), list (l) and mapping (m) filled in, and a
// Limit object, and returns the messages of the findings on file.
func validateLimits(t *testing.T, file, s, l, m string) []string {
	t.Helper()
	crd := strings.NewReplacer("SLIMITS", s, "LLIMITS", l, "MLIMITS", m).Replace(limitsCRD)
	objs := render(t, map[string]string{"crd.yaml": crd, "x.yaml": limitsObject})
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, f := range v.Validate(context.Background(), objs) {
		if f.File == file {
			msgs = append(msgs, f.Message)
		}
	}
	return msgs
}

// TestCountLimitsBeyondInt64 checks that a length, item or property count of 2^63 or more in a CRD does not
// overflow: a maximum that large allows everything, a minimum that large allows nothing. (The CRD itself has a finding
// too, as the API server takes these as 64-bit integers; the object's findings must still be right.)
func TestCountLimitsBeyondInt64(t *testing.T) {
	const what = "Limit example.com/v1 (CustomResourceDefinition limits.example.com)"
	tests := []struct {
		name    string
		s, l, m string // validations of spec.s, spec.l and spec.m
		want    []string
	}{
		{name: "maxLength 2^63", s: "maxLength: 9223372036854775808"},
		{name: "maxLength 1e19", s: "maxLength: 1e19"},
		{name: "maxLength 2^64", s: "maxLength: 18446744073709551616"},
		{name: "maxItems 1e30", l: "maxItems: 1e30"},
		{name: "maxProperties 1e19", m: "maxProperties: 1e19"},
		{name: "maxLength just under 2^63", s: "maxLength: 9223372036854774784"},
		{name: "small limits still apply", s: "maxLength: 2", l: "maxItems: 1", m: "maxProperties: 0", want: []string{
			"spec.l has 2 items, more than the 1 that " + what + " allows: remove some",
			"spec.m has 1 field(s), more than the 0 that " + what + " allows: remove some",
			"spec.s is 3 characters long, longer than the 2 that " + what + " allows: shorten it"}},
		{name: "minLength 1e19", s: "minLength: 1e19", want: []string{
			"spec.s is 3 character(s) long, shorter than the 9223372036854775807 that " + what + " requires"}},
		{name: "minItems 1e19", l: "minItems: 1e19", want: []string{
			"spec.l has 2 item(s), fewer than the 9223372036854775807 that " + what + " requires: add items"}},
		{name: "minProperties 1e19", m: "minProperties: 1e19", want: []string{
			"spec.m has 1 field(s), fewer than the 9223372036854775807 that " + what + " requires: add the missing ones"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := validateLimits(t, "x.yaml", cmp.Or(tc.s, "description: x"), cmp.Or(tc.l, "description: x"), cmp.Or(tc.m, "description: x"))
			slices.Sort(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Validate(%q, %q, %q) messages =\n%s\nwant\n%s", tc.s, tc.l, tc.m, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestHugePatternFindingsAreShort checks that a CRD pattern of a megabyte makes findings of a few hundred bytes, not
// of two megabytes (the quoted pattern, then the regexp package's error quoting it again), and so do other values a
// CRD may make huge.
func TestHugePatternFindingsAreShort(t *testing.T) {
	t.Parallel()
	const maxMessage = 1000
	huge := strings.Repeat("a", 1200<<10)
	tests := []struct {
		name string
		file string   // of the finding
		s    string   // validations of spec.s
		want []string // in the one finding
	}{
		{name: "pattern that does not compile", file: "crd.yaml", s: `pattern: "(` + huge + `"`,
			want: []string{`pattern "(aaaa`, `…" is not a regular expression the API server accepts (Go RE2 syntax): error parsing regexp: missing closing )`}},
		{name: "error naming part of the pattern", file: "crd.yaml", s: `pattern: "` + huge + `(?!x)"`,
			want: []string{`…" is not a regular expression the API server accepts (Go RE2 syntax): error parsing regexp: invalid or unsupported Perl syntax: ` + "`(?!`"}},
		{name: "pattern the value does not match", file: "x.yaml", s: `pattern: "^` + strings.Repeat("b", 64<<10) + `$"`,
			want: []string{`spec.s is "abc", which does not match the pattern ^bbbb`, `… that Limit example.com/v1`}},
		{name: "enum", file: "x.yaml", s: "enum: [" + strings.Repeat("c", 64<<10) + ", d]",
			want: []string{`spec.s is abc, which Limit example.com/v1 (CustomResourceDefinition limits.example.com) does not allow: use one of cccc`}},
		{name: "CEL rule that does not compile", file: "crd.yaml", s: `x-kubernetes-validations: [{rule: "self == '` + huge + `' +"}]`,
			want: []string{`x-kubernetes-validations[0] rule "self == 'aaaa`, `…" does not parse: `}},
		{name: "CEL rule that fails", file: "x.yaml", s: `x-kubernetes-validations: [{rule: "self == '` + strings.Repeat("a", 4<<10) + `'"}]`,
			want: []string{`spec.s: failed rule: self == 'aaaa`, `… (x-kubernetes-validations rule of Limit example.com/v1 (CustomResourceDefinition limits.example.com): self == 'aaaa`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := validateLimits(t, tc.file, tc.s, "description: x", "description: x")
			if len(got) != 1 {
				t.Fatalf("Validate() = %d findings, want 1", len(got))
			}
			if len(got[0]) > maxMessage || !utf8.ValidString(got[0]) {
				t.Errorf("Validate() message is %d bytes, want at most %d: %.300s…", len(got[0]), maxMessage, got[0])
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("Validate() message = %.600s, want it to contain %q", got[0], w)
				}
			}
		})
	}
}
