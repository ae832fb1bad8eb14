package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statepack/statepack/internal/testtree"
)

func ids(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.ID.String())
	}
	return out
}

// writeTree writes files (slash paths → content) under a new temporary directory and returns it.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRenderKustomizeOverlay(t *testing.T) {
	r, err := Render(context.Background(), "../testdata/demo/production", WithRoot("../testdata/demo"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) > 0 || !r.Kustomize {
		t.Fatalf("Render() findings = %v, kustomize = %v", r.Findings, r.Kustomize)
	}
	got := strings.Join(ids(r.Objects), " ")
	want := "Namespace/podinfo ConfigMap/podinfo/podinfo-config-"
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "Service/podinfo/podinfo Deployment.apps/podinfo/podinfo") {
		t.Errorf("Render() objects = %s, want kustomize's legacy order starting %s", got, want)
	}
	for _, o := range r.Objects {
		if o.ID.Kind == "Deployment" && !strings.Contains(string(o.YAML), "replicas: 3") {
			t.Errorf("the overlay's patch is missing:\n%s", o.YAML)
		}
	}
	wantInputs := "base/deployment.yaml base/kustomization.yaml base/namespace.yaml base/service.yaml production/kustomization.yaml"
	if got := strings.Join(r.Inputs, " "); got != wantInputs {
		t.Errorf("Render() inputs = %s, want %s", got, wantInputs)
	}
}

func TestRenderPlainTree(t *testing.T) {
	r, err := Render(context.Background(), "../testdata/plain")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) > 0 || r.Kustomize {
		t.Fatalf("Render() findings = %v, kustomize = %v", r.Findings, r.Kustomize)
	}
	want := "ConfigMap/plain/crlf ConfigMap/plain/via-kustomize ServiceAccount/plain/from-list-a ServiceAccount/plain/from-list-b Namespace/plain ClusterRole.rbac.authorization.k8s.io/system:statepack:reader"
	if got := strings.Join(ids(r.Objects), " "); got != want {
		t.Errorf("Render() objects =\n%s\nwant\n%s", got, want)
	}
	if r.Objects[0].Source != (Source{File: "bom-crlf.yaml", Line: 2}) {
		t.Errorf("first object source = %v, want bom-crlf.yaml:2", r.Objects[0].Source)
	}
}

