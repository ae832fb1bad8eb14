package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// TestAttestationsEndToEnd publishes a signed artifact from a simulated GitHub Actions run and checks what its
// attestations say through statepack verify: provenance naming the source commit, the workflow and the run, an
// inventory of the objects and images, and nothing secret.
func TestAttestationsEndToEnd(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	plant("correct horse", "ghp_SECRETTOKEN", "ghs_RUNTOKEN", "eyJ-request-token")
	key, pub := keyPair(t, "correct horse")
	repoDir, commit := gitRepo(t, "../../testdata/demo", "https://ci-bot:ghp_SECRETTOKEN@github.com/example/gitops.git")
	path := filepath.Join(repoDir, "production")
	ref := reg.Host + "/team/attested"
	env := map[string]string{
		"COSIGN_PASSWORD":                "correct horse",
		"GITHUB_ACTIONS":                 "true",
		"GITHUB_SERVER_URL":              "https://github.com",
		"GITHUB_REPOSITORY":              "example/gitops",
		"GITHUB_RUN_ID":                  "4242",
		"GITHUB_RUN_ATTEMPT":             "2",
		"GITHUB_WORKFLOW_REF":            "example/gitops/.github/workflows/publish.yml@refs/heads/main",
		"GITHUB_EVENT_NAME":              "push",
		"GITHUB_SHA":                     commit,
		"GITHUB_REF":                     "refs/heads/main",
		"RUNNER_ENVIRONMENT":             "github-hosted",
		"GITHUB_TOKEN":                   "ghs_RUNTOKEN",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "eyJ-request-token",
	}

	r := mustRun(t, 0, env, "publish", path, ref+":v1", "--key", key, "-o", "json")
	var pr publishResult
	if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil {
		t.Fatal(err)
	}
	if want := []string{sign.PredicateSLSAProvenanceV1, sign.PredicateInventoryV1}; !slices.Equal(pr.Attestations, want) {
		t.Errorf("publish attestations = %v, want %v", pr.Attestations, want)
	}

	v := mustRun(t, 0, nil, "verify", ref+":v1", "--key", pub, "--attestation", "slsa", "--attestation", "inventory", "-o", "json")
	var vr struct {
		Verified     bool
		Attestations []attestationSummary
	}
	if err := json.Unmarshal([]byte(v.stdout), &vr); err != nil {
		t.Fatal(err)
	}
	if !vr.Verified || len(vr.Attestations) != 2 {
		t.Fatalf("verify -o json = %s; want verified with 2 attestations", v.stdout)
	}
	var prov slsa1.ProvenancePredicate
	if err := json.Unmarshal(vr.Attestations[0].Predicate, &prov); err != nil {
		t.Fatal(err)
	}
	if got, want := prov.RunDetails.Builder.ID, "https://github.com/actions/runner/github-hosted"; got != want {
		t.Errorf("builder id = %q, want %q", got, want)
	}
	if got, want := prov.RunDetails.BuildMetadata.InvocationID, "https://github.com/example/gitops/actions/runs/4242/attempts/2"; got != want {
		t.Errorf("invocation id = %q, want %q", got, want)
	}
	if got := prov.RunDetails.Builder.Version["statepack"]; got != "test" {
		t.Errorf("builder version = %q, want the statepack version", got)
	}
	wantDep := slsa1.ResourceDescriptor{URI: "git+https://github.com/example/gitops@refs/heads/main", Digest: map[string]string{"gitCommit": commit}}
	if deps := prov.BuildDefinition.ResolvedDependencies; len(deps) != 1 || deps[0].URI != wantDep.URI || deps[0].Digest["gitCommit"] != commit {
		t.Errorf("resolved dependencies = %+v, want [%+v]", deps, wantDep)
	}
	params, _ := json.Marshal(prov.BuildDefinition.ExternalParameters)
	for _, want := range []string{`"path":"production"`, `"repository":"` + ref + `"`, `"tags":["v1"]`,
		`"workflow":{"path":".github/workflows/publish.yml","ref":"refs/heads/main","repository":"https://github.com/example/gitops"}`} {
		if !strings.Contains(string(params), want) {
			t.Errorf("externalParameters %s lack %s", params, want)
		}
	}
	if vr.Attestations[0].SignedBy != "key 0" || !strings.Contains(vr.Attestations[0].Summary, "commit "+commit) {
		t.Errorf("provenance summary = %+v", vr.Attestations[0])
	}

	var inv build.Inventory
	if err := json.Unmarshal(vr.Attestations[1].Predicate, &inv); err != nil {
		t.Fatal(err)
	}
	if len(inv.Objects) != pr.Objects || len(inv.Images) == 0 || !strings.Contains(inv.Images[0].Reference, "podinfo") {
		t.Errorf("inventory = %d objects (publish made %d), images %+v", len(inv.Objects), pr.Objects, inv.Images)
	}

	text := mustRun(t, 0, nil, "verify", ref+":v1", "--key", pub, "--attestation", "inventory")
	if !strings.Contains(text.stdout, "attestation "+sign.PredicateInventoryV1+" verified (key 0): ") ||
		!strings.Contains(text.stdout, "1 Deployment") {
		t.Errorf("verify --attestation inventory printed %q", text.stdout)
	}

	// Publishing again from the same run writes no second copy of the same statements.
	mustRun(t, 0, env, "publish", path, ref+":v1", "--key", key)
	again := mustRun(t, 0, nil, "verify", ref+":v1", "--key", pub, "--attestation", "slsa", "-o", "json")
	if n := strings.Count(again.stdout, `"predicateType"`); n != 1 {
		t.Errorf("after a second identical publish, verify lists %d provenance attestations, want 1", n)
	}
}

