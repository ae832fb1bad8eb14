package schema

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"k8s.io/kube-openapi/pkg/validation/strfmt"

	"github.com/statepack/statepack/internal/manifest"
)

// The API server's CEL cost limits (k8s.io/apiserver/pkg/apis/cel): one rule may cost at most perCallLimit, and all
// the rules of one custom resource together at most runtimeCostBudget.
const (
	perCallLimit      = 1000000
	runtimeCostBudget = 10000000
)

// celRule is one compiled x-kubernetes-validations rule.
type celRule struct {
	rule, message, fieldPath string
	program, messageProgram  cel.Program
}

// celEnv is the CEL environment rules compile in: the standard library and the cel-go extensions the Kubernetes
// 1.34 base environment enables (k8s.io/apiserver/pkg/cel/environment), with self as a dynamic value. Built once per
// process, on the first CRD that carries a rule.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("self", cel.DynType),
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		cel.ASTValidators(cel.ValidateDurationLiterals(), cel.ValidateTimestampLiterals(), cel.ValidateRegexLiterals(),
			cel.ValidateHomogeneousAggregateLiterals()),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		ext.TwoVarComprehensions(),
		ext.Lists(ext.ListsVersion(3)),
	)
})

// kubernetesCELFunctions are the functions of the Kubernetes CEL library (k8s.io/apiserver/pkg/cel/library) that
// statepack does not carry: linking that library would grow the binary by over 40% (see the package doc). A rule
// that calls one is skipped, not reported.
var kubernetesCELFunctions = map[string]bool{
	"isSorted": true, "sum": true, "min": true, "max": true, "indexOf": true, "lastIndexOf": true,
	"find": true, "findAll": true,
	"url": true, "isURL": true, "getScheme": true, "getHost": true, "getHostname": true, "getPort": true,
	"getEscapedPath": true, "getQuery": true,
	"quantity": true, "isQuantity": true, "sign": true, "isGreaterThan": true, "isLessThan": true, "compareTo": true,
	"add": true, "sub": true, "isInteger": true, "asInteger": true, "asApproximateFloat": true,
	"ip": true, "isIP": true, "family": true, "isUnspecified": true, "isLoopback": true, "isLinkLocalMulticast": true,
	"isLinkLocalUnicast": true, "isGlobalUnicast": true, "isCanonical": true,
	"cidr": true, "isCIDR": true, "containsIP": true, "containsCIDR": true, "masked": true, "prefixLength": true,
	"format": true, "validate": true, "named": true,
	"semver": true, "isSemver": true, "major": true, "minor": true, "patch": true,
	"authorizer": true,
}

var undeclared = regexp.MustCompile(`undeclared reference to '([^']+)'|found no matching overload for '([^']+)'`)

// celRules compiles the x-kubernetes-validations of the schema at path. Rules that compare with oldSelf (transition
// rules) are skipped: offline there is no old object. Rules that call a Kubernetes library function statepack does
// not carry are skipped too. A rule that does not compile is a problem of the CRD, as the API server would refuse it.
func (c *converter) celRules(raw []any, path string) []*celRule {
	env, err := celEnv()
	if err != nil { // only a broken build of statepack gets here
		c.problem(path, "x-kubernetes-validations cannot be checked: %v", err)
		return nil
	}
	var out []*celRule
	for i, r := range raw {
		r, _ := r.(map[string]any)
		where := fmt.Sprintf("x-kubernetes-validations[%d]", i)
		rule, _ := r["rule"].(string)
		if strings.TrimSpace(rule) == "" {
			c.problem(path, "%s has no rule: give a CEL expression", where)
			continue
		}
		parsed, iss := env.Parse(rule)
		if iss.Err() != nil {
			c.problem(path, "%s rule %s does not parse: %v", where, quote(rule), oneLine(iss.Err()))
			continue
		}
		if usesOldSelf(parsed) {
			continue
		}
		checked, iss := env.Check(parsed)
		if iss.Err() != nil {
			if usesKubernetesLibrary(iss.Err()) {
				continue
			}
			c.problem(path, "%s rule %s does not compile: %v", where, quote(rule), oneLine(iss.Err()))
			continue
		}
		if t := checked.OutputType(); t != types.BoolType && t != types.DynType {
			c.problem(path, "%s rule %s returns %s, not a boolean: rules must evaluate to true or false", where, quote(rule), t)
			continue
		}
		prog, err := env.Program(checked, programOptions...)
		if err != nil {
			c.problem(path, "%s rule %s cannot be evaluated: %v", where, quote(rule), err)
			continue
		}
		cr := &celRule{rule: rule, program: prog}
		cr.message, _ = r["message"].(string)
		cr.fieldPath, _ = r["fieldPath"].(string)
		if me, _ := r["messageExpression"].(string); me != "" {
			mast, iss := env.Compile(me)
			switch {
			case iss.Err() != nil && usesKubernetesLibrary(iss.Err()):
			case iss.Err() != nil:
				c.problem(path, "%s messageExpression %s does not compile: %v", where, quote(me), oneLine(iss.Err()))
			case mast.OutputType() != types.StringType && mast.OutputType() != types.DynType:
				c.problem(path, "%s messageExpression %s returns %s, not a string", where, quote(me), mast.OutputType())
			default:
				cr.messageProgram, _ = env.Program(mast, programOptions...)
			}
		}
		out = append(out, cr)
	}
	return out
}

var programOptions = []cel.ProgramOption{
	cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
	cel.CostLimit(perCallLimit),
	cel.InterruptCheckFrequency(100),
}

func usesOldSelf(a *cel.Ast) bool {
	found := false
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.IdentKind && e.AsIdent() == "oldSelf" {
			found = true
		}
	}))
	return found
}

