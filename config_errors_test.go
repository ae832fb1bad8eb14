package statepack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/strictyaml"

	sigsyaml "sigs.k8s.io/yaml"
)

const configHead = "apiVersion: statepack.dev/v1alpha1\nkind: Config\n"

// targetFields is what an unknown field of a target (or of the defaults) lists.
const targetFields = "a target's fields: name, path, ref, tags, layerMediaType, annotations, sign, validate, immutableTags, helm, ignorePaths"

// TestConfigErrors: a config the strict decoder refuses gets an error on the line of the offending key or value,
// naming the path of the field, what it accepts and what to write; ParseConfig says "line N:", LoadConfig
// "FILE:N:".
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	target := "targets:\n- name: a\n  path: a\n  ref: localhost:5000/a\n" // lines 3-6
	tests := []struct {
		name, in string
		line     int // 0: the error names no line
		want     string
	}{
		{name: "unknown field of a target, near a field", in: configHead + target + "  sgin: {key: k}\n", line: 7,
			want: `unknown field "sgin" in targets[0] (` + targetFields + `); did you mean "sign"?`},
		{name: "unknown field in a flow mapping", in: configHead + "targets:\n- {name: a, path: a,\n   ref: localhost:5000/a, tagz: [x]}\n", line: 5,
			want: `unknown field "tagz" in targets[0] (` + targetFields + `); did you mean "tags"?`},
		{name: "unknown field of the second target", in: configHead + target + "- name: b\n  pth: b\n", line: 8,
			want: `unknown field "pth" in targets[1] (` + targetFields + `); did you mean "path"?`},
		{name: "unknown field of the defaults, nothing near", in: configHead + "defaults:\n  registry: ghcr.io\n" + target, line: 4,
			want: `unknown field "registry" in defaults (` + targetFields + `)`},
		{name: "unknown field at the top level", in: configHead + "target:\n- name: a\n", line: 3,
			want: `unknown field "target" at the top level (the config's fields: apiVersion, kind, defaults, targets, images); did you mean "targets"?`},
		{name: "a target's field is unknown in sign", in: configHead + target + "  tags: [main]\n  sign:\n    key: k\n    tags: [x]\n", line: 10,
			want: `unknown field "tags" in targets[0].sign (sign's fields: key, attest, format)`},
		{name: "unknown field of validate", in: configHead + target + "  validate: {externalNamespace: [flux-system]}\n", line: 7,
			want: `unknown field "externalNamespace" in targets[0].validate (validate's fields: allow, externalNamespaces, substitute, substituteFrom, substituteStrict); did you mean "externalNamespaces"?`},
		{name: "unknown field of an allow entry", in: configHead + target + "  validate:\n    allow:\n    - image-unpinned\n    - {rule: schema/no-schema, reasn: later}\n", line: 10,
			want: `unknown field "reasn" in targets[0].validate.allow[1] (an allow entry is a rule, or a mapping of its fields: rule, reason); did you mean "reason"?`},
		{name: "unknown field of images", in: configHead + "images:\n  pinn: true\n" + target, line: 4,
			want: `unknown field "pinn" in images (images' fields: pin, rules); did you mean "pin"?`},
		{name: "unknown field of an image rule", in: configHead + "images:\n  rules:\n  - {image: 'ghcr.io/*', keys: [a.pub]}\n  - image: '*'\n    key: b.pub\n" + target, line: 7,
			want: `unknown field "key" in images.rules[1] (an image rule's fields: image, keys, identities, attestations, signatureFormat, skip); did you mean "keys"?`},
		{name: "unknown field of an identity", in: configHead + "images:\n  rules:\n  - image: '*'\n    identities:\n    - issuer: https://token.actions.githubusercontent.com\n      subject: x\n" + target, line: 8,
			want: `unknown field "subject" in images.rules[0].identities[0] (an identity's fields: identity, identityRegexp, issuer, issuerRegexp)`},
		{name: "unknown field of skip", in: configHead + "images:\n  rules:\n  - {image: '*', skip: {reasons: vendor}}\n" + target, line: 5,
			want: `unknown field "reasons" in images.rules[0].skip (skip's fields: reason); did you mean "reason"?`},
		{name: "unknown field in a merged mapping names the anchor's line", in: configHead + "defaults: &d\n  tags: [main]\n  signn: {key: k}\n" + target + "- <<: *d\n  name: b\n  path: b\n", line: 5,
			want: `unknown field "signn" in defaults (` + targetFields + `); did you mean "sign"?`},
		{name: "the decoder's unknown field is the one explained, quotes and all", in: configHead + target + "  zz: 1\n  'a\"b': 2\n", line: 8,
			want: `unknown field "a\"b" in targets[0] (` + targetFields + `)`},
		{name: "the decoder's error is the one explained", in: configHead + target + "  tags: main\n  sgin: {key: k}\n", line: 8,
			want: `unknown field "sgin" in targets[0] (` + targetFields + `); did you mean "sign"?`},

		{name: "a string for a list", in: configHead + target + "  tags: main\n", line: 7,
			want: `targets[0].tags must be a list of strings, not the string "main": write [main] for a list of one`},
		{name: "a quoted boolean", in: configHead + target + "  immutableTags: \"yes\"\n", line: 7,
			want: `targets[0].immutableTags must be true or false, not the string "yes": remove the quotes`},
		{name: "a word for a boolean", in: configHead + "images:\n  pin: always\n" + target, line: 4,
			want: `images.pin must be true or false, not the string "always"`},
		{name: "a list for a string", in: configHead + target + "  helm: [pin]\n", line: 7,
			want: `targets[0].helm must be a string, not a list`},
		{name: "a string for a mapping", in: configHead + target + "  sign: cosign.key\n", line: 7,
			want: `targets[0].sign must be a mapping (sign's fields: key, attest, format), not the string "cosign.key"`},
		{name: "a list for an annotation's value", in: configHead + target + "  annotations:\n    example.com/team: [a, b]\n", line: 8,
			want: `targets[0].annotations["example.com/team"] must be a string, not a list`},
		{name: "a number for a rule", in: configHead + target + "  validate: {allow: [42]}\n", line: 7,
			want: `targets[0].validate.allow[0] must be a rule, or {rule: RULE, reason: WHY}, not the number 42: quote it`},
		{name: "a mapping for the targets", in: configHead + "targets:\n  name: a\n", line: 4,
			want: `targets must be a list of targets, not a mapping`},
		{name: "a list for the config", in: "- name: a\n", line: 1,
			want: `the config must be a mapping (the config's fields: apiVersion, kind, defaults, targets, images), not a list`},
		{name: "a number for an allow entry's reason", in: configHead + target + "  validate: {allow: [{rule: x, reason: 42}]}\n", line: 7,
			want: `targets[0].validate.allow[0].reason must be a string, not the number 42: quote it ("42")`},
		{name: "a string for an image rule's keys", in: configHead + "images:\n  rules:\n  - {image: '*', keys: a.pub}\n" + target, line: 5,
			want: `images.rules[0].keys must be a list of strings, not the string "a.pub": write [a.pub] for a list of one`},

		{name: "YAML: a tab", in: configHead + "targets:\n- name: a\n\tpath: a\n", line: 5, want: `not valid YAML: found a tab character that violates indentation`},
		{name: "YAML: an unclosed flow sequence", in: configHead + "targets: [{name: a}\n", line: 3, want: `not valid YAML: did not find expected ',' or ']'`},
		{name: "YAML: an error on the first line", in: "apiVersion: statepack.dev/v1alpha1: x\n", line: 1, want: `not valid YAML: mapping values are not allowed in this context`},
		{name: "YAML: a key set twice", in: configHead + "targets:\n- name: a\n  path: a\n  name: b\n", line: 6, want: `key "name" is set twice in the same mapping: keep one`},
		{name: "YAML: a control character", in: configHead + "targets:\n- name: a\x07\n", line: 4, want: `not valid YAML: control characters are not allowed`},
		{name: "YAML: an unknown anchor", in: configHead + "defaults: &target {ref: localhost:5000/a}\ntargets: [*target,\n  *t]\n", line: 5, want: `not valid YAML: unknown anchor 't' referenced`},
		{name: "YAML: excessive aliasing names no line", in: configHead + "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + aliasBomb(), want: `not valid YAML: document contains excessive aliasing`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "statepack.yaml")
			if err := os.WriteFile(file, []byte(tc.in), 0o644); err != nil {
				t.Fatal(err)
			}
			wantParse, wantLoad := tc.want, file+": "+tc.want
			if tc.line > 0 {
				wantParse, wantLoad = fmt.Sprintf("line %d: %s", tc.line, tc.want), fmt.Sprintf("%s:%d: %s", file, tc.line, tc.want)
			}
			_, err := ParseConfig([]byte(tc.in))
			if err == nil || err.Error() != wantParse || !errors.Is(err, ErrInvalidOption) {
				t.Errorf("ParseConfig() = %v, want an ErrInvalidOption\n%s", err, wantParse)
			}
			_, err = LoadConfig(file)
			if err == nil || err.Error() != wantLoad || !errors.Is(err, ErrInvalidOption) {
				t.Errorf("LoadConfig() = %v, want an ErrInvalidOption\n%s", err, wantLoad)
			}
		})
	}
}

