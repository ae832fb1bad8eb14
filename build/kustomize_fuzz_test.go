package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	//lint:ignore SA1019 the oracle runs kustomize's own builtin plugins, which only this package exports
	"sigs.k8s.io/kustomize/api/builtins"
	"sigs.k8s.io/kustomize/api/ifc"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
)

// kustomizationSeeds returns every kustomization file under dirs that exist: testdata/ and, when it is checked out
// beside this repository, the shared corpus of real GitOps repositories.
func kustomizationSeeds(tb testing.TB, dirs ...string) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !slices.Contains(kustomizationFiles, d.Name()) {
				return nil
			}
			if data, err := os.ReadFile(p); err == nil {
				seeds = append(seeds, data)
			}
			return nil
		})
	}
	return seeds
}

// remoteFileRefs lists what kustomize itself would fetch or clone because of a kustomization: it decodes the file
// with kustomize's own decoder and deprecation fixes, then applies its file loader's rules: IsRemoteFile (an http or
// https URL) to every path-bearing field, splitting "key=path" file sources as kustomize does, and git's
// NewRepoSpecFromURL (through resource.Origin.Append) to the entries kustomize may enter as directories. Inline
// configs under generators, transformers and validators are handed to kustomize's own builtin plugins, configured
// against a loader that records what they load (kustomizeConfigLoads). It is the fuzz test's independent view of
// what the checks must refuse; ok is false when kustomize would refuse the file outright.
func remoteFileRefs(data []byte) (refs []string, ok bool) {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil, false
	}
	k.FixKustomization() // bases into resources, env into envs
	paths := slices.Concat(k.Resources, k.Components, k.Crds, k.Configurations)
	//lint:ignore SA1019 deprecated, but kustomize still reads it
	for _, p := range k.PatchesStrategicMerge {
		paths = append(paths, string(p))
	}
	//lint:ignore SA1019 deprecated, but kustomize still reads it
	for _, p := range slices.Concat(k.Patches, k.PatchesJson6902) {
		paths = append(paths, p.Path)
	}
	for _, r := range k.Replacements {
		paths = append(paths, r.Path)
	}
	paths = append(paths, k.OpenAPI["path"])
	for _, g := range k.ConfigMapGenerator {
		paths = append(paths, g.EnvSources...)
		paths = append(paths, fileSourcePaths(g.FileSources)...)
	}
	for _, g := range k.SecretGenerator {
		paths = append(paths, g.EnvSources...)
		paths = append(paths, fileSourcePaths(g.FileSources)...)
	}
	var entries []string // entries kustomize may enter as directories, cloning them when they are repositories
	entries = append(entries, k.Resources...)
	entries = append(entries, k.Components...)
	for _, p := range slices.Concat(k.Generators, k.Transformers, k.Validators) {
		if checkExpansion([]byte(p)) != nil {
			continue // refused as an alias bomb before kustomize parses it
		}
		if _, err := kustomizeResources().NewResMapFromBytes([]byte(p)); err == nil {
			refs = append(refs, kustomizeConfigLoads([]byte(p))...)
			continue
		}
		paths = append(paths, p)
		entries = append(entries, p)
	}
	for _, p := range paths {
		if u, err := url.Parse(p); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			refs = append(refs, p)
		}
	}
	for _, p := range entries {
		if (&resource.Origin{}).Append(p).Repo != "" && !slices.Contains(refs, p) {
			refs = append(refs, p)
		}
	}
	return refs, true
}

// fileSourcePaths is kustomize's ParseFileSource: "path", or "key=path" with exactly one "=" (anything else is
// refused, so it names no path).
func fileSourcePaths(sources []string) []string {
	var out []string
	for _, s := range sources {
		switch strings.Count(s, "=") {
		case 0:
			out = append(out, s)
		case 1:
			if _, p, _ := strings.Cut(s, "="); p != "" && !strings.HasPrefix(s, "=") {
				out = append(out, p)
			}
		}
	}
	return out
}

