package schema_test

import (
	"context"
	"fmt"
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
			// Flux's kustomize-controller decrypts SOPS files and drops their metadata before applying them.
			name: "SOPS metadata on an encrypted Secret",
			files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\n" +
				"data: {password: 'ENC[AES256_GCM,data:abc=,iv:x=,tag:y=,type:str]'}\n" +
				"sops: {age: [{recipient: age1xyz, enc: x}], lastmodified: '2024-01-01T00:00:00Z', mac: 'ENC[x]', version: 3.8.1}\n"},
		},
		{
			name:  "a sops field that is not SOPS metadata",
			files: map[string]string{"s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\nsops: yes please\n"},
			want:  []want{{"schema/unknown-field", "error", "sops is not a field of Secret v1: remove it or fix its spelling"}},
		},
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
				`spec.replicas must be an integer, not the string "three"`}},
		},
		{
			name:  "quoted number",
			files: map[string]string{"d.yaml": strings.Replace(deployment, "replicas: 2", `replicas: "3"`, 1)},
			want: []want{{"schema/type", "error",
				`spec.replicas must be an integer, not the string "3": remove the quotes`}},
		},
		{
			name:  "Flux placeholder",
			files: map[string]string{"d.yaml": strings.Replace(deployment, "replicas: 2", `replicas: ${replicas:=2}`, 1)},
			want: []want{{"flux/substitution-pending", "warning",
				`spec.replicas "${replicas:=2}" holds the Flux postBuild placeholder ${replicas:=2}, so what Deployment apps/v1 requires of it (schema/type) can only be checked once Flux substitutes it: give its value with --substitute replicas=VALUE (or --substitute-from FILE) to check it now`}},
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
				{"schema/type", "error", `spec.size must be an integer, not the string "big"`},
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
				"no schema for Gadget example.com/v1: add its CustomResourceDefinition to the tree or to a CRD directory (--crd-dir) so it can be checked (built in: the CRDs of Flux, Argo CD, Gateway API, cert-manager)"}},
		},
		{
			name:  "no schema with strict is an error",
			files: map[string]string{"w.yaml": "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n"},
			opts:  []schema.Option{schema.Strict(true)},
			want: []want{{"schema/no-schema", "error",
				"no schema for Gadget example.com/v1: add its CustomResourceDefinition to the tree or to a CRD directory (--crd-dir) so it can be checked (built in: the CRDs of Flux, Argo CD, Gateway API, cert-manager)"}},
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
			var ws []wantFinding
			for _, w := range tc.want {
				ws = append(ws, wantFinding{w.rule, w.severity, anyField, w.message})
			}
			checkValidate(t, tc.files, tc.opts, ws)
		})
	}
}

// wantFinding is a finding a validation test expects; field anyField is not compared, message "" neither.
type wantFinding struct{ rule, severity, field, message string }

const anyField = "*"

// checkValidate renders files, validates them with opts and compares the findings, in sorted order, with want.
func checkValidate(t *testing.T, files map[string]string, opts []schema.Option, want []wantFinding) {
	t.Helper()
	objs := render(t, files)
	v, err := schema.NewValidator(opts...)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Validate(context.Background(), objs)
	if len(got) != len(want) {
		t.Fatalf("Validate() = %v, want %d findings %v", got, len(want), want)
	}
	for i, f := range got {
		w := want[i]
		if f.Rule != w.rule || f.Severity.String() != w.severity || (w.field != anyField && f.Field != w.field) ||
			(w.message != "" && f.Message != w.message) {
			t.Errorf("finding %d = [%s %s %s] %q, want [%s %s %s] %q", i, f.Severity, f.Rule, f.Field, f.Message,
				w.severity, w.rule, w.field, w.message)
		}
		if f.File == "" || f.Line == 0 || f.Object == nil {
			t.Errorf("finding %d has no position or object: %+v", i, f)
		}
	}
}