// acceptedConfigs parse today and must parse the same: the decoder's leniencies (case-insensitive names, YAML 1.1
// booleans, numbers as strings, merge keys, anchors, nulls) are no problems to the explanation's walk either.
var acceptedConfigs = map[string]string{
	"names in another case":    configHead + "targets:\n- Name: a\n  PATH: a\n  Ref: localhost:5000/a\n",
	"YAML 1.1 booleans":        configHead + "images: {pin: on}\ntargets:\n- {name: a, path: a, ref: localhost:5000/a, immutableTags: yes, sign: {key: k, attest: No}}\n",
	"numbers as strings":       configHead + "targets:\n- {name: 1, path: 2.5, ref: localhost:5000/a, tags: [1, 1.0, true], annotations: {n: 3}}\n",
	"a merge key and anchors":  configHead + "defaults: &d {ref: localhost:5000/a, tags: [main]}\ntargets:\n- <<: *d\n  name: a\n  path: a\n- <<: [*d]\n  name: b\n  path: b\n",
	"nulls":                    configHead + "defaults: ~\nimages:\ntargets:\n- {name: a, path: a, ref: localhost:5000/a, tags: null, sign: ~, validate: {allow: [~]}}\n",
	"allow entries both ways":  configHead + "targets:\n- {name: a, path: a, ref: localhost:5000/a, validate: {allow: [x, 'y=why', {rule: z, reason: r}, {Rule: w}]}}\n",
	"an aliased mapping twice": configHead + "targets:\n- {name: a, path: a, ref: localhost:5000/a, sign: &s {key: k}}\n- {name: b, path: b, ref: localhost:5000/b, sign: *s}\n- {name: c, path: c, ref: localhost:5000/c, sign: *s}\n",
	"explicit tags":            configHead + "targets:\n- {name: !!str 1, path: a, ref: localhost:5000/a, immutableTags: !!bool true}\n",
	"a numeric annotation key": configHead + "targets:\n- {name: a, path: a, ref: localhost:5000/a, annotations: {1: a, true: b}}\n",
}

