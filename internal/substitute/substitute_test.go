package substitute

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/envsubst"

	"github.com/statepack/statepack/internal/manifest"
)

func TestPlaceholders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"app-${cluster_name}", []string{"${cluster_name}"}},
		{"${replicas:=2}", []string{"${replicas:=2}"}},
		{"${a:-x}-${b}", []string{"${a:-x}", "${b}"}},
		{"${y:=${x}}", []string{"${y:=${x}}"}},
		{"$${escaped}", nil},
		{"$$$${escaped}", nil},
		{"$$${x}", []string{"${x}"}},
		{"$HOME and $ {x}", nil},
		{"${unterminated", []string{"${unterminated"}},
		{"plain", nil},
	} {
		if got := Placeholders(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Placeholders(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzPlaceholders holds Placeholders to envsubst, the engine Flux substitutes with: a string in which it finds no
// placeholder is one envsubst leaves alone (no variable is looked up), and one in which it finds some makes envsubst
// look one up or fail.
func FuzzPlaceholders(f *testing.F) {
	for _, s := range []string{"app-${cluster_name}", "${replicas:=2}", "$${x}", "$$${x}", "${y:=${x}}", "${", "${}", "${ x }", "${1a}", "a$b", "${x/a/b}", "\\${x}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			t.Skip("envsubst's scanner ends at a NUL byte; objects never hold one (the decoder refuses them)")
		}
		looked := false
		_, err := envsubst.Eval(s, func(string) (string, bool) { looked = true; return "", true })
		found := len(Placeholders(s)) > 0
		if !found && (looked || err != nil) {
			t.Errorf("Placeholders(%q) found none, but envsubst looked a variable up (%v) or failed (%v)", s, looked, err)
		}
		if found && !looked && err == nil {
			t.Errorf("Placeholders(%q) = %q, but envsubst substitutes nothing in it", s, Placeholders(s))
		}
	})
}

func TestPending(t *testing.T) {
	t.Parallel()
	obj := func(labels map[string]any) manifest.Object {
		return manifest.Object{Content: map[string]any{"metadata": map[string]any{"labels": labels}}}
	}
	if got := Pending(obj(nil), "${x}"); len(got) != 1 {
		t.Errorf("Pending of an object Flux substitutes = %q, want ${x}", got)
	}
	if got := Pending(obj(map[string]any{OptOut: Disabled}), "${x}"); got != nil {
		t.Errorf("Pending of an object that opts out = %q, want none: its ${x} is literal", got)
	}
	substituted := obj(nil)
	substituted.Substituted = true
	if got := Pending(substituted, "${x}"); got != nil {
		t.Errorf("Pending of a substituted object = %q, want none: what is left is literal", got)
	}
}

func TestYAML(t *testing.T) {
	t.Parallel()
	got, err := YAML([]byte("name: app-${name}\nreplicas: ${replicas:=2}\nport: ${port:-80}\nhome: $${HOME}\nempty: ${unset}\n"),
		map[string]string{"name": "prod\n", "port": ""}, false)
	want := "name: app-prod\nreplicas: 2\nport: 80\nhome: ${HOME}\nempty: \n"
	if err != nil || string(got) != want {
		t.Errorf("YAML = %q, %v; want %q", got, err, want)
	}
	if _, err := YAML([]byte("name: ${open\n"), map[string]string{"x": "1"}, false); err == nil {
		t.Error("YAML of an unterminated ${ succeeded, want the error Flux fails the build with")
	}
}

// TestYAMLStrict: with strict, as kustomize-controller's StrictPostBuildSubstitutions, a variable with neither a
// value nor a default fails the substitution, named as Flux names it; every such variable is named at once; the
// operators that supply a default, and escaped placeholders, do not fail.
func TestYAMLStrict(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"name": "prod", "empty": ""}
	for _, tc := range []struct {
		name, in string
		want     string
		wantErr  string
	}{
		{name: "all set", in: "a: ${name}-${empty}\n", want: "a: prod-\n"},
		{name: "defaults", in: "a: ${r:=2} ${p:-80} ${t:+z}\n", want: "a: 2 80 z\n"}, // envsubst gives :+ the default too
		{name: "escaped", in: "a: $${unset}\n", want: "a: ${unset}\n"},
		{name: "unset", in: "a: app-${cluster}\n", wantErr: `variable not set (strict mode): "cluster"`},
		{name: "every unset one, once, in order", in: "a: ${b} ${a} ${b:=x} ${name}\nc: ${c^^}\n",
			wantErr: `variable not set (strict mode): "b", "a", "c"`},
		{name: "a default that reads an unset one", in: "a: ${r:=${base}}\n", wantErr: `variable not set (strict mode): "base"`},
		{name: "unterminated", in: "a: ${open\n", wantErr: "missing closing brace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := YAML([]byte(tc.in), vars, true)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("YAML(%q, strict) = %q, %v; want the error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("YAML(%q, strict) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if lax, err := YAML([]byte(tc.in), vars, false); err != nil || string(lax) != tc.want {
				t.Errorf("YAML(%q) without strict = %q, %v; want what strict gives, %q", tc.in, lax, err, tc.want)
			}
		})
	}
	var unset *UnsetError
	if _, err := YAML([]byte("${x}"), nil, true); !errors.As(err, &unset) || !slices.Equal(unset.Names, []string{"x"}) {
		t.Errorf("YAML(${x}, strict) = %v, want an *UnsetError naming x", err)
	}
}

