// Package strictyaml explains why sigs.k8s.io/yaml's strict decoder refused a document: on which line, at which
// field, and what to write instead. The decoder (YAML 1.1 by yaml.v2 to JSON, then encoding/json with unknown fields
// refused) decides what a document is; its errors name neither a line nor a field's place ("json: unknown field
// \"sgin\""). Schema.Explain walks the YAML node tree (go.yaml.in/yaml/v3, which keeps lines) alongside the Go
// types the document decodes into, reading each field's name from its json tag and each scalar as yaml.v2 reads it.
// It is not a decoder: it runs only after the decoder refused, to say why.
package strictyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Problem is what is wrong at one place of a document.
type Problem struct {
	line int
	// fields is the path of struct fields (their json names, without indexes or map keys) to the value, as
	// encoding/json's UnmarshalTypeError.Field names it.
	fields string
	// unknown is the key of an unknown field as the JSON decoder sees it; "" for other problems.
	unknown string
	// badKey is a key that is not a name (null, a list or a mapping), which the YAML to JSON step refuses.
	badKey bool
	msg    string
}

// Noun names a struct type in messages: Fields comes before the list of its fields' names ("a target's fields"),
// Plural says what a list of them holds ("targets").
type Noun struct{ Fields, Plural string }

// Schema is the type a document decodes into, and the words for its parts.
type Schema struct {
	Root  reflect.Type
	Nouns map[reflect.Type]Noun
	// Either are the types that decode themselves (UnmarshalJSON) from a string or from a mapping of their fields
	// decoded without coercion, with what such a value is in words ("a rule, or {rule: RULE, reason: WHY}").
	Either map[reflect.Type]string
}

// Explain explains err, sigs.k8s.io/yaml's strict refusal of data: the line (0 when unknown) and what is wrong and
// what to write. ok is false when no problem of the walk matches: msg is then the decoder's own words.
func (s *Schema) Explain(data []byte, err error) (line int, msg string, ok bool) {
	msg = err.Error()
	for _, prefix := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "error converting YAML to JSON: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if yamlMsg, isYAML := strings.CutPrefix(msg, "yaml: "); isYAML {
		line, msg = yamlSyntaxError(data, yamlMsg)
		return line, msg, true
	}
	if p := matchProblem(s.Problems(data), err, msg); p != nil {
		return p.line, p.msg, true
	}
	return 0, strings.TrimPrefix(msg, "json: "), false
}

// matchProblem picks the problem that the decoder reported as err (msg its text): a value of the wrong type at
// the same field, an unknown field of the same name, a key that is not a name; else the first problem found.
func matchProblem(problems []Problem, err error, msg string) *Problem {
	var typeErr *json.UnmarshalTypeError
	isTypeErr := errors.As(err, &typeErr) && typeErr.Field != ""
	unknown, unknownErr := "", errors.New("no unknown field")
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		unknown, unknownErr = strconv.Unquote(m[1]) // encoding/json quotes the key with %q
	}
	for i, p := range problems {
		switch {
		case isTypeErr && p.unknown == "" && !p.badKey && strings.EqualFold(p.fields, typeErr.Field),
			unknownErr == nil && p.unknown == unknown,
			strings.Contains(msg, "map key") && p.badKey:
			return &problems[i]
		}
	}
	if len(problems) > 0 {
		return &problems[0]
	}
	return nil
}

var unknownFieldRE = regexp.MustCompile(`unknown field ("(?:[^"\\]|\\.)*")`)

// yamlSyntaxError is yaml.v2's error msg ("line N: what", "unmarshal errors:\n  line N: what", or "what") about
// data: its line and message.
func yamlSyntaxError(data []byte, msg string) (int, string) {
	if rest, ok := strings.CutPrefix(msg, "unmarshal errors:\n"); ok {
		msg, _, _ = strings.Cut(strings.TrimSpace(rest), "\n")
	}
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else if strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode") {
		// The reader's errors name no line: the first character YAML does not allow is on it.
		line = badCharLine(data)
	} else if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		line = aliasLine(data, m[1])
	} else if !strings.Contains(msg, "anchor") && !strings.Contains(msg, "alias") && !strings.Contains(msg, "map key") {
		// The scanner and the parser leave the line out when it is the first (their 0-based line is 0).
		line = 1
	}
	if m := duplicateKeyRE.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("key %s is set twice in the same mapping: keep one", m[1])
	} else {
		msg = "not valid YAML: " + msg
	}
	if n := yamlLines(data); line > n {
		line = n // an error at the end of the input, after its last line break
	}
	return line, msg
}

