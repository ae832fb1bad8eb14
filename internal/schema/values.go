package schema

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/kube-openapi/pkg/validation/strfmt"

	"github.com/statepack/statepack/internal/manifest"
)

// checks are the value validations of one schema: what the API server checks beyond the shape of a value. Built-in
// definitions carry almost none of them (their validation is hand-written Go in the API server); CRD schemas do.
type checks struct {
	pattern                            *regexp.Regexp
	format                             string
	minimum, maximum, multipleOf       *float64
	exclusiveMinimum, exclusiveMaximum bool
	minLength, maxLength               *int64
	minItems, maxItems                 *int64
	minProperties, maxProperties       *int64
	oneOf, anyOf, allOf                []*node
	not                                *node
	listType                           string   // x-kubernetes-list-type: set or map (atomic lists take duplicates)
	listMapKeys                        []string // x-kubernetes-list-map-keys
	rules                              []*celRule
}

// crdFormats are the string formats the API server checks in CRD schemas, by the release that added them; it ignores
// every other format. Source: k8s.io/apiextensions-apiserver pkg/apiserver/validation/formats.go.
var crdFormats = map[string]string{
	"bsonobjectid": "1.0", "uri": "1.0", "email": "1.0", "hostname": "1.0", "ipv4": "1.0", "ipv6": "1.0",
	"cidr": "1.0", "mac": "1.0", "uuid": "1.0", "uuid3": "1.0", "uuid4": "1.0", "uuid5": "1.0", "isbn": "1.0",
	"isbn10": "1.0", "isbn13": "1.0", "creditcard": "1.0", "ssn": "1.0", "hexcolor": "1.0", "rgbcolor": "1.0",
	"byte": "1.0", "password": "1.0", "date": "1.0", "duration": "1.0", "datetime": "1.0",
	"k8s-short-name": "1.34", "k8s-long-name": "1.34",
}

// formatNames describes formats in messages; a format without an entry is named as written.
var formatNames = map[string]string{
	"uri": "URI", "email": "email address", "hostname": "host name", "ipv4": "IPv4 address", "ipv6": "IPv6 address",
	"cidr": "CIDR block", "mac": "MAC address", "uuid": "UUID", "byte": "base64 string", "date": "date (2006-01-02)",
	"duration": "duration (such as 30s or 5m)", "date-time": "RFC 3339 time (such as 2024-05-01T12:00:00Z)",
	"datetime": "RFC 3339 time (such as 2024-05-01T12:00:00Z)", "k8s-short-name": "short Kubernetes name (a DNS-1123 label)",
	"k8s-long-name": "long Kubernetes name (a DNS-1123 subdomain)",
}

