package build

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
)

// canonicalYAML is an object's canonical serialisation: what sigs.k8s.io/yaml's Marshal writes (the format every
// artifact so far holds), without its round trip through JSON, and the same on every run. sigsyaml.Marshal writes
// the value as JSON, reads the JSON back with yaml.v2 (which picks a number's type from its text) and writes that
// with yaml.v2, whose key order is not a total order: for keys such as "1", "0A" and "000022A" in one mapping it
// depends on Go's random map iteration, and so did the digest of an artifact holding them. Here only numbers take
// the trip through JSON, strings have invalid UTF-8 replaced as JSON does, and each mapping's keys are put in
// yaml.v2's order starting from their byte order, so that keys yaml.v2 orders consistently come out as it writes
// them, and the others always the same way. FuzzCanonicalYAML holds it to sigsyaml.Marshal's bytes wherever those
// do not depend on the run.
func canonicalYAML(m map[string]any) ([]byte, error) {
	v, err := canonicalValue(m)
	if err != nil {
		return nil, err
	}
	return yamlv2.Marshal(v)
}

// canonicalValue is v as yaml.v2 reads JSON's text of it back, with each mapping a yaml.v2 MapSlice in canonical
// key order.
func canonicalValue(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, int64:
		return t, nil
	case string:
		return jsonString(t), nil
	case []any:
		out := make([]any, len(t))
		for i, item := range t {
			var err error
			if out[i], err = canonicalValue(item); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		return canonicalMapping(keys, func(k string) any { return t[k] })
	case map[any]any: // what yaml.v2 reads a JSON object as
		keys := make([]string, 0, len(t))
		for k := range t {
			s, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("cannot serialise object: a key of type %T", k)
			}
			keys = append(keys, s)
		}
		return canonicalMapping(keys, func(k string) any { return t[k] })
	}
	// A number (float64 above all) or any other value: the trip through JSON, as sigsyaml.Marshal takes it.
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot serialise object: %w", err)
	}
	var back any
	if err := yamlv2.Unmarshal(j, &back); err != nil {
		return nil, fmt.Errorf("cannot serialise object: %w", err)
	}
	switch back.(type) {
	case []any, map[any]any, string:
		return canonicalValue(back)
	}
	return back, nil
}

// canonicalMapping is a mapping of keys (whose values get returns) as a MapSlice: keys as JSON writes them, in
// yaml.v2's order reached from their byte order.
func canonicalMapping(keys []string, get func(string) any) (yamlv2.MapSlice, error) {
	slices.Sort(keys)
	// JSON replaces invalid UTF-8 in a key too; two keys may then collide, the later (in byte order) winning, as
	// yaml.v2 keeps the last of a duplicate key it reads.
	out := make(yamlv2.MapSlice, 0, len(keys))
	at := make(map[string]int, len(keys))
	for _, k := range keys {
		v, err := canonicalValue(get(k))
		if err != nil {
			return nil, err
		}
		name := jsonString(k)
		if i, dup := at[name]; dup {
			out[i].Value = v
			continue
		}
		at[name] = len(out)
		out = append(out, yamlv2.MapItem{Key: name, Value: v})
	}
	sort.Sort(v2KeyOrder(out))
	return out, nil
}

// jsonString is s as encoding/json writes it and yaml.v2 reads it back: each byte of invalid UTF-8 becomes U+FFFD.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// v2KeyOrder sorts mapping items by string key as yaml.v2's encoder sorts a map's keys (its sorter.go, keyList.Less,
// for two strings): letters before other characters, runs of digits by their value.
type v2KeyOrder yamlv2.MapSlice

func (l v2KeyOrder) Len() int      { return len(l) }
func (l v2KeyOrder) Swap(i, j int) { l[i], l[j] = l[j], l[i] }
func (l v2KeyOrder) Less(i, j int) bool {
	ar, br := []rune(l[i].Key.(string)), []rune(l[j].Key.(string))
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al := unicode.IsLetter(ar[i])
		bl := unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an = 1
					bn = 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}