// TestConfigProblemsOnlyWhenRefused: the walk that explains a refused config finds nothing in a config the
// decoder accepts (the examples of the docs and the configs above), and ParseConfig accepts them as before.
func TestConfigProblemsOnlyWhenRefused(t *testing.T) {
	t.Parallel()
	configs := map[string]string{}
	for name, in := range acceptedConfigs {
		configs[name] = in
	}
	for name, in := range docConfigs(t) {
		configs[name] = in
	}
	for name, in := range configs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var cfg Config
			if err := sigsyaml.UnmarshalStrict([]byte(in), &cfg); err != nil {
				t.Fatalf("the strict decoder refuses\n%s: %v", in, err)
			}
			if p := configSchema.Problems([]byte(in)); len(p) > 0 {
				t.Errorf("configSchema.Problems(\n%s) = %+v, want none", in, p)
			}
			if !strings.Contains(in, "kind: Config") {
				return // a fragment of a config
			}
			if _, err := ParseConfig([]byte(in)); err != nil {
				t.Errorf("ParseConfig(\n%s) = %v", in, err)
			}
		})
	}
}

// docConfigs are the statepack.yaml examples of README.md and docs/: the yaml code blocks that are configs (they
// name the kind, or start with "# statepack.yaml").
func docConfigs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	for _, f := range append(files, "README.md") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllStringSubmatch(string(data), -1) {
			if strings.Contains(m[1], "kind: Config") || strings.HasPrefix(m[1], "# statepack.yaml") {
				out[f+" block "+strconv.Itoa(i)] = m[1]
			}
		}
	}
	if len(out) < 3 {
		t.Fatalf("found only %d statepack.yaml examples in README.md and docs/: %v", len(out), out)
	}
	return out
}

