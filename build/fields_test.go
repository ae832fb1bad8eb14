package build

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fieldsTree is a plain file and a kustomization whose patch sets a field the base does not write, and whose
// images transformer changes a value the base writes.
var fieldsTree = map[string]string{
	"plain/deploy.yaml": `# a comment, so that the object does not start on line 1
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    "app.kubernetes.io/name": web
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: nginx
          resources:
            limits:
              cpu: "1.5.0"
`,
	"plain/list.json": `{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "ConfigMap",
   "metadata": {"name": "a"},
   "data": {"n": 1}}
]}
`,
	"kust/kustomization.yaml": `resources: [base.yaml]
images:
  - name: busybox
    newTag: latest
patches:
  - target: {kind: Service}
    patch: |
      - op: add
        path: /spec/ports/0/protocl
        value: TCP
`,
	"kust/base.yaml": `apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  ports:
    - port: 80
      targetPort: http
---
apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  containers:
    - name: c
      image: busybox:1.0
`,
}

// TestPlaceFields places a finding that names a field on the line where the source writes it, and leaves on the
// object's line a finding whose field the source does not write with the object's value (a patch, an images
// transformer), one about no field, and one whose object was placed at a document of another kind.
func TestPlaceFields(t *testing.T) {
	t.Parallel()
	root := writeTree(t, fieldsTree)
	ctx := context.Background()
	plain, err := Render(ctx, filepath.Join(root, "plain"), WithRoot(root))
	if err != nil || plain.Findings.HasErrors() {
		t.Fatalf("Render(plain) = %v, %v", err, plain.Findings)
	}
	kust, err := Render(ctx, filepath.Join(root, "kust"), WithRoot(root), WithSourcePositions(true))
	if err != nil || kust.Findings.HasErrors() {
		t.Fatalf("Render(kust) = %v, %v", err, kust.Findings)
	}
	tests := []struct {
		name     string
		r        *Rendering
		kind     string
		field    string
		wantLine int
		wantCol  int // 0: not placed, so not known
	}{
		{"a key", plain, "Deployment", "spec.replicas", 10, 3},
		{"metadata.name", plain, "Deployment", "metadata.name", 5, 3},
		{"a quoted label key", plain, "Deployment", `metadata.labels["app.kubernetes.io/name"]`, 8, 5},
		{"a list item by index", plain, "Deployment", "spec.template.spec.containers[0].image", 15, 11},
		{"a list item by name", plain, "Deployment", "spec.template.spec.containers[web].resources.limits.cpu", 18, 15},
		{"a list item itself", plain, "Deployment", "spec.template.spec.containers[0]", 14, 11},
		{"a field the source lacks", plain, "Deployment", "spec.paused", 2, 0},
		{"an index past the list", plain, "Deployment", "spec.template.spec.containers[3].image", 2, 0},
		{"a malformed path", plain, "Deployment", `metadata.labels["x`, 2, 0},
		{"no field", plain, "Deployment", "", 2, 0},
		{"an item of a JSON List", plain, "ConfigMap", "data.n", 4, 13},
		{"a field a patch added", kust, "Service", "spec.ports[0].protocl", 1, 0},
		{"a field the base writes", kust, "Service", "spec.ports[0].targetPort", 8, 7},
		{"a value the images transformer changed", kust, "Pod", "spec.containers[0].image", 10, 0},
		{"a field of the base the transformer kept", kust, "Pod", "spec.containers[0].name", 16, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var o *Object
			for i := range tc.r.Objects {
				if tc.r.Objects[i].ID.Kind == tc.kind {
					o = &tc.r.Objects[i]
				}
			}
			if o == nil {
				t.Fatalf("no %s rendered", tc.kind)
			}
			id := o.FindingID()
			fs := Findings{{Severity: SeverityError, Rule: "test", File: o.Source.File, Line: o.Source.Line, Object: &id, Field: tc.field}}
			tc.r.PlaceFields(fs)
			if fs[0].Line != tc.wantLine || fs[0].Column != tc.wantCol {
				t.Errorf("PlaceFields(%s %q) placed at %d:%d (object at %s), want %d:%d", tc.kind, tc.field, fs[0].Line, fs[0].Column, o.Source, tc.wantLine, tc.wantCol)
			}
		})
	}
	t.Run("another kind's document", func(t *testing.T) {
		t.Parallel()
		// As the Helm stage places a release's objects: at the HelmRelease, a document of another kind.
		o := plain.Objects[0]
		id := ObjectID{Kind: "Service", Name: "web"}
		fs := Findings{{Rule: "test", File: o.Source.File, Line: o.Source.Line, Object: &id, Field: "metadata.name"}}
		plain.PlaceFields(fs)
		if fs[0].Line != o.Source.Line {
			t.Errorf("PlaceFields of an object not in the rendering moved it to line %d", fs[0].Line)
		}
	})
}

