package statepack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

func TestParseConfig(t *testing.T) {
	head := "apiVersion: statepack.dev/v1alpha1\nkind: Config\n"
	tests := []struct {
		name, in string
		wantErr  string
		check    func(t *testing.T, cfg *Config)
	}{
		{name: "defaults merge", in: head + "defaults:\n  ref: localhost:5000/fleet/x\n  tags: [main]\n  annotations: {team: platform}\n  validate: {allow: [image-unpinned]}\n" +
			"targets:\n- name: a\n  path: a\n- name: b\n  path: b\n  ref: localhost:5000/fleet/b:v1\n  tags: []\n  annotations: {team: apps, extra: x}\n",
			check: func(t *testing.T, cfg *Config) {
				a, b := cfg.Targets[0], cfg.Targets[1]
				if a.Ref != "localhost:5000/fleet/x" || !slices.Equal(a.Tags, []string{"main"}) || a.Annotations["team"] != "platform" || a.Validate == nil {
					t.Errorf("target a = %+v, want the defaults", a)
				}
				if b.Ref != "localhost:5000/fleet/b:v1" || len(b.Tags) != 0 || b.Annotations["team"] != "apps" || b.Annotations["extra"] != "x" {
					t.Errorf("target b = %+v, want its own values over the defaults", b)
				}
			}},
		{name: "unknown field", in: head + "targets:\n- name: a\n  path: a\n  ref: localhost:5000/a\n  tagz: [x]\n", wantErr: `line 7: unknown field "tagz" in targets[0]`},
		{name: "wrong kind", in: "apiVersion: v1\nkind: ConfigMap\ntargets: []\n", wantErr: "apiVersion/kind must be statepack.dev/v1alpha1/Config"},
		{name: "no targets", in: head, wantErr: "no targets"},
		{name: "duplicate name", in: head + "targets:\n- {name: a, path: a, ref: localhost:5000/a}\n- {name: a, path: b, ref: localhost:5000/b}\n", wantErr: `line 5: target "a" is defined twice`},
		{name: "missing ref", in: head + "targets:\n- {name: a, path: a}\n", wantErr: `line 4: target "a" has no ref`},
		{name: "bad ref", in: head + "targets:\n- {name: a, path: a, ref: nginx}\n", wantErr: "name the registry host"},
		{name: "bad tag", in: head + "targets:\n- {name: a, path: a, ref: localhost:5000/a, tags: [a/b]}\n", wantErr: `line 4: target "a": invalid reference: tag "a/b" is not valid`},
		{name: "not YAML", in: "targets: [", wantErr: "line 1: not valid YAML: did not find expected node content"},
		{name: "image rules", in: head + "images:\n  pin: true\n  rules:\n  - {image: \"ghcr.io/acme/*\", keys: [keys/a.pub], attestations: [spdx], signatureFormat: bundle}\n  - {image: \"*\", skip: {reason: vendor}}\n" +
			"targets:\n- {name: a, path: a, ref: localhost:5000/a}\n",
			check: func(t *testing.T, cfg *Config) {
				im := cfg.Images
				if im == nil || !im.Pin || len(im.Rules) != 2 || im.Rules[0].Keys[0] != "keys/a.pub" || im.Rules[0].SignatureFormat != "bundle" || im.Rules[1].Skip.Reason != "vendor" {
					t.Errorf("images = %+v", im)
				}
			}},
		{name: "bad image pattern", in: head + "images:\n  rules:\n  - {image: \"GHCR.io/*\", keys: [a.pub]}\ntargets:\n- {name: a, path: a, ref: localhost:5000/a}\n",
			wantErr: `images.rules[0]: image pattern "GHCR.io/*" holds "GHCR"`},
		{name: "unknown image rule field", in: head + "images:\n  rules:\n  - {image: \"*\", key: a.pub}\ntargets:\n- {name: a, path: a, ref: localhost:5000/a}\n",
			wantErr: `line 5: unknown field "key" in images.rules[0]`},
		{name: "ignorePaths: a target's own, else the defaults'", in: head + "defaults:\n  ignorePaths: [docs/]\ntargets:\n" +
			"- {name: a, path: a, ref: localhost:5000/a}\n- {name: b, path: b, ref: localhost:5000/b, ignorePaths: []}\n- {name: c, path: c, ref: localhost:5000/c, ignorePaths: ['*.draft.yaml', '!keep.draft.yaml']}\n",
			check: func(t *testing.T, cfg *Config) {
				got := [][]string{cfg.Targets[0].IgnorePaths, cfg.Targets[1].IgnorePaths, cfg.Targets[2].IgnorePaths}
				want := [][]string{{"docs/"}, {}, {"*.draft.yaml", "!keep.draft.yaml"}}
				for i := range want {
					if !slices.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
						t.Errorf("target %s ignorePaths = %#v, want %#v", cfg.Targets[i].Name, got[i], want[i])
					}
				}
			}},
		{name: "empty ignore pattern in a target", in: head + "targets:\n- name: a\n  path: a\n  ref: localhost:5000/a\n  ignorePaths:\n  - docs/\n  - ' '\n",
			wantErr: `line 9: target "a": ignorePaths[1]: an ignore pattern is empty: remove it, or write a gitignore pattern such as docs/`},
		{name: "empty ignore pattern in the defaults", in: head + "defaults:\n  ignorePaths: ['']\ntargets:\n- {name: a, path: a, ref: localhost:5000/a, ignorePaths: [x]}\n",
			wantErr: `line 4: defaults: ignorePaths[0]: an ignore pattern is empty`},
		{name: "ignore pattern with a line break", in: head + "targets:\n- name: a\n  path: a\n  ref: localhost:5000/a\n  ignorePaths:\n  - |\n    docs/\n    tmp/\n",
			wantErr: `line 8: target "a": ignorePaths[0]: the ignore pattern "docs/\ntmp/\n" holds a line break: give each pattern as an item of its own`},
		{name: "ignorePaths not a list", in: head + "targets:\n- {name: a, path: a, ref: localhost:5000/a, ignorePaths: docs/}\n",
			wantErr: `line 4: targets[0].ignorePaths must be a list of strings, not the string "docs/"`},
		{name: "a bad default names the defaults' line", in: head + "defaults:\n  ref: localhost:5000/x\n  tags:\n  - main\n  - a/b\ntargets:\n- name: a\n  path: a\n",
			wantErr: `line 7: target "a": invalid reference: tag "a/b" is not valid`},
		{name: "bad helm mode", in: head + "targets:\n- name: a\n  path: a\n  ref: localhost:5000/a\n  helm: template\n", wantErr: `line 7: target "a": helm "template": use pin, hydrate or off`},
		{name: "bad signature format", in: head + "targets:\n- {name: a, path: a, ref: localhost:5000/a, sign: {key: k, format: cbor}}\n", wantErr: `target "a": sign.format "cbor": use legacy, bundle or both`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseConfig() = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

// FuzzParseConfig checks that no config file makes the parser panic, that an error naming a line names one the
// input has, that the walk explaining the decoder's errors finds nothing in a config the decoder accepts, and that
// an accepted config has named, routable targets.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: {ref: localhost:5000/x}\ntargets:\n- {name: a, path: a}\n"))
	f.Add([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets: [{name: a, path: ., ref: 'oci:dist:v1', sign: {key: k}, validate: {allow: [x]}}]\n"))
	f.Add([]byte("{}"))
	f.Add([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: {ignorePaths: [docs/]}\ntargets:\n- name: a\n  path: a\n  ref: localhost:5000/a\n  ignorePaths: ['', x]\n"))
	f.Add([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: &d {ignorePaths: [' ']}\ntargets: [*d]\n"))
	for _, in := range acceptedConfigs {
		f.Add([]byte(in))
	}
	f.Add([]byte(configHead + "targets:\n- name: a\n  sgin: {key: k}\n  tags: main\n  immutableTags: 'yes'\n"))
	f.Add([]byte(configHead + "targets:\n- {name: a, validate: {allow: [1, {rule: x, reasn: y}]}}\n"))
	f.Add([]byte(configHead + "images:\n  rules:\n  - {image: '*', skip: {reasons: x}, identities: [{subject: y}]}\n"))
	f.Add([]byte(configHead + "targets:\n- name: a\n\tpath: b\n"))
	f.Add([]byte(configHead + "defaults: &target {ref: x}\ntargets: [*target,\n  *t]\n"))
	f.Add([]byte(configHead + "targets:\n- name: a\x07\n  path: a\r\n  ref: b\u2028"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
				// Count the lines as an editor does, with YAML's line breaks.
				text := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(string(data))
				lines := len(strings.Split(strings.TrimSuffix(text, "\n"), "\n"))
				if n, _ := strconv.Atoi(m[1]); n < 1 || n > lines {
					t.Fatalf("ParseConfig(%q) = %v: the input has %d lines", data, err, lines)
				}
			}
			var decoded Config
			if sigsyaml.UnmarshalStrict(data, &decoded) == nil {
				if p := configSchema.Problems(data); len(p) > 0 {
					t.Fatalf("the decoder accepts %q, configSchema.Problems = %+v", data, p)
				}
			}
			return
		}
		for _, tg := range cfg.Targets {
			if tg.Name == "" || tg.Path == "" || tg.Ref == "" {
				t.Fatalf("accepted a target without name, path or ref: %+v", tg)
			}
		}
	})
}

func TestShardsPartitionTargets(t *testing.T) {
	names := []string{}
	for i := 0; i < 40; i++ {
		names = append(names, "cluster-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	seen := map[string]int{}
	for k := 1; k <= 4; k++ {
		for _, n := range names {
			if ShardOf(n, 4) == k {
				seen[n]++
			}
		}
	}
	for _, n := range names {
		if seen[n] != 1 {
			t.Errorf("target %s is in %d shards, want exactly 1", n, seen[n])
		}
	}
}

// TestLoadConfigNamesLine: a bad ignore pattern is an ErrInvalidOption naming the config file and the pattern's line.
func TestLoadConfigNamesLine(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "statepack.yaml")
	if err := os.WriteFile(p, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n- name: a\n  path: a\n  ref: localhost:5000/a\n  ignorePaths: ['']\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	want := p + `:7: target "a": ignorePaths[0]: an ignore pattern is empty: remove it, or write a gitignore pattern such as docs/`
	if !errors.Is(err, ErrInvalidOption) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("LoadConfig() = %v, want ErrInvalidOption ending %q", err, want)
	}
}

// TestTargetIgnorePaths: a target's ignore paths replace the command line's; a target without any takes them.
func TestTargetIgnorePaths(t *testing.T) {
	t.Parallel()
	base := LoadOptions{IgnorePaths: []string{"flag/"}}
	tests := []struct {
		name   string
		target Target
		want   []string
	}{
		{"unset takes the flag's", Target{}, []string{"flag/"}},
		{"own replaces the flag's", Target{IgnorePaths: []string{"docs/"}}, []string{"docs/"}},
		{"empty list ignores none", Target{IgnorePaths: []string{}}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.target.LoadOptions(base).IgnorePaths; !slices.Equal(got, tc.want) {
				t.Errorf("LoadOptions(%v).IgnorePaths = %q, want %q", base.IgnorePaths, got, tc.want)
			}
		})
	}
	cfg := Config{Targets: []Target{{Name: "bare"}, {Name: "own", IgnorePaths: []string{"docs/"}}}}
	cfg.ApplyDefaults(Target{IgnorePaths: []string{"flag/"}})
	if a, b := cfg.Targets[0].IgnorePaths, cfg.Targets[1].IgnorePaths; !slices.Equal(a, []string{"flag/"}) || !slices.Equal(b, []string{"docs/"}) {
		t.Errorf("ApplyDefaults: ignorePaths = %q and %q, want [flag/] for the target without its own and [docs/]", a, b)
	}
}

// TestApplyDefaults: flags beside --config fill only what a target (after the config's own defaults) leaves unset.
func TestApplyDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n" +
		"- {name: bare, path: a, ref: localhost:5000/a}\n" +
		"- {name: own, path: b, ref: localhost:5000/b, tags: [v2], sign: {key: own.key, attest: false}, annotations: {team: b}, immutableTags: false, helm: hydrate}\n"))
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	cfg.ApplyDefaults(Target{Tags: []string{"main"}, Sign: &SignConfig{Key: "flag.key", Format: "bundle", Attest: &yes},
		Annotations: map[string]string{"team": "flag", "env": "prod"}, ImmutableTags: &yes, Helm: HelmOff})
	bare, own := cfg.Targets[0], cfg.Targets[1]
	if !slices.Equal(bare.Tags, []string{"main"}) || bare.Sign == nil || bare.Sign.Key != "flag.key" || bare.Sign.Format != "bundle" ||
		bare.Annotations["team"] != "flag" || bare.ImmutableTags == nil || !*bare.ImmutableTags || bare.Helm != HelmOff {
		t.Errorf("a target that sets nothing = %+v (sign %+v), want every flag", bare, bare.Sign)
	}
	if !slices.Equal(own.Tags, []string{"v2"}) || own.Sign.Key != "own.key" || *own.Sign.Attest || own.Sign.Format != "bundle" ||
		own.Annotations["team"] != "b" || own.Annotations["env"] != "prod" || *own.ImmutableTags || own.Helm != HelmHydrate {
		t.Errorf("a target with its own settings = %+v (sign %+v), want its own values, the rest from the flags", own, own.Sign)
	}
}

// TestLoadConfigImageKeys: key files of image rules are relative to the config file, as signing keys are.
func TestLoadConfigImageKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "statepack.yaml")
	if err := os.WriteFile(p, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\nimages:\n  rules:\n  - {image: \"*\", keys: [keys/a.pub, env://IMAGES_PUB, /abs/b.pub]}\ntargets:\n- {name: a, path: a, ref: localhost:5000/a}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Images.Rules[0].Keys, []string{filepath.Join(dir, "keys/a.pub"), "env://IMAGES_PUB", "/abs/b.pub"}; !slices.Equal(got, want) {
		t.Errorf("image rule keys = %q, want %q", got, want)
	}
}

// TestSignersUnnamed: a target whose sign settings name no key is unsigned, or signed by Unnamed when set — loaded
// once for every such target, and only when one needs it; a named key is loaded by Load, once.
func TestSignersUnnamed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key, _ := testsigstore.KeyPair(t, "")
	loads, unnamed := map[string]int{}, 0
	load := func(ctx context.Context, ref string) (*sign.Signer, error) {
		loads[ref]++
		return sign.Keys{}.LoadSigner(ctx, ref, nil)
	}
	keyless := func(ctx context.Context) (*sign.Signer, error) {
		unnamed++
		return sign.Keys{}.LoadSigner(ctx, key, nil) // stands for a keyless signer: any signer will do
	}
	named, none := Target{Name: "named", Sign: &SignConfig{Key: key}}, Target{Name: "none", Sign: &SignConfig{}}

	c := &Signers{Load: load}
	if err := c.LoadAll(ctx, []Target{none, named, none}); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Get(ctx, ""); s != nil || err != nil {
		t.Errorf("Get(\"\") without Unnamed = %v, %v; want no signer", s, err)
	}
	c = &Signers{Load: load, Unnamed: keyless}
	if err := c.LoadAll(ctx, []Target{named}); err != nil || unnamed != 0 {
		t.Errorf("LoadAll of a target with a key: %v, Unnamed called %d times; want 0", err, unnamed)
	}
	if err := c.LoadAll(ctx, []Target{none, named, none}); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Get(ctx, ""); s == nil || err != nil || unnamed != 1 {
		t.Errorf("Get(\"\") with Unnamed = %v, %v, Unnamed called %d times; want its signer, loaded once", s, err, unnamed)
	}
	if loads[key] != 2 || len(loads) != 1 {
		t.Errorf("Load calls = %v, want the named key once per Signers", loads)
	}
}
