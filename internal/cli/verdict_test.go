package cli

import (
	"encoding/json"
	"os"
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
		if args[0] == "verify" && !strings.Contains(r.stderr, "mixed: a .sig by a trusted key") {
			t.Errorf("statepack verify does not say which case Flux refuses: %s", r)
		}
	}
}

// TestSourceAnnotationCarriesNoCredentialFragment publishes from clones whose remotes hide a secret the ways git
// accepts (issue #15): no fragment of it reaches the output, the annotations or the provenance; a remote that is
// neither URL nor host:path is left out with a warning.
func TestSourceAnnotationCarriesNoCredentialFragment(t *testing.T) {
	t.Parallel()
	key, _ := keyPair(t, "")
	for _, tc := range []struct{ remote, secret, want string }{
		{"ci:S3cr@tPW@github.com:acme/fleet.git", "S3cr@tPW", "https://github.com/acme/fleet"},
		{"oauth2:p@TOKENab12@gitlab.example.com:org/repo.git", "TOKENab12", "https://gitlab.example.com/org/repo"},
		{"https://ci:PWxy9@github.com/acme/fleet.git", "PWxy9", "https://github.com/acme/fleet"},
		{"TOKENcd34@github.com/acme/fleet", "TOKENcd34", ""},
	} {
		plant(tc.secret)
		dir, _ := gitRepo(t, "../../testdata/demo", tc.remote)
		ref := "oci:" + filepath.Join(t.TempDir(), "layout") + ":main"
		r := mustRun(t, 0, nil, "publish", filepath.Join(dir, "production"), ref, "--key", key, "-o", "json", "--attest")
		var res publishResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		if got := res.Annotations["org.opencontainers.image.source"]; got != tc.want {
			t.Errorf("remote %q gives the source annotation %q, want %q", tc.remote, got, tc.want)
		}
		if tc.want == "" && !strings.Contains(r.stderr, "left out of the source annotation") {
			t.Errorf("remote %q was dropped without a warning:\n%s", tc.remote, r.stderr)
		}
		// The provenance, as verify prints it, holds no fragment either (run checks every planted secret).
		mustRun(t, 0, nil, "verify", ref, "--key", strings.TrimSuffix(key, ".key")+".pub", "--attestation", "slsa", "-o", "json")
	}
}

// TestEnvKeys: --key env://VAR is read by the CLI from its environment, for signing and for verifying; the sign
// package reads none of its own.
func TestEnvKeys(t *testing.T) {
	t.Parallel()
	key, pub := keyPair(t, "pw")
	priv, _ := os.ReadFile(key)
	pubPEM, _ := os.ReadFile(pub)
	env := map[string]string{"SP_TEST_KEY": string(priv), "SP_TEST_PUB": string(pubPEM), "COSIGN_PASSWORD": "pw"}
	ref := "oci:" + filepath.Join(t.TempDir(), "layout") + ":main"
	mustRun(t, 0, env, "publish", demoTree, ref, "--key", "env://SP_TEST_KEY")
	mustRun(t, 0, env, "verify", ref, "--key", "env://SP_TEST_PUB", "--attestation", "slsa")
	r := mustRun(t, 2, env, "verify", ref, "--key", "env://SP_TEST_UNSET")
	if !strings.Contains(r.stderr, "environment variable SP_TEST_UNSET is not set") {
		t.Errorf("verify --key env://UNSET: %s", r)
	}
}
