package build

import (
	"bytes"
	"math"
	"testing"

	yamlv2 "go.yaml.in/yaml/v2"
	sigsyaml "sigs.k8s.io/yaml"
)

// totalOrder reports whether yaml.v2's key order is consistent on every mapping of v (as canonicalValue makes
// them): only then does sigsyaml.Marshal write the same bytes on every run.
func totalOrder(v any) bool {
	switch t := v.(type) {
	case []any:
		for _, item := range t {
			if !totalOrder(item) {
				return false
			}
		}
	case yamlv2.MapSlice:
		order := v2KeyOrder(t)
		for i := range order {
			for j := i + 1; j < len(order); j++ {
				if !order.Less(i, j) || order.Less(j, i) {
					return false
				}
			}
			if !totalOrder(t[i].Value) {
				return false
			}
		}
	}
	return true
}

// checkCanonical fails when canonicalYAML(m) varies from one call to the next, or differs from
// sigsyaml.Marshal(m) where yaml.v2's key order makes that the same on every run.
func checkCanonical(t *testing.T, m map[string]any) {
	t.Helper()
	got, err := canonicalYAML(m)
	for range 20 { // each call meets the maps in another random order
		if again, err2 := canonicalYAML(m); !bytes.Equal(again, got) || (err2 == nil) != (err == nil) {
			t.Fatalf("canonicalYAML(%#v) varies between calls:\n%s\n%s", m, got, again)
		}
	}
	v, verr := canonicalValue(m)
	if verr != nil || !totalOrder(v) {
		return
	}
	want, wantErr := sigsyaml.Marshal(m)
	if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
		t.Errorf("canonicalYAML(%#v) =\n%s (%v)\nwant sigsyaml.Marshal's\n%s (%v)", m, got, err, want, wantErr)
	}
}

// TestCanonicalYAML: the serialisation of an object is sigsyaml.Marshal's, byte for byte, for the values where a
// trip through JSON changes a number's text (integral floats, exponents, negative zero, floats beyond int64), for
// strings YAML would read as something else or that hold invalid UTF-8, for keys that sort as numbers, and for
// values of other types; and for keys yaml.v2 orders differently from run to run, it is the same on every call.
func TestCanonicalYAML(t *testing.T) {
	t.Parallel()
	for _, m := range []map[string]any{
		{"replicas": int64(3), "ratio": 0.5, "big": 1e6, "huge": 1e21, "tiny": 1e-7, "negzero": math.Copysign(0, -1), "beyond": float64(1 << 63), "max": 1.7976931348623157e308},
		{"s": []any{"yes", "no", "on", "123", "0x1F", "1e3", "~", "null", "", "true", " lead", "a: b", "- x", "#c", "multi\nline\n", "tab\there", "ünïcödé", "\u2028"}},
		{"10": "x", "9": "y", "a10": int64(1), "a9": int64(2), "B": nil, "b": true, "": "empty key"},
		{"nested": map[string]any{"list": []any{map[string]any{}, []any{}, nil, int64(-9223372036854775808)}}},
		{"int": 7, "uint": uint8(3), "bad": "\xff\xfeok", "\xffkey": "v", "\xfekey": "w"},
	} {
		checkCanonical(t, m)
	}
	// Keys yaml.v2 orders by Go's map iteration: sigsyaml.Marshal writes them in three orders over 2,000 runs.
	unstable := map[string]any{"000022A": nil, "0A": nil, "1": nil, "kind": "ConfigMap"}
	if v, _ := canonicalValue(unstable); totalOrder(v) {
		t.Fatalf("the keys %v are ordered consistently by yaml.v2: the case proves nothing", unstable)
	}
	checkCanonical(t, unstable)
	seen := map[string]bool{}
	for range 200 {
		b, _ := sigsyaml.Marshal(unstable)
		seen[string(b)] = true
	}
	if len(seen) < 2 {
		t.Logf("sigsyaml.Marshal wrote the unstable keys one way in 200 runs (it usually does not)")
	}
}

// FuzzCanonicalYAML: for any object a YAML or JSON file decodes to, canonicalYAML is the same on every call, and
// is what sigsyaml.Marshal writes wherever that does not depend on the run.
func FuzzCanonicalYAML(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {n: 1e6, f: 0.1, i: 12345678901234567890, s: 'yes'}\n",
		"{\"apiVersion\": \"v1\", \"kind\": \"X\", \"metadata\": {\"name\": \"b\"}, \"n\": [1e21, 1e-7, -0.0, 3]}",
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: c}, stringData: {k: \"\\u2028\"}}\n",
		"01: \nkind:\n000022A:\n0A:",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"in.yaml", "in.json"} {
			objs, _ := decodeStream(name, data)
			for _, o := range objs {
				checkCanonical(t, o.Content)
			}
		}
	})
}
