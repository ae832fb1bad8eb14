package build

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// maxNodes bounds the number of values one document may expand to, aliases included, so that an alias bomb
// ("billion laughs") ends with a finding instead of exhausting memory.
const maxNodes = 1 << 20

// maxDepth bounds nesting, so that deeply nested input cannot exhaust the stack.
const maxDepth = 512

// maxExpandedBytes bounds the bytes of scalar text (values and keys) one file may expand to, aliases expanded, so
// that an alias bomb of few values but long strings ends with a finding too: 10,000 aliases of a 1 MB string are
// far under maxNodes but 10 GB once serialised. It is four times DefaultMaxFileSize, far above any object
// Kubernetes stores (etcd takes about 1.5 MiB); a file larger than a quarter of it, which a raised --max-file-size
// lets through, may expand to four times its own size (see expansionLimit).
const maxExpandedBytes = 4 * DefaultMaxFileSize

// expansionLimit is the most scalar bytes a file of size bytes may expand to: maxExpandedBytes, or four times the
// file's size for a larger file.
func expansionLimit(size int) int64 {
	return max(maxExpandedBytes, 4*int64(size))
}

// byteBudget counts the scalar bytes decoded from one file, through aliases, against expansionLimit.
type byteBudget struct {
	used, limit int64
	// identities says that only the objects' identities and lines are wanted (LocateSources): objects are then not
	// serialised, which is most of the cost of decoding.
	identities bool
}

// object makes the object of a decoded document: serialised canonically, or with its identity alone.
func (b *byteBudget) object(m map[string]any, src Source) (Object, error) {
	if b.identities {
		return newObject(m, nil, src), nil
	}
	return objectFromMap(m, src)
}

// add counts n bytes and reports whether the budget still holds.
func (b *byteBudget) add(n int64) bool {
	b.used = min(b.used+n, math.MaxInt64/2) // n is at most MaxInt64/2: no overflow
	return b.used <= b.limit
}

// bytesBombMessage says that the file goes over limit where it expands the alias at (or, without an alias, at a
// scalar; possible only for a file that does not come from a source tree).
func bytesBombMessage(at *yaml.Node, limit int64) string {
	if at.Kind == yaml.AliasNode && at.Alias != nil {
		return fmt.Sprintf("alias *%s (anchor at line %d) makes the file expand to more than %d bytes (alias bomb?): write out the values it stands for, or remove it",
			at.Value, at.Alias.Line, limit)
	}
	return fmt.Sprintf("the file expands to more than %d bytes: split it", limit)
}

// decodeStream splits a YAML or JSON stream into Kubernetes objects. Empty documents and comments are skipped, a
// UTF-8 byte-order mark and CRLF line ends are accepted, and List kinds are unwrapped into their items. Problems are
// returned as findings naming file and line; decoding goes on with the next document where the parser allows.
func decodeStream(file string, data []byte) ([]Object, Findings) {
	return decodeWith(file, data, false)
}

// decodeIdentities is decodeStream for what the objects are and where: their content is decoded, not serialised.
func decodeIdentities(file string, data []byte) ([]Object, Findings) {
	return decodeWith(file, data, true)
}

func decodeWith(file string, data []byte, identities bool) ([]Object, Findings) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, Findings{{Severity: SeverityError, Rule: "yaml/syntax", File: file,
			Message: "not a text file (invalid UTF-8 or NUL bytes): remove it or give it another extension"}}
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if strings.EqualFold(path.Ext(file), ".json") {
		// JSON is read as JSON, as kubectl does: YAML would let a trailing comma or a comment through. A file may
		// hold several values one after another; each is decoded on its own, keeping its lines.
		if f, ok := jsonSyntax(file, data); !ok {
			return nil, Findings{f}
		}
		return decodeJSONValues(file, data, &byteBudget{limit: expansionLimit(len(data)), identities: identities})
	}
	return decodeYAMLDocuments(file, data, &byteBudget{limit: expansionLimit(len(data)), identities: identities})
}

// decodeYAMLDocuments decodes a YAML stream whose encoding has been checked, counting its scalars against budget.
func decodeYAMLDocuments(file string, data []byte, budget *byteBudget) ([]Object, Findings) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var objs []Object
	var findings Findings
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := decodeNode(dec, &n)
		if errors.Is(err, errEOF) {
			break
		}
		if err != nil {
			// The yaml parser cannot resynchronise after a syntax error: report it and stop reading this file.
			line, msg := yamlErrorLine(err)
			return objs, append(findings, Finding{Severity: SeverityError, Rule: "yaml/syntax", File: file,
				Line: line, Message: msg})
		}
		o, fs := documentObjects(file, &n, budget)
		objs = append(objs, o...)
		findings = append(findings, fs...)
	}
	return objs, findings
}

