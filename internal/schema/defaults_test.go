package schema

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWithDefaults follows the API server's structural defaulting: absent and non-nullable null properties take
// their default, defaulting goes on inside defaults, lists and maps, nullable nulls stay null, and the input is
// never changed.
func TestWithDefaults(t *testing.T) {
	t.Parallel()
	var s map[string]any
	if err := json.Unmarshal([]byte(`{"type": "object", "properties": {
		"kind": {"type": "string", "default": "Service"},
		"port": {"type": "integer", "nullable": true, "default": 80},
		"opts": {"type": "object", "default": {}, "properties": {"mode": {"type": "string", "default": "fast"}}},
		"refs": {"type": "array", "items": {"type": "object", "properties": {"group": {"type": "string", "default": ""}}}},
		"byName": {"type": "object", "additionalProperties": {"type": "object", "properties": {"on": {"type": "boolean", "default": true}}}}
	}}`), &s); err != nil {
		t.Fatal(err)
	}
	n := (&converter{version: DefaultKubernetesVersion}).node(s, "", 0)
	tests := []struct {
		name, in, want string
	}{
		{"absent fields take defaults, inside defaults too", `{}`, `{"kind": "Service", "port": 80, "opts": {"mode": "fast"}}`},
		{"a value given stays", `{"kind": "Gateway", "port": 8080, "opts": {"mode": "slow"}}`, `{"kind": "Gateway", "port": 8080, "opts": {"mode": "slow"}}`},
		{"null of a non-nullable field is defaulted, of a nullable one kept", `{"kind": null, "port": null}`, `{"kind": "Service", "port": null, "opts": {"mode": "fast"}}`},
		{"list items and map values", `{"refs": [{}, {"group": "x"}], "byName": {"a": {}, "b": {"on": false}}}`,
			`{"kind": "Service", "port": 80, "opts": {"mode": "fast"}, "refs": [{"group": ""}, {"group": "x"}], "byName": {"a": {"on": true}, "b": {"on": false}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in, before, want any
			for _, p := range []struct {
				s string
				v *any
			}{{tc.in, &in}, {tc.in, &before}, {tc.want, &want}} {
				if err := json.Unmarshal([]byte(p.s), p.v); err != nil {
					t.Fatal(err)
				}
			}
			got, changed := withDefaults(in, n)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("withDefaults(%s) = %v, want %v", tc.in, got, want)
			}
			if changed != !reflect.DeepEqual(want, before) {
				t.Errorf("withDefaults(%s) changed = %v", tc.in, changed)
			}
			if !reflect.DeepEqual(in, before) {
				t.Errorf("withDefaults changed its input: %v, was %v", in, before)
			}
		})
	}
}
