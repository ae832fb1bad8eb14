package build

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// remoteFileRefs lists what kustomize itself would fetch over HTTP from a kustomization: it decodes the file with
// kustomize's own decoder and deprecation fixes, then applies its file loader's test (IsRemoteFile, an http or
// https URL) to every path-bearing field, splitting "key=path" file sources as kustomize does. It is the fuzz
// test's independent view of the pre-scan's job; ok is false when kustomize would refuse the file outright.
func remoteFileRefs(data []byte) (refs []string, ok bool) {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil, false
	}
	k.FixKustomization() // bases into resources, env into envs
	paths := slices.Concat(k.Resources, k.Components, k.Crds, k.Configurations, k.Generators, k.Transformers, k.Validators)
	for _, p := range k.PatchesStrategicMerge {
		paths = append(paths, string(p))
	}
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
	for _, p := range paths {
		if u, err := url.Parse(p); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
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

// FuzzKustomizationScan feeds the pre-scan that runs before kustomize (kustomizationScan) a kustomization and a
// base it may name. Whatever the bytes: no panic; every finding is an error with a rule and the file; the scan
// never walks outside the source root; and every http(s) URL that kustomize would fetch from a kustomization the
// scan visited is reported as remote (so Render refuses it without --allow-remote), unless the scan refused the
// file first.
func FuzzKustomizationScan(f *testing.F) {
	const base = "resources:\n- cm.yaml\n"
	for _, seed := range kustomizationSeeds(f, "../testdata", "testdata", "../../shared/corpus") {
		f.Add(seed, []byte(base))
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
		aliasBytesBomb(64<<10, 4),
	} {
		f.Add([]byte(seed), []byte(base))
		f.Add([]byte("resources: [base]\n"), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, top, sub []byte) {
		root, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		app := filepath.Join(root, "app")
		files := map[string][]byte{
			filepath.Join(app, "kustomization.yaml"):         top,
			filepath.Join(app, "base", "kustomization.yaml"): sub,
			filepath.Join(app, "base", "cm.yaml"):            []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
		}
		for p, data := range files {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r := &renderer{opts: renderOptions{root: root, maxFileSize: DefaultMaxFileSize}, root: root, inputs: map[string]bool{}}
		scan := kustomizationScan{r: r, seen: map[string]bool{}}
		scan.walk(app)

		for _, fd := range scan.findings {
			if fd.Severity != SeverityError || fd.Rule == "" || fd.File == "" || fd.Message == "" {
				t.Errorf("finding %+v lacks severity error, rule, file or message", fd)
			}
		}
		if len(scan.findings) > 0 {
			return // refused before kustomize runs
		}
		for dir := range scan.seen {
			if !within(root, dir) {
				t.Errorf("the scan walked into %s, outside the source root %s", dir, root)
			}
		}
		reported := map[string]bool{}
		for _, rm := range scan.remote {
			reported[rm.url] = true
		}
		for dir := range scan.seen {
			data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
			if err != nil {
				continue
			}
			refs, ok := remoteFileRefs(data)
			if !ok {
				continue // kustomize refuses the file itself
			}
			for _, ref := range refs {
				if !reported[ref] {
					t.Errorf("%s names %q, which kustomize fetches over HTTP, but the scan did not report it (reported: %q)",
						r.rel(filepath.Join(dir, "kustomization.yaml")), ref, scan.remote)
				}
			}
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
		{"resources: [git@github.com:org/repo, ftp://a/x, ./https://a]\n", nil},
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
