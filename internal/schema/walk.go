package schema

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/statepack/statepack/internal/manifest"
	"github.com/statepack/statepack/internal/substitute"
)

// maxDepth bounds recursion over schemas and values; Kubernetes objects are far shallower.
const maxDepth = 100

// maxFindingsPerObject keeps one broken object from burying the rest of the report.
const maxFindingsPerObject = 20

// walker checks one object's content against its schema.
type walker struct {
	ctx       context.Context // ends CEL evaluation early; nil when no rule runs
	obj       manifest.Object
	what      string // "Deployment apps/v1", for messages
	findings  manifest.Findings
	valueOnly bool   // checking an alternative (oneOf, anyOf, …): fields it does not name are not unknown
	celBudget int64  // what is left of the CEL cost budget for this object
	branches  *int   // alternatives checked so far for this object, shared with the walkers of alternatives
	at        string // the field path being checked, which the findings name (Finding.Field)
}

// atField makes path the field findings name until the returned function restores the one before.
func (w *walker) atField(path string) func() {
	prev := w.at
	w.at = path
	return func() { w.at = prev }
}

func (w *walker) add(sev manifest.Severity, rule, format string, args ...any) {
	if len(w.findings) == maxFindingsPerObject {
		return
	}
	id := w.obj.FindingID()
	msg := fmt.Sprintf(format, args...)
	if len(w.findings) == maxFindingsPerObject-1 {
		msg += " (further schema findings for this object omitted)"
	}
	w.findings = append(w.findings, manifest.Finding{Severity: sev, Rule: rule, File: w.obj.Source.File,
		Line: w.obj.Source.Line, Object: &id, Field: w.at, Message: msg})
}

func field(path, key string) string { return manifest.JoinField(path, key) }

// value checks v, the value at path, against n. A string that holds a Flux postBuild placeholder Flux has yet to
// substitute and fails a check gets one pending warning instead of the check's errors: its value is not known.
func (w *walker) value(path string, v any, n *node, depth int) {
	prev := w.at
	w.at = path
	defer func() { w.at = prev }() // open-coded: no allocation on this hot path
	if s, isString := v.(string); isString {
		if p := substitute.Pending(w.obj, s); len(p) > 0 {
			before := len(w.findings)
			w.check(path, v, n, depth)
			if len(w.findings) > before {
				rule := w.findings[before].Rule
				w.findings = w.findings[:before]
				w.pending(fmt.Sprintf("%s %s", orObject(path), shorten(strconv.Quote(s))), p, fmt.Sprintf("what %s requires of it (%s)", w.what, rule))
			}
			return
		}
	}
	w.check(path, v, n, depth)
}

// pending adds the warning of a check that waits for Flux's substitution of placeholders.
func (w *walker) pending(what string, placeholders []string, check string) {
	if len(w.findings) == maxFindingsPerObject {
		return
	}
	id := w.obj.FindingID()
	w.findings = append(w.findings, manifest.Finding{Severity: manifest.SeverityWarning, Rule: substitute.RulePending,
		File: w.obj.Source.File, Line: w.obj.Source.Line, Object: &id, Field: w.at, Message: substitute.PendingMessage(what, placeholders, check)})
}

type placeholderField struct {
	name         string // the key whose value (or an item of it) holds the placeholders
	placeholders []string
}

// placeholderFields lists the fields anywhere in v whose values hold placeholders Flux has yet to substitute.
func (w *walker) placeholderFields(v any, depth int) []placeholderField {
	if depth > maxDepth {
		return nil
	}
	var out []placeholderField
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if s, ok := v[k].(string); ok {
				if p := substitute.Pending(w.obj, s); len(p) > 0 {
					out = append(out, placeholderField{k, p})
				}
				continue
			}
			for _, f := range w.placeholderFields(v[k], depth+1) {
				out = append(out, f, placeholderField{k, f.placeholders}) // the rule may read the field or its parent
			}
		}
	case []any:
		for _, item := range v {
			if s, ok := item.(string); ok {
				if p := substitute.Pending(w.obj, s); len(p) > 0 {
					out = append(out, placeholderField{"", p}) // named by the list's key, above
				}
				continue
			}
			out = append(out, w.placeholderFields(item, depth+1)...)
		}
	}
	return out
}

func orObject(path string) string {
	if path == "" {
		return "the object"
	}
	return path
}

