package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSubstituteFlags: validate, render and build take Flux postBuild variables with --substitute and
// --substitute-from (issue #16, item 1): without them a placeholder is a pending warning; with them the objects are
// validated substituted while render prints, and build packages, the placeholders as written.
func TestSubstituteFlags(t *testing.T) {
	t.Parallel()
	const tree = "../../testdata/flux-substitute/app"
	root := []string{"--root", "../../testdata/flux-substitute"}

	r := mustRun(t, 1, nil, append([]string{"validate", tree}, root...)...)
	if got := strings.Count(r.stdout, "[flux/substitution-pending]"); got != 3 || strings.Contains(r.stdout, "remove the quotes") {
		t.Errorf("validate without values: %d pending warnings, want 3 and no hint to remove quotes:\n%s", got, r.stdout)
	}

	r = mustRun(t, 1, nil, append([]string{"validate", tree, "--substitute-from", "../../testdata/flux-substitute/vars/cluster.env", "--substitute", "replicas=three"}, root...)...)
	if !strings.Contains(r.stdout, `Deployment.apps/apps/app-prod: spec.replicas must be an integer, not the string "three" [schema/type]`) ||
		strings.Contains(r.stdout, "flux/substitution-pending") {
		t.Errorf("validate with values did not judge the substituted Deployment:\n%s", r.stdout)
	}

	r = mustRun(t, 0, nil, append([]string{"render", tree, "--substitute", "replicas=3"}, root...)...)
	if !strings.Contains(r.stdout, "replicas: ${replicas:=2}") {
		t.Errorf("render with values printed substituted objects, want the placeholders as the artifact keeps them:\n%s", r.stdout)
	}

	r = mustRun(t, 2, nil, append([]string{"validate", tree, "--substitute", "replicas"}, root...)...)
	if !strings.Contains(r.stderr, `--substitute "replicas" is not KEY=VALUE`) {
		t.Errorf("validate --substitute replicas: %s", r)
	}
}

// TestSubstituteStrictFlag: --substitute-strict makes a ${var} with neither a value nor a default an error naming the
// variable, on the line of the field that holds it, as kustomize-controller's StrictPostBuildSubstitutions fails the
// build; with every value given the tree passes as without the flag.
func TestSubstituteStrictFlag(t *testing.T) {
	t.Parallel()
	args := []string{"validate", "../../testdata/flux-substitute/app", "--root", "../../testdata/flux-substitute", "--substitute-strict",
		"--allow", "object/invalid-label=the opted-out ConfigMap's label is literal text on purpose"}
	r := mustRun(t, 1, nil, append(args, "--substitute", "replicas=1")...)
	want := `app/deployment.yaml:6: error: Deployment.apps/apps/app-${cluster_name}: Flux's postBuild substitution in strict mode (kustomize-controller's StrictPostBuildSubstitutions) fails on this object: variable not set (strict mode): "cluster_name": give it a value with --substitute cluster_name=VALUE (or --substitute-from FILE), or a default with ${cluster_name:=VALUE} [flux/substitution]`
	if !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "flux/substitution-pending") {
		t.Errorf("validate --substitute-strict: %s\nwant the error\n%s\nand no pending warning", r, want)
	}
	mustRun(t, 0, nil, append(args, "--substitute-from", "../../testdata/flux-substitute/vars/cluster.env")...)
}

// TestAllowFlag: --allow RULE=REASON turns off any rule's findings and says so with the reason, in text and JSON;
// statepack.yaml's allow takes {rule, reason}; a rule of a tree that cannot be rendered is a usage error.
func TestAllowFlag(t *testing.T) {
	t.Parallel()
	const tree = "../../testdata/flux-substitute/app"
	args := []string{"validate", tree, "--root", "../../testdata/flux-substitute", "--allow", "flux/substitution-pending",
		"--allow", "object/invalid-label=the script ConfigMap is applied by hand"}
	r := mustRun(t, 0, nil, args...)
	if !strings.Contains(r.stdout, "allowed: 1 finding(s) of object/invalid-label: the script ConfigMap is applied by hand\n") ||
		!strings.Contains(r.stdout, "allowed: 3 finding(s) of flux/substitution-pending: no reason given\n") {
		t.Errorf("validate --allow did not report what it allowed:\n%s", r.stdout)
	}
	r = mustRun(t, 0, nil, append(args, "-o", "json")...)
	if !strings.Contains(r.stdout, `"rule": "object/invalid-label",`) || !strings.Contains(r.stdout, `"reason": "the script ConfigMap is applied by hand",`) {
		t.Errorf("validate --allow -o json did not report what it allowed:\n%s", r.stdout)
	}

	dir := t.TempDir()
	config := dir + "/statepack.yaml"
	if err := os.WriteFile(config, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n- name: app\n  path: "+mustAbs(t, tree)+"\n  ref: localhost:5000/app\n"+
		"  validate:\n    allow:\n    - flux/substitution-pending\n    - {rule: object/invalid-label, reason: applied by hand}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, nil, "validate", "--config", config, "--root", "../../testdata/flux-substitute")

	r = mustRun(t, 2, nil, "validate", tree, "--allow", "yaml/syntax=I know")
	if !strings.Contains(r.stderr, "--allow yaml/syntax: findings of yaml/syntax mean the tree cannot be rendered, so they cannot be allowed") {
		t.Errorf("validate --allow yaml/syntax: %s", r)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
