package sign_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps test machinery out of the product: the sign package talks to Fulcio through its generated
// API types only, never links Fulcio's server, CA or OIDC code (which internal/testsigstore runs in tests), nor any
// test helper. (The standard testing packages are linked already, by cosign's own dependencies.)
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(dep, "github.com/sigstore/fulcio/") && dep != "github.com/sigstore/fulcio/pkg/generated/protobuf",
			strings.HasPrefix(dep, "github.com/statepack/statepack/internal/test"):
			t.Errorf("sign depends on %s", dep)
		}
	}
}