func TestAttestationsOffAndRefusals(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	ref := reg.Host + "/team/unattested"

	r := mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":v1", "--key", key, "--attest=false", "-o", "json")
	if !strings.Contains(r.stdout, `"attestations": []`) {
		t.Errorf("publish --attest=false -o json = %s, want an empty attestation list", r.stdout)
	}
	mustRun(t, 0, nil, "verify", ref+":v1", "--key", pub)
	v := mustRun(t, 1, nil, "verify", ref+":v1", "--key", pub, "--attestation", "slsa")
	if !strings.Contains(v.stderr, "no attestation") || !strings.Contains(v.stderr, "was it published with attestations on?") {
		t.Errorf("verify --attestation slsa of an unattested artifact: %s", v)
	}
	// pull verifies the attestations it is asked for before extracting anything.
	out := filepath.Join(t.TempDir(), "out")
	p := mustRun(t, 1, nil, "pull", ref+":v1", "-o", out, "--key", pub, "--attestation", "slsa")
	if !strings.Contains(p.stderr, "nothing was extracted") {
		t.Errorf("pull of an unattested artifact with --attestation: %s", p)
	}

	// An incremental publish (of the same content) with attestations on does not skip an artifact that lacks them.
	mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":inc", "--key", key, "--attest=false", "--incremental")
	mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":inc", "--key", key, "--incremental")
	mustRun(t, 0, nil, "verify", ref+":inc", "--key", pub, "--attestation", "slsa", "--attestation", "inventory")
	inc := mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":inc", "--key", key, "--incremental", "-o", "json")
	if !strings.Contains(inc.stdout, `"unchanged": true`) || !strings.Contains(inc.stdout, sign.PredicateInventoryV1) {
		t.Errorf("incremental publish of an attested, unchanged artifact = %s; want unchanged with its attestations", inc.stdout)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", "../../testdata/plain", ref + ":x", "--attest"}, "--attest needs --key or --keyless"},
		{[]string{"verify", ref + ":v1", "--attestation", "slsa"}, "verify needs --key"},
		{[]string{"verify", ref + ":v1", "--key", pub, "--attestation", "sbom"}, `--attestation "sbom": use slsa, inventory, vsa, or a predicate type URI`},
		{[]string{"pull", ref + ":v1", "-o", t.TempDir(), "--attestation", "slsa"}, "--attestation needs --key"},
	} {
		r := mustRun(t, 2, nil, tc.args...)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("statepack %s: stderr %q, want %q", strings.Join(tc.args, " "), r.stderr, tc.want)
		}
	}
}

// TestSignatureFormats publishes in each signature format to the real registry (no referrers API: the referrers tag
// lists the bundles) and checks what lands there, that verify and pull accept it, and that copy carries it over.
func TestSignatureFormats(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	for _, tc := range []struct {
		format   string
		wantTags []string // besides v1, with <hex> for the digest
	}{
		{"legacy", []string{"sha256-<hex>.att", "sha256-<hex>.sig"}},
		{"bundle", []string{"sha256-<hex>"}},
		{"both", []string{"sha256-<hex>", "sha256-<hex>.att", "sha256-<hex>.sig"}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			repo := "formats/" + tc.format
			ref := reg.Host + "/" + repo
			r := mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":v1", "--key", key, "--signature-format", tc.format)
			digest := strings.TrimSpace(r.stdout[strings.Index(r.stdout, "@")+1:])
			hex := strings.TrimPrefix(digest, "sha256:")
			var want []string
			for _, tag := range tc.wantTags {
				want = append(want, strings.ReplaceAll(tag, "<hex>", hex))
			}
			want = append(want, "v1")
			if got := testregistry.Tags(t, reg.Host, repo); !slices.Equal(got, want) {
				t.Errorf("tags = %q, want %q", got, want)
			}
			v := mustRun(t, 0, nil, "verify", ref+":v1", "--key", pub, "--attestation", "slsa", "--attestation", "inventory")
			if bundle := strings.Contains(v.stdout, "signature verified (sigstore bundle)"); bundle != (tc.format != "legacy") {
				t.Errorf("verify printed %q; want the bundle format named exactly when bundles exist", v.stdout)
			}
			wantFormats := map[string][]string{"legacy": {"legacy"}, "bundle": {"bundle"}, "both": {"bundle", "legacy"}}[tc.format]
			got := verifiedFormats(t, ref+":v1", pub)
			if !slices.Equal(got.signatures, wantFormats) || !slices.Equal(got.attestations, wantFormats) {
				t.Errorf("formats verified = %+v, want %v for signatures and attestations", got, wantFormats)
			}
			mustRun(t, 0, nil, "pull", ref+":v1", "-o", filepath.Join(t.TempDir(), "out"), "--key", pub, "--attestation", "slsa")
			// Promotion carries the bundles (referrers) along with the legacy tags.
			mustRun(t, 0, nil, "copy", ref+":v1", reg.Host+"/promoted/"+tc.format, "--key", pub)
			mustRun(t, 0, nil, "verify", reg.Host+"/promoted/"+tc.format+":v1", "--key", pub, "--attestation", "slsa", "--attestation", "inventory")
		})
	}
	r := mustRun(t, 2, nil, "publish", "../../testdata/plain", reg.Host+"/formats/bad:v1", "--key", key, "--signature-format", "cbor")
	if !strings.Contains(r.stderr, `--signature-format "cbor": use legacy, bundle or both`) {
		t.Errorf("unknown format: %s", r)
	}
}