var errEOF = errors.New("end of stream")

// decodeJSONValues decodes each top-level JSON value of data as a document, with lines counted from the file's start.
func decodeJSONValues(file string, data []byte, budget *byteBudget) ([]Object, Findings) {
	var objs []Object
	var findings Findings
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		start := dec.InputOffset()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return objs, findings // io.EOF: jsonSyntax has checked the rest
		}
		// Skip the whitespace between values so that the line is the value's own.
		for start < int64(len(data)) && strings.ContainsRune(" \t\r\n", rune(data[start])) {
			start++
		}
		offset := bytes.Count(data[:start], []byte("\n"))
		o, f := decodeYAMLDocuments(file, v, budget)
		for i := range o {
			o[i].Source.Line += offset
		}
		for i := range f {
			if f[i].Line > 0 {
				f[i].Line += offset
			}
		}
		objs, findings = append(objs, o...), append(findings, f...)
	}
}

// jsonSyntax checks that data is a stream of JSON values and reports the first syntax error with its line.
func jsonSyntax(file string, data []byte) (Finding, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			return Finding{}, true
		}
		if err != nil {
			offset := dec.InputOffset()
			var se *json.SyntaxError
			if errors.As(err, &se) {
				offset = se.Offset
			}
			line := 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n"))
			return Finding{Severity: SeverityError, Rule: "json/syntax", File: file, Line: line,
				Message: strings.TrimPrefix(err.Error(), "json: ")}, false
		}
	}
}

// decodeNode turns the yaml package's panics on hostile input into errors.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml parser failed: %v", r)
		}
	}()
	err = dec.Decode(n)
	if errors.Is(err, io.EOF) {
		return errEOF
	}
	return err
}

// yamlErrorLine extracts the line from the yaml package's "yaml: line N: msg" errors.
func yamlErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, convErr := strconv.Atoi(rest[:i]); convErr == nil {
				return n, rest[i+2:]
			}
		}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return yamlErrorLine(errors.New(te.Errors[0]))
	}
	return 0, msg
}

// documentObjects converts one parsed document into objects, counting its scalars against budget.
func documentObjects(file string, doc *yaml.Node, budget *byteBudget) ([]Object, Findings) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil // an empty document, or one holding only comments
	}
	c := converter{budget: budget}
	v, err := c.value(root, 0)
	if err != nil {
		return nil, Findings{{Severity: SeverityError, Rule: "yaml/syntax", File: file, Line: c.line(root, err),
			Message: err.Error()}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Findings{{Severity: SeverityError, Rule: "object/not-a-mapping", File: file, Line: root.Line,
			Message: fmt.Sprintf("document is a %s, not a Kubernetes object: every YAML document must be a mapping with apiVersion, kind and metadata", kindName(root))}}
	}
	if noObject(m) {
		return nil, Findings{notAnObject(file, root.Line, m)}
	}
	src := Source{File: file, Line: root.Line}
	if items, isList := listItems(m); isList {
		var objs []Object
		var findings Findings
		itemNodes := mappingValue(root, "items")
		for i, it := range items {
			line := src.Line
			if itemNodes != nil && i < len(itemNodes.Content) {
				line = itemNodes.Content[i].Line
			}
			im, ok := it.(map[string]any)
			if !ok {
				findings = append(findings, Finding{Severity: SeverityError, Rule: "object/not-a-mapping", File: file,
					Line: line, Message: fmt.Sprintf("item %d of the List is not a Kubernetes object", i)})
				continue
			}
			if noObject(im) { // as a document of its own would be: re-read, it would not decode to an object
				f := notAnObject(file, line, im)
				f.Message = fmt.Sprintf("item %d of the List: %s", i, f.Message)
				findings = append(findings, f)
				continue
			}
			o, err := budget.object(im, Source{File: file, Line: line})
			if err != nil {
				findings = append(findings, Finding{Severity: SeverityError, Rule: "yaml/syntax", File: file,
					Line: line, Message: err.Error()})
				continue
			}
			objs = append(objs, o)
		}
		return objs, findings
	}
	o, err := budget.object(m, src)
	if err != nil {
		return nil, Findings{{Severity: SeverityError, Rule: "yaml/syntax", File: file, Line: src.Line,
			Message: err.Error()}}
	}
	return []Object{o}, nil
}

// noObject reports a mapping with neither apiVersion nor kind: no Kubernetes object at all.
func noObject(m map[string]any) bool {
	_, hasAPIVersion := m["apiVersion"]
	_, hasKind := m["kind"]
	return !hasAPIVersion && !hasKind
}