// TestConfigNouns: every struct a config holds has words for its fields and its lists, so that no message says
// "its fields" or "a list of values".
func TestConfigNouns(t *testing.T) {
	t.Parallel()
	seen := map[reflect.Type]bool{}
	var visit func(t reflect.Type)
	visit = func(typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			visit(typ.Elem())
		case reflect.Struct:
			if seen[typ] {
				return
			}
			seen[typ] = true
			if configSchema.Nouns[typ].Fields == "" || configSchema.Nouns[typ].Plural == "" {
				t.Errorf("configSchema.Nouns has no words for %v", typ)
			}
			for _, f := range strictyaml.Fields(typ) {
				visit(f.Type)
			}
		}
	}
	visit(reflect.TypeFor[Config]())
	if len(seen) != len(configSchema.Nouns) {
		t.Errorf("configSchema.Nouns names %d types, a config holds %d", len(configSchema.Nouns), len(seen))
	}
}

// TestSuggestField: a near miss gets its field; nothing near, or two fields as near, get none.
func TestSuggestField(t *testing.T) {
	t.Parallel()
	target := reflect.TypeFor[Target]()
	tests := []struct{ key, want string }{
		{"sgin", "sign"},
		{"tag", "tags"},
		{"ignorePath", "ignorePaths"},
		{"layermediatypes", "layerMediaType"},
		{"registry", ""},
		{"x", ""},
		{"nath", ""}, // one edit from path, two from name
	}
	for _, tc := range tests {
		if got := strictyaml.SuggestField(tc.key, target); got != tc.want {
			t.Errorf("SuggestField(%q, Target) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// aliasBomb is YAML whose aliases expand to more than yaml.v2 decodes (billions of laughs).
func aliasBomb() string {
	var b strings.Builder
	for i := 'b'; i <= 'j'; i++ {
		fmt.Fprintf(&b, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

// lineRE finds the line an error of ParseConfig names.
var lineRE = regexp.MustCompile(`^line (\d+): `)

// BenchmarkParseConfig parses a fleet of 200 targets: accepted, and refused for a typo in its last target, which
// costs the walk that explains it (docs/benchmarks.md).
func BenchmarkParseConfig(b *testing.B) {
	var fleet strings.Builder
	fleet.WriteString(configHead + "defaults: {tags: [main], sign: {key: cosign.key}, validate: {allow: [image-unpinned]}}\ntargets:\n")
	for i := range 200 {
		fmt.Fprintf(&fleet, "- name: cluster-%d\n  path: clusters/%d\n  ref: ghcr.io/acme/fleet/cluster-%d\n  annotations: {team: platform}\n", i, i, i)
	}
	for _, bc := range []struct{ name, in string }{
		{"accepted", fleet.String()},
		{"refused", fleet.String() + "  sgin: {key: other.key}\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, err := ParseConfig([]byte(bc.in))
				if (err != nil) != (bc.name == "refused") {
					b.Fatal(err)
				}
			}
		})
	}
}