func (w *walker) check(path string, v any, n *node, depth int) {
	if v == nil || n == nil || depth > maxDepth {
		return // null means "unset" to the API server
	}
	switch {
	case n.intOrString:
		if _, isString := v.(string); !isString && !isInteger(v) {
			w.typeError(path, v, "an integer or a string")
			return
		}
		w.validations(path, v, n, depth)
		return
	case n.quantity:
		if _, isString := v.(string); !isString && !isNumber(v) {
			w.typeError(path, v, "a quantity (a number or a string such as 500m or 128Mi)")
		}
		return
	}
	typ := n.typ
	if m, isMap := v.(map[string]any); isMap && typ == "" {
		switch {
		case n.props != nil || n.additional != nil:
			typ = "object"
		case len(n.required) > 0: // an alternative (oneOf, anyOf, …) that names required fields only
			w.requiredFields(path, m, n)
		}
	}
	switch typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			w.typeError(path, v, "a mapping")
			return
		}
		w.object(path, m, n, depth)
	case "array":
		l, ok := v.([]any)
		if !ok {
			w.typeError(path, v, "a list")
			return
		}
		for i, item := range l {
			w.value(path+"["+strconv.Itoa(i)+"]", item, n.items, depth+1)
		}
	case "string":
		if _, ok := v.(string); !ok {
			w.typeError(path, v, "a string")
			return
		}
	case "integer":
		if !isInteger(v) {
			w.typeError(path, v, "an integer")
			return
		}
	case "number":
		if !isNumber(v) {
			w.typeError(path, v, "a number")
			return
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			w.typeError(path, v, "a boolean (true or false)")
			return
		}
	}
	if len(n.enum) > 0 && !slices.ContainsFunc(n.enum, func(e any) bool { return equalScalar(e, v) }) {
		var allowed []string
		for _, e := range n.enum {
			allowed = append(allowed, fmt.Sprint(e))
		}
		w.add(manifest.SeverityError, RuleEnum, "%s is %s, which %s does not allow: use one of %s", path, shorten(fmt.Sprint(v)), w.what,
			shorten(strings.Join(allowed, ", ")))
	}
	w.validations(path, v, n, depth)
}

func (w *walker) object(path string, m map[string]any, n *node, depth int) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		val := m[k]
		switch p := n.props[k]; {
		case p != nil:
			w.value(field(path, k), val, p, depth+1)
		case n.additional != nil:
			w.value(field(path, k), val, n.additional, depth+1)
		case n.freeForm:
		case n.embedded && (k == "apiVersion" || k == "kind" || k == "metadata"):
		case path == "" && k == "sops" && isSOPSMetadata(val):
			// A SOPS-encrypted file's metadata: Flux's kustomize-controller decrypts the object and drops it
			// before the API server sees it.
		case w.valueOnly:
		default:
			hint := "remove it or fix its spelling"
			if s := suggest(k, n.props); s != "" {
				hint = "did you mean " + field(path, s) + "?"
			}
			restore := w.atField(field(path, k))
			w.add(manifest.SeverityError, RuleUnknownField, "%s is not a field of %s: %s", shorten(field(path, k)), w.what, hint)
			restore()
		}
	}
	w.requiredFields(path, m, n)
}

func (w *walker) requiredFields(path string, m map[string]any, n *node) {
	for _, r := range n.required {
		if m[r] == nil {
			w.add(manifest.SeverityError, RuleRequired, "%s is missing: %s requires it", field(path, r), w.what)
		}
	}
}

func (w *walker) typeError(path string, v any, want string) {
	hint := ""
	switch v := v.(type) {
	case string:
		// Only a string that would be the value wanted without its quotes gets the hint to remove them.
		_, numErr := strconv.ParseFloat(v, 64)
		_, boolErr := strconv.ParseBool(v)
		if (numErr == nil && (strings.Contains(want, "integer") || strings.Contains(want, "number"))) || (boolErr == nil && strings.Contains(want, "boolean")) {
			hint = ": remove the quotes"
		}
	case bool, int64, float64, int:
		if want == "a string" {
			hint = fmt.Sprintf(": quote the value (%q)", fmt.Sprint(v))
		}
	}
	if path == "" {
		path = "the object"
	}
	w.add(manifest.SeverityError, RuleType, "%s must be %s, not %s%s", path, want, describe(v), hint)
}

func describe(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	default:
		return fmt.Sprintf("the number %v", v)
	}
}

func isInteger(v any) bool {
	switch v := v.(type) {
	case int, int64, int32, uint64:
		return true
	case float64:
		return v == math.Trunc(v) && !math.IsInf(v, 0)
	}
	return false
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, int64, int32, uint64, float64, float32:
		return true
	}
	return false
}

func equalScalar(a, b any) bool {
	if isNumber(a) && isNumber(b) {
		return toFloat(a) == toFloat(b)
	}
	return a == b
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case int32:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

// suggest returns the known field closest to key, if it is close enough to be a typo.
func suggest(key string, props map[string]*node) string {
	best, bestDist := "", 3
	for p := range props {
		if strings.EqualFold(p, key) {
			return p
		}
		if d := distance(strings.ToLower(key), strings.ToLower(p)); d < bestDist || (d == bestDist && p < best) {
			best, bestDist = p, d
		}
	}
	if bestDist > 2 || bestDist >= len(key)/2+1 {
		return ""
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isSOPSMetadata says whether v looks like the metadata sops --encrypt adds at the top of a file: a mapping with
// its version and MAC.
func isSOPSMetadata(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, mac := m["mac"]
	_, version := m["version"]
	return mac && version
}