var (
	yamlLineRE      = regexp.MustCompile(`^line (\d+): `)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
	duplicateKeyRE  = regexp.MustCompile(`^key (".*") already set in map$`)
)

// aliasLine is the line of the first alias of anchor (*anchor) in data; 0 if there is none.
func aliasLine(data []byte, anchor string) int {
	alias := []byte("*" + anchor)
	for i := 0; i < len(data); {
		j := bytes.Index(data[i:], alias)
		if j < 0 {
			return 0
		}
		end := i + j + len(alias)
		if end == len(data) || bytes.ContainsAny(data[end:end+1], " \t\r\n,]}") {
			return yamlLines(data[:end])
		}
		i = end
	}
	return 0
}

// yamlLines is the number of lines of data as YAML counts them (a break is \r\n, \r, \n, NEL, LS or PS); a break
// at the end starts no line.
func yamlLines(data []byte) int {
	n := 1
	for i := 0; i < len(data); {
		size := yamlBreak(data[i:])
		if size == 0 {
			i++
			continue
		}
		if i += size; i < len(data) {
			n++
		}
	}
	return n
}

// yamlBreak is the length of the line break data starts with; 0 if it starts with none.
func yamlBreak(data []byte) int {
	switch {
	case len(data) >= 2 && data[0] == '\r' && data[1] == '\n':
		return 2
	case len(data) >= 1 && (data[0] == '\r' || data[0] == '\n'):
		return 1
	case len(data) >= 2 && data[0] == 0xC2 && data[1] == 0x85:
		return 2
	case len(data) >= 3 && data[0] == 0xE2 && data[1] == 0x80 && (data[2] == 0xA8 || data[2] == 0xA9):
		return 3
	}
	return 0
}

// badCharLine is the line of the first character YAML does not allow in data (invalid UTF-8, a control
// character); 0 if there is none.
func badCharLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		if size := yamlBreak(data[i:]); size > 0 {
			i += size
			line++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || !yamlPrintable(r) {
			return line
		}
		i += size
	}
	return 0
}

// yamlPrintable is YAML 1.1's c-printable, which yaml.v2's reader checks.
func yamlPrintable(r rune) bool {
	return r == '\t' || r >= 0x20 && r <= 0x7E || r == 0x85 || r >= 0xA0 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// Problems walks data's YAML alongside the Root type and returns what the strict decoder would refuse, in the order
// of the file; none when the YAML does not parse.
func (s *Schema) Problems(data []byte) []Problem {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	w := walker{s: s, seen: map[walkedNode]bool{}}
	w.value(doc.Content[0], s.Root, "", "", true)
	return w.problems
}

type walker struct {
	s        *Schema
	problems []Problem
	// seen are the aliased nodes walked already: an anchor used many times (or inside itself) is walked once.
	seen map[walkedNode]bool
}

type walkedNode struct {
	n      *yaml.Node
	t      reflect.Type
	coerce bool
}

// value walks n, decoded into a value of type t, at path (as a user reads it: targets[0].sign) and fields (as
// encoding/json names it: targets.sign). coerce says whether a number or boolean becomes the string a string field
// wants, as sigs.k8s.io/yaml makes it everywhere but below a type that decodes itself (UnmarshalJSON).
func (w *walker) value(n *yaml.Node, t reflect.Type, path, fields string, coerce bool) {
	if n = w.resolve(n, t, coerce); n == nil || isNull(n) {
		return // null leaves any field as it is
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if want, ok := w.s.Either[t]; ok {
		// The type's UnmarshalJSON takes a string, or a mapping of its fields decoded without coercion.
		if n.Kind == yaml.ScalarNode {
			if _, ok := v2Scalar(n).(string); !ok {
				w.typeProblem(n, path, fields, want, "quote it")
			}
			return
		}
		w.mapping(n, t, path, fields, want, false)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.mapping(n, t, path, fields, "a mapping ("+w.s.fieldsOf(t)+")", coerce)
	case reflect.Map:
		w.mapping(n, t, path, fields, "a mapping of keys to "+w.s.itemsOf(t.Elem()), coerce)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			hint := ""
			if t.Elem().Kind() == reflect.String && n.Kind == yaml.ScalarNode {
				hint = fmt.Sprintf("write [%s] for a list of one", n.Value)
			}
			w.typeProblem(n, path, fields, "a list of "+w.s.itemsOf(t.Elem()), hint)
			return
		}
		for i, item := range n.Content {
			w.value(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), fields, coerce)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.typeProblem(n, path, fields, "a string", "")
			return
		}
		switch v := v2Scalar(n); v.(type) {
		case string:
		case bool, int, int64, uint64, float64:
			if !coerce {
				w.typeProblem(n, path, fields, "a string", fmt.Sprintf("quote it (%q)", n.Value))
			}
		default:
			w.typeProblem(n, path, fields, "a string", "")
		}
	case reflect.Bool:
		if _, ok := v2Scalar(n).(bool); n.Kind == yaml.ScalarNode && ok {
			return
		}
		hint := ""
		if _, ok := v2Resolve(n.Value).(bool); ok && n.Kind == yaml.ScalarNode {
			hint = "remove the quotes" // a quoted "true" or "yes"
		}
		w.typeProblem(n, path, fields, "true or false", hint)
	}
}