func TestRenderRefuses(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n"})
	tests := []struct {
		name     string
		files    map[string]string
		setup    func(t *testing.T, dir string)
		path     string
		wantRule string
		wantMsg  string
	}{
		{name: "remote base", files: map[string]string{
			"app/kustomization.yaml": "resources:\n- https://github.com/example/repo//deploy?ref=v1\n"},
			path: "app", wantRule: "kustomize/remote-base", wantMsg: `"https://github.com/example/repo//deploy?ref=v1" is a remote base: fetching it needs the network`},
		{name: "remote base without scheme", files: map[string]string{
			"app/kustomization.yaml": "resources:\n- github.com/example/repo/deploy?ref=v1\n"},
			path: "app", wantRule: "kustomize/remote-base", wantMsg: "--allow-remote"},
		{name: "remote base in a nested base", files: map[string]string{
			"app/kustomization.yaml":  "resources:\n- ../base\n",
			"base/kustomization.yaml": "resources:\n- git@github.com:example/repo.git//deploy\n"},
			path: "app", wantRule: "kustomize/remote-base", wantMsg: "git@github.com"},
		{name: "parent escape", files: map[string]string{
			"app/kustomization.yaml": "resources:\n- ../../outside.yaml\n"},
			path: "app", wantRule: "source/outside-root", wantMsg: "outside the source root"},
		{name: "symlinked resource leaving the root", files: map[string]string{
			"app/kustomization.yaml": "resources:\n- link.yaml\n"},
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "app", "link.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			path: "app", wantRule: "source/outside-root", wantMsg: "outside the source root"},
		{name: "symlinked plain file leaving the root", files: map[string]string{"app/ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"},
			setup: func(t *testing.T, dir string) {
				if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "app", "link.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			path: "app", wantRule: "source/outside-root", wantMsg: "symlink points outside the source root"},
		{name: "exec KRM function", files: map[string]string{
			"app/kustomization.yaml": "generators:\n- gen.yaml\n",
			"app/gen.yaml":           "apiVersion: example.com/v1\nkind: Gen\nmetadata:\n  name: g\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: /bin/sh\n"},
			path: "app", wantRule: "kustomize/build", wantMsg: "plugin"},
		{name: "a helm chart from a repository", files: map[string]string{
			"app/kustomization.yaml": "helmCharts:\n- name: podinfo\n  releaseName: podinfo\n  repo: https://stefanprodan.github.io/podinfo\n  version: 6.0.0\n"},
			path: "app", wantRule: "kustomize/helm-chart", wantMsg: "the chart comes from the repository https://stefanprodan.github.io/podinfo, and statepack renders a kustomization's charts only from the tree"},
		{name: "a helm chart generator config", files: map[string]string{
			"app/kustomization.yaml": "generators:\n- |-\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n  metadata:\n    name: web\n  name: web\n  releaseName: web\n"},
			path: "app", wantRule: "kustomize/build", wantMsg: "must specify --enable-helm"},
		{name: "kustomization syntax error", files: map[string]string{
			"app/kustomization.yaml": "resources:\n  - a.yaml\n bad\n"},
			path: "app", wantRule: "yaml/syntax", wantMsg: ""},
		{name: "file over the size limit", files: map[string]string{
			"app/big.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: " + strings.Repeat("x", 2048) + "\n"},
			path: "app", wantRule: "source/too-large", wantMsg: "over the 1024-byte limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			r, err := Render(context.Background(), filepath.Join(dir, tc.path), WithRoot(dir), WithMaxFileSize(1024))
			if err != nil {
				t.Fatalf("Render() error = %v, want findings", err)
			}
			for _, f := range r.Findings {
				if f.Rule == tc.wantRule && strings.Contains(f.Message, tc.wantMsg) && f.Severity == SeverityError {
					return
				}
			}
			t.Fatalf("Render() findings = %v, want an error %s containing %q", r.Findings, tc.wantRule, tc.wantMsg)
		})
	}
}

func TestRenderPathOutsideRoot(t *testing.T) {
	dir := writeTree(t, map[string]string{"a/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "b/.keep": ""})
	_, err := Render(context.Background(), filepath.Join(dir, "a"), WithRoot(filepath.Join(dir, "b")))
	if err == nil || !strings.Contains(err.Error(), "outside the source root") {
		t.Fatalf("Render() error = %v, want outside the source root", err)
	}
}

// TestRenderConcurrent renders kustomizations in parallel, one of them with a custom OpenAPI schema, and checks
// every result is what a lone render gives: kustomize's global schema must not leak between builds.
func TestRenderConcurrent(t *testing.T) {
	schema := `{"definitions": {"v1alpha1.MyKind": {"properties": {"spec": {"properties": {"items": {"items": {"$ref": "#/definitions/v1alpha1.Item"}, "type": "array", "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}}, "type": "object"}}, "type": "object", "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "MyKind", "version": "v1alpha1"}]}, "v1alpha1.Item": {"properties": {"name": {"type": "string"}, "value": {"type": "string"}}, "type": "object"}}}`
	dir := writeTree(t, map[string]string{
		"custom/kustomization.yaml": "openapi:\n  path: schema.json\nresources:\n- mykind.yaml\npatches:\n- path: patch.yaml\n",
		"custom/schema.json":        schema,
		"custom/mykind.yaml":        "apiVersion: example.com/v1alpha1\nkind: MyKind\nmetadata: {name: k}\nspec:\n  items:\n  - {name: a, value: \"1\"}\n  - {name: b, value: \"2\"}\n",
		"custom/patch.yaml":         "apiVersion: example.com/v1alpha1\nkind: MyKind\nmetadata: {name: k}\nspec:\n  items:\n  - {name: b, value: \"3\"}\n",
		// A strategic-merge patch on a built-in kind needs the built-in schema's merge keys.
		"smp/kustomization.yaml": "resources:\n- deploy.yaml\npatches:\n- path: patch.yaml\n",
		"smp/deploy.yaml":        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, image: a:1}\n      - {name: b, image: b:1}\n",
		"smp/patch.yaml":         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: b, image: b:2}\n",
	})
	want := map[string]string{}
	paths := []string{filepath.Join(dir, "smp"), "../testdata/plain", filepath.Join(dir, "custom")}
	for _, p := range []string{paths[2], paths[0], paths[1]} { // custom first: its schema must not stay behind
		r, err := Render(context.Background(), p, WithRoot(filepath.Dir(p)))
		if err != nil || len(r.Findings) > 0 {
			t.Fatalf("Render(%s) = %v, %v", p, err, r.Findings)
		}
		want[p] = stream(r.Objects)
	}
	if !strings.Contains(want[paths[2]], "value: \"1\"") {
		t.Fatalf("the custom schema's merge key was not used:\n%s", want[paths[2]])
	}
	if !strings.Contains(want[paths[0]], "image: a:1") {
		t.Fatalf("the built-in schema's merge key was not used:\n%s", want[paths[0]])
	}
	var wg sync.WaitGroup
	for i := 0; i < 24; i++ {
		p := paths[i%len(paths)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := Render(context.Background(), p, WithRoot(filepath.Dir(p)))
			if err != nil || len(r.Findings) > 0 {
				t.Errorf("Render(%s) = %v, %v", p, err, r.Findings)
				return
			}
			if got := stream(r.Objects); got != want[p] {
				t.Errorf("concurrent Render(%s) =\n%s\nwant\n%s", p, got, want[p])
			}
		}()
	}
	wg.Wait()
}

func stream(objs []Object) string {
	var b strings.Builder
	for _, o := range objs {
		b.Write(o.YAML)
		b.WriteString("---\n")
	}
	return b.String()
}

func TestRenderKustomizePointsAtSources(t *testing.T) {
	r, err := Render(context.Background(), "../testdata/demo/production", WithRoot("../testdata/demo"), WithSourcePositions(true))
	if err != nil || len(r.Findings) > 0 {
		t.Fatalf("Render() = %v, %v", err, r.Findings)
	}
	want := map[string]Source{
		"Namespace/podinfo":               {File: "base/namespace.yaml", Line: 1},
		"Deployment.apps/podinfo/podinfo": {File: "base/deployment.yaml", Line: 2},
		"Service/podinfo/podinfo":         {File: "base/service.yaml", Line: 1},
	}
	for _, o := range r.Objects {
		if strings.Contains(string(o.YAML), originAnnotation) {
			t.Errorf("%s still carries the origin annotation statepack added:\n%s", o.ID, o.YAML)
		}
		if o.ID.Kind == "ConfigMap" {
			if o.Source != (Source{File: "base/kustomization.yaml"}) {
				t.Errorf("generated ConfigMap source = %v, want base/kustomization.yaml", o.Source)
			}
			continue
		}
		if o.Source != want[o.ID.String()] {
			t.Errorf("%s source = %v, want %v", o.ID, o.Source, want[o.ID.String()])
		}
	}
}

func TestRenderKeepsOriginAnnotationsTheUserAskedFor(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"kustomization.yaml": "buildMetadata: [originAnnotations]\nresources:\n- cm.yaml\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
	})
	r, err := Render(context.Background(), dir)
	if err != nil || len(r.Findings) > 0 || len(r.Objects) != 1 {
		t.Fatalf("Render() = %v, %v", err, r.Findings)
	}
	if !strings.Contains(string(r.Objects[0].YAML), "config.kubernetes.io/origin") || r.Objects[0].Source != (Source{File: "cm.yaml", Line: 1}) {
		t.Errorf("object = %v\n%s; want the origin annotation kept and the source cm.yaml:1", r.Objects[0].Source, r.Objects[0].YAML)
	}
	r, err = Render(context.Background(), dir, WithSourcePositions(true))
	if err != nil || len(r.Objects) != 1 || !strings.Contains(string(r.Objects[0].YAML), "config.kubernetes.io/origin") {
		t.Errorf("object = %v\n%s; want the origin annotation kept and the source cm.yaml:1", r.Objects[0].Source, r.Objects[0].YAML)
	}
}

