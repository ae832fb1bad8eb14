package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testcharts"
)

// TestActionSourceInputs: the inputs named after publish's source flags reach the render and the validation as the
// flags do: substitute, substitute-from and substitute-strict judge Flux placeholders, allow turns a rule off,
// ignore-paths leaves files out; a bad value is a usage error naming the input.
func TestActionSourceInputs(t *testing.T) {
	t.Parallel()
	workspace, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rn := newRunner(t, workspace)
	flux := map[string]string{"path": "../../testdata/flux-substitute/app", "substitute-strict": "true",
		"allow": "object/invalid-label=the opted-out ConfigMap's label is literal text, on purpose"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	r := rn.run(t, with(flux, "substitute", "replicas=1"))
	want := "::error col=3,file=testdata/flux-substitute/app/deployment.yaml,line=6,title=statepack%3A flux/substitution::Deployment.apps/apps/app-${cluster_name}: Flux's postBuild substitution in strict mode"
	if r.code != ExitFindings || !strings.Contains(r.stdout, want) {
		t.Errorf("substitute-strict with cluster_name unset: %s\nwant exit 1 and the annotation %q", r, want)
	}
	if r = rn.run(t, with(flux, "substitute-from", "../../testdata/flux-substitute/vars/cluster.env")); r.code != 0 {
		t.Errorf("substitute-from giving every variable, and allow: %s\nwant exit 0", r)
	}
	if r = rn.run(t, with(flux, "substitute-from", "../../testdata/flux-substitute/vars/cluster.env", "allow", "")); r.code != ExitFindings ||
		!strings.Contains(r.stdout, "title=statepack%3A object/invalid-label") {
		t.Errorf("without allow: %s\nwant the opted-out ConfigMap's label annotated", r)
	}

	tree := map[string]string{"path": "../../testdata/sourceignore/app"}
	if r = rn.run(t, tree); r.code != ExitFindings || !strings.Contains(r.stdout, "file=testdata/sourceignore/app/docs/example.yaml") {
		t.Errorf("without ignore-paths: %s\nwant docs/example.yaml's error", r)
	}
	if r = rn.run(t, with(tree, "ignore-paths", "docs/")); r.code != 0 {
		t.Errorf("ignore-paths docs/: %s\nwant exit 0", r)
	}

	// The built-in CRDs are on unless the input turns them off, as the flag's default is.
	release := map[string]string{"path": "../../testdata/builtin-crds/app", "helm": "off"}
	if r = rn.run(t, release); r.code != ExitFindings || !strings.Contains(r.stdout, "title=statepack%3A schema/required") {
		t.Errorf("a HelmRelease without its interval: %s\nwant exit 1 and the built-in CRD's schema/required annotated", r)
	}
	if r = rn.run(t, with(release, "builtin-crds", "false")); r.code != 0 || !strings.Contains(r.stdout, "schema/no-schema") {
		t.Errorf("builtin-crds false: %s\nwant exit 0 and a no-schema warning", r)
	}

	for _, tc := range []struct{ input, value, want string }{
		{"builtin-crds", "no", `input builtin-crds: "no" is not a boolean`},
		{"substitute-strict", "maybe", `input substitute-strict: "maybe" is not a boolean`},
		{"offline", "1", `input offline: "1" is not a boolean`},
		{"immutable-tags", "yes", `input immutable-tags: "yes" is not a boolean`},
		{"layer-media-type", "application/x-tar", `--layer-media-type "application/x-tar" is not supported`},
		{"load-restrictor", "none", `--load-restrictor "none": use LoadRestrictionsNone`},
		{"substitute", "replicas", `--substitute "replicas" is not KEY=VALUE`},
		{"annotation", "team", `--annotation "team" is not KEY=VALUE`},
	} {
		r := rn.run(t, with(tree, tc.input, tc.value))
		if r.code != ExitUsage || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("input %s: %q: %s\nwant exit 2 saying %q", tc.input, tc.value, r, tc.want)
		}
	}
}