// resolve follows aliases from n; nil when the node they lead to was walked as t already.
func (w *walker) resolve(n *yaml.Node, t reflect.Type, coerce bool) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
		if n == nil || w.seen[walkedNode{n, t, coerce}] {
			return nil
		}
		w.seen[walkedNode{n, t, coerce}] = true
	}
	return n
}

// mapping walks the mapping n, the fields of the struct t or the entries of the map t; want is what t is in words.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path, fields, want string, coerce bool) {
	if n.Kind != yaml.MappingNode {
		w.typeProblem(n, path, fields, want, "")
		return
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := n.Content[k], n.Content[k+1]
		for key.Kind == yaml.AliasNode && key.Alias != nil {
			key = key.Alias
		}
		if key.Kind == yaml.ScalarNode && key.Tag == "!!merge" {
			w.merge(val, t, path, fields, want, coerce) // yaml.v2 takes the merged mapping's keys as this one's
			continue
		}
		name, ok := jsonKey(key)
		if !ok {
			w.problems = append(w.problems, Problem{line: key.Line, fields: fields, badKey: true,
				msg: fmt.Sprintf("a key in %s is %s, not a name: keys are field names", orTop(path), describeNode(key))})
			continue
		}
		if t.Kind() == reflect.Map {
			w.value(val, t.Elem(), mapPath(path, name), fields, coerce)
			continue
		}
		f, ok := fieldByName(t, name)
		if !ok {
			msg := fmt.Sprintf("unknown field %q %s (%s)", key.Value, inPath(path), w.s.fieldsOf(t))
			if s := SuggestField(key.Value, t); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			w.problems = append(w.problems, Problem{line: key.Line, fields: fields, unknown: name, msg: msg})
			continue
		}
		w.value(val, f.Type, joinPath(path, f.Name), joinPath(fields, f.Name), coerce)
	}
}

// merge walks the value of a merge key (<<): a mapping, an alias of one, or a list of them.
func (w *walker) merge(n *yaml.Node, t reflect.Type, path, fields, want string, coerce bool) {
	if n = w.resolve(n, t, coerce); n == nil {
		return
	}
	if n.Kind == yaml.SequenceNode {
		for _, item := range n.Content {
			w.merge(item, t, path, fields, want, coerce)
		}
		return
	}
	w.mapping(n, t, path, fields, want, coerce)
}

func (w *walker) typeProblem(n *yaml.Node, path, fields, want, hint string) {
	msg := fmt.Sprintf("%s must be %s, not %s", orWhole(path), want, describeNode(n))
	if hint != "" {
		msg += ": " + hint
	}
	w.problems = append(w.problems, Problem{line: n.Line, fields: fields, msg: msg})
}

// v2Scalar is the value yaml.v2, which sigs.k8s.io/yaml decodes with, reads from the scalar n into an interface{}:
// YAML 1.1, where yes and on are true; a quoted scalar, or one tagged !!str, is a string.
func v2Scalar(n *yaml.Node) any {
	switch {
	case n.Style&yaml.TaggedStyle != 0:
		switch n.Tag {
		case "!!str", "!!binary", "!!timestamp":
			return n.Value
		case "!!null":
			return nil
		case "!!bool", "!!int", "!!float":
			return v2Resolve(n.Value)
		}
		return n.Value // a tag of its own: yaml.v2 leaves the value as it is
	case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return n.Value
	}
	return v2Resolve(n.Value)
}