// TestRenderRefusesAliasBombThroughKustomize puts an alias bomb wherever kustomize parses YAML: a resource file,
// whatever its name, and YAML inline in a kustomization (a generator config, a patch).
func TestRenderRefusesAliasBombThroughKustomize(t *testing.T) {
	indented := "    " + strings.ReplaceAll(strings.TrimSuffix(aliasBomb(), "\n"), "\n", "\n    ") + "\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"resource", map[string]string{"kustomization.yaml": "resources:\n- bomb.yaml\n", "bomb.yaml": aliasBomb()}},
		{"resource with another name", map[string]string{"kustomization.yaml": "resources:\n- bomb.txt\n", "bomb.txt": aliasBomb()}},
		{"inline generator", map[string]string{"kustomization.yaml": "generators:\n- |\n" + indented}},
		{"inline patch", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\npatches:\n- patch: |\n" + indented, "cm.yaml": cm}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(context.Background(), writeTree(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, "alias bomb") {
				t.Fatalf("Render() findings = %v, want the alias bomb refused", r.Findings)
			}
		})
	}
}

func TestRenderReturnsWhenCancelled(t *testing.T) {
	root := t.TempDir()
	overlay, err := testtree.Kustomize(root, 60, 20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	r, err := Render(ctx, overlay, WithRoot(root))
	if !errors.Is(err, context.Canceled) || r != nil {
		t.Fatalf("Render(cancelled) = %v, %v; want context.Canceled and no rendering", r, err)
	}
}
