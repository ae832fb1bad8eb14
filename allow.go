package statepack

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/releases"
	"github.com/statepack/statepack/internal/schema"
	"github.com/statepack/statepack/internal/substitute"
)

// Allowance turns off the findings of one rule, saying why: `--allow RULE=REASON` on the command line,
// `allow: [{rule: RULE, reason: REASON}]` (or `allow: [RULE]`) in statepack.yaml. Rule is a finding's rule
// ("schema/no-schema", "object/invalid-label", "flux/substitution-pending", …) or a policy's ID, with or without
// its "policy/" prefix. The rules of findings that mean the tree cannot be rendered (build.RenderRules) cannot be
// allowed.
type Allowance struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason,omitempty"`
}

// ParseAllowance reads RULE or RULE=REASON, as --allow takes it.
func ParseAllowance(s string) Allowance {
	rule, reason, _ := strings.Cut(s, "=")
	return Allowance{Rule: strings.TrimSpace(rule), Reason: strings.TrimSpace(reason)}
}

// UnmarshalJSON takes the mapping {rule, reason} or, as statepack.yaml had it before reasons, a string RULE (or
// RULE=REASON).
func (a *Allowance) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*a = ParseAllowance(s)
		return nil
	}
	type plain Allowance
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("an allow entry is a rule, or {rule: RULE, reason: WHY}: %w", err)
	}
	*a = Allowance(p)
	return nil
}

// AllowedFindings are the findings an allowance turned off in a load.
type AllowedFindings struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason,omitempty"`
	Count  int    `json:"count"`
}

// AllowableRules lists the rules --allow can turn off, sorted: every rule of the structural checks, the schemas,
// the policies and Flux's substitution, and the empty tree's.
func AllowableRules() []string {
	rules := slices.Concat(build.StructuralRules, schema.Rules(),
		[]string{substitute.RulePending, substitute.RuleFailed, "source/no-objects", "kustomize/deprecated", releases.RuleUnpinned,
			releases.RuleValuesUnknown})
	for _, id := range build.PolicyIDs() {
		rules = append(rules, "policy/"+id)
	}
	slices.Sort(rules)
	return rules
}

// rule is the finding rule an allowance names: a policy's ID gets its prefix.
func (a Allowance) rule() string {
	if slices.Contains(build.PolicyIDs(), a.Rule) {
		return "policy/" + a.Rule
	}
	return a.Rule
}

// checkAllow refuses an allowance of a rule that cannot be turned off, or that does not exist (a typo would
// silently leave the rule on).
func checkAllow(allow []Allowance) error {
	for _, a := range allow {
		switch r := a.rule(); {
		case slices.Contains(build.RenderRules, r):
			return invalidf("--allow %s: findings of %s mean the tree cannot be rendered, so they cannot be allowed: fix the file they name", a.Rule, r)
		case !slices.Contains(AllowableRules(), r):
			return invalidf("--allow %s: no such rule; the rules are %s (and the policies' IDs without policy/)", a.Rule, strings.Join(AllowableRules(), ", "))
		}
	}
	return nil
}

// allows says whether the options allow a rule's findings.
func (o *LoadOptions) allows(rule string) bool {
	return slices.ContainsFunc(o.Allow, func(a Allowance) bool { return a.rule() == rule })
}

// applyAllow takes the findings of allowed rules out of fs and counts them by allowance.
func applyAllow(fs build.Findings, allow []Allowance) (build.Findings, []AllowedFindings) {
	if len(allow) == 0 {
		return fs, nil
	}
	var kept build.Findings
	var allowed []AllowedFindings
	for _, f := range fs {
		i := slices.IndexFunc(allow, func(a Allowance) bool { return a.rule() == f.Rule })
		if i < 0 {
			kept = append(kept, f)
			continue
		}
		j := slices.IndexFunc(allowed, func(a AllowedFindings) bool { return a.Rule == f.Rule })
		if j < 0 {
			allowed = append(allowed, AllowedFindings{Rule: f.Rule, Reason: allow[i].Reason})
			j = len(allowed) - 1
		}
		allowed[j].Count++
	}
	slices.SortFunc(allowed, func(a, b AllowedFindings) int { return strings.Compare(a.Rule, b.Rule) })
	return kept, allowed
}

// allowRules are the rules of the allowances as given, sorted, for the settings of an artifact.
func allowRules(allow []Allowance) []string {
	rules := make([]string, len(allow))
	for i, a := range allow {
		rules[i] = a.Rule
	}
	slices.Sort(rules)
	return rules
}
