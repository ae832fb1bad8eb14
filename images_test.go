package statepack

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/images"
	"github.com/statepack/statepack/internal/testimages"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

func TestParseImagePattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		image   string
		match   bool
		err     string
	}{
		{pattern: "*", image: "nginx:1", match: true},
		{pattern: "ghcr.io/acme/*", image: "ghcr.io/acme/web:1", match: true},
		{pattern: "ghcr.io/acme/*", image: "ghcr.io/acme/team/web@sha256:1111111111111111111111111111111111111111111111111111111111111111", match: true},
		{pattern: "ghcr.io/acme/*", image: "ghcr.io/other/web:1"},
		{pattern: "docker.io/library/nginx", image: "nginx:1.27", match: true},
		{pattern: "docker.io/library/nginx:1.2?", image: "nginx:1.27", match: true},
		{pattern: "docker.io/library/nginx:1.2?", image: "nginx:1.3"},
		{pattern: "ghcr.io/acme/web", image: "ghcr.io/acme/webhook:1"},
		{pattern: "", err: "the image pattern is empty"},
		{pattern: "GHCR.io/acme/*", err: `holds "GHCR"`},
		{pattern: "ghcr.io/(acme|x)/*", err: `holds "(|)"`},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.image, func(t *testing.T) {
			p, err := ParseImagePattern(tc.pattern)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseImagePattern(%q) = %v, want %q", tc.pattern, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ref, err := images.ParseRef(tc.image)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.matches(ref); got != tc.match {
				t.Errorf("pattern %q matches %q = %v, want %v", tc.pattern, tc.image, got, tc.match)
			}
		})
	}
}

func FuzzImagePattern(f *testing.F) {
	for _, s := range []string{"*", "ghcr.io/acme/*", "docker.io/library/nginx:1.2?", "a[b]", "x@sha256:*", "(", "Ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseImagePattern(s)
		if err != nil {
			return
		}
		// A pattern without wildcards that names a repository matches that repository.
		if strings.ContainsAny(s, "*?") {
			return
		}
		if ref, err := images.ParseRef(s); err == nil && ref.Name == s && !p.matches(ref) {
			t.Fatalf("pattern %q does not match the repository it names", s)
		}
	})
}

func TestImagePolicyCompile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pub := keyPair(t)
	data, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "other-name.pub")
	if err := os.WriteFile(elsewhere, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rules []ImageRule
		err   string
	}{
		{name: "no rules", err: "the image policy has no rules"},
		{name: "no signer", rules: []ImageRule{{Image: "*"}}, err: "image rule 1 (*): name keys or identities"},
		{name: "skip without reason", rules: []ImageRule{{Image: "*", Skip: &ImageSkip{}}}, err: "skip needs a reason"},
		{name: "skip with keys", rules: []ImageRule{{Image: "*", Keys: []string{pub}, Skip: &ImageSkip{Reason: "x"}}}, err: "names no keys"},
		{name: "format", rules: []ImageRule{{Image: "*", Keys: []string{pub}, SignatureFormat: "both"}}, err: `signatureFormat "both": use legacy, bundle or any`},
		{name: "identity without issuer", rules: []ImageRule{{Image: "*", Identities: []ImageIdentity{{Identity: "a@b"}}}}, err: "needs an identity and an issuer"},
		{name: "attestation name", rules: []ImageRule{{Image: "*", Keys: []string{pub}, Attestations: []string{"sbom"}}}, err: `attestation "sbom": use slsa, spdx, cyclonedx`},
		{name: "missing key", rules: []ImageRule{{Image: "a", Skip: &ImageSkip{Reason: "x"}}, {Image: "*", Keys: []string{"/nonexistent.pub"}}}, err: "image rule 2 (*)"},
		{name: "bad pattern", rules: []ImageRule{{Image: "A", Keys: []string{pub}}}, err: "image rule 1 (A)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := (&ImagePolicy{Rules: tc.rules}).compile(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalidOption) {
				t.Errorf("compile = %v, want an ErrInvalidOption containing %q", err, tc.err)
			}
		})
	}
	digest := func(rules ...ImageRule) string {
		_, d, err := (&ImagePolicy{Rules: rules}).compile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := digest(ImageRule{Image: "*", Keys: []string{pub}, Attestations: []string{"spdx"}})
	if b := digest(ImageRule{Image: "*", Keys: []string{elsewhere}, Attestations: []string{"https://spdx.dev/Document"}}); a != b {
		t.Errorf("policy digest depends on the key's file name or the attestation's spelling: %s != %s", a, b)
	}
	if c := digest(ImageRule{Image: "*", Keys: []string{pub}}); c == a {
		t.Errorf("policy digest ignores the required attestations")
	}
}

