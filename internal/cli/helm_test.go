package cli

import (
	"strings"
	"testing"
)

const helmLocal = "../../testdata/helm-local"

// TestRenderHelmHydrate: `render --helm hydrate` prints what the HelmRelease installs in its place, rendered
// in-process with no helm binary (golden); `--helm off` prints the HelmRelease itself.
func TestRenderHelmHydrate(t *testing.T) {
	t.Parallel()
	r := mustRun(t, 0, nil, "render", helmLocal+"/apps/web", "--root", helmLocal, "--helm", "hydrate")
	golden(t, "render-helm-hydrate.yaml", r.stdout)
	r = mustRun(t, 0, nil, "render", helmLocal+"/apps/web", "--root", helmLocal, "--helm", "off")
	if !strings.Contains(r.stdout, "kind: HelmRelease") || strings.Contains(r.stdout, "kind: Deployment") {
		t.Errorf("--helm off rendered the chart:\n%s", r.stdout)
	}
}

// TestValidateHelmPinsByDefault: validate renders the chart beside the tree by default and says so; a bad
// --helm value is a usage error naming the values it takes.
func TestValidateHelmPinsByDefault(t *testing.T) {
	t.Parallel()
	r := mustRun(t, 0, nil, "validate", helmLocal+"/apps/web", "--root", helmLocal)
	if !strings.Contains(r.stdout, "3 object(s) (1 Helm release(s) rendering 3 object(s), validated beside them)") {
		t.Errorf("validate did not report the release it rendered:\n%s", r)
	}
	r = mustRun(t, 2, nil, "validate", helmLocal+"/apps/web", "--root", helmLocal, "--helm", "template")
	if !strings.Contains(r.stderr, "pin") || !strings.Contains(r.stderr, "hydrate") || !strings.Contains(r.stderr, "off") {
		t.Errorf("a bad --helm value: %s", r)
	}
}