// TestFieldColumnInJSONStream: a JSON value that starts mid-line has the columns of its first line counted from the
// line's start, not from the value's.
func TestFieldColumnInJSONStream(t *testing.T) {
	t.Parallel()
	docs := parseDocNodes("s.json", []byte(`{"kind":"A","y":1} {"kind":"B","y":2}`+"\n"))
	o := &Object{ID: ObjectID{Kind: "B"}, Source: Source{File: "s.json", Line: 1}, Content: map[string]any{"kind": "B", "y": 2}}
	if line, col := fieldLine(docs, o, "y"); line != 1 || col != 32 {
		t.Errorf("fieldLine(B's y) = %d:%d, want 1:32", line, col)
	}
}

func TestFieldSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []fieldStep
		ok   bool
	}{
		{"spec.replicas", []fieldStep{{"spec", -1}, {"replicas", -1}}, true},
		{"a[0].b", []fieldStep{{"a", -1}, {"0", 0}, {"b", -1}}, true},
		{`m["a.b/c"].d`, []fieldStep{{"m", -1}, {"a.b/c", -1}, {"d", -1}}, true},
		{"c[web].image", []fieldStep{{"c", -1}, {"web", -1}, {"image", -1}}, true},
		{`m["x`, nil, false},
		{"a[0", nil, false},
		{"", nil, false},
	}
	for _, tc := range tests {
		got, ok := fieldSteps(tc.in)
		if ok != tc.ok || len(got) != len(tc.want) {
			t.Errorf("fieldSteps(%q) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("fieldSteps(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

// FuzzFieldLine reads source files and field paths from outside: whatever they hold, placing a finding ends
// without a panic, on a line of the file or not at all.
func FuzzFieldLine(f *testing.F) {
	f.Add("deploy.yaml", []byte(fieldsTree["plain/deploy.yaml"]), "spec.template.spec.containers[web].image", 2)
	f.Add("list.json", []byte(fieldsTree["plain/list.json"]), "data.n", 2)
	f.Add("a.yaml", []byte("a: &x {kind: K, b: *x}\nkind: K\n"), "a.b.b.b", 1)
	f.Fuzz(func(t *testing.T, file string, data []byte, field string, line int) {
		docs := parseDocNodes(file, data)
		o := &Object{ID: ObjectID{Kind: "K"}, Source: Source{File: file, Line: line}, Content: map[string]any{}}
		for _, d := range docs {
			o.ID.Kind = ""
			if k := mappingValue(d.node, "kind"); k != nil {
				o.ID.Kind = k.Value
			}
			if line, col := fieldLine(docs, o, field); line < 0 || col < 0 || (line > 0) != (col > 0) {
				t.Fatalf("fieldLine = %d, %d: want both positive or both 0", line, col)
			}
		}
	})
}

// BenchmarkPlaceFields places one finding per object of a file of 1,000 Deployments, each on a field of its
// container (place), against rendering that file (render): the cost a tree with that many field findings adds to
// validate (a clean tree adds none).
func BenchmarkPlaceFields(b *testing.B) {
	var doc strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&doc, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-%d\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx\n", i)
	}
	root := writeTree(b, map[string]string{"deploy.yaml": doc.String()})
	r, err := Render(context.Background(), root, WithRoot(root))
	if err != nil || len(r.Objects) != 1000 {
		b.Fatalf("Render = %v, %d objects", err, len(r.Objects))
	}
	findings := make(Findings, len(r.Objects))
	for i, o := range r.Objects {
		id := o.FindingID()
		findings[i] = Finding{File: o.Source.File, Line: o.Source.Line, Object: &id, Field: "spec.template.spec.containers[web].image"}
	}
	b.Run("place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fs := slices.Clone(findings)
			r.PlaceFields(fs)
			if fs[0].Line == findings[0].Line {
				b.Fatal("not placed")
			}
		}
	})
	b.Run("render", func(b *testing.B) { // what the placing is measured against
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Render(context.Background(), root, WithRoot(root)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