// TestActionChartAuth: the chart-auth input names environment variables (the step's env, from secrets) that hold an
// HTTP chart repository's credentials, as --chart-auth does; the password is masked before anything is printed and
// never shown.
func TestActionChartAuth(t *testing.T) {
	t.Parallel()
	const password = "Act10n-CH4RT-PW"
	repo := testcharts.NewRepo(t, testcharts.Chart{Name: "web", Version: "1.2.3", Data: testcharts.Archive(t, "web", "1.2.3")})
	repo.RequireAuth("reader", password)
	root := releaseFromRepo(t, repo.URL())
	rn := newRunner(t, root)
	rn.env["CHARTS_USERNAME"], rn.env["CHARTS_PASSWORD"] = "reader", password
	path := filepath.Join(root, "apps")
	if r := rn.run(t, map[string]string{"path": path}); r.code != ExitFindings || !strings.Contains(r.stdout, "helm/release") {
		t.Errorf("without chart-auth: %s\nwant the repository's refusal as a helm/release finding", r)
	}
	r := rn.run(t, map[string]string{"path": path, "chart-auth": repo.URL() + "=CHARTS"})
	if r.code != 0 {
		t.Fatalf("chart-auth: %s\nwant exit 0", r)
	}
	if !strings.HasPrefix(r.stdout, "::add-mask::"+password+"\n") {
		t.Errorf("the chart password was not masked first:\n%s", r.stdout)
	}
	assertNoSecret(t, r, password)
}

// TestActionPackageInputs: annotation, layer-media-type and immutable-tags shape the artifact as the flags do, for
// one tree and, as defaults, for a config's targets.
func TestActionPackageInputs(t *testing.T) {
	t.Parallel()
	workspace, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rn := newRunner(t, workspace)
	layout := filepath.Join(t.TempDir(), "layout")
	inputs := map[string]string{"path": "../../testdata/plain", "ref": "oci:" + layout + ":main", "sign": "none",
		"annotation": "team=platform, apps\nticket=OPS-1", "layer-media-type": build.FluxLayerMediaType, "immutable-tags": "true"}
	r := rn.run(t, inputs)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	var sum actionSummary
	if err := json.Unmarshal([]byte(r.outputs["summary-json"]), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Annotations["team"] != "platform, apps" || sum.Annotations["ticket"] != "OPS-1" {
		t.Errorf("annotations = %v, want team and ticket from the annotation input", sum.Annotations)
	}
	if m := layoutManifest(t, layout, sum.Digest); !strings.Contains(m, `"mediaType":"`+build.FluxLayerMediaType+`"`) {
		t.Errorf("the manifest's layer is not %s:\n%s", build.FluxLayerMediaType, m)
	}
	// immutable-tags: main may not move to other content.
	inputs["path"] = "../../testdata/demo/production"
	if r := rn.run(t, inputs); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "tag already points at other content") {
		t.Errorf("moving the immutable tag main: %s\nwant the publish refused", r)
	}

	cfgDir := t.TempDir()
	copyDir(t, "../../testdata/plain", filepath.Join(cfgDir, "plain"))
	cfg := filepath.Join(cfgDir, "statepack.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n- {name: a, path: plain, ref: 'oci:"+
		filepath.Join(cfgDir, "layout")+":main', annotations: {ticket: OPS-2}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = rn.run(t, map[string]string{"config": cfg, "annotation": "team=platform\nticket=OPS-1"})
	if err := json.Unmarshal([]byte(r.outputs["summary-json"]), &sum); err != nil || r.code != 0 || len(sum.Targets) != 1 {
		t.Fatalf("config with annotation: %s", r)
	}
	if a := sum.Targets[0].Annotations; a["team"] != "platform" || a["ticket"] != "OPS-2" {
		t.Errorf("target annotations = %v, want the input's team and the target's own ticket", a)
	}
}

// layoutManifest reads the manifest of digest from an OCI layout.
func layoutManifest(t *testing.T, layout, digest string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