func TestCRDDirs(t *testing.T) {
	crdDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(crdDir, "widgets.yaml"), []byte(widgetCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	objs := render(t, map[string]string{"w.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, shape: round}\n"})
	v, err := schema.NewValidator(schema.CRDDirs([]string{crdDir}, renderDir))
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
	t.Parallel()
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
	objs := render(t, map[string]string{"d.yaml": deployment, "crd.yaml": widgetCRD, "gizmos.yaml": checkedCRD, "g.yaml": goodGizmo})
	v, err := schema.NewValidator(schema.KubernetesVersion("1.33"), schema.CRDDirs([]string{t.TempDir()}, renderDir))
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

// specCRD is a namespaced CustomResourceDefinition in example.com, served and stored as v1, for kind (plural kind
// lower-cased + "s"), whose spec is an object with the schema lines of spec (written from column 0).
func specCRD(kind, spec string) string {
	lower := strings.ToLower(kind)
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %ss.example.com}
spec:
  group: example.com
  names: {kind: %s, plural: %ss}
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
`, lower, kind, lower)
	for _, line := range strings.Split(strings.TrimRight(spec, "\n"), "\n") {
		b.WriteString("              " + line + "\n")
	}
	return b.String()
}

const checkedCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.com
spec:
  group: example.com
  names: {kind: Gizmo, plural: gizmos, singular: gizmo, listKind: GizmoList}
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
              x-kubernetes-validations:
                - rule: "self.minReplicas <= self.maxReplicas"
                  message: minReplicas must not exceed maxReplicas
                - rule: "!has(self.paused) || !self.paused || self.minReplicas == 0"
                  messageExpression: "'a paused gizmo runs no replicas, not ' + string(self.minReplicas)"
                  fieldPath: .minReplicas
                - rule: "self.minReplicas == oldSelf.minReplicas"
                  message: transition rules are skipped offline
                - rule: "isURL(self.name)"
                  message: Kubernetes library functions are skipped
              properties:
                name: {type: string, pattern: "^[a-z][a-z0-9-]*$", maxLength: 12, minLength: 2}
                minReplicas: {type: integer, minimum: 0}
                maxReplicas: {type: integer, maximum: 10, exclusiveMaximum: true}
                ratio: {type: number, multipleOf: 0.5}
                paused: {type: boolean}
                email: {type: string, format: email}
                when: {type: string, format: date-time}
                hosts:
                  type: array
                  maxItems: 2
                  minItems: 1
                  x-kubernetes-list-type: set
                  items: {type: string}
                ports:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [port]
                  items:
                    type: object
                    properties:
                      port: {type: integer}
                      name: {type: string}
                labels:
                  type: object
                  maxProperties: 1
                  additionalProperties: {type: string}
                source:
                  type: object
                  oneOf:
                    - required: [git]
                    - required: [oci]
                  properties:
                    git: {type: string}
                    oci: {type: string}
                target:
                  type: object
                  anyOf:
                    - required: [cluster]
                    - required: [namespace]
                  properties:
                    cluster: {type: string}
                    namespace: {type: string}
`

const goodGizmo = `apiVersion: example.com/v1
kind: Gizmo
metadata: {name: g, namespace: default}
spec:
  name: gizmo-1
  minReplicas: 1
  maxReplicas: 3
  ratio: 1.5
  email: ops@example.com
  when: "2024-05-01T12:00:00Z"
  hosts: [a.example.com]
  ports: [{port: 80, name: http}, {port: 443, name: https}]
  labels: {tier: web}
  source: {git: https://example.com/repo.git}
  target: {cluster: prod}
`

func TestValueChecks(t *testing.T) {
	type want struct{ rule, severity, message string }
	const what = "Gizmo example.com/v1 (CustomResourceDefinition gizmos.example.com)"
	tests := []struct {
		name        string
		old, new    string // replaced in goodGizmo
		want        []want
		wantMessage string
	}{
		{name: "valid gizmo"},
		{name: "pattern", old: "name: gizmo-1", new: "name: Gizmo_1",
			want: []want{{"schema/pattern", "error", `spec.name is "Gizmo_1", which does not match the pattern ^[a-z][a-z0-9-]*$ that ` + what + ` requires: change the value to match it`}}},
		{name: "maxLength", old: "name: gizmo-1", new: "name: gizmo-with-a-long-name",
			want: []want{{"schema/length", "error", "spec.name is 22 characters long, longer than the 12 that " + what + " allows: shorten it"}}},
		{name: "minLength", old: "name: gizmo-1", new: "name: g",
			want: []want{{"schema/length", "error", "spec.name is 1 character(s) long, shorter than the 2 that " + what + " requires"}}},
		{name: "minimum", old: "minReplicas: 1", new: "minReplicas: -1",
			want: []want{{"schema/range", "error", "spec.minReplicas is -1, but " + what + " requires a value at least 0"}}},
		{name: "exclusive maximum", old: "maxReplicas: 3", new: "maxReplicas: 10",
			want: []want{{"schema/range", "error", "spec.maxReplicas is 10, but " + what + " requires a value less than 10"}}},
		{name: "multipleOf", old: "ratio: 1.5", new: "ratio: 1.2",
			want: []want{{"schema/range", "error", "spec.ratio is 1.2, but " + what + " requires a multiple of 0.5"}}},
		{name: "format email", old: "email: ops@example.com", new: "email: not-an-address",
			want: []want{{"schema/format", "error", `spec.email is "not-an-address", which is not a valid email address: ` + what + ` requires that format (format: email)`}}},
		{name: "format date-time", old: `when: "2024-05-01T12:00:00Z"`, new: "when: tomorrow",
			want: []want{{"schema/format", "error", `spec.when is "tomorrow", which is not a valid RFC 3339 time (such as 2024-05-01T12:00:00Z): ` + what + ` requires that format (format: date-time)`}}},
		{name: "maxItems", old: "hosts: [a.example.com]", new: "hosts: [a.example.com, b.example.com, c.example.com]",
			want: []want{{"schema/items", "error", "spec.hosts has 3 items, more than the 2 that " + what + " allows: remove some"}}},
		{name: "minItems", old: "hosts: [a.example.com]", new: "hosts: []",
			want: []want{{"schema/items", "error", "spec.hosts has 0 item(s), fewer than the 1 that " + what + " requires: add items"}}},
		{name: "set duplicate", old: "hosts: [a.example.com]", new: "hosts: [a.example.com, a.example.com]",
			want: []want{{"schema/items", "error", "spec.hosts[1] repeats spec.hosts[0]: " + what + " keeps a set (x-kubernetes-list-type: set), remove the duplicate"}}},
		{name: "map duplicate key", old: "name: https}", new: "name: https}, {port: 80, name: web}",
			want: []want{{"schema/items", "error", "spec.ports[2] has the same key (port=80) as spec.ports[0]: " + what + " keeps a map keyed by port, merge or rename the entries"}}},
		{name: "maxProperties", old: "labels: {tier: web}", new: "labels: {tier: web, team: a}",
			want: []want{{"schema/properties", "error", "spec.labels has 2 field(s), more than the 1 that " + what + " allows: remove some"}}},
		{name: "oneOf none", old: "source: {git: https://example.com/repo.git}", new: "source: {}",
			want: []want{{"schema/composition", "error", "spec.source matches none of the 2 alternatives (oneOf) of " + what + ": spec.source.git is missing: " + what + " requires it; or spec.source.oci is missing: " + what + " requires it"}}},
		{name: "oneOf both", old: "source: {git: https://example.com/repo.git}", new: "source: {git: a, oci: b}",
			want: []want{{"schema/composition", "error", "spec.source matches 2 of the alternatives (oneOf) of " + what + ", but must match exactly one: keep the fields of one alternative"}}},
		{name: "anyOf none", old: "target: {cluster: prod}", new: "target: {}",
			want: []want{{"schema/composition", "error", "spec.target matches none of the alternatives (anyOf) of " + what + ": spec.target.cluster is missing: " + what + " requires it; or spec.target.namespace is missing: " + what + " requires it"}}},
		{name: "anyOf both", old: "target: {cluster: prod}", new: "target: {cluster: prod, namespace: a}"},
		{name: "CEL rule false", old: "maxReplicas: 3", new: "maxReplicas: 0",
			want: []want{{"schema/cel", "error", "spec: minReplicas must not exceed maxReplicas (x-kubernetes-validations rule of " + what + ": self.minReplicas <= self.maxReplicas)"}}},
		{name: "CEL messageExpression and fieldPath", old: "minReplicas: 1", new: "minReplicas: 2\n  paused: true",
			want: []want{{"schema/cel", "error", "spec.minReplicas: a paused gizmo runs no replicas, not 2 (x-kubernetes-validations rule of " + what + ": !has(self.paused) || !self.paused || self.minReplicas == 0)"}}},
		{name: "Flux placeholder against a pattern", old: "name: gizmo-1", new: "name: gizmo-${cluster}",
			want: []want{{"flux/substitution-pending", "warning", `spec.name "gizmo-${cluster}" holds the Flux postBuild placeholder ${cluster}, so what ` + what + ` requires of it (schema/pattern) can only be checked once Flux substitutes it: give its value with --substitute cluster=VALUE (or --substitute-from FILE) to check it now`}}},
		{name: "Flux placeholder where a boolean is wanted", old: "minReplicas: 1", new: "minReplicas: 2\n  paused: ${paused:=true}",
			want: []want{{"flux/substitution-pending", "warning", `spec.paused "${paused:=true}" holds the Flux postBuild placeholder ${paused:=true}, so what ` + what + ` requires of it (schema/type) can only be checked once Flux substitutes it: give its value with --substitute paused=VALUE (or --substitute-from FILE) to check it now`}}},
		{name: "Flux placeholder in a field a failing CEL rule does not read", old: "  maxReplicas: 3\n", new: "  maxReplicas: 0\n  paused: ${paused}\n",
			want: []want{{"flux/substitution-pending", "warning", `spec.paused "${paused}" holds the Flux postBuild placeholder ${paused}, so what ` + what + ` requires of it (schema/type) can only be checked once Flux substitutes it: give its value with --substitute paused=VALUE (or --substitute-from FILE) to check it now`},
				{"schema/cel", "error", "spec: minReplicas must not exceed maxReplicas (x-kubernetes-validations rule of " + what + ": self.minReplicas <= self.maxReplicas)"}}},
		{name: "CEL evaluation error", old: "  maxReplicas: 3\n", new: "",
			want: []want{{"schema/cel", "error", "spec: rule self.minReplicas <= self.maxReplicas of " + what + " fails to evaluate (no such key: maxReplicas), so the API server would refuse the object: set the fields the rule reads"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gizmo := strings.Replace(goodGizmo, tc.old, tc.new, 1)
			if tc.old != "" && gizmo == goodGizmo {
				t.Fatalf("%q is not in the gizmo", tc.old)
			}
			objs := render(t, map[string]string{"crd.yaml": checkedCRD, "g.yaml": gizmo})
			v, err := schema.NewValidator()
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
					t.Errorf("finding %d = [%s %s]\n%q\nwant [%s %s]\n%q", i, f.Severity, f.Rule, f.Message, w.severity, w.rule, w.message)
				}
				if f.File != "g.yaml" || f.Line == 0 {
					t.Errorf("finding %d is at %s:%d, want g.yaml", i, f.File, f.Line)
				}
			}
		})
	}
}

func TestCRDProblems(t *testing.T) {
	crd := specCRD("Broken", `x-kubernetes-validations:
  - rule: "self.size <"
  - rule: "self.size + 'x'"
  - rule: "size(self.name)"
properties:
  name: {type: string, pattern: "^(?!kube-)"}
  size: {type: integer}
`)
	objs := render(t, map[string]string{"crd.yaml": crd})
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	got := v.Validate(context.Background(), objs)
	want := []string{
		`CustomResourceDefinition brokens.example.com version v1: openAPIV3Schema.properties.spec.properties.name: pattern "^(?!kube-)" is not a regular expression the API server accepts (Go RE2 syntax): error parsing regexp: invalid or unsupported Perl syntax: ` + "`(?!`",
		`CustomResourceDefinition brokens.example.com version v1: openAPIV3Schema.properties.spec: x-kubernetes-validations[0] rule "self.size <" does not parse: 1:12: Syntax error: mismatched input '<EOF>'`,
		`CustomResourceDefinition brokens.example.com version v1: openAPIV3Schema.properties.spec: x-kubernetes-validations[1] rule "self.size + 'x'" returns string, not a boolean: rules must evaluate to true or false`,
		`CustomResourceDefinition brokens.example.com version v1: openAPIV3Schema.properties.spec: x-kubernetes-validations[2] rule "size(self.name)" returns int, not a boolean: rules must evaluate to true or false`,
	}
	var msgs []string
	for _, f := range got {
		if f.Rule != "schema/crd" || f.Severity != build.SeverityError || f.File != "crd.yaml" {
			t.Errorf("finding %v, want a schema/crd error on crd.yaml", f)
		}
		msgs = append(msgs, f.Message)
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("Validate() messages =\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

func TestCELCostLimit(t *testing.T) {
	t.Parallel()
	crd := specCRD("Costly", `x-kubernetes-validations:
  - rule: "self.l.all(a, self.l.all(b, self.l.all(c, a != '')))"
properties:
  l: {type: array, items: {type: string}}
`)
	items := strings.Repeat("x,", 150)
	obj := "apiVersion: example.com/v1\nkind: Costly\nmetadata: {name: c, namespace: default}\nspec: {l: [" + items[:len(items)-1] + "]}\n"
	objs := render(t, map[string]string{"crd.yaml": crd, "c.yaml": obj})
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	got := v.Validate(context.Background(), objs)
	if len(got) != 1 || got[0].Rule != "schema/cel" || !strings.Contains(got[0].Message, "exceeds the API server's cost limit for one rule (1000000)") {
		t.Fatalf("Validate() = %v, want one schema/cel finding about the cost limit", got)
	}
}

func TestBuiltinChecks(t *testing.T) {
	tests := []struct {
		name, files, version string
		want                 []string // "severity rule message"
	}{
		{
			name: "deprecated apiVersion still served",
			files: `apiVersion: storage.k8s.io/v1beta1
kind: VolumeAttributesClass
metadata: {name: gold}
driverName: csi.example.com
`,
			want: []string{"warning schema/deprecated-apiversion VolumeAttributesClass storage.k8s.io/v1beta1 is deprecated since Kubernetes 1.34 and removed in 1.37: use apiVersion: storage.k8s.io/v1"},
		},
		{
			name: "deprecation depends on the release",
			files: `apiVersion: storage.k8s.io/v1beta1
kind: VolumeAttributesClass
metadata: {name: gold}
driverName: csi.example.com
`,
			version: "1.33",
		},
		{
			name:  "int32 overflow",
			files: strings.Replace(deployment, "replicas: 2", "replicas: 3000000000", 1),
			want:  []string{"error schema/range spec.replicas is 3000000000, which does not fit the 32-bit integer that Deployment apps/v1 takes: use a value from -2147483648 to 2147483647"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, map[string]string{"o.yaml": tc.files})
			var opts []schema.Option
			if tc.version != "" {
				opts = append(opts, schema.KubernetesVersion(tc.version))
			}
			v, err := schema.NewValidator(opts...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range v.Validate(context.Background(), objs) {
				got = append(got, f.Severity.String()+" "+f.Rule+" "+f.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCRDVersionDeprecated(t *testing.T) {
	crd := strings.Replace(widgetCRD, `    - name: v1alpha1
      served: false`, `    - name: v1alpha1
      served: true
      deprecated: true
      deprecationWarning: "example.com/v1alpha1 Widget is deprecated; use example.com/v1"`, 1)
	objs := render(t, map[string]string{"crd.yaml": crd, "w.yaml": "apiVersion: example.com/v1alpha1\nkind: Widget\nmetadata: {name: w, namespace: default}\n"})
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	got := v.Validate(context.Background(), objs)
	want := "example.com/v1alpha1 Widget is deprecated; use example.com/v1 (CustomResourceDefinition widgets.example.com marks example.com/v1alpha1 deprecated): move to example.com/v1"
	if len(got) != 1 || got[0].Rule != "schema/deprecated-apiversion" || got[0].Severity != build.SeverityWarning || got[0].Message != want {
		t.Fatalf("Validate() = %v, want one warning %q", got, want)
	}
}

// renderDir reads a CRD directory as statepack's library does: rendered, rooted at itself.
func renderDir(ctx context.Context, dir string) ([]build.Object, build.Findings, error) {
	r, err := build.Render(ctx, dir, build.WithRoot(dir))
	if err != nil {
		return nil, nil, err
	}
	return r.Objects, r.Findings, nil
}
