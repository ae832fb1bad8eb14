package statepack

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
)

// TestAllowEveryRule: --allow turns off the findings of any rule, not only the three policies (issue #16, item 1),
// counting them with the reason given; a policy is named with or without policy/; a rule of a tree that cannot be
// rendered, and a rule that does not exist, are refused as the caller's mistake.
func TestAllowEveryRule(t *testing.T) {
	t.Parallel()
	root := writeFiles(t, map[string]string{
		"widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\n",
		"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\n  labels: {tier: -bad-}\n" +
			"spec:\n  containers: [{name: c, image: nginx}]\n",
	})
	load := func(allow ...Allowance) (*Source, error) {
		return Load(context.Background(), root, LoadOptions{Root: root, Allow: allow})
	}
	s, err := load()
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range s.Findings {
		rules = append(rules, f.Rule)
	}
	if want := []string{"object/invalid-label", "policy/image-unpinned", "schema/no-schema"}; !slices.Equal(rules, want) {
		t.Fatalf("without --allow the findings are %v, want %v (an invalid label does not hide the Pod's other checks)", s.Findings, want)
	}

	s, err = load(Allowance{Rule: "object/invalid-label", Reason: "tier is rewritten by a mutating webhook"},
		ParseAllowance("schema/no-schema=CRDs come from the platform team"), ParseAllowance("image-unpinned"))
	if err != nil {
		t.Fatal(err)
	}
	want := []AllowedFindings{{Rule: "object/invalid-label", Reason: "tier is rewritten by a mutating webhook", Count: 1},
		{Rule: "policy/image-unpinned", Count: 1}, {Rule: "schema/no-schema", Reason: "CRDs come from the platform team", Count: 1}}
	if len(s.Findings) != 0 || !slices.Equal(s.Allowed, want) {
		t.Errorf("with --allow, Load found %v and allowed %+v; want nothing found and %+v", s.Findings, s.Allowed, want)
	}

	// With its invalid label allowed, the Pod's unpinned image is still found, and allowed when the policy is, by its
	// ID or its rule.
	s, err = load(Allowance{Rule: "object/invalid-label"})
	if err != nil || !slices.ContainsFunc(s.Findings, func(f build.Finding) bool { return f.Rule == "policy/image-unpinned" }) {
		t.Errorf("--allow object/invalid-label: %v, %v; want the Pod's policy/image-unpinned finding", s.Findings, err)
	}
	for _, id := range []string{"image-unpinned", "policy/image-unpinned"} {
		s, err = load(Allowance{Rule: "object/invalid-label"}, Allowance{Rule: id})
		if err != nil || slices.ContainsFunc(s.Findings, func(f build.Finding) bool { return f.Rule == "policy/image-unpinned" }) {
			t.Errorf("--allow %s: %v, %v; want no policy/image-unpinned finding", id, s.Findings, err)
		}
	}

	for _, tc := range []struct{ rule, wantErr string }{
		{"yaml/syntax", "--allow yaml/syntax: findings of yaml/syntax mean the tree cannot be rendered, so they cannot be allowed"},
		{"source/outside-root", "cannot be allowed"},
		{"schema/no-schemas", "--allow schema/no-schemas: no such rule; the rules are chart-unpinned, flux/substitution, "},
	} {
		if _, err := load(Allowance{Rule: tc.rule}); !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("--allow %s: %v, want ErrInvalidOption with %q", tc.rule, err, tc.wantErr)
		}
	}
}

// TestConfigAllowShapes: statepack.yaml's allow takes a rule with its reason, or a rule alone as before.
func TestConfigAllowShapes(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults:\n  ref: localhost:5000/x\n  validate:\n    allow:\n" +
		"    - image-unpinned\n    - {rule: schema/no-schema, reason: CRDs come from the platform team}\ntargets: [{name: a, path: a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Allowance{{Rule: "image-unpinned"}, {Rule: "schema/no-schema", Reason: "CRDs come from the platform team"}}
	if got := cfg.Targets[0].Validate.Allow; !slices.Equal(got, want) {
		t.Errorf("allow = %+v, want %+v", got, want)
	}
	_, err = ParseConfig([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets: [{name: a, path: a, ref: localhost:5000/x, validate: {allow: [{rule: x, why: y}]}}]\n"))
	if err == nil || err.Error() != `line 3: unknown field "why" in targets[0].validate.allow[0] (an allow entry is a rule, or a mapping of its fields: rule, reason)` {
		t.Errorf("ParseConfig with a misspelt allow entry = %v, want the shape explained on its line", err)
	}
}