// usesKubernetesLibrary reports whether a compile error comes from a Kubernetes library function.
func usesKubernetesLibrary(err error) bool {
	for _, m := range undeclared.FindAllStringSubmatch(err.Error(), -1) {
		if kubernetesCELFunctions[m[1]+m[2]] {
			return true
		}
	}
	return false
}

func oneLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "ERROR: <input>:")
	if i := strings.Index(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, " expecting {"); i >= 0 { // the parser's list of every token it could take
		msg = msg[:i]
	}
	return strings.TrimSpace(msg)
}

// celRules evaluates the rules of n on v, the value at path.
func (w *walker) celRules(path string, v any, n *node) {
	if w.celBudget < 0 {
		return // the budget ran out on an earlier rule, which was reported
	}
	self := toCEL(v, n, 0)
	vars := map[string]any{"self": self}
	ctx := w.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	shown := path
	if shown == "" {
		shown = "the object"
	}
	// A rule that reads a field holding a placeholder Flux has yet to substitute cannot be judged: its failure is a
	// pending warning. A rule that names no such field is judged as usual.
	fields := w.placeholderFields(v, 0)
	fail := func(rule, at, format string, args ...any) {
		var placeholders []string
		for _, f := range fields {
			if f.name != "" && celMentions(rule, f.name) {
				placeholders = append(placeholders, f.placeholders...)
			}
		}
		if len(placeholders) > 0 {
			w.pending(at, placeholders, "the x-kubernetes-validations rule "+shorten(rule)+" of "+w.what)
			return
		}
		w.add(manifest.SeverityError, RuleCEL, format, args...)
	}
	for _, r := range n.checks.rules {
		out, details, err := r.program.ContextEval(ctx, vars)
		if details != nil && details.ActualCost() != nil {
			cost := *details.ActualCost()
			if cost > math.MaxInt64 || int64(cost) > w.celBudget {
				w.add(manifest.SeverityError, RuleCEL, "%s: the validation rules of %s cost more than the API server's budget (%d) for one object: the API server would refuse it; simplify the object or the rules",
					shown, w.what, runtimeCostBudget)
				w.celBudget = -1
				return
			}
			w.celBudget -= int64(cost)
		}
		if err != nil {
			msg := err.Error()
			switch {
			case errors.Is(ctx.Err(), context.Canceled), errors.Is(ctx.Err(), context.DeadlineExceeded):
				return
			case strings.HasPrefix(msg, "no such overload"):
				// Rules compile here against a dynamic self, so an argument mismatch the API server's typed
				// compiler would have caught shows up only now; it says nothing certain about the object.
				continue
			case strings.Contains(msg, "cost limit exceeded"):
				w.add(manifest.SeverityError, RuleCEL, "%s: rule %s of %s exceeds the API server's cost limit for one rule (%d): the API server would refuse the object",
					shown, shorten(r.rule), w.what, perCallLimit)
				w.celBudget = -1
				return
			}
			fail(r.rule, shown, "%s: rule %s of %s fails to evaluate (%s), so the API server would refuse the object: set the fields the rule reads",
				shown, shorten(r.rule), w.what, shorten(msg))
			continue
		}
		if out == types.True {
			continue
		}
		msg := r.message
		if r.messageProgram != nil {
			if mv, details, err := r.messageProgram.ContextEval(ctx, vars); err == nil {
				if s, ok := mv.Value().(string); ok && strings.TrimSpace(s) != "" && !strings.Contains(s, "\n") {
					msg = s
				}
				if details != nil && details.ActualCost() != nil {
					w.celBudget -= int64(min(*details.ActualCost(), math.MaxInt64))
				}
			}
		}
		if msg == "" {
			msg = "failed rule: " + r.rule
		}
		at := shown
		if r.fieldPath != "" {
			at = strings.TrimPrefix(path+r.fieldPath, ".")
		}
		fail(r.rule, at, "%s: %s (x-kubernetes-validations rule of %s: %s)", at, shorten(msg), w.what, shorten(r.rule))
	}
}

// celMentions says whether a CEL rule names field (self.field, has(self.x.field), a map key "field").
func celMentions(rule, field string) bool {
	for i := strings.Index(rule, field); i >= 0; {
		before, after := i == 0 || !isIdentRune(rule[i-1]), i+len(field) == len(rule) || !isIdentRune(rule[i+len(field)])
		if before && after {
			return true
		}
		next := strings.Index(rule[i+1:], field)
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

func isIdentRune(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// toCEL prepares a decoded value for CEL as the API server does (k8s.io/apiserver/pkg/cel/common.UnstructuredToVal):
// integers as int64, durations, dates and times as CEL durations and timestamps, bytes decoded.
func toCEL(v any, n *node, depth int) any {
	if n == nil || depth > maxDepth {
		return v
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			child := n.props[k]
			if child == nil {
				child = n.additional
			}
			out[k] = toCEL(val, child, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = toCEL(item, n.items, depth+1)
		}
		return out
	case string:
		if n.checks == nil {
			return v
		}
		switch n.checks.format {
		case "duration":
			if d, err := strfmt.ParseDuration(v); err == nil {
				return types.Duration{Duration: d}
			}
		case "date":
			if t, err := time.Parse(strfmt.RFC3339FullDate, v); err == nil {
				return types.Timestamp{Time: t}
			}
		case "date-time", "datetime":
			if t, err := strfmt.ParseDateTime(v); err == nil {
				return types.Timestamp{Time: time.Time(t)}
			}
		case "byte":
			if b, err := base64.StdEncoding.DecodeString(v); err == nil {
				return b
			}
		}
		return v
	case float64:
		if n.typ == "integer" && v == math.Trunc(v) {
			return int64(v)
		}
		return v
	}
	return v
}
