package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyGivesFluxsVerdictWhenBundlesArePresent: an artifact with a legacy .sig by the trusted key and a sigstore
// bundle by another key is refused by Flux ≥ 2.8, which reads only the bundles when there are any; verify, pull
// and copy with the trusted key refuse it too (exit 1, naming the rule), and the publish that added the bundle
// warned on stderr.
func TestVerifyGivesFluxsVerdictWhenBundlesArePresent(t *testing.T) {
	t.Parallel()
	oldKey, oldPub := keyPair(t, "")
	newKey, _ := keyPair(t, "")
	work := t.TempDir()
	ref := "oci:" + filepath.Join(work, "layout") + ":main"
	mustRun(t, 0, nil, "publish", demoTree, ref, "--key", oldKey)
	r := mustRun(t, 0, nil, "publish", demoTree, ref, "--key", newKey, "--signature-format", "bundle")
	if !strings.Contains(r.stderr, "bundles present") {
		t.Errorf("publishing a bundle over another key's .sig did not warn:\n%s", r)
	}
	const rule = "bundles present: legacy signatures are not read by Flux ≥ 2.8"
	for _, args := range [][]string{
		{"verify", ref, "--key", oldPub},
		{"pull", ref, "--key", oldPub, "-o", filepath.Join(work, "pulled")},
		{"copy", ref, "oci:" + filepath.Join(work, "copy") + ":main", "--key", oldPub},
	} {
		r := mustRun(t, 1, nil, args...)
		if !strings.Contains(r.stderr, rule) {
			t.Errorf("statepack %s: %s\nwant the rule %q", args[0], r, rule)
		}
	}
}
