package statepack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
)

// TestFluxSubstitution: a tree with Flux postBuild placeholders (issue #16, item 1). Without values, a check that
// cannot hold before substitution is a warning naming the placeholder, never an error; with values (given inline or
// from files), the objects are validated as Flux applies them, while the artifact keeps the placeholders. An object
// that opts out of substitution is judged as written either way.
func TestFluxSubstitution(t *testing.T) {
	t.Parallel()
	const root = "testdata/flux-substitute"
	optedOut := "error object/invalid-label opted-out.yaml ConfigMap/apps/script: label owner's value \"${team}\" is invalid"
	for _, tc := range []struct {
		name string
		opts LoadOptions
		want []string // severity, rule, file, object and the message's start
	}{
		{name: "no values", want: []string{
			"warning flux/substitution-pending deployment.yaml Deployment.apps/apps/app-${cluster_name}: metadata.name \"app-${cluster_name}\" holds the Flux postBuild placeholder ${cluster_name}, so its syntax",
			"warning flux/substitution-pending deployment.yaml Deployment.apps/apps/app-${cluster_name}: label env's value \"${cluster_env:=staging}\" holds the Flux postBuild placeholder ${cluster_env:=staging}, so its syntax can only be checked once Flux substitutes it: give its value with --substitute cluster_env=VALUE",
			"warning flux/substitution-pending deployment.yaml Deployment.apps/apps/app-${cluster_name}: spec.replicas \"${replicas:=2}\" holds the Flux postBuild placeholder ${replicas:=2}, so what Deployment apps/v1 requires of it (schema/type)",
			optedOut}},
		{name: "values", opts: LoadOptions{Substitute: map[string]string{"cluster_name": "prod", "replicas": "3"}},
			want: []string{optedOut}},
		{name: "values from a dotenv file", opts: LoadOptions{SubstituteFrom: []string{root + "/vars/cluster.env"}},
			want: []string{optedOut}},
		{name: "values from ConfigMap and Secret", opts: LoadOptions{SubstituteFrom: []string{root + "/vars/cluster-vars.yaml"}},
			want: []string{optedOut}},
		{name: "a value Kubernetes refuses", opts: LoadOptions{SubstituteFrom: []string{root + "/vars/cluster.env"}, Substitute: map[string]string{"replicas": "three"}},
			want: []string{"error schema/type deployment.yaml Deployment.apps/apps/app-prod: spec.replicas must be an integer, not the string \"three\"", optedOut}},
		{name: "an unset variable is empty, as in Flux", opts: LoadOptions{Substitute: map[string]string{"replicas": "1"}},
			want: []string{"error object/invalid-name deployment.yaml Deployment.apps/apps/app-: metadata.name \"app-\" is invalid", optedOut}},
		{name: "strict: an unset variable without a default is an error", opts: LoadOptions{Substitute: map[string]string{"replicas": "1"}, SubstituteStrict: true},
			want: []string{"error flux/substitution deployment.yaml Deployment.apps/apps/app-${cluster_name}: Flux's postBuild substitution in strict mode (kustomize-controller's StrictPostBuildSubstitutions) fails on this object: variable not set (strict mode): \"cluster_name\": give it a value with --substitute cluster_name=VALUE (or --substitute-from FILE), or a default with ${cluster_name:=VALUE}", optedOut}},
		{name: "strict without values", opts: LoadOptions{SubstituteStrict: true},
			want: []string{"error flux/substitution deployment.yaml Deployment.apps/apps/app-${cluster_name}: Flux's postBuild substitution in strict mode (kustomize-controller's StrictPostBuildSubstitutions) fails on this object: variable not set (strict mode): \"cluster_name\":", optedOut}},
		{name: "strict with every value", opts: LoadOptions{SubstituteFrom: []string{root + "/vars/cluster.env"}, SubstituteStrict: true},
			want: []string{optedOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Root = root
			s, err := Load(context.Background(), root+"/app", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range s.Findings {
				got = append(got, fmt.Sprintf("%s %s %s %s: %s", f.Severity, f.Rule, strings.TrimPrefix(f.File, "app/"), f.Object, f.Message))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Load found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("finding %d = %s\nwant it to start with %s", i, got[i], tc.want[i])
				}
			}
			// The artifact keeps the placeholders: Flux substitutes them after pulling it.
			i := slices.IndexFunc(s.Objects(), func(o build.Object) bool { return o.ID.Kind == "Deployment" })
			if y := string(s.Objects()[i].YAML); !strings.Contains(y, "name: app-${cluster_name}") || !strings.Contains(y, "replicas: ${replicas:=2}") {
				t.Errorf("the rendered Deployment lost its placeholders:\n%s", y)
			}
		})
	}
}