// checks reads the value validations of schema m. It returns nil when there are none, which is the common case.
func (c *converter) checks(m map[string]any, n *node, path string, depth int) *checks {
	k := &checks{}
	found := false
	if p, ok := m["pattern"].(string); ok {
		re, err := regexp.Compile(p)
		if err != nil {
			c.problem(path, "pattern %s is not a regular expression the API server accepts (Go RE2 syntax): %s", quote(p), regexpError(p, err))
		} else {
			k.pattern, found = re, true
		}
	}
	if f, ok := m["format"].(string); ok && f != "" {
		switch {
		case c.defs != nil && (f == "int32" || f == "int64") && n.typ == "integer":
			k.format, found = f, true // built-in kinds: the API server decodes into Go integers of that size
		case c.defs == nil && n.typ == "string":
			normal := f
			if _, ok := crdFormats[normal]; !ok {
				normal = strings.ReplaceAll(f, "-", "")
			}
			if since, ok := crdFormats[normal]; ok && compareMinor(c.version, since) >= 0 {
				k.format, found = f, true
			}
		}
	}
	num := func(key string) *float64 {
		if f, ok := toNumber(m[key]); ok {
			found = true
			return &f
		}
		return nil
	}
	k.minimum, k.maximum, k.multipleOf = num("minimum"), num("maximum"), num("multipleOf")
	k.exclusiveMinimum, _ = m["exclusiveMinimum"].(bool)
	k.exclusiveMaximum, _ = m["exclusiveMaximum"].(bool)
	// A count of 2^63 or more, which no int64 holds, is taken as MaxInt64: as a maximum it allows any value, as a
	// minimum none. (The CRD itself gets a finding: the API server reads these as 64-bit integers.)
	count := func(key string) *int64 {
		if f, ok := toNumber(m[key]); ok && f >= 0 {
			found = true
			i := int64(math.MaxInt64)
			if f < math.MaxInt64 { // float64(MaxInt64) is 2^63: below it, the conversion cannot overflow
				i = int64(f)
			}
			return &i
		}
		return nil
	}
	k.minLength, k.maxLength = count("minLength"), count("maxLength")
	k.minItems, k.maxItems = count("minItems"), count("maxItems")
	k.minProperties, k.maxProperties = count("minProperties"), count("maxProperties")
	branches := func(key string) []*node {
		list, _ := m[key].([]any)
		var out []*node
		for i, b := range list {
			if b, ok := b.(map[string]any); ok {
				out = append(out, c.node(b, fmt.Sprintf("%s.%s[%d]", path, key, i), depth+1))
				found = true
			}
		}
		return out
	}
	k.oneOf, k.anyOf, k.allOf = branches("oneOf"), branches("anyOf"), branches("allOf")
	if not, ok := m["not"].(map[string]any); ok {
		k.not, found = c.node(not, path+".not", depth+1), true
	}
	if lt, _ := m["x-kubernetes-list-type"].(string); c.defs == nil && (lt == "set" || lt == "map") {
		k.listType, found = lt, true
		keys, _ := m["x-kubernetes-list-map-keys"].([]any)
		for _, key := range keys {
			if s, ok := key.(string); ok {
				k.listMapKeys = append(k.listMapKeys, s)
			}
		}
	}
	if rules, ok := m["x-kubernetes-validations"].([]any); ok && len(rules) > 0 {
		k.rules = c.celRules(rules, path)
		found = found || len(k.rules) > 0
	}
	if !found {
		return nil
	}
	return k
}

func toNumber(v any) (float64, bool) {
	if !isNumber(v) {
		return 0, false
	}
	return toFloat(v), true
}

// validations applies n's value validations to v, whose type has been checked.
func (w *walker) validations(path string, v any, n *node, depth int) {
	k := n.checks
	if k == nil {
		return
	}
	shown := path
	if shown == "" {
		shown = "the object"
	}
	switch v := v.(type) {
	case string:
		w.stringChecks(shown, v, k)
	case map[string]any:
		if k.minProperties != nil && int64(len(v)) < *k.minProperties {
			w.add(manifest.SeverityError, RuleProperties, "%s has %d field(s), fewer than the %d that %s requires: add the missing ones",
				shown, len(v), *k.minProperties, w.what)
		}
		if k.maxProperties != nil && int64(len(v)) > *k.maxProperties {
			w.add(manifest.SeverityError, RuleProperties, "%s has %d field(s), more than the %d that %s allows: remove some",
				shown, len(v), *k.maxProperties, w.what)
		}
	case []any:
		w.listChecks(path, shown, v, k)
	default:
		if isNumber(v) {
			w.numberChecks(shown, toFloat(v), k)
		}
	}
	w.compositions(path, shown, v, k, depth)
	if len(k.rules) > 0 && !w.valueOnly {
		w.celRules(path, v, n)
	}
}

func (w *walker) stringChecks(shown, s string, k *checks) {
	if k.pattern != nil && !k.pattern.MatchString(s) {
		w.add(manifest.SeverityError, RulePattern, "%s is %s, which does not match the pattern %s that %s requires: change the value to match it",
			shown, quoteShort(s), shorten(k.pattern.String()), w.what)
	}
	length := int64(utf8.RuneCountInString(s))
	if k.minLength != nil && length < *k.minLength {
		w.add(manifest.SeverityError, RuleLength, "%s is %d character(s) long, shorter than the %d that %s requires",
			shown, length, *k.minLength, w.what)
	}
	if k.maxLength != nil && length > *k.maxLength {
		w.add(manifest.SeverityError, RuleLength, "%s is %d characters long, longer than the %d that %s allows: shorten it",
			shown, length, *k.maxLength, w.what)
	}
	if k.format != "" && k.format != "int32" && k.format != "int64" && !strfmt.Default.Validates(k.format, s) {
		w.add(manifest.SeverityError, RuleFormat, "%s is %s, which is not a valid %s: %s requires that format (format: %s)",
			shown, quoteShort(s), cmp.Or(formatNames[k.format], k.format), w.what, k.format)
	}
}