// imageTree writes a tree whose objects deploy images through a Deployment, a CronJob, a StatefulSet and a custom
// resource embedding a pod spec; images maps each kind to its image.
func imageTree(t *testing.T, deploy, cron, sts, cr string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"deploy.yaml":  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: \"" + deploy + "\"}]\n",
		"cron.yaml":    "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: report, namespace: default}\nspec:\n  schedule: \"0 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{name: report, image: \"" + cron + "\"}]\n",
		"sts.yaml":     "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: default}\nspec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      initContainers: [{name: init, image: \"" + sts + "\"}]\n      containers: [{name: db, image: \"" + sts + "\"}]\n",
		"rollout.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: canary, namespace: default}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: \"" + cr + "\"}]\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPublishImages publishes trees through the pin stage against the fixture's real registry: images resolved,
// pinned and verified by rule, the verification summary attested so that cosign's own library accepts it, a re-run
// that writes nothing new, and refusals that push nothing.
func TestPublishImages(t *testing.T) {
	t.Parallel()
	f := testimages.Start(t)
	policy := func() *ImagePolicy {
		return &ImagePolicy{Rules: []ImageRule{
			{Image: f.Host + "/" + testimages.SBOM, Keys: []string{f.Pub}, Attestations: []string{"spdx"}},
			{Image: f.Host + "/" + testimages.Keyless, Identities: []ImageIdentity{{Identity: f.Identity, Issuer: f.Issuer}}},
			{Image: f.Host + "/" + testimages.Unsigned + ":*", Skip: &ImageSkip{Reason: "vendor image, scanned separately"}},
			{Image: "*", Keys: []string{f.Pub}},
		}, FulcioRoots: f.Sigstore.RootPEM(), IgnoreTlog: true, IgnoreSCT: true}
	}
	key, pub := keyPair(t)
	signer, err := sign.LoadSigner(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	bc := BuildContext{Version: "test", SourceDateEpoch: &epoch}

	t.Run("pinned, verified, summarised", func(t *testing.T) {
		t.Parallel()
		tree := imageTree(t, f.Ref(testimages.KeyLegacy), f.Ref(testimages.SBOM), f.Ref(testimages.Index), f.Ref(testimages.Keyless))
		ref := mustRef(t, f.Host+"/fleet/images:main")
		opts := PublishOptions{Load: LoadOptions{Root: tree}, Signer: signer, Attest: true, Context: bc,
			Images: ImageOptions{Pin: true, Policy: policy()}}
		res, err := Publish(t.Context(), tree, ref, opts)
		if err != nil {
			t.Fatalf("Publish: %v (findings %v)", err, res.Findings)
		}
		if res.Images == nil || len(res.Images.Images) != 4 {
			t.Fatalf("images = %+v, want 4", res.Images)
		}
		for _, img := range res.Images.Images {
			name := strings.TrimSuffix(strings.TrimPrefix(img.Reference, f.Host+"/"), ":1")
			if img.Digest != f.Digests[name] || img.Pinned != img.Reference+"@"+img.Digest || len(img.Verified) == 0 || img.Error != "" {
				t.Errorf("image %s = %+v, want it pinned to %s and verified", img.Reference, img, f.Digests[name])
			}
		}
		if !slices.Contains(res.Attestations, PredicateVSA) {
			t.Errorf("attestations = %v, want the verification summary", res.Attestations)
		}
		// The artifact names every image by digest, the tag kept.
		tg, err := publish.Open(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := tg.Resolve(t.Context(), "main")
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := tg.FetchManifest(t.Context(), desc)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := tg.FetchBlob(t.Context(), m.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		files, err := publish.ReadArchive(rc, publish.Limits{})
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, file := range files {
			all.Write(file.Data)
		}
		for _, img := range res.Images.Images {
			if !strings.Contains(all.String(), "image: "+img.Pinned+"\n") {
				t.Errorf("the artifact does not name %s", img.Pinned)
			}
		}
		// cosign's own library accepts the summary, as `cosign verify-attestation --type
		// https://slsa.dev/verification_summary/v1 --key cosign.pub --insecure-ignore-tlog` would.
		vsa := cosignVSA(t, ref.WithDigest(desc.Digest.String()), pub)
		if vsa.VerificationResult != "PASSED" || vsa.TimeVerified != "2026-12-01T00:00:00Z" || vsa.ResourceURI != "oci://"+ref.WithDigest(desc.Digest.String()) ||
			vsa.Policy.Digest["sha256"] == "" || len(vsa.Images) != 4 || len(vsa.InputAttestations) < 4 || !slices.Contains(vsa.VerifiedLevels, VSALevelPinned) {
			t.Errorf("verification summary = %+v", vsa)
		}
		// The inventory names each image with its digest.
		keys, _ := sign.LoadVerifiers(t.Context(), pub)
		inv, err := sign.VerifyAttestations(t.Context(), tg.Storage(), desc, keys, []string{sign.PredicateInventoryV1})
		if err != nil {
			t.Fatal(err)
		}
		var inventory build.Inventory
		if err := json.Unmarshal(inv.Verified[0].Statement.Predicate, &inventory); err != nil {
			t.Fatal(err)
		}
		for _, img := range inventory.Images {
			if img.Digest == "" {
				t.Errorf("inventory image %s has no digest", img.Reference)
			}
		}
		// Publishing again writes nothing new: the same artifact, the same attestations.
		att, err := tg.Resolve(t.Context(), sign.AttestationTag(desc.Digest))
		if err != nil {
			t.Fatal(err)
		}
		again, err := Publish(t.Context(), tree, ref, opts)
		if err != nil || again.Digest != res.Digest {
			t.Fatalf("second Publish = %s, %v; want %s", again.Digest, err, res.Digest)
		}
		if att2, err := tg.Resolve(t.Context(), sign.AttestationTag(desc.Digest)); err != nil || att2.Digest != att.Digest {
			t.Errorf("a re-run rewrote the attestations: %s → %s (%v)", att.Digest, att2.Digest, err)
		}
	})

	t.Run("skipped by rule, resolved without pinning", func(t *testing.T) {
		t.Parallel()
		tree := imageTree(t, f.Ref(testimages.Unsigned), f.Ref(testimages.KeyBundle), f.Ref(testimages.KeyLegacy), f.Ref(testimages.KeyLegacy))
		src, err := Load(t.Context(), tree, LoadOptions{Root: tree})
		if err != nil {
			t.Fatal(err)
		}
		report, err := CheckImages(t.Context(), src, ImageOptions{Policy: policy()})
		if err != nil || len(report.Findings) > 0 {
			t.Fatalf("CheckImages = %v, %v", report.Findings, err)
		}
		if i := slices.IndexFunc(report.Images, func(r ImageResult) bool { return r.Reference == f.Ref(testimages.Unsigned) }); i < 0 ||
			report.Images[i].Skipped != "vendor image, scanned separately" {
			t.Errorf("unsigned image under a skip rule = %+v", report.Images)
		}
	})

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		tree := imageTree(t, f.Ref(testimages.OtherKey), f.Ref(testimages.KeyLegacy), f.Host+"/"+testimages.KeyLegacy+":2", f.ProxyRef(testimages.Private))
		if err := os.WriteFile(filepath.Join(tree, "pod.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers:\n  - name: a\n    image: "+f.Ref(testimages.KeyBundle)+"\n  - name: b\n    image: "+f.Host+"/"+testimages.Unsigned+":1@"+f.Digests[testimages.Unsigned]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := policy()
		p.Rules = []ImageRule{
			{Image: f.Host + "/" + testimages.KeyLegacy + ":1", Keys: []string{f.Pub}, Attestations: []string{"spdx"}},
			{Image: f.Host + "/" + testimages.KeyBundle, Identities: []ImageIdentity{{Identity: "someone@example.com", Issuer: f.Issuer}}},
			{Image: "*", Keys: []string{f.Pub}},
		}
		ref := mustRef(t, f.Host+"/fleet/refused:main")
		res, err := Publish(t.Context(), tree, ref, PublishOptions{Load: LoadOptions{Root: tree}, Signer: signer, Attest: true, Context: bc,
			Images: ImageOptions{Pin: true, Policy: p}})
		// Each finding is placed on the line that names the image, as a pull request's annotation should be.
		var fe *build.FindingsError
		if !errors.As(err, &fe) {
			t.Fatalf("Publish = %v, want findings", err)
		}
		want := map[string]string{
			"deploy.yaml:9":  `Deployment.apps/default/web: image "` + f.Ref(testimages.OtherKey) + `" (spec.template.spec.containers[0].image): is not signed by a trusted key or identity (rule "*")`,
			"cron.yaml:11":   `CronJob.batch/default/report: image "` + f.Ref(testimages.KeyLegacy) + `" (spec.jobTemplate.spec.template.spec.containers[0].image): ` + f.Digests[testimages.KeyLegacy] + ` is missing a required attestation`,
			"sts.yaml:10":    `StatefulSet.apps/default/db: image "` + f.Host + "/" + testimages.KeyLegacy + `:2" (spec.template.spec.containers[0].image): does not resolve: resolving 2 in ` + f.Host + "/" + testimages.KeyLegacy + `: not found: push the image`,
			"rollout.yaml:7": `Rollout.argoproj.io/default/canary: image "` + f.ProxyRef(testimages.Private) + `" (spec.template.spec.containers[0].image): does not resolve:`,
			"pod.yaml:7":     `Pod/default/p: image "` + f.Ref(testimages.KeyBundle) + `" (spec.containers[0].image): is not signed by a trusted key or identity (rule "` + f.Host + "/" + testimages.KeyBundle + `")`,
		}
		got := map[string][]string{}
		for _, fd := range fe.Findings {
			if fd.Severity == build.SeverityError {
				got[fd.File+":"+strconv.Itoa(fd.Line)] = append(got[fd.File+":"+strconv.Itoa(fd.Line)], fd.String())
			}
		}
		for pos, msg := range want {
			if !slices.ContainsFunc(got[pos], func(s string) bool { return strings.Contains(s, msg) }) {
				t.Errorf("findings at %s = %q, want one containing %q", pos, got[pos], msg)
			}
		}
		if !slices.ContainsFunc(got["pod.yaml:9"], func(s string) bool { return strings.Contains(s, "is unsigned: no cosign signature") }) {
			t.Errorf("findings at pod.yaml:9 = %q, want the unsigned image", got["pod.yaml:9"])
		}
		if !slices.ContainsFunc(got["rollout.yaml:7"], func(s string) bool { return strings.Contains(s, "unauthorized") && strings.Contains(s, "docker login") }) {
			t.Errorf("findings at rollout.yaml:7 = %q, want the registry's refusal", got["rollout.yaml:7"])
		}
		if n := len(got["sts.yaml:10"]); n != 2 {
			t.Errorf("findings at sts.yaml:10 = %q, want one for each container naming the missing tag", got["sts.yaml:10"])
		}
		if res.Digest != "" {
			t.Errorf("Publish with findings pushed %s", res.Digest)
		}
		tg, _ := publish.Open(t.Context(), ref)
		if _, err := tg.Resolve(t.Context(), "main"); !errors.Is(err, publish.ErrNotFound) {
			t.Errorf("the tag exists after a refused publish: %v", err)
		}
	})
}

// cosignVSA verifies the artifact's verification summary with cosign's library, as `cosign verify-attestation
// --type https://slsa.dev/verification_summary/v1 --key pub --insecure-ignore-tlog` does, and returns its predicate.
func cosignVSA(t *testing.T, ref, pub string) VSA {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	verifiers, err := sign.LoadVerifiers(t.Context(), pub)
	if err != nil {
		t.Fatal(err)
	}
	atts, _, err := cosign.VerifyImageAttestations(t.Context(), r, &cosign.CheckOpts{
		SigVerifier: verifiers[0], IgnoreTlog: true, ClaimVerifier: cosign.IntotoSubjectClaimVerifier})
	if err != nil {
		t.Fatalf("cosign.VerifyImageAttestations: %v", err)
	}
	for _, att := range atts {
		payload, err := att.Payload()
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Payload []byte }
		if err := json.Unmarshal(payload, &env); err != nil {
			t.Fatal(err)
		}
		var stmt struct {
			PredicateType string `json:"predicateType"`
			Predicate     VSA    `json:"predicate"`
		}
		if err := json.Unmarshal(env.Payload, &stmt); err != nil {
			t.Fatal(err)
		}
		if stmt.PredicateType == PredicateVSA {
			return stmt.Predicate
		}
	}
	t.Fatalf("cosign verified %d attestations of %s, none a verification summary", len(atts), ref)
	return VSA{}
}
