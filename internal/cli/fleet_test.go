package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

func writeFleet(t *testing.T, host string, extra string) (cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, "../../testdata/demo", filepath.Join(dir, "demo"))
	copyDir(t, "../../testdata/plain", filepath.Join(dir, "plain"))
	copyDir(t, "../../testdata/bad/yaml-syntax", filepath.Join(dir, "broken"))
	cfg := "apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults:\n  tags: [main]\n  validate: {externalNamespaces: [web]}\ntargets:\n" +
		"- {name: production, path: demo/production, ref: " + host + "/fleet/production}\n" +
		"- {name: plain, path: plain, ref: " + host + "/fleet/plain:v1}\n" + extra
	cfgPath = filepath.Join(dir, "statepack.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

func TestFleetPublish(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	cfg := writeFleet(t, reg.Host, "- {name: broken, path: broken, ref: "+reg.Host+"/fleet/broken}\n")

	r := run(t, nil, "", "publish", "--config", cfg, "--root", filepath.Dir(cfg), "-o", "json")
	if r.code != 1 {
		t.Fatalf("%s\nwant exit 1: one target has a syntax error", r)
	}
	var out struct{ Targets []fleetResult }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("publish --config -o json printed %q: %v", r.stdout, err)
	}
	byName := map[string]fleetResult{}
	for _, tr := range out.Targets {
		byName[tr.Name] = tr
	}
	if b := byName["broken"]; b.Error == "" || len(b.Findings) == 0 || b.Digest != "" {
		t.Errorf("broken target = %+v, want an error with findings and no digest", b)
	}
	for _, name := range []string{"production", "plain"} {
		if tr := byName[name]; tr.Error != "" || !strings.HasPrefix(tr.Digest, "sha256:") {
			t.Errorf("target %s = %+v, want it published", name, tr)
		}
	}
	if repos := repositories(t, reg.Host); slices.Contains(repos, "fleet/broken") {
		t.Errorf("the failing target was pushed: %v", repos)
	}
	// Each target's tags: the config's defaults plus the tag in its ref.
	mustRun(t, 0, nil, "pull", reg.Host+"/fleet/plain:v1", "-o", filepath.Join(t.TempDir(), "a"))
	mustRun(t, 0, nil, "pull", reg.Host+"/fleet/production:main", "-o", filepath.Join(t.TempDir(), "b"))

	// --target picks one; text output is one line per target.
	r = mustRun(t, 0, nil, "publish", "--config", cfg, "--root", filepath.Dir(cfg), "--target", "plain")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "plain\t"+reg.Host+"/fleet/plain@sha256:") {
		t.Errorf("publish --target plain stdout = %q", r.stdout)
	}
	r = run(t, nil, "", "publish", "--config", cfg, "--target", "nope")
	if r.code != 2 || !strings.Contains(r.stderr, "broken, plain, production") {
		t.Errorf("%s\nwant exit 2 listing the targets", r)
	}
}

func TestFleetShardsAndValidate(t *testing.T) {
	t.Parallel()
	cfg := writeFleet(t, "localhost:5000", "")
	var union []string
	for _, shard := range []string{"1/2", "2/2"} {
		r := mustRun(t, 0, nil, "validate", "--config", cfg, "--root", filepath.Dir(cfg), "--shard", shard)
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if line != "" {
				union = append(union, strings.Split(line, "\t")[0])
			}
		}
	}
	slices.Sort(union)
	if !slices.Equal(union, []string{"plain", "production"}) {
		t.Errorf("the shards 1/2 and 2/2 ran %v, want every target exactly once", union)
	}
	r := run(t, nil, "", "validate", "--config", cfg, "--shard", "3/2")
	if r.code != 2 {
		t.Errorf("%s\nwant exit 2 for shard 3/2", r)
	}
	dir := filepath.Join(t.TempDir(), "layers")
	r = mustRun(t, 0, nil, "build", "--config", cfg, "--root", filepath.Dir(cfg), "-o", dir)
	for _, name := range []string{"plain", "production"} {
		if _, err := os.Stat(filepath.Join(dir, name+".tar.gz")); err != nil {
			t.Errorf("build --config wrote no layer for %s: %v\n%s", name, err, r)
		}
	}
}