// TestSubstituteRefused: variables Flux refuses, and files that cannot be read, are the caller's mistake, named.
func TestSubstituteRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    LoadOptions
		wantErr string
	}{
		{"bad name", LoadOptions{Substitute: map[string]string{"cluster-name": "x"}}, `--substitute: variable name "cluster-name" is invalid`},
		{"missing file", LoadOptions{SubstituteFrom: []string{"testdata/flux-substitute/vars/none.env"}}, "--substitute-from: open testdata/flux-substitute/vars/none.env"},
		{"not a variables file", LoadOptions{SubstituteFrom: []string{"testdata/flux-substitute/app/deployment.yaml"}}, "--substitute-from testdata/flux-substitute/app/deployment.yaml: document 1 is a Deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Root = "testdata/flux-substitute"
			_, err := Load(context.Background(), "testdata/flux-substitute/app", tc.opts)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Load = %v, want ErrInvalidOption with %q", err, tc.wantErr)
			}
		})
	}
}

// TestSubstitutionFails: an object Flux's substitution would fail on (an unterminated ${) is an error naming it when
// values are given, as Flux fails the build.
func TestSubstitutionFails(t *testing.T) {
	t.Parallel()
	root := writeFiles(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\ndata:\n  a: ${open\n"})
	s, err := Load(context.Background(), root, LoadOptions{Root: root, Substitute: map[string]string{"x": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Findings) != 1 || s.Findings[0].Rule != "flux/substitution" || s.Findings[0].File != "cm.yaml" ||
		!strings.Contains(s.Findings[0].Message, "Flux's postBuild substitution fails on this object (missing closing brace)") {
		t.Errorf("Load found %v, want one flux/substitution error on cm.yaml", s.Findings)
	}
}

// TestConfigSubstitute: statepack.yaml gives Flux postBuild variables per target or in its defaults
// (validate.substitute, and validate.substituteFrom with files relative to the config file; a target's validate
// replaces the defaults' as a whole, as for allow); the command line's are defaults a target's own win over, key by
// key.
func TestConfigSubstitute(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("testdata/flux-substitute")
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{
		"vars/cluster.env": "cluster_name=prod\n",
		"statepack.yaml": "apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults:\n  ref: localhost:5000/x\n  validate:\n    substituteFrom: [vars/cluster.env]\n" +
			"targets:\n- {name: a, path: " + abs + "/app}\n- {name: b, path: " + abs + "/app, validate: {substituteFrom: [vars/cluster.env], substitute: {replicas: three}}}\n",
	})
	cfg, err := LoadConfig(filepath.Join(dir, "statepack.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := LoadOptions{Root: abs, Substitute: map[string]string{"replicas": "2", "cluster_env": "cli"}}
	a, b := cfg.Targets[0].LoadOptions(base), cfg.Targets[1].LoadOptions(base)
	if want := []string{filepath.Join(dir, "vars", "cluster.env")}; !slices.Equal(a.SubstituteFrom, want) {
		t.Errorf("target a's SubstituteFrom = %q, want %q, relative to the config file", a.SubstituteFrom, want)
	}
	if b.Substitute["replicas"] != "three" || b.Substitute["cluster_env"] != "cli" || base.Substitute["replicas"] != "2" {
		t.Errorf("target b's Substitute = %v (base now %v), want its replicas over the command line's, the rest kept", b.Substitute, base.Substitute)
	}
	for _, tc := range []struct {
		name string
		opts LoadOptions
		want string // a rule the findings hold, beside the opted-out object's error
	}{{"a", a, ""}, {"b", b, "schema/type"}} {
		s, err := Load(context.Background(), cfg.Targets[0].Path, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		var rules []string
		for _, f := range s.Findings {
			rules = append(rules, f.Rule)
		}
		want := []string{"object/invalid-label"}
		if tc.want != "" {
			want = []string{tc.want, "object/invalid-label"}
		}
		if !slices.Equal(rules, want) {
			t.Errorf("target %s found %v, want %v", tc.name, s.Findings, want)
		}
	}
}

// TestSubstitutedFindingsOnFieldLines: a finding about an object as Flux substitutes it (renamed app-prod) lands on
// the line of its field in the source, which still holds the placeholder.
func TestSubstitutedFindingsOnFieldLines(t *testing.T) {
	t.Parallel()
	const root = "testdata/flux-substitute"
	s, err := Load(context.Background(), root+"/app", LoadOptions{Root: root,
		SubstituteFrom: []string{root + "/vars/cluster.env"}, Substitute: map[string]string{"replicas": "three"}})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(s.Findings, func(f build.Finding) bool { return f.Rule == "schema/type" })
	if i < 0 || s.Findings[i].File != "app/deployment.yaml" || s.Findings[i].Line != 10 || s.Findings[i].Field != "spec.replicas" {
		t.Errorf("Load with replicas=three found %v, want a schema/type finding on app/deployment.yaml:10 (spec.replicas)", s.Findings)
	}
}

// TestConfigSubstituteStrict: statepack.yaml's validate.substituteStrict sets strict substitution for a target, either
// way; a target that leaves it unset takes the command line's.
func TestConfigSubstituteStrict(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: {ref: localhost:5000/x}\ntargets:\n" +
		"- {name: unset, path: a}\n- {name: on, path: a, validate: {substituteStrict: true}}\n- {name: off, path: a, validate: {substituteStrict: false}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target     int
		flag, want bool
	}{{0, false, false}, {0, true, true}, {1, false, true}, {1, true, true}, {2, false, false}, {2, true, false}} {
		tg := cfg.Targets[tc.target]
		if got := tg.LoadOptions(LoadOptions{SubstituteStrict: tc.flag}).SubstituteStrict; got != tc.want {
			t.Errorf("target %s with --substitute-strict=%v: SubstituteStrict = %v, want %v", tg.Name, tc.flag, got, tc.want)
		}
	}
}

// TestSubstitutedSecretsNeverShown: a value that --substitute-from takes from a Secret never appears in a finding,
// though a finding quotes the substituted value it judges — whole, escaped or cut short; a ConfigMap's value is
// shown as it is, and so is a --substitute value that replaces the Secret's.
func TestSubstitutedSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-Sup3r-S3cret-token-that-is-long-enough-to-be-cut-short-in-a-message-0123456789"
	root := writeFiles(t, map[string]string{
		"app/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: "${tier}"}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
`,
		"vars/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: vars}\nstringData:\n  replicas: \"" + secret + "\"\n  tier: \"pa$$ w0rd!\"\n",
		"vars/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars}\ndata:\n  replicas: three-replicas\n  tier: \"pa$$ w0rd!\"\n",
	})
	load := func(from string, given map[string]string) string {
		s, err := Load(context.Background(), filepath.Join(root, "app"), LoadOptions{Root: root,
			SubstituteFrom: []string{filepath.Join(root, "vars", from)}, Substitute: given})
		if err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, f := range s.Findings {
			msgs = append(msgs, f.Message)
		}
		return strings.Join(msgs, "\n")
	}
	got := load("secret.yaml", nil)
	for _, leak := range []string{secret[:20], "pa$$ w0rd!"} {
		if strings.Contains(got, leak) {
			t.Errorf("findings show the Secret's value %q:\n%s", leak, got)
		}
	}
	if !strings.Contains(got, "spec.replicas") || !strings.Contains(got, "***") {
		t.Errorf("findings = %s\nwant the replicas finding, its value hidden as ***", got)
	}
	if got := load("config.yaml", nil); !strings.Contains(got, `"three-replicas"`) {
		t.Errorf("findings with a ConfigMap's value = %s\nwant the value shown", got)
	}
	if got := load("secret.yaml", map[string]string{"replicas": "four-given"}); !strings.Contains(got, `"four-given"`) {
		t.Errorf("findings with --substitute replacing the Secret's value = %s\nwant the given value shown", got)
	}
}