// builtinPlugins are kustomize's builtin generators and transformers, by kind.
var builtinPlugins = map[string]func() resmap.Configurable{
	"AnnotationsTransformer":         func() resmap.Configurable { return builtins.NewAnnotationsTransformerPlugin() },
	"ConfigMapGenerator":             func() resmap.Configurable { return builtins.NewConfigMapGeneratorPlugin() },
	"HashTransformer":                func() resmap.Configurable { return builtins.NewHashTransformerPlugin() },
	"HelmChartInflationGenerator":    func() resmap.Configurable { return builtins.NewHelmChartInflationGeneratorPlugin() },
	"IAMPolicyGenerator":             func() resmap.Configurable { return builtins.NewIAMPolicyGeneratorPlugin() },
	"ImageTagTransformer":            func() resmap.Configurable { return builtins.NewImageTagTransformerPlugin() },
	"LabelTransformer":               func() resmap.Configurable { return builtins.NewLabelTransformerPlugin() },
	"NamespaceTransformer":           func() resmap.Configurable { return builtins.NewNamespaceTransformerPlugin() },
	"PatchJson6902Transformer":       func() resmap.Configurable { return builtins.NewPatchJson6902TransformerPlugin() },
	"PatchStrategicMergeTransformer": func() resmap.Configurable { return builtins.NewPatchStrategicMergeTransformerPlugin() },
	"PatchTransformer":               func() resmap.Configurable { return builtins.NewPatchTransformerPlugin() },
	"PrefixTransformer":              func() resmap.Configurable { return builtins.NewPrefixTransformerPlugin() },
	"SuffixTransformer":              func() resmap.Configurable { return builtins.NewSuffixTransformerPlugin() },
	"ReplacementTransformer":         func() resmap.Configurable { return builtins.NewReplacementTransformerPlugin() },
	"ReplicaCountTransformer":        func() resmap.Configurable { return builtins.NewReplicaCountTransformerPlugin() },
	"SecretGenerator":                func() resmap.Configurable { return builtins.NewSecretGeneratorPlugin() },
	"ValueAddTransformer":            func() resmap.Configurable { return builtins.NewValueAddTransformerPlugin() },
}

// recordingLoader is a kustomize loader that records the paths it is asked to load and answers each with nothing.
type recordingLoader struct{ loaded []string }

var _ ifc.Loader = (*recordingLoader)(nil)

func (l *recordingLoader) Repo() string                   { return "" }
func (l *recordingLoader) Root() string                   { return "/fuzz" }
func (l *recordingLoader) New(string) (ifc.Loader, error) { return nil, errors.New("no bases here") }
func (l *recordingLoader) Cleanup() error                 { return nil }
func (l *recordingLoader) Load(p string) ([]byte, error) {
	l.loaded = append(l.loaded, p)
	return nil, nil
}

// kustomizeConfigLoads configures kustomize's own builtin plugins with the builtin configs in data, as kustomize
// does with generator, transformer and validator configs, generates from the generators, and returns the http(s)
// URLs they asked the loader for: what kustomize would fetch over HTTP.
func kustomizeConfigLoads(data []byte) []string {
	resources, err := kustomizeResources().RF().SliceFromBytes(data)
	if err != nil {
		return nil
	}
	var remote []string
	for _, res := range resources {
		gvk := res.GetGvk()
		newPlugin, ok := builtinPlugins[gvk.Kind]
		if gvk.Group != "" || gvk.Version != "builtin" || !ok {
			continue
		}
		y, err := res.AsYAML()
		if err != nil {
			continue
		}
		ldr := &recordingLoader{}
		func() {
			defer func() { _ = recover() }() // a plugin that panics on odd input has loaded what it loaded
			p := newPlugin()
			err := p.Config(resmap.NewPluginHelpers(ldr, provider.NewDepProvider().GetFieldValidator(), resmap.NewFactory(provider.NewDepProvider().GetResourceFactory()), types.DisabledPluginConfig()), y)
			if g, ok := p.(resmap.Generator); ok && err == nil {
				_, _ = g.Generate()
			}
		}()
		for _, p := range ldr.loaded {
			if u, err := url.Parse(p); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				remote = append(remote, p)
			}
		}
	}
	return remote
}

