package statepack

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestCRDDirOfAKustomization: a --crd-dir that is a kustomization installing a controller (Flux's manifests/ has
// this shape; issue #16, item 4) gives its CRDs to the tree's validation, while its kustomizations (a remote base,
// a missing patch) and its other documents (a Deployment with a wrong field) are neither built nor judged.
func TestCRDDirOfAKustomization(t *testing.T) {
	t.Parallel()
	s, err := Load(context.Background(), "testdata/crd-dir/tree", LoadOptions{Root: "testdata/crd-dir", CRDDirs: []string{"testdata/crd-dir/crds"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Findings) != 1 || s.Findings[0].Rule != "schema/type" || s.Findings[0].File != "tree/widget.yaml" ||
		s.Findings[0].Message != `spec.size must be an integer, not the string "large"` {
		t.Errorf("Load with a kustomization as --crd-dir found %v, want only the Widget's type error from its CRD", s.Findings)
	}
}

// TestCRDDirProblems: a problem of a CRD directory is the caller's mistake, reported once as an error naming the
// directory (and the file), not as findings of the tree.
func TestCRDDirProblems(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"tree/cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\n",
		"broken/crd.yaml":  "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: [\n",
		"none/deploy.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
	})
	for _, tc := range []struct{ crdDir, want string }{
		{dir + "/broken", "--crd-dir " + dir + "/broken: crd.yaml:3: error: "},
		{dir + "/none", "--crd-dir " + dir + "/none: holds no CustomResourceDefinition in its YAML or JSON files: point it at a directory of CustomResourceDefinition manifests"},
		{dir + "/missing", "--crd-dir " + dir + "/missing: does not exist: "},
		{dir + "/tree/cm.yaml", "--crd-dir " + dir + "/tree/cm.yaml: is not a directory: "},
	} {
		_, err := Load(context.Background(), dir+"/tree", LoadOptions{Root: dir, CRDDirs: []string{tc.crdDir}})
		if !errors.Is(err, ErrInvalidOption) || !strings.HasPrefix(err.Error(), tc.want) || strings.Count(err.Error(), tc.crdDir) != 1 {
			t.Errorf("Load with --crd-dir %s = %v, want ErrInvalidOption once, starting %q", tc.crdDir, err, tc.want)
		}
	}
}

// TestIgnoredNotPackaged: what .sourceignore, Flux's default excludes and IgnorePaths leave out is not in the
// artifact (issue #16, item 13), and the ignore paths are part of the settings an incremental publish compares.
func TestIgnoredNotPackaged(t *testing.T) {
	t.Parallel()
	s, err := Load(context.Background(), "testdata/sourceignore/app", LoadOptions{Root: "testdata/sourceignore", IgnorePaths: []string{"docs/"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Bundle(BuildContext{}, PackageOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range b.Files {
		files = append(files, f.Name)
	}
	if want := "configmap_default_kept.yaml configmap_default_settings.yaml"; strings.Join(files, " ") != want {
		t.Errorf("the artifact holds %q, want %q", files, want)
	}
	if !strings.Contains(s.settings("test", PackageOptions{}), "ignorePaths=docs/") {
		t.Error("the settings of an incremental publish leave out --ignore-paths")
	}
}
