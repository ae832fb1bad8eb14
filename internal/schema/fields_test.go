package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/schema"
)

// TestFindingsNameTheirField: each schema finding names the field it judges (Finding.Field), which is what places
// it on that field's line: the value's path, an unknown key's own path, and the mapping that lacks a required
// field (a list item that repeats a key is pinned by the positions golden, testdata/bad/schema-list-map-duplicate).
func TestFindingsNameTheirField(t *testing.T) {
	t.Parallel()
	bad := strings.NewReplacer(
		"replicas: 2", "replicas: two\n  replicass: 3",
	).Replace(deployment)
	bad = strings.Replace(bad, "        - name: web\n", "        - name: web\n          volumeMounts: [{mountPath: /x}]\n", 1)
	objs := render(t, map[string]string{"deploy.yaml": bad})
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range v.Validate(context.Background(), objs) {
		got[f.Rule+" "+f.Field] = f.Message
	}
	for _, want := range []string{
		"schema/type spec.replicas",
		"schema/unknown-field spec.replicass",
		"schema/required spec.template.spec.containers[0].volumeMounts[0]",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("Validate() has no finding %q; it has %v", want, got)
		}
	}
}
