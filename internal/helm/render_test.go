package helm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func renderFiles(t *testing.T, files map[string]string, values map[string]any, opts ReleaseOptions) (*Release, error) {
	t.Helper()
	c, err := Load(writeChart(t, t.TempDir(), files), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Name == "" {
		opts.Name = "rel"
	}
	return Render(context.Background(), c, values, opts)
}

func mustRender(t *testing.T, files map[string]string, values map[string]any, opts ReleaseOptions) *Release {
	t.Helper()
	rel, err := renderFiles(t, files, values, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestLibraryChartDependency renders a chart that depends on a library chart (packaged under charts/, as
// `helm dependency build` leaves it) and on an application subchart switched by a condition: the library's
// helpers are used, the library renders nothing itself, and the condition is read from the values of each
// render, so one Chart renders both ways.
func TestLibraryChartDependency(t *testing.T) {
	library := chartTgz(t, "common", map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: common\nversion: 2.0.0\ntype: library\n",
		"templates/_labels.tpl":  `{{- define "common.labels" -}}app.kubernetes.io/name: {{ .Chart.Name }}` + "\n" + `app.kubernetes.io/instance: {{ .Release.Name }}{{- end -}}`,
		"templates/ignored.yaml": "kind: ConfigMap\nmetadata:\n  name: never\n",
	})
	dir := writeChart(t, t.TempDir(), map[string]string{
		"Chart.yaml": `apiVersion: v2
name: app
version: 1.0.0
dependencies:
- name: common
  version: 2.x
  repository: https://charts.example.com
- name: worker
  version: 0.1.0
  repository: file://../worker
  condition: worker.enabled
`,
		"values.yaml":                      "worker:\n  enabled: false\n  replicas: 1\n",
		"templates/cm.yaml":                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    {{- include \"common.labels\" . | nindent 4 }}\n",
		"charts/common-2.0.0.tgz":          string(library),
		"charts/worker/Chart.yaml":         "apiVersion: v2\nname: worker\nversion: 0.1.0\n",
		"charts/worker/templates/job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-worker\nspec:\n  parallelism: {{ .Values.replicas }}\n",
	})
	c, err := Load(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	off, err := Render(ctx, c, nil, ReleaseOptions{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if len(off.Manifests) != 1 || off.Manifests[0].Source != "app/templates/cm.yaml" {
		t.Fatalf("with the worker off: %+v", off.Manifests)
	}
	cm := parse(t, off.Manifests[0].Content)
	labels := cm["metadata"].(map[string]any)["labels"].(map[string]any)
	if labels["app.kubernetes.io/name"] != "app" || labels["app.kubernetes.io/instance"] != "shop" {
		t.Errorf("the library's labels: %v", labels)
	}
	on, err := Render(ctx, c, map[string]any{"worker": map[string]any{"enabled": true, "replicas": 3}}, ReleaseOptions{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, m := range on.Manifests {
		sources = append(sources, m.Kind+" "+m.Source)
	}
	if got := strings.Join(sources, ", "); got != "ConfigMap app/templates/cm.yaml, Job app/charts/worker/templates/job.yaml" {
		t.Errorf("with the worker on: %s", got)
	}
	if !strings.Contains(on.Manifests[1].Content, "parallelism: 3") {
		t.Errorf("the subchart's values: %s", on.Manifests[1].Content)
	}
	// And the first render still stands: the Chart was not changed by the second.
	again, err := Render(ctx, c, nil, ReleaseOptions{Name: "shop"})
	if err != nil || len(again.Manifests) != 1 {
		t.Errorf("rendering again with the worker off: %v, %d manifests", err, len(again.Manifests))
	}
}

// TestValuesSchemaEnforced checks values.schema.json, the chart's and a subchart's, against the coalesced values,
// and that a schema's $ref to a URL or a file is refused rather than fetched.
func TestValuesSchemaEnforced(t *testing.T) {
	files := map[string]string{
		"Chart.yaml":  chartYAML,
		"values.yaml": "replicas: 1\nimage: nginx\n",
		"values.schema.json": `{"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
			"required": ["image"],
			"properties": {"replicas": {"type": "integer", "minimum": 1}, "image": {"type": "string"}}}`,
		"templates/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  r: \"{{ .Values.replicas }}\"\n",
		"charts/sub/Chart.yaml":         "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
		"charts/sub/values.yaml":        "port: 80\n",
		"charts/sub/values.schema.json": `{"type": "object", "properties": {"port": {"type": "integer", "maximum": 65535}}}`,
	}
	if _, err := renderFiles(t, files, nil, ReleaseOptions{}); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for _, tc := range []struct {
		values map[string]any
		says   string
	}{
		{map[string]any{"replicas": "two"}, "replicas"},
		{map[string]any{"replicas": 0}, "minimum"},
		{map[string]any{"image": nil}, "image"}, // a null deletes the default, and image is required
		{map[string]any{"sub": map[string]any{"port": 70000}}, "sub:"},
	} {
		_, err := renderFiles(t, files, tc.values, ReleaseOptions{})
		if err == nil || !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("values %v: got %v, want a schema error naming %q", tc.values, err, tc.says)
		}
	}

	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"type": "object"}`))
	}))
	defer srv.Close()
	secret := filepath.Join(t.TempDir(), "schema.json")
	if err := os.WriteFile(secret, []byte(`{"type": "object"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{srv.URL + "/schema.json", "file://" + secret} {
		files["values.schema.json"] = `{"$ref": "` + ref + `"}`
		_, err := renderFiles(t, files, nil, ReleaseOptions{})
		if err == nil || !strings.Contains(err.Error(), "never from files or the network") {
			t.Errorf("$ref %s: got %v, want it refused", ref, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the schema's $ref reached the network %d times", hits.Load())
	}
	files["values.schema.json"] = `{"$ref": "urn:example:anything"}`
	if _, err := renderFiles(t, files, nil, ReleaseOptions{}); err != nil {
		t.Errorf("a urn: $ref is accepted, as the SDK accepts it: %v", err)
	}
}

// TestRecursionEnds renders templates that recurse: straight recursion through include ends on the engine's own
// limit (1000 deep); recursion that branches under that depth (2^60 calls) and loops of 10^10 turns end on the
// timeout or the context, and the abandoned render stops at its next Sprig call (add, trim).
func TestRecursionEnds(t *testing.T) {
	_, err := renderFiles(t, map[string]string{
		"Chart.yaml":        chartYAML,
		"templates/_r.tpl":  `{{ define "r" }}{{ include "r" . }}{{ end }}`,
		"templates/cm.yaml": `{{ include "r" . }}`,
	}, nil, ReleaseOptions{})
	if err == nil || !strings.Contains(err.Error(), "nested reference") {
		t.Errorf("straight recursion: got %.500v", err)
	}

	start := time.Now()
	_, err = renderFiles(t, map[string]string{
		"Chart.yaml":        chartYAML,
		"templates/_r.tpl":  `{{ define "r" }}{{ if lt . 60 }}{{ include "r" (add . 1) }}{{ include "r" (add . 1) }}{{ end }}{{ end }}`,
		"templates/cm.yaml": `{{ include "r" 0 }}`,
	}, nil, ReleaseOptions{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrRenderTimeout) {
		t.Fatalf("branching recursion: got %.500v, want ErrRenderTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout of 300ms returned after %s", d)
	}

	_, err = renderFiles(t, map[string]string{
		"Chart.yaml":        chartYAML,
		"templates/cm.yaml": `{{ range until 100000 }}{{ range until 100000 }}{{ trim "" }}{{ end }}{{ end }}`,
	}, nil, ReleaseOptions{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrRenderTimeout) {
		t.Errorf("a long loop: got %v, want ErrRenderTimeout", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	c, err := Load(writeChart(t, t.TempDir(), map[string]string{
		"Chart.yaml":        chartYAML,
		"templates/cm.yaml": `{{ range until 100000 }}{{ range until 100000 }}{{ trim "" }}{{ end }}{{ end }}`,
	}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := Render(ctx, c, nil, ReleaseOptions{Name: "x"}); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRenderTimeout) {
		t.Errorf("a cancelled context: got %v", err)
	}
}

// TestTemplatesReachNothing checks that templates see no cluster, no DNS, no environment, and cannot make the
// process allocate without bound.
func TestTemplatesReachNothing(t *testing.T) {
	t.Setenv("STATEPACK_HELM_SECRET", "s3cret")
	rel := mustRender(t, map[string]string{
		"Chart.yaml": chartYAML,
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: probe
data:
  lookup: "{{ len (lookup "v1" "Secret" "kube-system" "") }}"
  dns: "{{ getHostByName "localhost" }}"
`,
	}, nil, ReleaseOptions{})
	data := parse(t, rel.Manifests[0].Content)["data"].(map[string]any)
	if data["lookup"] != "0" || data["dns"] != "" {
		t.Errorf("lookup and getHostByName: %v", data)
	}
	for _, fn := range []string{`env "STATEPACK_HELM_SECRET"`, `expandenv "$STATEPACK_HELM_SECRET"`} {
		_, err := renderFiles(t, map[string]string{"Chart.yaml": chartYAML, "templates/x.yaml": "{{ " + fn + " }}"}, nil, ReleaseOptions{})
		if err == nil || !strings.Contains(err.Error(), "not defined") {
			t.Errorf("%s: got %v, want the function undefined", fn, err)
		}
	}
	for _, call := range []string{`until 100000000000`, `untilStep 0 100000000000 1`, `seq 100000000000`, `repeat 100000000 "xx"`, `indent 100000000 "a"`, `randAlphaNum 1000000000`} {
		_, err := renderFiles(t, map[string]string{"Chart.yaml": chartYAML, "templates/x.yaml": "{{ " + call + " }}"}, nil, ReleaseOptions{MaxOutput: 64 << 20})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: got %v, want ErrTooLarge", call, err)
		}
	}
	// Within the limit they work as in Sprig.
	rel = mustRender(t, map[string]string{"Chart.yaml": chartYAML, "templates/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: " +
		`"{{ seq 3 }}|{{ until 3 }}|{{ untilStep 10 0 -4 }}|{{ repeat 2 "ab" }}|{{ "a" | indent 2 }}|{{ len (randAlphaNum 5) }}"`}, nil, ReleaseOptions{})
	if v := parse(t, rel.Manifests[0].Content)["data"].(map[string]any)["v"]; v != "1 2 3|[0 1 2]|[10 6 2]|abab|  a|5" {
		t.Errorf("the guarded functions: %q", v)
	}
	_, err := renderFiles(t, map[string]string{"Chart.yaml": chartYAML, "templates/x.yaml": `{{ range until 101 }}0123456789{{ end }}`}, nil, ReleaseOptions{MaxOutput: 1000})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "renders 1010 bytes") {
		t.Errorf("output over MaxOutput: got %v, want ErrTooLarge", err)
	}
	_, err = renderFiles(t, map[string]string{"Chart.yaml": chartYAML, "templates/x.yaml": `{{ range until 100000 }}{{ $x := repeat 1000000 "x" }}{{ end }}`}, nil, ReleaseOptions{MaxOutput: 2 << 20})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "times the output limit") {
		t.Errorf("calls that build more than the output limit together: got %v, want ErrTooLarge", err)
	}
}

// TestReleaseAndCapabilities checks the release name and namespace, the Kubernetes version and API versions the
// templates see, CRDs set apart, NOTES.txt, and hooks with their annotations.
func TestReleaseAndCapabilities(t *testing.T) {
	files := map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: app\nversion: 1.0.0\nkubeVersion: '>=1.28.0-0'\n",
		"crds/crontab.yaml":   "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: crontabs.example.com\n",
		"templates/NOTES.txt": "Installed {{ .Release.Name }}.",
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
data:
  kube: "{{ .Capabilities.KubeVersion.Version }} {{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }}"
  gateway: "{{ .Capabilities.APIVersions.Has "gateway.networking.k8s.io/v1" }}"
  apps: "{{ .Capabilities.APIVersions.Has "apps/v1" }}"
  install: "{{ .Release.IsInstall }} {{ .Release.Revision }} {{ .Release.Service }}"
`,
		"templates/job.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation
`,
	}
	rel := mustRender(t, files, nil, ReleaseOptions{Name: "shop", Namespace: "stores", KubernetesVersion: "1.30.2-eks-1", APIVersions: []string{"gateway.networking.k8s.io/v1"}})
	cm := parse(t, rel.Manifests[0].Content)
	if ns := cm["metadata"].(map[string]any)["namespace"]; ns != "stores" {
		t.Errorf("namespace %v", ns)
	}
	data := cm["data"].(map[string]any)
	want := map[string]any{"kube": "v1.30.2-eks-1 1.30", "gateway": "true", "apps": "true", "install": "true 1 Helm"}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("%s = %v, want %v", k, data[k], v)
		}
	}
	if len(rel.CRDs) != 1 || rel.CRDs[0].Source != "app/crds/crontab.yaml" || !strings.Contains(rel.CRDs[0].Content, "crontabs.example.com") {
		t.Errorf("CRDs: %+v", rel.CRDs)
	}
	if rel.Notes != "Installed shop." {
		t.Errorf("notes %q", rel.Notes)
	}
	if len(rel.Hooks) != 1 {
		t.Fatalf("hooks: %+v", rel.Hooks)
	}
	h := rel.Hooks[0]
	if h.Name != "migrate" || h.Kind != "Job" || h.APIVersion != "batch/v1" || h.Weight != -5 || strings.Join(h.Events, ",") != "pre-install,pre-upgrade" ||
		strings.Join(h.DeletePolicies, ",") != "before-hook-creation" || !strings.Contains(h.Content, "helm.sh/hook-weight") {
		t.Errorf("hook: %+v", h)
	}
	for _, m := range rel.Manifests {
		if m.Kind == "Job" || m.Kind == "CustomResourceDefinition" {
			t.Errorf("%s %s is among the manifests", m.Kind, m.Source)
		}
	}

	rel = mustRender(t, files, nil, ReleaseOptions{})
	if data := parse(t, rel.Manifests[0].Content)["data"].(map[string]any); data["kube"] != DefaultKubernetesVersion+" 1.37" || data["gateway"] != "false" {
		t.Errorf("the defaults: %v", data)
	}
	if _, err := renderFiles(t, files, nil, ReleaseOptions{KubernetesVersion: "1.27.9"}); err == nil || !strings.Contains(err.Error(), "kubeVersion") {
		t.Errorf("a Kubernetes version the chart excludes: %v", err)
	}
	if _, err := renderFiles(t, files, nil, ReleaseOptions{Name: "Not_A_Name"}); err == nil {
		t.Errorf("an invalid release name was accepted")
	}
}

// TestMergeValues checks the layering helm-controller applies to valuesFrom and values.
func TestMergeValues(t *testing.T) {
	base := map[string]any{"image": map[string]any{"repository": "nginx", "tag": "1"}, "list": []any{1, 2}, "keep": true}
	over := map[string]any{"image": map[string]any{"tag": "2"}, "list": []any{3}, "gone": nil}
	got := MergeValues(base, over)
	want := map[string]any{"image": map[string]any{"repository": "nginx", "tag": "2"}, "list": []any{3}, "keep": true, "gone": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if base["image"].(map[string]any)["tag"] != "1" {
		t.Errorf("a layer was modified")
	}
}
