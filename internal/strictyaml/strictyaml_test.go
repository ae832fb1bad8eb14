package strictyaml

import (
	"reflect"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

type server struct {
	Name  string   `json:"name"`
	Ports []int    `json:"ports,omitempty"`
	TLS   *bool    `json:"tls,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

type servers struct {
	Servers []server `json:"servers"`
}

// TestExplain: for a document the strict decoder refuses, Explain gives the decoder's problem on its line, in the
// words of the schema's nouns; a refusal no walk explains keeps the decoder's words.
func TestExplain(t *testing.T) {
	t.Parallel()
	schema := &Schema{Root: reflect.TypeFor[servers](), Nouns: map[reflect.Type]Noun{
		reflect.TypeFor[servers](): {Fields: "the file's fields", Plural: "files"},
		reflect.TypeFor[server]():  {Fields: "a server's fields", Plural: "servers"},
	}}
	for _, tc := range []struct {
		name, in string
		line     int
		want     string
	}{
		{"unknown field, near one", "servers:\n- name: a\n  prots: [80]\n", 3,
			`unknown field "prots" in servers[0] (a server's fields: name, ports, tls, tags); did you mean "ports"?`},
		{"a string where a list is wanted", "servers:\n- name: a\n  tags: web\n", 3,
			`servers[0].tags must be a list of strings, not the string "web": write [web] for a list of one`},
		{"a quoted boolean", "servers:\n- name: a\n  tls: \"yes\"\n", 3,
			`servers[0].tls must be true or false, not the string "yes": remove the quotes`},
		{"YAML syntax", "servers:\n- name: a\n  ports: [80\n", 3, "not valid YAML: did not find expected ',' or ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v servers
			err := sigsyaml.UnmarshalStrict([]byte(tc.in), &v)
			if err == nil {
				t.Fatalf("the decoder accepts %q", tc.in)
			}
			line, msg, ok := schema.Explain([]byte(tc.in), err)
			if !ok || line != tc.line || msg != tc.want {
				t.Errorf("Explain(%q) = %d, %q, %v; want %d, %q", tc.in, line, msg, ok, tc.line, tc.want)
			}
		})
	}
	if p := schema.Problems([]byte("servers:\n- name: a\n  ports: [80, 443]\n")); len(p) != 0 {
		t.Errorf("Problems of a document the decoder accepts = %+v, want none", p)
	}
}
