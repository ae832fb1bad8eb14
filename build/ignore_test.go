package build

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestSourceIgnore: the files Flux's source-controller leaves out of an artifact are neither rendered nor packaged
// (issue #16, item 13): its default excludes (cloudbuild.yaml), each .sourceignore anchored at its directory, and
// --ignore-paths anchored at the rendered path, as flux push artifact takes them.
func TestSourceIgnore(t *testing.T) {
	t.Parallel()
	const root = "../testdata/sourceignore"
	for _, tc := range []struct {
		name        string
		path        string
		ignorePaths []string
		wantNames   []string
		wantRules   []string
	}{
		{name: "sourceignore and defaults", path: "app", wantNames: []string{"settings", "", "kept"},
			wantRules: []string{"object/missing-apiversion", "object/missing-metadata"}}, // docs/example.yaml is read
		{name: "ignore paths", path: "app", ignorePaths: []string{"docs/"}, wantNames: []string{"settings", "kept"}},
		{name: "a pattern anchored at the path", path: "app", ignorePaths: []string{"/docs", "/kept.yaml"}, wantNames: []string{"settings", "kept"}},
		{name: "a kustomization refers to an ignored file", path: "refers", wantRules: []string{"kustomize/build"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := Render(context.Background(), root+"/"+tc.path, WithRoot(root), WithIgnorePaths(tc.ignorePaths))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range r.Objects {
				names = append(names, o.ID.Name)
			}
			findings := Validate(context.Background(), r.Objects)
			var rules []string
			for _, f := range append(r.Findings, findings...) {
				rules = append(rules, f.Rule)
			}
			if !slices.Equal(names, tc.wantNames) || !slices.Equal(rules, tc.wantRules) {
				t.Errorf("Render rendered %q with findings %v, want %q and rules %q", names, append(r.Findings, findings...), tc.wantNames, tc.wantRules)
			}
			if tc.path == "refers" && (len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, "refers/configmap.draft.yaml is ignored (.sourceignore or --ignore-paths), so Flux's source-controller leaves it out of the artifact")) {
				t.Errorf("the kustomization's refusal does not say the file is ignored: %v", r.Findings)
			}
			if tc.path == "app" && (!slices.Contains(r.Inputs, ".sourceignore") || !slices.Contains(r.Inputs, "app/sub/.sourceignore")) {
				t.Errorf("Inputs = %q, want the .sourceignore files read: changing one changes the render", r.Inputs)
			}
		})
	}
}

// TestSourceIgnoreNegation: as source-controller matches each file on its own, a negation keeps a file of an
// ignored directory, and a kustomization file that is ignored makes its directory plain.
func TestSourceIgnoreNegation(t *testing.T) {
	t.Parallel()
	cm := func(name string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + ", namespace: default}\n"
	}
	root := writeTree(t, map[string]string{
		".sourceignore":                  "generated/\n!keep.yaml\n**/kustomization.yaml\n",
		"tree/generated/keep.yaml":       cm("keep"),
		"tree/generated/drop.yaml":       cm("drop"),
		"tree/app/kustomization.yaml":    "resources: [missing.yaml]\n",
		"tree/app/configmap.yaml":        cm("app"),
		"tree/notes/thumbnail.png":       "not an image",
		"tree/.github/workflows/ci.yaml": "on: push\n",
		"tree/ci/codeship-services.yml":  "app: {}\n",
		"tree/ci/.goreleaser.yml":        "builds: []\n",
	})
	r, err := Render(context.Background(), root+"/tree", WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range r.Objects {
		names = append(names, o.ID.Name)
	}
	if want := []string{"app", "keep"}; !slices.Equal(names, want) || len(r.Findings) > 0 || r.Kustomized {
		t.Errorf("Render = %q (findings %v, kustomized %v), want %q from plain YAML", names, r.Findings, r.Kustomized, want)
	}
}

// FuzzIgnorePatterns: no --ignore-paths pattern (outside input, matched by Flux's gitignore fork) makes a match
// panic, and the rendered path itself is never ignored.
func FuzzIgnorePatterns(f *testing.F) {
	for _, p := range []string{"docs/", "/kept.yaml", "!keep.yaml", "**/x", "a/**/b", "[", "\\ ", "*.draft.yaml"} {
		f.Add(p, "app/docs/example.yaml")
	}
	f.Fuzz(func(t *testing.T, pattern, rel string) {
		ig := newIgnorer("/root", "/root/app", []string{pattern})
		ig.ignored("/root/"+rel, false)
		ig.ignored("/root/"+rel, true)
		if ig.ignored("/root", true) {
			t.Errorf("pattern %q ignores the source root", pattern)
		}
	})
}