// refusingTransport stands in for http.DefaultTransport, which kustomize's file loader fetches with: it counts
// every request and sends none.
type refusingTransport struct{ requests atomic.Int64 }

func (rt *refusingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	rt.requests.Add(1)
	return nil, errors.New("the fuzz test sends no request")
}

// fuzzSeedURL is the remote content the seeds name; refusingTransport answers any request for it.
const fuzzSeedURL = "https://example.com"

// vectorSeeds turns the trees of offlineVectors into the fuzz test's layout: the app's kustomization, the
// kustomization of the one other directory (as app/base, or app/linked for a symlinked one), and a config file
// (as app/base/cfg.yaml) gathering the other files of that directory.
func vectorSeeds() [][3][]byte {
	h := &offlineHarness{url: fuzzSeedURL}
	var seeds [][3][]byte
	for _, v := range offlineVectors() {
		top := h.expand(v.files["app/kustomization.yaml"])
		var sub, cfg string
		others := map[string]string{} // files of the other directory, by name
		for _, name := range slices.Sorted(maps.Keys(v.files)) {
			content := h.expand(v.files[name])
			switch dir, base := path.Split(name); {
			case name == "app/kustomization.yaml" || base == "cm.yaml" || base == ".placeholder":
			case dir == "app/":
				cfg += "---\n" + content
				top = strings.ReplaceAll(top, base, "base/cfg.yaml")
			case base == "kustomization.yaml" || base == "real.txt":
				sub = content
				top = strings.ReplaceAll(top, "../"+strings.TrimSuffix(dir, "/"), "base")
				if base == "real.txt" {
					top = strings.ReplaceAll(top, "- base", "- linked")
				}
			default:
				others[base] = content
			}
		}
		listed := false
		for _, base := range slices.Sorted(maps.Keys(others)) {
			if strings.Contains(sub, "path: "+base) { // a patch file: inline, as a JSON string
				sub = strings.ReplaceAll(sub, "path: "+base, "patch: "+strconv.Quote(others[base]))
				continue
			}
			cfg += "---\n" + others[base]
			if listed {
				sub = strings.ReplaceAll(sub, "- "+base+"\n", "")
			} else {
				sub = strings.ReplaceAll(sub, "- "+base+"\n", "- cfg.yaml\n")
				listed = true
			}
		}
		seeds = append(seeds, [3][]byte{[]byte(top), []byte(sub), []byte(cfg)})
	}
	return seeds
}

