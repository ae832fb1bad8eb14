package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, path string }{
		{"render-demo-production.yaml", demoTree},
		{"render-plain.yaml", "../../testdata/plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, 0, nil, "render", tc.path)
			golden(t, tc.name, r.stdout)
		})
	}
}

func TestRenderJSONIsAList(t *testing.T) {
	t.Parallel()
	r := mustRun(t, 0, nil, "render", demoTree, "-o", "json")
	var list struct {
		Kind  string
		Items []map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || list.Kind != "List" || len(list.Items) != 4 {
		t.Fatalf("render -o json = %q (%v), want a List of 4 items", r.stdout, err)
	}
}

// TestValidateBadTrees runs validate on every tree under testdata/bad and compares the report with the tree's
// expected.txt. Each tree holds one mistake; the report must name its file and line and exit 1, or exit 0 when the
// mistake is one that only warns (its expected.txt then counts 0 errors).
func TestValidateBadTrees(t *testing.T) {
	t.Parallel()
	trees, err := filepath.Glob("../../testdata/bad/*")
	if err != nil || len(trees) == 0 {
		t.Fatalf("no bad trees under testdata/bad: %v", err)
	}
	sort.Strings(trees)
	for _, tree := range trees {
		name := filepath.Base(tree)
		t.Run(name, func(t *testing.T) {
			path := tree
			if st, err := os.Stat(filepath.Join(tree, "app")); err == nil && st.IsDir() {
				path = filepath.Join(tree, "app")
			}
			r := run(t, nil, "", "validate", path, "--root", tree)
			want := 1
			if expected, err := os.ReadFile(filepath.Join(tree, "expected.txt")); err == nil && strings.Contains(string(expected), ", 0 error(s), ") {
				want = 0
			}
			if r.code != want && !*update {
				t.Fatalf("%s\nwant exit %d", r, want)
			}
			report := strings.ReplaceAll(r.stdout+r.stderr, tree, "TREE")
			goldenAt(t, filepath.Join(tree, "expected.txt"), report)
		})
	}
}

func TestValidateClean(t *testing.T) {
	t.Parallel()
	r := mustRun(t, 0, nil, "validate", demoTree)
	if r.stdout != demoTree+": 4 object(s), 0 error(s), 0 warning(s)\n" {
		t.Errorf("validate stdout = %q", r.stdout)
	}
	r = mustRun(t, 0, nil, "validate", demoTree, "-o", "json")
	var got struct {
		Objects, Errors int
		Findings        []any
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Objects != 4 || got.Errors != 0 || got.Findings == nil {
		t.Errorf("validate -o json = %q (%v)", r.stdout, err)
	}
}

// TestCorpusValidates renders and validates every tree of the shared corpus, its Helm releases as written.
func TestCorpusValidates(t *testing.T) {
	t.Parallel()
	root := corpus(t, ".")
	for _, p := range []string{
		"flux2-kustomize-helm-example/apps/staging",
		"flux2-kustomize-helm-example/apps/production",
		"flux2-kustomize-helm-example/infrastructure/configs",
		"flux2-kustomize-helm-example/infrastructure/controllers",
		"flux2-kustomize-helm-example/clusters/staging",
		"flux2-kustomize-helm-example/clusters/production",
		"microservices-demo-kustomize",
		"microservices-demo-kustomize/base",
		"microservices-demo-kustomize/tests/memorystore-with-all-components",
		"microservices-demo-kustomize/tests/service-mesh-istio-with-all-components",
		"microservices-demo-kustomize/tests/spanner-with-all-components",
	} {
		t.Run(p, func(t *testing.T) {
			// The Flux example's charts are on the internet, which tests do not reach: their releases are judged as
			// written here, and pinned and rendered from a loopback repository in TestHelmCorpusStaging.
			r := run(t, nil, "", "validate", filepath.Join(root, p), "--root", root, "--helm", "off")
			if r.code != 0 {
				t.Fatalf("%s", r)
			}
		})
	}
}

func TestValidateSchemaFlags(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "", "validate", demoTree, "--kubernetes-version", "1.20")
	if r.code != 2 || !strings.Contains(r.stderr, "1.34") {
		t.Errorf("%s\nwant exit 2 listing the embedded versions", r)
	}
	mustRun(t, 0, nil, "validate", demoTree, "--kubernetes-version", "v1.32")
	// A custom resource without its CRD: a warning by default, an error with --strict; a --crd-dir supplies it.
	dir := t.TempDir()
	copyDir(t, "../../testdata/bad/schema-crd-type", dir)
	if err := os.Rename(filepath.Join(dir, "crd.yaml"), filepath.Join(t.TempDir(), "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, 0, nil, "validate", dir)
	if !strings.Contains(r.stdout, "[schema/no-schema]") {
		t.Errorf("validate without the CRD: %s\nwant a no-schema warning", r)
	}
	mustRun(t, 1, nil, "validate", dir, "--strict")
	crds := t.TempDir()
	copyDir(t, "../../testdata/bad/schema-crd-type", crds)
	_ = os.Remove(filepath.Join(crds, "widget.yaml"))
	_ = os.Remove(filepath.Join(crds, "expected.txt"))
	r = mustRun(t, 1, nil, "validate", dir, "--crd-dir", crds)
	if !strings.Contains(r.stdout, "spec.size must be an integer") {
		t.Errorf("validate with --crd-dir: %s\nwant the CRD's type error", r)
	}
}

// TestValidateSARIF checks the SARIF report of a bad tree: rules, levels, messages, and locations relative to the
// repository root, as GitHub code scanning needs them.
func TestValidateSARIF(t *testing.T) {
	t.Parallel()
	tree := "../../testdata/bad/schema-cel-rule"
	r := run(t, nil, "", "validate", tree, "--root", tree, "-o", "sarif")
	if r.code != 1 {
		t.Fatalf("%s\nwant exit 1", r)
	}
	goldenAt(t, "../../testdata/validate-schema-cel-rule.sarif", r.stdout)

	// A finding placed on its field's line carries the field's column: spec.bucketName at 7:3.
	tree = "../../testdata/bad/schema-pattern"
	r = run(t, nil, "", "validate", tree, "--root", tree, "-o", "sarif")
	var placed sarifLog
	if err := json.Unmarshal([]byte(r.stdout), &placed); err != nil || len(placed.Runs) != 1 || len(placed.Runs[0].Results) != 1 ||
		len(placed.Runs[0].Results[0].Locations) != 1 {
		t.Fatalf("validate -o sarif of %s: %s\n(%v), want one result with a location", tree, r, err)
	}
	if got := placed.Runs[0].Results[0].Locations[0].PhysicalLocation.Region; got == nil || *got != (sarifRegion{StartLine: 7, StartColumn: 3}) {
		t.Errorf("region of spec.bucketName = %+v, want line 7, column 3", got)
	}

	// A finding on a generated object has a file but no line: the location has no region.
	tree = "../../testdata/bad/generated-secret"
	r = run(t, nil, "", "validate", tree+"/app", "--root", tree, "-o", "sarif")
	if r.code != 1 || !strings.Contains(r.stdout, `"uri": "testdata/bad/generated-secret/app/kustomization.yaml"`) ||
		strings.Contains(r.stdout, `"region"`) {
		t.Errorf("validate -o sarif on a generated Secret: %s\nwant its kustomization as location, without a region", r)
	}

	// A tree outside any git work tree: locations are relative to the source root; warnings and policies keep
	// their levels and descriptions.
	dir := t.TempDir()
	copyDir(t, "../../testdata/bad/schema-deprecated-apiversion", dir)
	_ = os.Remove(filepath.Join(dir, "expected.txt"))
	if err := os.WriteFile(filepath.Join(dir, "pod.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, image: nginx}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, 0, nil, "validate", dir, "--root", dir, "-o", "sarif")
	var log struct {
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID                   string
						ShortDescription     struct{ Text string }
						DefaultConfiguration struct{ Level string }
					}
				}
			}
			Results []struct {
				RuleID    string
				RuleIndex int
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
					LogicalLocations []struct{ Name, FullyQualifiedName, Kind string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("validate -o sarif = %s (%v), want a SARIF 2.1.0 log with one run", r.stdout, err)
	}
	run0 := log.Runs[0]
	var got []string
	for _, res := range run0.Results {
		rule := run0.Tool.Driver.Rules[res.RuleIndex]
		loc := res.Locations[0].PhysicalLocation
		field := "-"
		for _, l := range res.Locations[0].LogicalLocations {
			field = l.Kind + " " + l.Name + " " + l.FullyQualifiedName
		}
		got = append(got, fmt.Sprintf("%s %s %s:%d (%s) [%s %s]", res.RuleID, res.Level, loc.ArtifactLocation.URI, loc.Region.StartLine,
			field, rule.ID, rule.DefaultConfiguration.Level))
	}
	// The image finding's region is the line of the image field (the object starts on line 1), which the logical
	// location names; the apiVersion's deprecation names the apiVersion field, on the object's first line here.
	want := []string{
		"policy/image-unpinned warning pod.yaml:5 (property spec.containers[0].image Pod/default/p.spec.containers[0].image) [policy/image-unpinned warning]",
		"schema/deprecated-apiversion warning volume-class.yaml:1 (property apiVersion VolumeAttributesClass.storage.k8s.io/gold.apiVersion) [schema/deprecated-apiversion warning]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SARIF results =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := run0.Tool.Driver.Rules[0].ShortDescription.Text; !strings.HasPrefix(d, "An image without a tag") {
		t.Errorf("policy rule description = %q, want the policy's why", d)
	}

	r = run(t, nil, "", "validate", dir, "-o", "yaml")
	if r.code != 2 || !strings.Contains(r.stderr, "--output must be text or json (validate also takes sarif)") {
		t.Errorf("validate -o yaml: %s\nwant exit 2 naming the formats", r)
	}
	r = mustRun(t, 0, nil, "validate", dir, "--format", "json")
	if !strings.HasPrefix(r.stdout, "{") {
		t.Errorf("validate --format json = %q, want JSON", r.stdout)
	}
}

// TestValidateSchemaCache checks that CRDs in the user's schema cache check custom resources, that the default
// location is read only when it exists, and that an explicit --schema-cache must exist.
func TestValidateSchemaCache(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	copyDir(t, "../../testdata/bad/schema-crd-type", tree)
	_ = os.Remove(filepath.Join(tree, "expected.txt"))
	cache := t.TempDir()
	if err := os.Rename(filepath.Join(tree, "crd.yaml"), filepath.Join(cache, "widgets.yaml")); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, 0, map[string]string{"HOME": t.TempDir()}, "validate", tree)
	if !strings.Contains(r.stdout, "[schema/no-schema]") {
		t.Errorf("validate without a cache: %s\nwant a no-schema warning", r)
	}
	xdg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(xdg, "statepack"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cache, filepath.Join(xdg, "statepack", "crds")); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, 1, map[string]string{"XDG_CACHE_HOME": xdg}, "validate", tree)
	if !strings.Contains(r.stdout, "spec.size must be an integer") {
		t.Errorf("validate with the default cache: %s\nwant the CRD's type error", r)
	}
	r = mustRun(t, 1, nil, "validate", tree, "--schema-cache", filepath.Join(xdg, "statepack", "crds"))
	if !strings.Contains(r.stdout, "spec.size must be an integer") {
		t.Errorf("validate --schema-cache: %s\nwant the CRD's type error", r)
	}
	r = run(t, nil, "", "validate", tree, "--schema-cache", filepath.Join(xdg, "missing"))
	if r.code != 2 || !strings.Contains(r.stderr, "is not a directory") {
		t.Errorf("validate --schema-cache missing: %s\nwant exit 2", r)
	}
}
