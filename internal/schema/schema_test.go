package schema_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/schema"
)

// render writes files into a temporary tree and renders it the way statepack does.
func render(t testing.TB, files map[string]string) []build.Object {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := build.Render(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Findings.HasErrors() {
		t.Fatalf("render findings: %v", r.Findings)
	}
	return r.Objects
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports: [{containerPort: 80}]
          resources: {limits: {cpu: 1, memory: 128Mi}}
`

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer}
                color: {type: string, enum: [red, blue]}
                extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
                port: {x-kubernetes-int-or-string: true}
    - name: v1alpha1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
`

func TestValidate(t *testing.T) {
	type want struct{ rule, severity, message string }
	tests := []struct {
		name  string
		files map[string]string
		opts  []schema.Option
		want  []want // exact messages, in sorted order
	}{
		{name: "valid deployment", files: map[string]string{"d.yaml": deployment}},
		{
			name:  "unknown field",
			files: map[string]string{"d.yaml": strings.Replace(deployment, "  replicas: 2", "  replicass: 2", 1)},
			want: []want{{"schema/unknown-field", "error",
				"spec.replicass is not a field of Deployment apps/v1: did you mean spec.replicas?"}},
		},
		{
			name:  "wrong type",
			files: map[string]string{"d.yaml": strings.Replace(deployment, "replicas: 2", `replicas: "three"`, 1)},
			want: []want{{"schema/type", "error",
				`spec.replicas must be an integer, not the string "three": remove the quotes`}},
		},
		{
			name: "label value not a string",
			files: map[string]string{"d.yaml": strings.Replace(deployment, "  namespace: shop",
				"  namespace: shop\n  labels: {enabled: true}", 1)},
			want: []want{{"schema/type", "error",
				`metadata.labels.enabled must be a string, not the boolean true: quote the value ("true")`}},
		},
		{
			name: "missing selector",
			files: map[string]string{"d.yaml": strings.Replace(deployment,
				"  selector:\n    matchLabels: {app: web}\n", "", 1)},
			want: []want{{"schema/required", "error", "spec.selector is missing: Deployment apps/v1 requires it"}},
		},
		{
			name: "removed ingress apiVersion",
			files: map[string]string{"i.yaml": `apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: web}
spec: {backend: {serviceName: web, servicePort: 80}}
`},
			want: []want{{"schema/unserved-apiversion", "error",
				"Ingress extensions/v1beta1 is not served by Kubernetes 1.34 (removed in 1.22): use apiVersion: networking.k8s.io/v1"}},
		},
		{
			name: "beta version not in release",
			files: map[string]string{"c.yaml": `apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: nightly}
`},
			want: []want{{"schema/unserved-apiversion", "error",
				"CronJob batch/v1beta1 is not served by Kubernetes 1.34 (removed in 1.25): use apiVersion: batch/v1"}},
		},
		{
			name: "custom resource checked against its CRD",
			files: map[string]string{"crd.yaml": widgetCRD, "w.yaml": `apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: shop}
spec:
  size: big
  colour: red
  extra: {anything: [1, 2]}
  port: http
`},
			want: []want{
				{"schema/type", "error", `spec.size must be an integer, not the string "big": remove the quotes`},
				{"schema/unknown-field", "error",
					"spec.colour is not a field of Widget example.com/v1 (CustomResourceDefinition widgets.example.com): did you mean spec.color?"},
			},
		},
		{
			name: "custom resource enum and required",
			files: map[string]string{"crd.yaml": widgetCRD, "w.yaml": `apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec: {color: green}
`},
			want: []want{
				{"schema/enum", "error",
					"spec.color is green, which Widget example.com/v1 (CustomResourceDefinition widgets.example.com) does not allow: use one of red, blue"},
				{"schema/required", "error",
					"spec.size is missing: Widget example.com/v1 (CustomResourceDefinition widgets.example.com) requires it"},
			},
		},
		{
			name: "custom resource unserved version",
			files: map[string]string{"crd.yaml": widgetCRD, "w.yaml": `apiVersion: example.com/v1alpha1
kind: Widget
metadata: {name: w}
`},
			want: []want{{"schema/unserved-apiversion", "error",
				"apiVersion example.com/v1alpha1 is not served by CustomResourceDefinition widgets.example.com: use example.com/v1"}},
		},
		{
			name:  "no schema is a warning",
			files: map[string]string{"w.yaml": "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n"},
			want: []want{{"schema/no-schema", "warning",
				"no schema for Gadget example.com/v1: add its CustomResourceDefinition to the tree or to a CRD directory (--crd-dir) so it can be checked"}},
		},
		{
			name:  "no schema with strict is an error",
			files: map[string]string{"w.yaml": "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n"},
			opts:  []schema.Option{schema.Strict(true)},
			want: []want{{"schema/no-schema", "error",
				"no schema for Gadget example.com/v1: add its CustomResourceDefinition to the tree or to a CRD directory (--crd-dir) so it can be checked"}},
		},
		{
			name: "apiVersion newer than the chosen release",
			files: map[string]string{"r.yaml": `apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: gpu}
spec: {}
`},
			opts: []schema.Option{schema.KubernetesVersion("v1.32.4")},
			want: []want{{"schema/unserved-apiversion", "error",
				"ResourceClaim resource.k8s.io/v1 is not served by Kubernetes 1.32: use apiVersion: resource.k8s.io/v1alpha3 or resource.k8s.io/v1beta1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.files)
			v, err := schema.NewValidator(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			got := v.Validate(context.Background(), objs)
			if len(got) != len(tc.want) {
				t.Fatalf("Validate() = %v, want %d findings %v", got, len(tc.want), tc.want)
			}
			for i, f := range got {
				w := tc.want[i]
				if f.Rule != w.rule || f.Severity.String() != w.severity || f.Message != w.message {
					t.Errorf("finding %d = [%s %s] %q, want [%s %s] %q", i, f.Severity, f.Rule, f.Message,
						w.severity, w.rule, w.message)
				}
				if f.File == "" || f.Line == 0 || f.Object == nil {
					t.Errorf("finding %d has no position or object: %+v", i, f)
				}
			}
		})
	}
}

func TestCRDDirs(t *testing.T) {
	crdDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(crdDir, "widgets.yaml"), []byte(widgetCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	objs := render(t, map[string]string{"w.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, shape: round}\n"})
	v, err := schema.NewValidator(schema.CRDDirs([]string{crdDir}))
	if err != nil {
		t.Fatal(err)
	}
	got := v.Validate(context.Background(), objs)
	if len(got) != 1 || got[0].Rule != "schema/unknown-field" || !strings.HasPrefix(got[0].Message, "spec.shape is not a field") {
		t.Fatalf("Validate() = %v, want one unknown-field finding for spec.shape", got)
	}
}

func TestKubernetesVersion(t *testing.T) {
	if got := schema.Versions(); len(got) < 3 || got[len(got)-1] != schema.DefaultKubernetesVersion {
		t.Errorf("Versions() = %v, want at least three, newest %s", got, schema.DefaultKubernetesVersion)
	}
	_, err := schema.NewValidator(schema.KubernetesVersion("1.12"))
	if err == nil || err.Error() != `kubernetes version "1.12" is not available: choose one of 1.32, 1.33, 1.34` {
		t.Errorf("NewValidator(KubernetesVersion(1.12)) error = %v", err)
	}
}

// TestCorpus checks that real-world trees validate without errors; warnings are logged.
func TestCorpus(t *testing.T) {
	corpus := filepath.Join("..", "..", "..", "shared", "corpus")
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Skipf("corpus %s not available: %v", corpus, err)
	}
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			var dirs []string
			root := filepath.Join(corpus, e.Name())
			// A tree is a kustomization root, or a directory of plain manifests; Flux repositories hold several.
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				if d.Name() == "kustomization.yaml" {
					dirs = append(dirs, filepath.Dir(p))
				}
				return nil
			})
			if len(dirs) == 0 {
				dirs = []string{root}
			}
			for _, dir := range dirs {
				r, err := build.Render(context.Background(), dir, build.WithRoot(root))
				if err != nil || r.Findings.HasErrors() {
					t.Logf("skipping %s: does not render on its own (%v %v)", dir, err, r.Findings)
					continue
				}
				for _, f := range v.Validate(context.Background(), r.Objects) {
					rel, _ := filepath.Rel(corpus, dir)
					if f.Severity == build.SeverityError {
						t.Errorf("%s: %s", rel, f)
					} else {
						t.Logf("%s: %s", rel, f)
					}
				}
			}
		})
	}
}

// TestConcurrent runs one validator from several goroutines, as build and publish may; run with -race.
func TestConcurrent(t *testing.T) {
	objs := render(t, map[string]string{"d.yaml": deployment, "crd.yaml": widgetCRD})
	v, err := schema.NewValidator(schema.KubernetesVersion("1.33"), schema.CRDDirs([]string{t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan build.Findings)
	for range 4 {
		go func() { done <- v.Validate(context.Background(), objs) }()
	}
	for range 4 {
		if fs := <-done; len(fs) != 0 {
			t.Errorf("Validate() = %v, want no findings", fs)
		}
	}
}