func TestRefers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, name string
		want    bool
	}{
		{"${cluster}", "cluster", true},
		{"${cluster:=x}", "cluster", true},
		{"${cluster_name}", "cluster", false},
		{"${#cluster}", "cluster", true},
		{"${cluster^^}", "cluster", true},
		{"${other}", "cluster", false},
		{"cluster", "cluster", false},
	} {
		if got := Refers(tc.p, tc.name); got != tc.want {
			t.Errorf("Refers(%q, %q) = %v, want %v", tc.p, tc.name, got, tc.want)
		}
	}
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, data string
		want             map[string]string
		wantErr          string
	}{
		{name: "dotenv", file: "vars.env", data: "# comment\n\nA=1\nexport B=\"two words\"\nC='x=y'\n",
			want: map[string]string{"A": "1", "B": "two words", "C": "x=y"}},
		{name: "dotenv bad line", file: "vars.env", data: "A=1\nnot a line\n", wantErr: "vars.env:2: not a KEY=VALUE line"},
		{name: "dotenv bad name", file: "vars", data: "a-b=1\n", wantErr: "vars:1:"},
		{name: "ConfigMap and Secret", file: "vars.yaml",
			data: "apiVersion: v1\nkind: ConfigMap\ndata: {A: '1', B: cm}\n---\napiVersion: v1\nkind: Secret\ndata: {B: c2VjcmV0}\nstringData: {C: clear}\n",
			want: map[string]string{"A": "1", "B": "secret", "C": "clear"}},
		{name: "other kind", file: "vars.yaml", data: "kind: Deployment\n", wantErr: "document 1 is a Deployment"},
		{name: "no object", file: "vars.yml", data: "# nothing\n", wantErr: "holds no ConfigMap or Secret"},
		{name: "Secret not base64", file: "v.yaml", data: "kind: Secret\ndata: {A: '!!'}\n", wantErr: "Secret data A is not base64"},
		{name: "bad name in ConfigMap", file: "v.yaml", data: "kind: ConfigMap\ndata: {a.b: x}\n", wantErr: `variable name "a.b" is invalid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadFile(tc.file, []byte(tc.data))
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ReadFile = %v, %v; want the error %q", got, err, tc.wantErr)
				}
			case err != nil || !maps.Equal(got, tc.want):
				t.Errorf("ReadFile = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// FuzzReadFile: a --substitute-from file of any content gives variables Flux accepts or an error naming the file,
// never a panic.
func FuzzReadFile(f *testing.F) {
	f.Add("vars.env", "A=1\nexport B=\"x\"\n# c\n")
	f.Add("vars.yaml", "kind: ConfigMap\ndata: {A: '1'}\n---\nkind: Secret\ndata: {B: c2VjcmV0}\nstringData: {C: x}\n")
	f.Add("vars.yaml", "kind: [\n")
	f.Fuzz(func(t *testing.T, name, data string) {
		vars, err := ReadFile(name, []byte(data))
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ReadFile(%q) error %q does not name the file", name, err)
			}
			return
		}
		if err := CheckNames(vars); err != nil {
			t.Errorf("ReadFile(%q) = %v, with a name Flux refuses: %v", name, vars, err)
		}
	})
}

// FuzzYAMLStrict: strict substitution of any text ends (it runs envsubst once more per unset variable), and
// either substitutes as the lax mode does or names each unset variable once, each a name lax mode looks up.
func FuzzYAMLStrict(f *testing.F) {
	for _, s := range []string{"a: ${b} ${a} ${b:=x}", "${r:=${base}}", "${x^^} ${#y}", "$${x}", "${", "name: app-${cluster}\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			t.Skip("envsubst's scanner ends at a NUL byte; objects never hold one (the decoder refuses them)")
		}
		vars := map[string]string{"a": "1"}
		looked := map[string]bool{}
		lax, laxErr := envsubst.Eval(s, func(k string) (string, bool) { looked[k] = true; return vars[k], true })
		got, err := YAML([]byte(s), vars, true)
		var unset *UnsetError
		switch {
		case errors.As(err, &unset):
			seen := map[string]bool{}
			for _, n := range unset.Names {
				if seen[n] || !looked[n] || n == "a" {
					t.Fatalf("YAML(%q, strict) names %q: twice, never looked up, or set", s, unset.Names)
				}
				seen[n] = true
			}
		case err != nil:
			if laxErr == nil {
				t.Fatalf("YAML(%q, strict) = %v, but lax substitution succeeds", s, err)
			}
		case laxErr != nil || string(got) != lax:
			t.Fatalf("YAML(%q, strict) = %q, lax = %q, %v: want the same when every variable is set or defaulted", s, got, lax, laxErr)
		}
	})
}

func TestMask(t *testing.T) {
	t.Parallel()
	long := "s3cret-0123456789-abcdefghij"
	for _, tc := range []struct {
		name, msg string
		secrets   []string
		want      string
	}{
		{"whole value", `spec.replicas must be an integer, not the string "hunter2"`, []string{"hunter2"},
			`spec.replicas must be an integer, not the string "***"`},
		{"escaped in a quoted form", `not the string "line1\nline2"`, []string{"line1\nline2"}, `not the string "***"`},
		{"cut short in the message", `value "` + long[:12] + `…" is too long`, []string{long}, `value "***…" is too long`},
		{"a short value is left: it would hide every match", `replicas 12 is not 1`, []string{"1"}, `replicas 12 is not 1`},
		{"a short beginning is not taken for the value", `the string "s3cret…"`, []string{long}, `the string "s3cret…"`},
		{"no secrets", `anything "x"`, nil, `anything "x"`},
	} {
		if got := Mask(tc.msg, tc.secrets); got != tc.want {
			t.Errorf("%s: Mask(%q) = %q, want %q", tc.name, tc.msg, got, tc.want)
		}
	}
}

func TestReadFileSecrets(t *testing.T) {
	t.Parallel()
	data := []byte("apiVersion: v1\nkind: ConfigMap\ndata: {a: one, b: two}\n---\napiVersion: v1\nkind: Secret\ndata: {b: dGhyZWU=}\nstringData: {c: four}\n")
	vars, secret, err := ReadFileSecrets("vars.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if vars["b"] != "three" || !secret["b"] || !secret["c"] || secret["a"] {
		t.Errorf("ReadFileSecrets = %v, secret %v: want b (from the Secret) and c secret, a not", vars, secret)
	}
	if _, secret, _ := ReadFileSecrets("vars.env", []byte("A=1\n")); len(secret) != 0 {
		t.Errorf("a dotenv file's variables marked secret: %v", secret)
	}
}
