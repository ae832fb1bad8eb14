package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

// secretTree is a plain tree with a namespace and a Secret in clear text whose values are distinctive, so that run()
// finds any of them in any output.
func secretTree(password, token, cert string) map[string]string {
	return map[string]string{
		"namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
		"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: database\n  namespace: web\n" +
			"stringData:\n  password: " + password + "\n  tls.crt: |\n    " + strings.ReplaceAll(cert, "\n", "\n    ") + "\n" +
			"data:\n  token: " + token + "\n",
	}
}

// TestDiffMasksSecretValues diffs a tree against a published artifact when a Secret's values change, are added and
// are removed: no value of either side may show in the text, markdown or JSON result, while the keys that changed
// still show as changed (kubectl diff's "*** (before)" / "*** (after)").
func TestDiffMasksSecretValues(t *testing.T) {
	t.Parallel()
	const (
		oldPassword = "hunter2-oldPw-4f1a"
		newPassword = "hunter2-newPw-9c3d"
		token       = "dG9rZW4tc3RheXMtN2I4ZQ==" // unchanged between the two sides
		oldCert     = "-----BEGIN CERTIFICATE-----\nMIIold0certline1x7Q\nMIIold0certline2x7Q\n-----END CERTIFICATE-----"
	)
	plant(oldPassword, newPassword, token, "MIIold0certline1x7Q", "MIIold0certline2x7Q")
	allow := []string{"--allow", "secret-not-encrypted"}
	layout := "oci:" + filepath.Join(t.TempDir(), "layout") + ":v1"
	publishTree(t, writeTree(t, secretTree(oldPassword, token, oldCert)), layout, allow...)

	// The password changes, the certificate goes, an API key comes.
	files := secretTree(newPassword, token, oldCert)
	files["secret.yaml"] = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: database\n  namespace: web\n" +
		"stringData:\n  password: " + newPassword + "\n  api-key: hunter2-apiKey-2b6e\n" +
		"data:\n  token: " + token + "\n"
	plant("hunter2-apiKey-2b6e")
	changed := writeTree(t, files)

	t.Run("text", func(t *testing.T) {
		r := mustRun(t, 1, nil, append([]string{"diff", changed, layout}, allow...)...)
		for _, want := range []string{
			"--- a/Secret/web/database\n+++ b/Secret/web/database\n",
			"\n-  password: '*** (before)'\n",
			"\n+  password: '*** (after)'\n",
			"\n+  api-key: '***'\n",
			"\n-  tls.crt: '***'\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("diff output lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "token") {
			t.Errorf("diff output shows the unchanged key token as changed:\n%s", r.stdout)
		}
		if !strings.HasSuffix(r.stdout, "1 changed, 1 unchanged\n") {
			t.Errorf("diff summary: %q, want 1 changed, 1 unchanged", r.stdout)
		}
	})

	t.Run("markdown", func(t *testing.T) {
		r := mustRun(t, 1, nil, append([]string{"diff", changed, layout, "-o", "markdown"}, allow...)...)
		if !strings.Contains(r.stdout, "| changed | <code>Secret/web/database</code> |") ||
			!strings.Contains(r.stdout, "\n-  password: '*** (before)'\n") || !strings.Contains(r.stdout, "\n+  password: '*** (after)'\n") {
			t.Errorf("diff -o markdown does not show the changed key:\n%s", r.stdout)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := mustRun(t, 1, nil, append([]string{"diff", changed, layout, "-o", "json"}, allow...)...)
		var got diffResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("diff -o json printed %q: %v", r.stdout, err)
		}
		if len(got.Changed) != 1 || got.Changed[0].Object != "Secret/web/database" ||
			!strings.Contains(got.Changed[0].Diff, "+  password: '*** (after)'\n") {
			t.Errorf("diff -o json = %+v", got)
		}
	})

	t.Run("added and removed", func(t *testing.T) {
		// The artifact as the old side, an empty namespace-only tree as the new one: the Secret is removed.
		gone := writeTree(t, map[string]string{"namespace.yaml": files["namespace.yaml"]})
		r := mustRun(t, 1, nil, "diff", gone, layout)
		if !strings.Contains(r.stdout, "+++ /dev/null\n") || !strings.Contains(r.stdout, "-  password: '***'\n") {
			t.Errorf("diff of a removed Secret:\n%s", r.stdout)
		}
	})

	t.Run("the repro of the review", func(t *testing.T) {
		empty := "oci:" + filepath.Join(t.TempDir(), "layout") + ":v1"
		publishTree(t, writeTree(t, map[string]string{"namespace.yaml": files["namespace.yaml"]}), empty)
		r := mustRun(t, 1, nil, "diff", "../../testdata/bad/secret-clear-text", empty)
		if strings.Contains(r.stdout+r.stderr, "hunter2") || !strings.Contains(r.stdout, "+  password: '***'\n") {
			t.Errorf("diff of testdata/bad/secret-clear-text:\n%s", r.stdout)
		}
	})
}

// TestActionChangesMaskSecretValues publishes over an artifact that holds a Secret (pushed with the command, as the
// action refuses a Secret in clear text): the "Changes since" section of the job summary lists the Secret as removed
// without any of its values.
func TestActionChangesMaskSecretValues(t *testing.T) {
	t.Parallel()
	const password, apiKey = "hunter2-actionPw-5e7a", "hunter2-actionKey-1d3c"
	plant(password, apiKey)
	reg := testregistry.Start(t)
	ref := reg.Host + "/web/app:main"
	namespace := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"
	publishTree(t, writeTree(t, map[string]string{
		"namespace.yaml": namespace,
		"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: database\n  namespace: web\n" +
			"stringData:\n  password: " + password + "\n  api-key: " + apiKey + "\n",
	}), ref, "--allow", "secret-not-encrypted")

	tree := writeTree(t, map[string]string{"namespace.yaml": namespace})
	rn := newRunner(t, filepath.Dir(tree))
	rn.env["SOURCE_DATE_EPOCH"] = fixedEpoch["SOURCE_DATE_EPOCH"]
	r := rn.run(t, map[string]string{"path": tree, "ref": ref})
	if r.code != 0 {
		t.Fatalf("statepack action: %s", r)
	}
	for _, want := range []string{
		"<details><summary>removed <code>Secret/web/database</code></summary>",
		"-  api-key: '***'\n-  password: '***'\n",
	} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, r.summary)
		}
	}
	for _, v := range []string{password, apiKey} {
		if strings.Contains(r.summary+r.rawOut, v) {
			t.Errorf("a Secret value (%s) appears in the job summary or the step outputs:\n%s", v, r)
		}
	}
}