// notAnObject is the one finding of a mapping with neither apiVersion nor kind (a Helm values file, a tool's
// config): not a Kubernetes object with mistakes, but no object at all, which render refuses as validate does.
func notAnObject(file string, line int, m map[string]any) Finding {
	keys := slices.Sorted(maps.Keys(m))
	shown := "an empty mapping"
	if len(keys) > 0 {
		shown = "a mapping without apiVersion and kind (keys: " + strings.Join(keys[:min(len(keys), 3)], ", ")
		if len(keys) > 3 {
			shown += ", …"
		}
		shown += ")"
	}
	return Finding{Severity: SeverityError, Rule: "object/not-an-object", File: file, Line: line,
		Message: fmt.Sprintf("document is %s, not a Kubernetes object: Flux and Argo CD apply every YAML file of the artifact, so it cannot be in the tree; move it out, or list it in .sourceignore", shown)}
}

// objectFromMap serialises an object canonically.
func objectFromMap(m map[string]any, src Source) (Object, error) {
	y, err := canonicalYAML(m)
	if err != nil {
		return Object{}, fmt.Errorf("cannot serialise object: %w", err)
	}
	return newObject(m, y, src), nil
}

// listItems reports whether m is a List kind (kind "List" or "…List" with an items sequence and no spec), and
// returns its items.
func listItems(m map[string]any) ([]any, bool) {
	kind, _ := m["kind"].(string)
	if !strings.HasSuffix(kind, "List") {
		return nil, false
	}
	items, ok := m["items"].([]any)
	if !ok {
		return nil, false
	}
	if _, hasSpec := m["spec"]; hasSpec {
		return nil, false
	}
	return items, true
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar value"
	case yaml.AliasNode:
		return "alias"
	}
	return "mapping"
}

// converter turns yaml nodes into plain Go values with the types JSON has, keeping scalars as Kubernetes reads
// them: timestamps and binary stay strings, integers are int64, and aliases are expanded within a budget of values
// (maxNodes) and of scalar bytes. The values share the strings of the nodes, so converting costs memory by the
// value, not by the byte; the bytes are what serialising the object (objectFromMap) would allocate, and the budget
// refuses them first.
type converter struct {
	nodes  int
	budget *byteBudget
	alias  *yaml.Node // the outermost alias being expanded, named when the budget runs out
}

type nodeError struct {
	node *yaml.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

func (c *converter) line(root *yaml.Node, err error) int {
	var ne *nodeError
	if errors.As(err, &ne) && ne.node != nil && ne.node.Line > 0 {
		return ne.node.Line
	}
	return root.Line
}

func (c *converter) value(n *yaml.Node, depth int) (any, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, &nodeError{n, fmt.Sprintf("document expands to more than %d values (alias bomb?)", maxNodes)}
	}
	if depth > maxDepth {
		return nil, &nodeError{n, fmt.Sprintf("document is nested deeper than %d levels", maxDepth)}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if c.alias == nil {
			c.alias = n
			defer func() { c.alias = nil }()
		}
		return c.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.ScalarNode:
		if err := c.count(n, nil); err != nil {
			return nil, err
		}
		return scalar(n)
	}
	return nil, &nodeError{n, "unsupported YAML node"}
}

// count charges the bytes of scalar n to the budget. via is the alias n was reached through, if any, for a key.
func (c *converter) count(n, via *yaml.Node) error {
	if c.budget.add(int64(len(n.Value))) {
		return nil
	}
	at := n
	if c.alias != nil {
		at = c.alias
	} else if via != nil {
		at = via
	}
	return &nodeError{at, bytesBombMessage(at, c.budget.limit)}
}

func (c *converter) mapping(n *yaml.Node, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		key, err := c.key(k, depth)
		if err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, &nodeError{k, fmt.Sprintf("key %q is defined twice in the same mapping", key)}
		}
		val, err := c.value(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	// Merge keys (<<) fill in what the mapping does not set itself, as YAML 1.1 specifies.
	for _, m := range merges {
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, s := range srcs {
			v, err := c.value(s, depth+1)
			if err != nil {
				return nil, err
			}
			mm, ok := v.(map[string]any)
			if !ok {
				return nil, &nodeError{s, "merge key (<<) must refer to a mapping"}
			}
			for k, val := range mm {
				if _, set := out[k]; !set {
					out[k] = val
				}
			}
		}
	}
	return out, nil
}

