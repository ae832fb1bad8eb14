package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testimages"
	"github.com/statepack/statepack/internal/testregistry"
)

func deployment(name, image string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + ", namespace: default}\nspec:\n  selector: {matchLabels: {app: " + name + "}}\n  template:\n    metadata: {labels: {app: " + name + "}}\n    spec:\n      containers: [{name: app, image: \"" + image + "\"}]\n"
}

func cronJob(name, image string) string {
	return "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: " + name + ", namespace: default}\nspec:\n  schedule: \"0 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{name: job, image: \"" + image + "\"}]\n"
}

// TestImagesCLI runs validate and publish with the image flags against the fixture's registry: the exit codes, the
// findings naming file, object and image, the verification summary that verify reads back, and a fleet that
// resolves a shared image once.
func TestImagesCLI(t *testing.T) {
	t.Parallel()
	f := testimages.Start(t)
	key, pub := keyPair(t, "")
	env := map[string]string{"SOURCE_DATE_EPOCH": "1764547200", "HOME": t.TempDir()}
	good := writeTree(t, map[string]string{
		"web.yaml":    deployment("web", f.Ref(testimages.KeyLegacy)),
		"report.yaml": cronJob("report", f.Ref(testimages.KeyBundle)),
	})
	bad := writeTree(t, map[string]string{
		"web.yaml":    deployment("web", f.Ref(testimages.KeyLegacy)),
		"report.yaml": "# the job\n" + cronJob("report", f.Ref(testimages.Unsigned)),
		"other.yaml":  deployment("other", f.Ref(testimages.OtherKey)),
	})

	t.Run("validate", func(t *testing.T) {
		t.Parallel()
		r := mustRun(t, 0, env, "validate", good, "--pin-images", "--image-key", f.Pub)
		for _, want := range []string{"image " + f.Ref(testimages.KeyLegacy) + " → " + f.Digests[testimages.KeyLegacy] + ": signature (legacy) by key sha256:",
			"image " + f.Ref(testimages.KeyBundle) + " → " + f.Digests[testimages.KeyBundle] + ": signature (bundle)"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("validate output lacks %q:\n%s", want, r)
			}
		}
		r = mustRun(t, 1, env, "validate", bad, "--image-key", f.Pub)
		for _, want := range []string{
			`report.yaml:12: error: CronJob.batch/default/report: image "` + f.Ref(testimages.Unsigned) + `" (spec.jobTemplate.spec.template.spec.containers[0].image): is unsigned: no cosign signature`,
			`other.yaml:9: error: Deployment.apps/default/other: image "` + f.Ref(testimages.OtherKey) + `" (spec.template.spec.containers[0].image): is not signed by a trusted key or identity`,
			"[image/unverified]",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("validate output lacks %q:\n%s", want, r)
			}
		}
		if strings.Contains(r.stdout, "web.yaml:9: error") {
			t.Errorf("the signed image was refused:\n%s", r)
		}
		mustRun(t, 2, env, "validate", good, "--verify-images")
		mustRun(t, 2, env, "validate", good, "--image-certificate-identity", "a@example.com")
	})

	t.Run("keyless", func(t *testing.T) {
		t.Parallel()
		root := filepath.Join(t.TempDir(), "fulcio.pem")
		if err := os.WriteFile(root, f.Sigstore.RootPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		tree := writeTree(t, map[string]string{"web.yaml": deployment("web", f.Ref(testimages.Keyless))})
		args := []string{"validate", tree, "--image-fulcio-root", root, "--image-insecure-ignore-tlog", "--image-insecure-ignore-sct", "--image-certificate-oidc-issuer", f.Issuer}
		r := mustRun(t, 0, env, append(args, "--image-certificate-identity", f.Identity)...)
		if !strings.Contains(r.stdout, "signature (legacy) by "+f.Identity) {
			t.Errorf("keyless validate printed:\n%s", r)
		}
		r = mustRun(t, 1, env, append(args, "--image-certificate-identity-regexp", "^release@example\\.com$")...)
		if !strings.Contains(r.stdout, "is not signed by a trusted key or identity") || !strings.Contains(r.stdout, f.Identity) {
			t.Errorf("validate with an identity not allowed should name the certificate's identity:\n%s", r)
		}
	})

	t.Run("publish", func(t *testing.T) {
		t.Parallel()
		ref := f.Host + "/cli/images:main"
		r := mustRun(t, 0, env, "publish", good, ref, "--pin-images", "--image-key", f.Pub, "--key", key)
		if !strings.Contains(r.stdout, f.Host+"/cli/images@sha256:") {
			t.Errorf("publish printed %s", r)
		}
		v := mustRun(t, 0, env, "verify", ref, "--key", pub, "--attestation", "vsa")
		if !strings.Contains(v.stdout, "PASSED: 2 image(s) verified at 2025-12-01T00:00:00Z (0 skipped by rule), policy sha256:") {
			t.Errorf("verify --attestation vsa printed:\n%s", v)
		}
		refused := f.Host + "/cli/refused:main"
		r = mustRun(t, 1, env, "publish", bad, refused, "--image-key", f.Pub, "--key", key)
		if !strings.Contains(r.stderr, "is unsigned") {
			t.Errorf("publish of unsigned images:\n%s", r)
		}
		if v := run(t, env, "", "verify", refused, "--key", pub); v.code != 3 && v.code != 1 || !strings.Contains(v.stderr, "not found") {
			t.Errorf("the refused publish left a tag: %s", v)
		}
	})

	t.Run("the publish password stays with the publish registry", func(t *testing.T) {
		t.Parallel()
		plant("s3cret-publish-pass")
		target := testregistry.Start(t, testregistry.WithBasicAuth("ci", "s3cret-publish-pass"))
		// The private repository answers 401 with a Basic challenge: a client holding the publish password for every
		// registry would answer it with that password.
		tree := writeTree(t, map[string]string{"web.yaml": deployment("web", f.ProxyRef(testimages.KeyLegacy)), "db.yaml": deployment("db", f.ProxyRef(testimages.Private))})
		r := run(t, env, "s3cret-publish-pass\n", "publish", tree, target.Host+"/cli/auth:main", "--username", "ci", "--password-stdin",
			"--pin-images", "--image-key", f.Pub)
		if r.code != 1 || !strings.Contains(r.stderr, "db.yaml:9: error: Deployment.apps/default/db: image") || !strings.Contains(r.stderr, "unauthorized") {
			t.Fatalf("publish with an image the registry refuses: %s", r)
		}
		if seen := f.Authorizations(); len(seen) > 0 {
			t.Errorf("the image registry was sent credentials: %q", seen)
		}
	})

	t.Run("action", func(t *testing.T) {
		t.Parallel()
		r := mustRun(t, 1, map[string]string{"INPUT_PATH": bad, "INPUT_IMAGE-KEY": f.Pub, "GITHUB_WORKSPACE": bad, "HOME": env["HOME"]}, "action")
		for _, want := range []string{"::error file=report.yaml,line=12,title=statepack%3A image/unverified::CronJob.batch/default/report: image",
			"::error file=other.yaml,line=9,title=statepack%3A image/unverified::"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("action output lacks %q:\n%s", want, r)
			}
		}
		mustRun(t, 2, map[string]string{"INPUT_PATH": good, "INPUT_VERIFY-IMAGES": "true"}, "action")
		config := filepath.Join(writeTree(t, map[string]string{"statepack.yaml": "apiVersion: statepack.dev/v1alpha1\nkind: Config\nimages: {pin: true}\ntargets:\n- {name: a, path: ., ref: " + f.Host + "/fleet/x:main}\n"}), "statepack.yaml")
		if r := mustRun(t, 2, map[string]string{"INPUT_CONFIG": config}, "action"); !strings.Contains(r.stdout+r.stderr, "has an images section, which the action does not apply to a config yet") {
			t.Errorf("action with a config asking for images:\n%s", r)
		}
	})

	t.Run("fleet resolves a shared image once", func(t *testing.T) {
		t.Parallel()
		shared := f.ProxyRef(testimages.SBOM)
		dir := writeTree(t, map[string]string{
			"keys/images.pub": readFile(t, f.Pub),
			"a/app.yaml":      deployment("a", shared),
			"b/app.yaml":      deployment("b", shared),
			"c/app.yaml":      cronJob("c", shared),
			"statepack.yaml": "apiVersion: statepack.dev/v1alpha1\nkind: Config\nimages:\n  rules:\n  - image: \"" + f.ProxyHost + "/*\"\n    keys: [keys/images.pub]\n    attestations: [spdx]\n" +
				"targets:\n- {name: a, path: a, ref: " + f.Host + "/fleet/a:main}\n- {name: b, path: b, ref: " + f.Host + "/fleet/b:main}\n- {name: c, path: c, ref: " + f.Host + "/fleet/c:main}\n",
		})
		config := filepath.Join(dir, "statepack.yaml")
		before := f.ManifestRequests(testimages.SBOM)
		mustRun(t, 0, env, "validate", "--config", config, "--target", "a")
		one := f.ManifestRequests(testimages.SBOM) - before
		mustRun(t, 0, env, "validate", "--config", config)
		if all := f.ManifestRequests(testimages.SBOM) - before - one; all != one || one == 0 {
			t.Errorf("manifest requests: %d for one target, %d for three sharing its image; want the same", one, all)
		}
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
