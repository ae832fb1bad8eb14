package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// How a finding reaches the line of its field.
//
// A finding starts on its object's line (Object.Source) and may name a field (Finding.Field). Placing it reads the
// object's source file again, as yaml nodes, only for the files of findings with fields: a clean tree, or one
// whose findings name no field, reads nothing more. The document is the mapping that starts on the object's line
// (a List's item included) and has the object's kind, so that an object placed at another document — a Helm
// release's objects at the release, say — is never given a line of it. The field's line is that of its key (of
// the item, for a list item) when the document writes the field with the value the object has: a field that a
// kustomize patch, transformer or generator set or changed, or that the object lacks, keeps the object's line. A
// finding placed on its field's line gets the column of the key (of the item) too, which the same nodes carry.

// PlaceFields moves each finding that names a field of a rendered object to the line (and column) where the
// object's source document writes that field, when it writes it with the value the object has; other findings keep
// their lines.
// It reads the findings' source files within the root and the size limit, each at most once.
func (r *Rendering) PlaceFields(fs Findings) {
	type key struct {
		id  ObjectID
		src Source
	}
	var objs map[key]*Object
	var at map[Source][]*Object
	files := map[string]map[int][]docNode{}
	for i := range fs {
		f := &fs[i]
		if f.Field == "" || f.File == "" || f.Line <= 0 || f.Object == nil {
			continue
		}
		if objs == nil {
			objs, at = make(map[key]*Object, len(r.Objects)), make(map[Source][]*Object, len(r.Objects))
			for j := range r.Objects {
				o := &r.Objects[j]
				objs[key{o.FindingID(), o.Source}] = o
				at[o.Source] = append(at[o.Source], o)
			}
		}
		src := Source{File: f.File, Line: f.Line}
		o := objs[key{*f.Object, src}]
		if c := at[src]; o == nil && len(c) == 1 && c[0].ID.Group == f.Object.Group && c[0].ID.Kind == f.Object.Kind {
			// The finding is about the object as validated, which Flux's substitution may have renamed
			// (app-${cluster} → app-prod): the one object of its kind rendered from that document is the same one.
			// An object of another kind there (the HelmRelease whose chart made the object) is not.
			o = c[0]
		}
		if o == nil {
			continue
		}
		docs, read := files[f.File]
		if !read {
			docs = r.sourceNodes(f.File)
			files[f.File] = docs
		}
		if line, col := fieldLine(docs[o.Source.Line], o, f.Field); line > 0 {
			f.Line, f.Column = line, col
		}
	}
}

// docNode is a mapping that may be an object's document: a document's root, or an item of a List, with the number
// of lines before the JSON value it was parsed from, and the columns before it on its first line.
type docNode struct {
	node   *yaml.Node
	offset int
	column int
}

// sourceNodes parses a source file of the tree into its candidate object mappings, by the line each starts on;
// none when it cannot be read.
func (r *Rendering) sourceNodes(file string) map[int][]docNode {
	abs := filepath.Join(r.Root, filepath.FromSlash(file))
	if !filepath.IsLocal(filepath.FromSlash(file)) || !within(r.Root, abs) {
		return nil
	}
	limit := r.maxFileSize
	if limit <= 0 {
		limit = DefaultMaxFileSize
	}
	data, err := readLimited(abs, limit)
	if err != nil {
		return nil
	}
	byLine := map[int][]docNode{}
	for _, d := range parseDocNodes(file, data) {
		byLine[d.node.Line+d.offset] = append(byLine[d.node.Line+d.offset], d)
	}
	return byLine
}

// parseDocNodes parses data as decodeStream does (a byte-order mark and CRLF accepted, a .json file as a stream of
// JSON values), into the mappings that may be objects; it stops at a syntax error.
func parseDocNodes(file string, data []byte) []docNode {
	data = bytes.ReplaceAll(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), []byte("\r\n"), []byte("\n"))
	if !strings.EqualFold(path.Ext(file), ".json") {
		return yamlDocNodes(data, 0, 0)
	}
	var out []docNode
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		start := dec.InputOffset()
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return out
		}
		for start < int64(len(data)) && strings.ContainsRune(" \t\r\n", rune(data[start])) {
			start++
		}
		col := int(start) - (bytes.LastIndexByte(data[:start], '\n') + 1)
		out = append(out, yamlDocNodes(v, bytes.Count(data[:start], []byte("\n")), col)...)
	}
}