// FuzzKustomizationScan feeds a render a kustomization (app/), a base it may name (app/base, and the same bytes
// behind a symlinked kustomization.yaml in app/linked) and a config file the base holds (app/base/cfg.yaml). Whatever
// the bytes:
//
//   - the pre-scan does not panic, every finding it makes is an error with a rule and the file, it never walks
//     outside the source root, and every remote reference that kustomize would fetch or clone from a kustomization
//     the scan visited is reported (remoteFileRefs), unless the scan refused the tree first;
//   - Render without --allow-remote sends no HTTP request (kustomize's client is a refusingTransport) and runs no
//     git (a recording fake is first on PATH), and every kustomization and config kustomize loaded (the render's
//     inputs) names nothing kustomize would fetch;
//   - when Render with remote bases allowed does reach out, Render without reports an error.
func FuzzKustomizationScan(f *testing.F) {
	const base = "resources:\n- cm.yaml\n"
	for _, seed := range kustomizationSeeds(f, "../testdata", "testdata", "../../shared/corpus") {
		f.Add(seed, []byte(base), []byte(cm))
	}
	for _, seed := range []string{
		"resources:\n- base\n",
		"resources:\n- ../app/base\n- /etc\n- ../../../\n",
		"resources:\n- https://example.com/x.yaml\n- github.com/org/repo//deploy?ref=v1\n",
		"bases: [HTTPS://example.com/base]\n",
		"patches:\n- path: https://example.com/p.yaml\n  target: {kind: Deployment}\n",
		"patchesJson6902:\n- path: http://example.com/p.json\n  target: {kind: Deployment, name: x}\n",
		"patchesStrategicMerge:\n- https://example.com/psm.yaml\n",
		"configMapGenerator:\n- name: c\n  files: [conf=https://example.com/c]\n  envs: [http://example.com/e.env]\n  env: https://example.com/env\n",
		"secretGenerator:\n- name: s\n  files: [https://example.com/s]\n",
		"openapi:\n  path: https://example.com/schema.json\n",
		"replacements:\n- path: https://example.com/r.yaml\n",
		"crds: [https://example.com/crd.yaml]\nconfigurations: [https://example.com/c.yaml]\n",
		"generators: [https://example.com/g.yaml]\ntransformers: [https://example.com/t.yaml]\nvalidators: [https://example.com/v.yaml]\n",
		"Resources: [https://example.com/case.yaml]\nresources: [cm.yaml]\n",
		"x: &u https://example.com/anchor.yaml\nresources: [*u]\n",
		"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
		"resources: [base]\n",
		"resources: [linked]\n",
		"transformers: [base]\n",
		"generators: [base/cfg.yaml]\n",
		aliasBytesBomb(64<<10, 4),
	} {
		f.Add([]byte(seed), []byte(base), []byte(cm))
		f.Add([]byte("resources: [base]\n"), []byte(seed), []byte(cm))
	}
	for _, seed := range vectorSeeds() {
		f.Add(seed[0], seed[1], seed[2])
	}

	// Kustomize's HTTP client is http.DefaultTransport's; git is the first on PATH.
	rt := &refusingTransport{}
	saved := http.DefaultTransport
	http.DefaultTransport = rt
	f.Cleanup(func() { http.DefaultTransport = saved })
	bin := f.TempDir()
	gitLog := filepath.Join(f.TempDir(), "git-invocations")
	if err := os.WriteFile(filepath.Join(bin, "git"), fmt.Appendf(nil, "#!/bin/sh\necho \"git $*\" >> '%s'\nexit 1\n", gitLog), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Setenv("PATH", bin)
	f.Setenv("TMPDIR", f.TempDir())
	reached := func() (int64, string) {
		data, _ := os.ReadFile(gitLog)
		_ = os.Remove(gitLog)
		return rt.requests.Swap(0), string(data)
	}

	f.Fuzz(func(t *testing.T, top, sub, cfg []byte) {
		root, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		app := filepath.Join(root, "app")
		files := map[string][]byte{
			filepath.Join(app, "kustomization.yaml"):         top,
			filepath.Join(app, "cm.yaml"):                    []byte(cm),
			filepath.Join(app, "base", "kustomization.yaml"): sub,
			filepath.Join(app, "base", "cm.yaml"):            []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
			filepath.Join(app, "base", "cfg.yaml"):           cfg,
			filepath.Join(app, "linked", "k.txt"):            sub,
		}
		for p, data := range files {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("k.txt", filepath.Join(app, "linked", "kustomization.yaml")); err != nil {
			t.Fatal(err)
		}

		r := &renderer{opts: renderOptions{root: root, maxFileSize: DefaultMaxFileSize}, root: root, inputs: map[string]bool{}}
		scan := kustomizationScan{r: r, ctx: context.Background(), seen: map[string]bool{}}
		scan.walk(app, "")
		for _, fd := range scan.findings {
			if fd.Severity != SeverityError || fd.Rule == "" || fd.File == "" || fd.Message == "" {
				t.Errorf("finding %+v lacks severity error, rule, file or message", fd)
			}
		}
		for dir := range scan.seen {
			if !within(root, dir) {
				t.Errorf("the scan walked into %s, outside the source root %s", dir, root)
			}
		}
		if len(scan.findings) == 0 {
			reported := map[string]bool{}
			for _, rm := range scan.remote {
				reported[rm.url] = true
			}
			for dir := range scan.seen {
				for _, kf := range kustomizationsIn(dir) {
					data, err := os.ReadFile(kf)
					if err != nil {
						continue
					}
					refs, _ := remoteFileRefs(data) // none when kustomize refuses the file itself
					for _, ref := range refs {
						if !reported[ref] {
							t.Errorf("%s names %q, which kustomize fetches, but the scan did not report it (reported: %q)",
								r.rel(kf), ref, scan.remote)
						}
					}
				}
			}
		}

		reached() // forget what an earlier iteration left
		offline, err := Render(context.Background(), app, WithRoot(root))
		if err != nil {
			t.Fatalf("Render() error = %v", err)
		}
		if requests, git := reached(); requests > 0 || git != "" {
			t.Errorf("Render() without --allow-remote sent %d request(s) and ran %q", requests, git)
		}
		refused := false
		for _, fd := range offline.Findings {
			if fd.Rule == "" || fd.Message == "" {
				t.Errorf("finding %+v lacks a rule or a message", fd)
			}
			refused = refused || fd.Severity == SeverityError
		}
		for _, in := range offline.Inputs {
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(in)))
			if err != nil {
				continue // a directory or a symlink's record
			}
			var refs []string
			if slices.Contains(kustomizationFiles, path.Base(in)) {
				refs, _ = remoteFileRefs(data)
			} else if checkExpansion(data) == nil {
				refs = kustomizeConfigLoads(data)
			}
			if len(refs) > 0 {
				t.Errorf("kustomize loaded %s, which makes it fetch %q, without --allow-remote", in, refs)
			}
		}

		if _, err := Render(context.Background(), app, WithRoot(root), WithAllowRemote(true)); err != nil {
			t.Fatalf("Render(allow remote) error = %v", err)
		}
		if requests, git := reached(); (requests > 0 || git != "") && !refused {
			t.Errorf("with remote bases allowed, kustomize sent %d request(s) and ran %q; without, Render reported no error", requests, git)
		}
	})
}

