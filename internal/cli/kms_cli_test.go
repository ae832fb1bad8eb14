//go:build !kms

package cli

import (
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

// TestKMSKeysInTheDefaultBuild: a KMS key in a build without the kms tag is a usage error that says how to get a
// build with it, and nothing is pushed; the password variable is not consulted.
func TestKMSKeysInTheDefaultBuild(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	plant("kms-test-password")
	env := map[string]string{"COSIGN_PASSWORD": "kms-test-password"}
	r := mustRun(t, 2, env, "publish", "../../testdata/plain", reg.Host+"/kms/app:v1", "--key", "awskms:///alias/statepack")
	if !strings.Contains(r.stderr, "built without the kms build tag") || !strings.Contains(r.stderr, "go build -tags kms") {
		t.Errorf("publish with an AWS KMS key in the default build: %s", r)
	}
	if repos := repositories(t, reg.Host); strings.Contains(strings.Join(repos, " "), "kms/app") {
		t.Errorf("a publish whose key did not load pushed: %v", repos)
	}
	v := mustRun(t, 2, nil, "verify", reg.Host+"/kms/app:v1", "--key", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k")
	if !strings.Contains(v.stderr, "built without the kms build tag") {
		t.Errorf("verify with a GCP KMS key in the default build: %s", v)
	}
}