func yamlDocNodes(data []byte, offset, column int) []docNode {
	var out []docNode
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if decodeNode(dec, &n) != nil {
			return out
		}
		root := &n
		if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
			root = root.Content[0]
		}
		if root.Kind != yaml.MappingNode {
			continue
		}
		out = append(out, docNode{root, offset, column})
		if items := mappingValue(root, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for _, it := range items.Content {
				if it.Kind == yaml.MappingNode {
					out = append(out, docNode{it, offset, column})
				}
			}
		}
	}
}

// fieldLine is the line and column of field in o's source document among docs, or 0 when the document does not
// write the field with o's value.
func fieldLine(docs []docNode, o *Object, field string) (line, column int) {
	steps, ok := fieldSteps(field)
	if !ok {
		return 0, 0
	}
	for _, d := range docs {
		if d.node.Line+d.offset != o.Source.Line {
			continue
		}
		if k := mappingValue(d.node, "kind"); k == nil || k.Kind != yaml.ScalarNode || k.Value != o.ID.Kind {
			continue
		}
		n, at := d.node, d.node
		var v any = o.Content
		for _, s := range steps {
			if n, at = s.node(n); n == nil {
				return 0, 0
			}
			if v, ok = s.value(v); !ok {
				return 0, 0
			}
		}
		if !sameScalar(n, v) {
			return 0, 0 // set or changed after the source: a patch, a transformer, a generator
		}
		column = at.Column
		if at.Line == 1 {
			column += d.column
		}
		return at.Line + d.offset, column
	}
	return 0, 0
}

// sameScalar reports whether a scalar node decodes to v; a node that is not a scalar is taken as the same (its
// content may differ below, but it is where the field is written).
func sameScalar(n *yaml.Node, v any) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return true
	}
	got, err := scalar(n)
	return err == nil && fmt.Sprint(got) == fmt.Sprint(v)
}

// fieldStep is one step of a field path: a key of a mapping, an index into a list, or ([name]) the item of a list
// whose name is name.
type fieldStep struct {
	key   string
	index int // >= 0: an index; the key is its decimal form too
}

// fieldSteps splits a field path as Finding.Field writes it: keys joined by dots, [N], ["quoted key"] and [name].
func fieldSteps(field string) ([]fieldStep, bool) {
	var steps []fieldStep
	for rest := field; rest != ""; {
		switch rest[0] {
		case '.':
			rest = rest[1:]
		case '[':
			if strings.HasPrefix(rest, `["`) {
				q, err := strconv.QuotedPrefix(rest[1:])
				if err != nil || !strings.HasPrefix(rest[1+len(q):], "]") {
					return nil, false
				}
				k, _ := strconv.Unquote(q)
				steps = append(steps, fieldStep{key: k, index: -1})
				rest = rest[2+len(q):]
				continue
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, false
			}
			s := fieldStep{key: rest[1:end], index: -1}
			if i, err := strconv.Atoi(s.key); err == nil && i >= 0 {
				s.index = i
			}
			steps = append(steps, s)
			rest = rest[end+1:]
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			steps = append(steps, fieldStep{key: rest[:end], index: -1})
			rest = rest[end:]
		}
	}
	return steps, len(steps) > 0
}

// node follows the step from n, returning the node it reaches and the node where the step is written (a key, a list
// item), whose line and column place it; nil when n does not have it.
func (s fieldStep) node(n *yaml.Node) (next, at *yaml.Node) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == s.key {
				return n.Content[i+1], k
			}
		}
	case yaml.SequenceNode:
		if s.index >= 0 {
			if s.index < len(n.Content) {
				return n.Content[s.index], n.Content[s.index]
			}
			return nil, nil
		}
		for _, it := range n.Content {
			if name := mappingValue(it, "name"); name != nil && name.Kind == yaml.ScalarNode && name.Value == s.key {
				return it, it
			}
		}
	}
	return nil, nil
}

// value follows the step in decoded content.
func (s fieldStep) value(v any) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		child, ok := v[s.key]
		return child, ok
	case []any:
		if s.index >= 0 {
			if s.index < len(v) {
				return v[s.index], true
			}
			return nil, false
		}
		for _, it := range v {
			if m, ok := it.(map[string]any); ok && m["name"] == s.key {
				return it, true
			}
		}
	}
	return nil, false
}