// TestFleetAttestations: fleet targets that sign attest too, in the format their sign section names, unless it
// says attest: false.
func TestFleetAttestations(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	cfg := writeFleet(t, reg.Host, "- {name: quiet, path: plain, ref: "+reg.Host+"/fleet/quiet:v1, sign: {key: "+key+", attest: false}}\n")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "  tags: [main]\n", "  tags: [main]\n  sign: {key: "+key+", format: both}\n", 1))
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, nil, "publish", "--config", cfg, "--root", filepath.Dir(cfg))
	v := mustRun(t, 0, nil, "verify", reg.Host+"/fleet/plain:v1", "--key", pub, "--attestation", "slsa", "--attestation", "inventory", "-o", "json")
	var vr struct{ Attestations []attestationSummary }
	if err := json.Unmarshal([]byte(v.stdout), &vr); err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, a := range vr.Attestations {
		formats = append(formats, a.Format)
	}
	if want := []string{"bundle", "legacy", "bundle", "legacy"}; !slices.Equal(formats, want) {
		t.Errorf("attestation formats of a format: both target = %v, want %v", formats, want)
	}
	q := mustRun(t, 1, nil, "verify", reg.Host+"/fleet/quiet:v1", "--key", pub, "--attestation", "slsa")
	if !strings.Contains(q.stderr, "no attestation") {
		t.Errorf("a target with attest: false has attestations: %s", q)
	}
}

// TestIncrementalHonoursTheSignatureFormat: an unchanged artifact is skipped only when its signature and
// attestations are there in the format asked for; otherwise it is published (signed) again in that format.
func TestIncrementalHonoursTheSignatureFormat(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	ref := reg.Host + "/incremental/formats:v1"
	mustRun(t, 0, nil, "publish", "../../testdata/plain", ref, "--key", key, "--incremental")
	r := mustRun(t, 0, nil, "publish", "../../testdata/plain", ref, "--key", key, "--incremental", "--signature-format", "bundle", "-o", "json")
	if strings.Contains(r.stdout, `"unchanged": true`) {
		t.Errorf("an incremental publish asking for bundles skipped an artifact that has only legacy signatures: %s", r.stdout)
	}
	if got := verifiedFormats(t, ref, pub); !slices.Contains(got.signatures, "bundle") || !slices.Contains(got.attestations, "bundle") {
		t.Errorf("after the bundle publish, verify finds formats %+v; want a bundle signature and attestation", got)
	}
	again := mustRun(t, 0, nil, "publish", "../../testdata/plain", ref, "--key", key, "--incremental", "--signature-format", "both", "-o", "json")
	if !strings.Contains(again.stdout, `"unchanged": true`) {
		t.Errorf("with both formats there, an incremental publish asking for both did not skip: %s", again.stdout)
	}
}

type formats struct{ signatures, attestations []string }

// verifiedFormats runs verify -o json with the slsa attestation and returns the formats of what verified.
func verifiedFormats(t *testing.T, ref, pub string) formats {
	t.Helper()
	v := mustRun(t, 0, nil, "verify", ref, "--key", pub, "--attestation", "slsa", "-o", "json")
	var out struct {
		Signatures   []signatureSummary
		Attestations []attestationSummary
	}
	if err := json.Unmarshal([]byte(v.stdout), &out); err != nil {
		t.Fatalf("verify -o json printed %q: %v", v.stdout, err)
	}
	var f formats
	for _, s := range out.Signatures {
		if s.SignedBy != "key 0" || s.Image == "" {
			t.Errorf("verify -o json signature = %+v, want signedBy key 0 and the image", s)
		}
		f.signatures = append(f.signatures, s.Format)
	}
	for _, a := range out.Attestations {
		f.attestations = append(f.attestations, a.Format)
	}
	return f
}