func TestFleetFlagsAndSharedDefaults(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	dir := t.TempDir()
	key, _ := keyPair(t, "")
	deploy := filepath.Join(dir, "deploy")
	copyDir(t, "../../testdata/plain", filepath.Join(deploy, "a"))
	copyDir(t, "../../testdata/plain", filepath.Join(deploy, "b"))
	data, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(deploy, "cosign.key"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(deploy, "statepack.yaml")
	// The key in the defaults is relative to the config file, for every target (it used to be joined once per target).
	if err := os.WriteFile(cfg, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: {sign: {key: cosign.key}, tags: [main]}\ntargets:\n"+
		"- {name: a, path: a, ref: "+reg.Host+"/shared/a}\n- {name: b, path: b, ref: "+reg.Host+"/shared/b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, nil, "publish", "--config", cfg, "--root", deploy)
	// Flags beside --config are defaults for every target that does not set its own (issue #16); those that cannot
	// apply to a fleet are refused.
	for _, tc := range []struct {
		flags []string
		want  string
	}{{[]string{"--keyless", "--key", filepath.Join(deploy, "cosign.key")}, "--key and keyless signing exclude each other"},
		{[]string{"--digest-file", filepath.Join(dir, "digest")}, "--digest-file and --ref-file with --config need exactly one target, and 2 are selected: give --target NAME"},
		{[]string{"--layer-media-type", "x"}, `--layer-media-type "x" is not supported`}} {
		r := run(t, nil, "", append([]string{"publish", "--config", cfg, "--root", deploy}, tc.flags...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("publish --config %v: %s\nwant exit 2 saying %q", tc.flags, r, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "digest")); !os.IsNotExist(err) {
		t.Errorf("a refused --digest-file was written: %v", err)
	}
	// One target of the config (a Tekton matrix's TaskRun): its digest and reference go to the result files.
	digestFile, refFile := filepath.Join(dir, "digest"), filepath.Join(dir, "ref")
	out := mustRun(t, 0, nil, "publish", "--config", cfg, "--root", deploy, "--target", "b", "--digest-file", digestFile, "--ref-file", refFile).stdout
	digest, _ := os.ReadFile(digestFile)
	ref, _ := os.ReadFile(refFile)
	if want := "b\t" + string(ref) + "\n"; !strings.HasPrefix(string(digest), "sha256:") || string(ref) != reg.Host+"/shared/b@"+string(digest) || out != want {
		t.Errorf("publish --config --target b --digest-file --ref-file: digest %q, ref %q, stdout %q; want the target's digest and reference", digest, ref, out)
	}
	r := mustRun(t, 0, nil, "publish", "--config", cfg, "--root", deploy, "--tag", "v1", "--annotation", "team=platform", "-o", "json")
	var res struct {
		Targets []struct {
			Name        string            `json:"name"`
			Tags        []string          `json:"tags"`
			Annotations map[string]string `json:"annotations"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	for _, tg := range res.Targets {
		// The config's defaults give every target tags [main], so --tag v1 does not apply; the annotation does.
		if !slices.Equal(tg.Tags, []string{"main"}) || tg.Annotations["team"] != "platform" {
			t.Errorf("target %s = tags %v, annotations %v; want its own tags and the flag's annotation", tg.Name, tg.Tags, tg.Annotations)
		}
	}
}

// TestFleetIgnorePaths: statepack.yaml's ignorePaths leave files out of a target as --ignore-paths does; the
// defaults' apply to a target without its own, --ignore-paths to a target the config leaves unset, and a bad
// pattern is a usage error naming the config file's line.
func TestFleetIgnorePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyDir(t, "../../testdata/sourceignore", dir) // app/docs/example.yaml has no apiVersion: an error unless ignored
	write := func(cfg string) string {
		t.Helper()
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+fmt.Sprint(len(cfg))+".yaml")
		if err := os.WriteFile(p, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\n"+cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("defaults:\n  ref: localhost:5000/app\n  ignorePaths: [docs/]\ntargets:\n" +
		"- {name: defaults, path: app}\n- {name: own, path: app, ignorePaths: ['docs/*.yaml']}\n- {name: none, path: app, ignorePaths: []}\n")
	r := run(t, nil, "", "validate", "--config", cfg, "--root", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "defaults\t2 object(s), 0 error(s)") || !strings.Contains(r.stdout, "own\t2 object(s), 0 error(s)") ||
		!strings.Contains(r.stderr, "none: app/docs/example.yaml") {
		t.Errorf("%s\nwant the targets with ignorePaths clean, and the one with ignorePaths: [] failing on docs/example.yaml", r)
	}

	// --ignore-paths beside --config is the default of the targets that set none.
	cfg = write("targets:\n- {name: flag, path: app, ref: localhost:5000/app}\n- {name: none, path: app, ref: localhost:5000/app, ignorePaths: []}\n")
	r = run(t, nil, "", "validate", "--config", cfg, "--root", dir, "--ignore-paths", "docs/")
	if r.code != 1 || !strings.Contains(r.stdout, "flag\t2 object(s), 0 error(s)") || !strings.Contains(r.stderr, "none: app/docs/example.yaml") {
		t.Errorf("%s\nwant --ignore-paths for the target without ignorePaths, not for the one with its own", r)
	}

	cfg = write("targets:\n- name: a\n  path: app\n  ref: localhost:5000/app\n  ignorePaths:\n  - ''\n")
	r = run(t, nil, "", "validate", "--config", cfg, "--root", dir)
	if want := cfg + `:8: target "a": ignorePaths[0]: an ignore pattern is empty`; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("%s\nwant exit 2 saying %q", r, want)
	}
}
