package statepack

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/statepack/statepack/build"
)

// TestLoadReportsEverythingFindable: a file with a YAML syntax error does not hide the findings of the objects
// that decoded (issue 16, item 9), and still stops the tree from being packaged; the namespace an incomplete render
// may have lost is not judged, while a complete render judges it.
func TestLoadReportsEverythingFindable(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team\ndata:\n  n: 1\n",
		"pod.yaml":      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\nspec:\n  containers:\n    - name: c\n      image: nginx\n",
	}
	complete := writeFiles(t, files)
	files["broken.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels: {a: b\n"
	broken := writeFiles(t, files)

	for _, tc := range []struct {
		name string
		root string
		want []string
	}{
		{"complete", complete, []string{
			"pod.yaml:9 policy/image-unpinned", "settings.yaml:5 policy/namespace-unknown", "settings.yaml:7 schema/type"}},
		{"a file that does not decode", broken, []string{
			"broken.yaml:4 yaml/syntax", "pod.yaml:9 policy/image-unpinned", "settings.yaml:7 schema/type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(context.Background(), tc.root, LoadOptions{Root: tc.root})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range s.Findings {
				got = append(got, f.File+":"+strconv.Itoa(f.Line)+" "+f.Rule)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Load found %v, want %v", got, tc.want)
			}
			if _, err := s.Bundle(BuildContext{}, PackageOptions{}, nil); !errors.Is(err, build.ErrInvalidInput) {
				t.Errorf("Bundle of a tree with errors = %v, want a FindingsError", err)
			}
		})
	}
}