func (w *walker) numberChecks(shown string, f float64, k *checks) {
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch k.format {
	case "int32":
		if f < math.MinInt32 || f > math.MaxInt32 {
			w.add(manifest.SeverityError, RuleRange, "%s is %s, which does not fit the 32-bit integer that %s takes: use a value from %d to %d",
				shown, num(f), w.what, math.MinInt32, math.MaxInt32)
		}
	case "int64":
		if f < math.MinInt64 || f > math.MaxInt64 {
			w.add(manifest.SeverityError, RuleRange, "%s is %s, which does not fit the 64-bit integer that %s takes", shown, num(f), w.what)
		}
	}
	if m := k.minimum; m != nil && (f < *m || (k.exclusiveMinimum && f == *m)) {
		bound := "at least"
		if k.exclusiveMinimum {
			bound = "greater than"
		}
		w.add(manifest.SeverityError, RuleRange, "%s is %s, but %s requires a value %s %s", shown, num(f), w.what, bound, num(*m))
	}
	if m := k.maximum; m != nil && (f > *m || (k.exclusiveMaximum && f == *m)) {
		bound := "at most"
		if k.exclusiveMaximum {
			bound = "less than"
		}
		w.add(manifest.SeverityError, RuleRange, "%s is %s, but %s requires a value %s %s", shown, num(f), w.what, bound, num(*m))
	}
	if m := k.multipleOf; m != nil && *m > 0 {
		if q := f / *m; q != math.Trunc(q) {
			w.add(manifest.SeverityError, RuleRange, "%s is %s, but %s requires a multiple of %s", shown, num(f), w.what, num(*m))
		}
	}
}

func (w *walker) listChecks(path, shown string, l []any, k *checks) {
	if k.minItems != nil && int64(len(l)) < *k.minItems {
		w.add(manifest.SeverityError, RuleItems, "%s has %d item(s), fewer than the %d that %s requires: add items",
			shown, len(l), *k.minItems, w.what)
	}
	if k.maxItems != nil && int64(len(l)) > *k.maxItems {
		w.add(manifest.SeverityError, RuleItems, "%s has %d items, more than the %d that %s allows: remove some",
			shown, len(l), *k.maxItems, w.what)
	}
	switch k.listType {
	case "set":
		for i := range l {
			for j := range i {
				if equalValue(l[i], l[j]) {
					restore := w.atField(path + "[" + strconv.Itoa(i) + "]")
					w.add(manifest.SeverityError, RuleItems, "%s[%d] repeats %s[%d]: %s keeps a set (x-kubernetes-list-type: set), remove the duplicate",
						path, i, path, j, w.what)
					restore()
					break
				}
			}
		}
	case "map":
		if len(k.listMapKeys) == 0 {
			return
		}
		seen := map[string]int{}
		for i, item := range l {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			var key []string
			for _, mk := range k.listMapKeys {
				key = append(key, mk+"="+fmt.Sprint(m[mk]))
			}
			id := strings.Join(key, ", ")
			if j, dup := seen[id]; dup {
				restore := w.atField(path + "[" + strconv.Itoa(i) + "]")
				w.add(manifest.SeverityError, RuleItems, "%s[%d] has the same key (%s) as %s[%d]: %s keeps a map keyed by %s, merge or rename the entries",
					path, i, id, path, j, w.what, strings.Join(k.listMapKeys, ", "))
				restore()
				continue
			}
			seen[id] = i
		}
	}
}

