package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
)

// ruleID matches the rule ids findings carry, in the families the code emits; policy rules ("policy/…") describe
// themselves through build.Policies.
var ruleID = regexp.MustCompile(`^((yaml|json|source|kustomize|object|schema|flux|helm|image)/[a-z][a-z0-9-]*|chart-unpinned)$`)

// emittedRules returns the rule ids written as string literals in the (non-test) Go files of dirs.
func emittedRules(t *testing.T, dirs ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && ruleID.MatchString(s) {
						seen[s] = true
					}
				}
				return true
			})
		}
	}
	var out []string
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// TestEveryRuleHasADescription checks that every rule the renderer, the validator and the schema checks can put on a
// finding has a SARIF description of its own, not the generic fallback, and that no description is left for a rule
// the code no longer emits.
func TestEveryRuleHasADescription(t *testing.T) {
	t.Parallel()
	emitted := emittedRules(t, "../..", "../../build", "../schema", "../substitute", "../releases", ".")
	if len(emitted) < 30 {
		t.Fatalf("found only %d rule ids in the source (%v): the scan is broken", len(emitted), emitted)
	}
	for _, id := range emitted {
		if ruleDescriptions[id] == "" {
			t.Errorf("rule %s is emitted but has no entry in ruleDescriptions", id)
		}
	}
	for id := range ruleDescriptions {
		if !slices.Contains(emitted, id) {
			t.Errorf("ruleDescriptions describes %s, which no code emits", id)
		}
	}
	// Every rule is either one --allow can turn off or one of a tree that cannot be rendered, so that no rule is
	// unknown to --allow.
	for _, id := range emitted {
		if !slices.Contains(statepack.AllowableRules(), id) && !slices.Contains(build.RenderRules, id) {
			t.Errorf("rule %s is neither in statepack.AllowableRules nor in build.RenderRules: --allow %s would be refused as unknown", id, id)
		}
	}
	for _, p := range build.Policies {
		id := "policy/" + p.ID
		if r := describeRule(id); strings.HasPrefix(r.ShortDescription.Text, "statepack finding ") {
			t.Errorf("describeRule(%s) = %q, want the policy's own description", id, r.ShortDescription.Text)
		}
	}
}