// TestRemoteFileRefs checks the fuzz test's oracle, so that FuzzKustomizationScan cannot pass by seeing nothing:
// each path-bearing field with a URL is found, and what kustomize would not fetch is not.
func TestRemoteFileRefs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"resources: [https://a/r, local.yaml]\nbases: [http://a/b]\n", []string{"https://a/r", "http://a/b"}},
		{"components: [https://a/c]\ncrds: [https://a/crd]\nconfigurations: [https://a/cfg]\n", []string{"https://a/c", "https://a/crd", "https://a/cfg"}},
		{"generators: [https://a/g]\ntransformers: [https://a/t]\nvalidators: [https://a/v]\n", []string{"https://a/g", "https://a/t", "https://a/v"}},
		{"patchesStrategicMerge: [https://a/psm]\npatches: [{path: https://a/p}]\npatchesJson6902: [{path: https://a/j}]\n", []string{"https://a/psm", "https://a/p", "https://a/j"}},
		{"replacements: [{path: https://a/r}]\nopenapi: {path: https://a/o}\n", []string{"https://a/r", "https://a/o"}},
		{"configMapGenerator: [{name: c, files: [k=https://a/f], envs: [https://a/e], env: https://a/env}]\n", []string{"https://a/e", "https://a/env", "https://a/f"}},
		{"secretGenerator:\n- name: s\n  files:\n  - https://a/f\n  - k=https://a/x?y=z\n", []string{"https://a/f"}},
		{"resources: [git@github.com:org/repo, anyone@example.com:org/repo, ftp://a/x, ./https://a, example.com/org/repo]\n",
			[]string{"git@github.com:org/repo", "anyone@example.com:org/repo"}},
		{"components: [github.com:org/repo//c]\ngenerators: [GIT::https://example.com/org/repo]\n",
			[]string{"github.com:org/repo//c", "GIT::https://example.com/org/repo"}},
		{"generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: g}\n  files: [x=https://a/f, local.txt]\n  envs: [https://a/e]\n",
			[]string{"https://a/e", "https://a/f"}},
		{"transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: https://a/p\n- |\n  apiVersion: example.com/v1\n  kind: PatchTransformer\n  metadata: {name: q}\n  path: https://a/external\n",
			[]string{"https://a/p"}},
	} {
		got, ok := remoteFileRefs([]byte(tc.in))
		if !ok || !slices.Equal(got, tc.want) {
			t.Errorf("remoteFileRefs(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := remoteFileRefs([]byte("resourcez: [x]\n")); ok {
		t.Errorf("remoteFileRefs accepted an unknown field, which kustomize refuses")
	}
}