// compositions applies oneOf, anyOf, allOf and not. In a structural schema these carry value validations only; the
// shape (types, fields) comes from the surrounding schema, so a branch is checked for its validations alone.
func (w *walker) compositions(path, shown string, v any, k *checks, depth int) {
	if len(k.oneOf) > 0 {
		var matched []int
		var failures []string
		for i, b := range k.oneOf {
			if fs := w.branch(path, v, b, depth); len(fs) == 0 {
				matched = append(matched, i)
			} else {
				failures = append(failures, fs[0].Message)
			}
		}
		switch {
		case len(matched) == 0:
			w.add(manifest.SeverityError, RuleComposition, "%s matches none of the %d alternatives (oneOf) of %s: %s",
				shown, len(k.oneOf), w.what, strings.Join(failures, "; or "))
		case len(matched) > 1:
			w.add(manifest.SeverityError, RuleComposition, "%s matches %d of the alternatives (oneOf) of %s, but must match exactly one: keep the fields of one alternative",
				shown, len(matched), w.what)
		}
	}
	if len(k.anyOf) > 0 {
		var failures []string
		for _, b := range k.anyOf {
			fs := w.branch(path, v, b, depth)
			if len(fs) == 0 {
				failures = nil
				break
			}
			failures = append(failures, fs[0].Message)
		}
		if len(failures) > 0 {
			w.add(manifest.SeverityError, RuleComposition, "%s matches none of the alternatives (anyOf) of %s: %s",
				shown, w.what, strings.Join(failures, "; or "))
		}
	}
	for _, b := range k.allOf {
		for _, f := range w.branch(path, v, b, depth) {
			restore := w.atField(f.Field)
			w.add(f.Severity, f.Rule, "%s", f.Message)
			restore()
		}
	}
	if k.not != nil && len(w.branch(path, v, k.not, depth)) == 0 {
		w.add(manifest.SeverityError, RuleComposition, "%s matches a schema that %s forbids (not): change the value", shown, w.what)
	}
}

// maxBranches bounds how many alternatives (oneOf, anyOf, allOf, not) one object is checked against, nested ones
// included, so that a hostile CRD nesting alternatives in alternatives cannot make validation take exponential time.
const maxBranches = 10000

// branch checks v against one alternative and returns the findings, without reporting them. Past maxBranches, an
// alternative counts as matched.
func (w *walker) branch(path string, v any, n *node, depth int) manifest.Findings {
	if w.branches == nil {
		w.branches = new(int)
	}
	if *w.branches >= maxBranches {
		return nil
	}
	*w.branches++
	sub := &walker{obj: w.obj, what: w.what, valueOnly: true, branches: w.branches}
	sub.value(path, v, n, depth+1)
	return sub.findings
}

// maxShown is the most characters of a value from a CRD or an object that a finding shows: a CRD may carry a pattern,
// an enum value or a rule of megabytes, and a finding repeats it for every object it concerns.
const maxShown = 200

// shorten cuts s to maxShown characters, marking the cut with "…".
func shorten(s string) string {
	if len(s) <= maxShown || utf8.RuneCountInString(s) <= maxShown {
		return s
	}
	i := 0
	for n := 0; n < maxShown; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// quote quotes s for a finding, cut to maxShown characters.
func quote(s string) string {
	return strconv.Quote(shorten(s))
}

// regexpError describes why pattern does not compile without the regexp package's echo of the pattern: its error
// quotes the part at fault, which for an unclosed group is the whole pattern.
func regexpError(pattern string, err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return shorten(err.Error())
	}
	if se.Expr == "" || se.Expr == pattern {
		return "error parsing regexp: " + string(se.Code)
	}
	return "error parsing regexp: " + string(se.Code) + ": `" + shorten(se.Expr) + "`"
}

func quoteShort(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		r := []rune(s)
		s = string(r[:60]) + "…"
	}
	return strconv.Quote(s)
}

// equalValue compares two decoded values deeply, numbers by value.
func equalValue(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !equalValue(av, bv) {
				return false
			}
		}
		return true
	case []any:
		bl, ok := b.([]any)
		return ok && slices.EqualFunc(a, bl, equalValue)
	}
	return equalScalar(a, b)
}