// key turns a mapping key into a string, as Kubernetes' YAML-to-JSON conversion does for numbers and booleans.
func (c *converter) key(k *yaml.Node, depth int) (string, error) {
	var via *yaml.Node
	for k.Kind == yaml.AliasNode {
		if via == nil {
			via = k
		}
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return "", &nodeError{k, "mapping key must be a scalar"}
	}
	if err := c.count(k, via); err != nil {
		return "", err
	}
	v, err := scalar(k)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "null", nil
	case string:
		return v, nil
	default:
		b, err := sigsyaml.Marshal(v)
		if err != nil {
			return "", &nodeError{k, err.Error()}
		}
		return strings.TrimSpace(string(b)), nil
	}
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, &nodeError{n, err.Error()}
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return float64(u), nil
		}
		return nil, &nodeError{n, fmt.Sprintf("integer %s is out of range", n.Value)}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, &nodeError{n, err.Error()}
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, &nodeError{n, fmt.Sprintf("%s is not a number JSON can carry: quote it to make it a string", n.Value)}
		}
		return f, nil
	default:
		// Strings, timestamps, binary and custom tags keep their text, as Kubernetes and kustomize read them.
		return n.Value, nil
	}
}

// checkExpansion refuses YAML whose aliases expand to more than maxNodes values, or to more scalar bytes than
// expansionLimit allows, or that nests deeper than maxDepth, before a library that expands aliases without a budget
// (kustomize) reads it. It counts each anchored subtree once and multiplies through aliases, so the check itself is
// linear in the size of the input and allocates nothing like the expansion. An error names the line when it can,
// as "line N: …".
func checkExpansion(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	budget := byteBudget{limit: expansionLimit(len(data))}
	for {
		var n yaml.Node
		err := decodeNode(dec, &n)
		if errors.Is(err, errEOF) {
			return nil
		}
		if err != nil {
			return nil // a syntax error: the reader reports it with its line
		}
		memo := map[*yaml.Node]expansion{}
		size, err := expandedSize(&n, memo, 0)
		if err != nil {
			return err
		}
		if size.nodes > maxNodes {
			return fmt.Errorf("document at line %d expands to more than %d values (alias bomb?)", n.Line, maxNodes)
		}
		if before := budget; !budget.add(size.bytes) {
			// Walk the document again, in order, to name the alias that goes over the limit.
			at := overLimit(&n, memo, &before)
			if at == nil {
				at = &n // not reached: the walk adds up to size.bytes
			}
			return fmt.Errorf("line %d: %s", at.Line, bytesBombMessage(at, budget.limit))
		}
	}
}

// expansion is the size of a node with its aliases expanded: values, and bytes of scalar text.
type expansion struct {
	nodes int
	bytes int64
}

func expandedSize(n *yaml.Node, memo map[*yaml.Node]expansion, depth int) (expansion, error) {
	if depth > maxDepth {
		return expansion{}, fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxDepth)
	}
	if size, ok := memo[n]; ok {
		return size, nil
	}
	size := expansion{nodes: 1}
	// Byte counts saturate at MaxInt64/2, so that a sum of two never overflows however far aliases multiply.
	const saturated = math.MaxInt64 / 2
	switch {
	case n.Kind == yaml.AliasNode && n.Alias != nil:
		s, err := expandedSize(n.Alias, memo, depth+1)
		if err != nil {
			return expansion{}, err
		}
		size = s
	case n.Kind == yaml.ScalarNode:
		size.bytes = int64(len(n.Value))
	}
	for _, c := range n.Content {
		s, err := expandedSize(c, memo, depth+1)
		if err != nil {
			return expansion{}, err
		}
		size.nodes += s.nodes
		size.bytes = min(size.bytes+s.bytes, saturated)
		if size.nodes > maxNodes {
			break
		}
	}
	memo[n] = size
	return size, nil
}

// overLimit walks n in document order, not through aliases, charging budget with each scalar and with the
// expanded size of each alias, and returns the node at which the budget runs out, or nil.
func overLimit(n *yaml.Node, memo map[*yaml.Node]expansion, budget *byteBudget) *yaml.Node {
	switch {
	case n.Kind == yaml.AliasNode && n.Alias != nil:
		size, _ := expandedSize(n.Alias, memo, 0) // memoised by checkExpansion
		if !budget.add(size.bytes) {
			return n
		}
	case n.Kind == yaml.ScalarNode:
		if !budget.add(int64(len(n.Value))) {
			return n
		}
	}
	for _, c := range n.Content {
		if at := overLimit(c, memo, budget); at != nil {
			return at
		}
	}
	return nil
}

// DecodeManifests decodes a stream of manifests that is not a file of the tree — what a Helm chart rendered, say —
// with the rules Render applies to a file: file names it in findings and sources.
func DecodeManifests(file string, data []byte) ([]Object, Findings) { return decodeStream(file, data) }

// NewObject makes an object of decoded content (maps, slices, strings, bools, int64, float64 and nil), serialised
// canonically as Render serialises objects: what a stage that changes an object after the render uses.
func NewObject(content map[string]any, src Source) (Object, error) {
	return objectFromMap(content, src)
}
