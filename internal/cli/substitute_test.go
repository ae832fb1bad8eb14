package cli

import (
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