// v2Resolve is the value yaml.v2 gives the plain scalar s in an interface{}, as its resolve function (resolve.go)
// makes it; a timestamp stays a string there, as its decoder keeps it.
func v2Resolve(s string) any {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false
	case "", "~", "null", "Null", "NULL":
		return nil
	case ".nan", ".NaN", ".NAN":
		return math.NaN()
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
		return math.Inf(+1)
	case "-.inf", "-.Inf", "-.INF":
		return math.Inf(-1)
	}
	switch c := s[0]; {
	case c == '.':
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		plain := strings.ReplaceAll(s, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return int(i)
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return u
		}
		if yamlFloatRE.MatchString(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return f
			}
		}
		if b, ok := strings.CutPrefix(plain, "0b"); ok {
			if i, err := strconv.ParseInt(b, 2, 64); err == nil {
				return int(i)
			}
			if u, err := strconv.ParseUint(b, 2, 64); err == nil {
				return u
			}
		} else if b, ok := strings.CutPrefix(plain, "-0b"); ok {
			if i, err := strconv.ParseInt("-"+b, 2, 64); err == nil {
				return int(i)
			}
		}
	}
	return s
}

var yamlFloatRE = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && v2Scalar(n) == nil
}

// jsonKey is the JSON key sigs.k8s.io/yaml makes of the mapping key n; false when it makes none.
func jsonKey(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	switch k := v2Scalar(n).(type) {
	case string:
		return k, true
	case bool, int, int64, uint64:
		return fmt.Sprint(k), true
	case float64:
		s := strconv.FormatFloat(k, 'g', -1, 32)
		switch s {
		case "+Inf":
			s = ".inf"
		case "-Inf":
			s = "-.inf"
		case "NaN":
			s = ".nan"
		}
		return s, true
	}
	return "", false
}

// Field is a field of a struct that the JSON decoder fills: its json name and its type.
// Field is a field of a struct that the JSON decoder fills: its json name and its type.
type Field struct {
	Name string
	Type reflect.Type
}

// fieldCache holds the Fields of each struct type met.
var fieldCache sync.Map // reflect.Type → []Field

// Fields are the fields of the struct t that the JSON decoder fills, in their order.
func Fields(t reflect.Type) []Field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]Field)
	}
	var out []Field
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if f.IsExported() && name != "-" {
			out = append(out, Field{name, f.Type})
		}
	}
	fieldCache.Store(t, out)
	return out
}

// fieldByName finds the field of t the JSON decoder fills from key: its exact name, else a name equal to it
// ignoring case.
func fieldByName(t reflect.Type, key string) (Field, bool) {
	var folded *Field
	for _, f := range Fields(t) {
		switch {
		case f.Name == key:
			return f, true
		case folded == nil && strings.EqualFold(f.Name, key):
			folded = &f
		}
	}
	if folded != nil {
		return *folded, true
	}
	return Field{}, false
}

// fieldsOf lists the fields of the struct t: "a target's fields: name, path, …".
func (s *Schema) fieldsOf(t reflect.Type) string {
	var names []string
	for _, f := range Fields(t) {
		names = append(names, f.Name)
	}
	intro := s.Nouns[t].Fields
	if intro == "" {
		intro = "its fields"
	}
	return intro + ": " + strings.Join(names, ", ")
}

// itemsOf is what a list of t holds, in words.
func (s *Schema) itemsOf(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "strings"
	case reflect.Bool:
		return "booleans"
	}
	if n := s.Nouns[t].Plural; n != "" {
		return n
	}
	return "values"
}

// SuggestField is the field of t that key is a near miss of (at most two edits, a swap of neighbours being one);
// "" unless exactly one field is that near.
func SuggestField(key string, t reflect.Type) string {
	var near []string
	for _, f := range Fields(t) {
		if d := editDistance(strings.ToLower(key), strings.ToLower(f.Name)); d <= 2 && d < len(key) {
			near = append(near, f.Name)
		}
	}
	if len(near) != 1 {
		return ""
	}
	return near[0]
}

// editDistance is the optimal string alignment distance between a and b: insertions, deletions, substitutions
// and swaps of adjacent bytes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// describeNode says what n is, for an error: a list, a mapping, the string "x", the number 3, the boolean yes.
func describeNode(n *yaml.Node) string {
	if n.Kind == yaml.SequenceNode {
		return "a list"
	} else if n.Kind != yaml.ScalarNode {
		return "a mapping" // aliases are followed before
	}
	short := n.Value
	if utf8.RuneCountInString(short) > 40 {
		short = string([]rune(short)[:40]) + "…"
	}
	switch v2Scalar(n).(type) {
	case nil:
		return "null"
	case bool:
		return "the boolean " + short
	case int, int64, uint64, float64:
		return "the number " + short
	}
	return fmt.Sprintf("the string %q", short)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mapPath is the path of a map's entry: annotations.team, or annotations["example.com/team"].
func mapPath(path, key string) string {
	if plainKeyRE.MatchString(key) {
		return joinPath(path, key)
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

func inPath(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func orWhole(path string) string {
	if path == "" {
		return "the config"
	}
	return path
}
