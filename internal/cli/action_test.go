package cli

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

// runner is a simulated GitHub Actions runner: the files and variables a Docker action step gets.
type runner struct {
	env                   map[string]string
	outputFile, summaryMD string
	workspace             string
}

func newRunner(t *testing.T, workspace string) *runner {
	t.Helper()
	dir := t.TempDir()
	r := &runner{outputFile: filepath.Join(dir, "set_output"), summaryMD: filepath.Join(dir, "step_summary"), workspace: workspace}
	r.env = map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       r.outputFile,
		"GITHUB_STEP_SUMMARY": r.summaryMD,
		"GITHUB_WORKSPACE":    workspace,
		"GITHUB_REPOSITORY":   "acme/fleet",
		"GITHUB_ACTOR":        "octocat",
		"GITHUB_REF":          "refs/heads/main",
		"GITHUB_REF_NAME":     "main",
		"GITHUB_SHA":          "0000000000000000000000000000000000000000",
		"GITHUB_EVENT_NAME":   "push",
		"RUNNER_OS":           "Linux",
	}
	for _, f := range []string{r.outputFile, r.summaryMD} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// actionRun is what one step produced.
type actionResult struct {
	result
	outputs map[string]string
	rawOut  string
	summary string
}

// run runs `statepack action` with the inputs as INPUT_<NAME> variables (upper-cased, hyphens kept). Each run is a
// step of its own: it starts with empty GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, as the runner gives every step.
func (r *runner) run(t *testing.T, inputs map[string]string) actionResult {
	t.Helper()
	for _, f := range []string{r.outputFile, r.summaryMD} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := maps.Clone(r.env)
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	res := actionResult{result: run(t, env, "", "action")}
	raw, _ := os.ReadFile(r.outputFile)
	summary, _ := os.ReadFile(r.summaryMD)
	res.rawOut, res.summary = string(raw), string(summary)
	res.outputs = parseOutputs(t, res.rawOut)
	return res
}

func (r actionResult) String() string {
	return r.result.String() + "\nGITHUB_OUTPUT:\n" + r.rawOut + "\nGITHUB_STEP_SUMMARY:\n" + r.summary
}

// parseOutputs reads GITHUB_OUTPUT's "name<<DELIMITER\nvalue\nDELIMITER" records, as the runner does.
func parseOutputs(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q is not name<<DELIMITER", lines[i])
		}
		var value []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			value = append(value, lines[i])
		}
		out[name] = strings.Join(value, "\n")
	}
	return out
}

// assertNoSecret fails when a secret shows anywhere a user could read it. The only place it may appear is the
// ::add-mask:: command, which the runner consumes and never shows.
func assertNoSecret(t *testing.T, r actionResult, secrets ...string) {
	t.Helper()
	var stdout []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			stdout = append(stdout, line)
		}
	}
	for _, secret := range secrets {
		for name, text := range map[string]string{"stdout": strings.Join(stdout, "\n"), "stderr": r.stderr,
			"GITHUB_OUTPUT": r.rawOut, "GITHUB_STEP_SUMMARY": r.summary} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q appears unmasked in %s:\n%s", secret, name, text)
			}
		}
	}
}

// assertMasksFirst checks that the masks come before any other line of the step's output.
func assertMasksFirst(t *testing.T, r actionResult, masks ...string) {
	t.Helper()
	lines := strings.Split(r.stdout, "\n")
	if len(lines) < len(masks) {
		t.Fatalf("stdout has %d lines, want the %d masks first:\n%s", len(lines), len(masks), r.stdout)
	}
	for i, m := range masks {
		if lines[i] != "::add-mask::"+m {
			t.Errorf("stdout line %d = %q, want ::add-mask::%s (masks come before anything else)", i+1, lines[i], m)
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q, want nothing: the action logs to stdout, in order with its workflow commands", r.stderr)
	}
}

func TestActionPublishesWithKeyAndCredentials(t *testing.T) {
	t.Parallel()
	const user, password, keyPassword = "ci-bot", "registry-s3cret-Passw0rd", "key-s3cret-Passw0rd"
	reg := testregistry.Start(t, testregistry.WithBasicAuth(user, password))
	key, pub := keyPair(t, keyPassword)
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	repoDir, commit := gitRepo(t, "../../testdata/demo", "https://github.com/acme/fleet.git")
	rn := newRunner(t, repoDir)
	target := reg.Host + "/acme/fleet/production"

	path := filepath.Join(repoDir, "production")
	r := rn.run(t, map[string]string{
		"path":               path,
		"ref":                target + ":main",
		"tags":               "v1.2.3, latest\nlatest",
		"key":                string(keyPEM),
		"key-password":       keyPassword,
		"registry-username":  user,
		"registry-password":  password,
		"kubernetes-version": "v1.33",
		"github-token":       "ghs_workflowTokenNotUsedHere",
	})
	if r.code != 0 {
		t.Fatalf("statepack action: %s", r)
	}

	// Outputs.
	digest := r.outputs["digest"]
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(digest) {
		t.Errorf("output digest = %q, want sha256:<hex>", digest)
	}
	if want := target + "@" + digest; r.outputs["ref"] != want {
		t.Errorf("output ref = %q, want %q", r.outputs["ref"], want)
	}
	if want := "latest,main,v1.2.3"; r.outputs["tags"] != want {
		t.Errorf("output tags = %q, want %q", r.outputs["tags"], want)
	}
	if r.outputs["objects"] != "4" {
		t.Errorf("output objects = %q, want 4", r.outputs["objects"])
	}
	var s actionSummary
	if err := json.Unmarshal([]byte(r.outputs["summary-json"]), &s); err != nil {
		t.Fatalf("output summary-json = %q: %v", r.outputs["summary-json"], err)
	}
	if s.Mode != "publish" || s.Digest != digest || s.Ref != r.outputs["ref"] || s.Signing != "key" || s.Objects != 4 ||
		s.Kinds["Deployment"] != 1 || !slices.Equal(s.Images, []string{"ghcr.io/stefanprodan/podinfo:6.9.2"}) ||
		s.Annotations["org.opencontainers.image.revision"] != "main@sha1:"+commit || s.KubernetesVersion != "1.33" ||
		!slices.Equal(s.Attestations, []string{"https://slsa.dev/provenance/v1", "https://statepack.dev/inventory/v1"}) {
		t.Errorf("summary-json = %+v", s)
	}
	if got := slices.Sorted(maps.Keys(r.outputs)); !slices.Equal(got, slices.Sorted(slices.Values(actionOutputs))) {
		t.Errorf("outputs set = %v, want %v", got, actionOutputs)
	}

	// The job summary a reviewer reads.
	for _, want := range []string{
		"### ✅ statepack published <code>" + target + ":main</code>",
		"| Ref | <code>" + target + "@" + digest + "</code> |",
		"| Digest | <code>" + digest + "</code> |",
		"| Tags | <code>latest</code>, <code>main</code>, <code>v1.2.3</code> |",
		"| Signing | key from the key input |",
		"| Attestations | https://slsa.dev/provenance/v1, https://statepack.dev/inventory/v1 |",
		"| Revision | <code>main@sha1:" + commit + "</code> |",
		"| Deployment | 1 |", "| Namespace | 1 |",
		"#### Images deployed (1)\n\n- <code>ghcr.io/stefanprodan/podinfo:6.9.2</code>",
		"#### Validation: 0 error(s), 0 warning(s)",
	} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, r.summary)
		}
	}

	// Log sections are folded; the result is the last line.
	for _, want := range []string{"::group::statepack test: inputs\n", "::group::Render and validate " + path + "\n",
		"::group::Publish to " + target + ":main\n", "::endgroup::\n", target + "@" + digest + "\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}

	// Secrets: masked first, then never shown.
	keyLines := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")
	assertMasksFirst(t, r, password, keyPassword, "ghs_workflowTokenNotUsedHere")
	assertNoSecret(t, r, password, keyPassword, "ghs_workflowTokenNotUsedHere", keyLines[1], keyLines[len(keyLines)-2])

	// What was pushed is signed with the key and readable with the credentials.
	v := run(t, nil, password+"\n", "verify", r.outputs["ref"], "--key", pub, "--username", user, "--password-stdin")
	if v.code != 0 {
		t.Errorf("verify %s: %s", r.outputs["ref"], v)
	}
}

func TestActionAnnotatesABadTree(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rn := newRunner(t, root)
	const password = "do-not-print-this-9f8e7d"
	r := rn.run(t, map[string]string{"path": "../../testdata/bad/yaml-syntax", "registry-password": password})
	if r.code != ExitFindings {
		t.Fatalf("statepack action on a bad tree: %s\nwant exit %d", r, ExitFindings)
	}
	want := "::error file=testdata/bad/yaml-syntax/deployment.yaml,line=7,title=statepack%3A yaml/syntax::mapping values are not allowed in this context\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("stdout lacks the annotation\n%s\n%s", want, r)
	}
	if r.outputs["objects"] != "0" || r.outputs["digest"] != "" {
		t.Errorf("outputs = %v, want objects 0 and no digest", r.outputs)
	}
	var s actionSummary
	if err := json.Unmarshal([]byte(r.outputs["summary-json"]), &s); err != nil || s.Errors != 1 || len(s.Findings) != 1 ||
		s.Findings[0].Rule != "yaml/syntax" || s.Findings[0].Line != 7 {
		t.Errorf("summary-json = %+v, %v", s, err)
	}
	for _, want := range []string{"### ❌ statepack: validation failed", "#### Validation: 1 error(s), 0 warning(s)",
		"| error | <code>testdata/bad/yaml-syntax/deployment.yaml:7</code> |  | <code>yaml/syntax</code> | mapping values are not allowed in this context |"} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, r.summary)
		}
	}
	if strings.Count(r.stdout, "::error") != 1 {
		t.Errorf("want exactly one error annotation (the finding), got:\n%s", r.stdout)
	}
	assertMasksFirst(t, r, password)
	assertNoSecret(t, r, password)
}

func TestActionValidatesOnlyWithoutRef(t *testing.T) {
	t.Parallel()
	rn := newRunner(t, t.TempDir())
	// An id-token is available, so sign defaults to keyless; without ref nothing is published and that is fine.
	rn.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "https://token.actions.example/"
	rn.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "runtime-token"
	r := rn.run(t, map[string]string{"path": demoTree})
	if r.code != 0 {
		t.Fatalf("statepack action: %s", r)
	}
	if r.outputs["objects"] != "4" || r.outputs["digest"] != "" || r.outputs["ref"] != "" {
		t.Errorf("outputs = %v, want objects 4 and no digest or ref", r.outputs)
	}
	if !strings.Contains(r.summary, "### ✅ statepack validated <code>"+demoTree+"</code>") || strings.Contains(r.summary, "| Signing |") {
		t.Errorf("job summary:\n%s", r.summary)
	}
}

func TestActionWithoutRunnerFiles(t *testing.T) {
	t.Parallel()
	// Outside a runner (or a runner without GITHUB_OUTPUT), go-githubactions would panic; the action prints.
	r := run(t, map[string]string{"INPUT_PATH": demoTree}, "", "action")
	if r.code != 0 {
		t.Fatalf("statepack action without GITHUB_OUTPUT: %s", r)
	}
	for _, want := range []string{"output objects=4\n", "output summary-json={", "### ✅ statepack validated"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r)
		}
	}
}

func TestActionInputErrors(t *testing.T) {
	t.Parallel()
	layout := "oci:" + filepath.Join(t.TempDir(), "layout") + ":main"
	for _, tc := range []struct {
		name   string
		inputs map[string]string
		env    map[string]string
		code   int
		want   string
	}{
		{"config with inputs it replaces", map[string]string{"config": "statepack.yaml", "path": "clusters", "ref": layout, "tags": "v1", "key": "cosign.key"}, nil, ExitUsage,
			"input config (statepack.yaml) does not combine with the input(s) path, ref, tags, key: each target's path, ref, tags and signing key come from the config file: remove path, ref, tags, key from the step"},
		{"config with sign: none", map[string]string{"config": "statepack.yaml", "path": ".", "sign": "none"}, nil, ExitUsage,
			`input sign: "none" does not combine with config: each target signs with the key its config names (sign.key); sign: keyless signs the targets that name none`},
		{"config missing", map[string]string{"config": "no-such-statepack.yaml", "path": "."}, nil, ExitUsage,
			"input config: no-such-statepack.yaml does not exist: give the path of the statepack.yaml relative to the workspace"},
		{"targets without config", map[string]string{"targets": "production"}, nil, ExitUsage, "input targets needs the config input"},
		{"shard without config", map[string]string{"shard": "1/2"}, nil, ExitUsage, "input shard needs the config input"},
		{"bad shard", map[string]string{"config": "statepack.yaml", "path": ".", "shard": "3/2"}, nil, ExitUsage,
			`input shard: "3/2" must be K/N with 1 <= K <= N, e.g. 2/4`},
		{"unknown mode", map[string]string{"mode": "deploy"}, nil, ExitUsage, `input mode: "deploy" is not one of publish, validate`},
		{"publish without ref", map[string]string{"mode": "publish"}, nil, ExitUsage, "input mode: publish needs ref (where to publish) or config"},
		{"keyless without an id-token", map[string]string{"ref": layout, "sign": "keyless"}, nil, ExitUsage,
			"sign: keyless needs GitHub's OIDC token, which this job does not get: grant it with `permissions: id-token: write` on the job"},
		{"unknown sign", map[string]string{"sign": "gpg"}, nil, ExitUsage, `input sign: "gpg" is not one of none, key, keyless`},
		{"key without sign key", map[string]string{"sign": "none", "key": "cosign.key"}, nil, ExitUsage,
			"input key is set but sign is none: remove the key or set sign: key"},
		{"sign key without key", map[string]string{"ref": layout, "sign": "key"}, nil, ExitUsage, "sign: key needs the key input"},
		{"signature format", map[string]string{"ref": layout, "signature-format": "cbor"}, nil, ExitUsage,
			`input signature-format: "cbor" is not one of legacy, bundle, both`},
		{"boolean", map[string]string{"plain-http": "yes"}, nil, ExitUsage, `input plain-http: "yes" is not a boolean: write true or false`},
		{"tags without ref", map[string]string{"tags": "v1"}, nil, ExitUsage, "input tags is set but ref is not"},
		{"password without user", map[string]string{"ref": "registry.example.com/fleet:main", "registry-password": "pw-8c1d"}, nil, ExitUsage,
			"input registry-password needs registry-username"},
		{"kubernetes version", map[string]string{"kubernetes-version": "latest"}, nil, ExitUsage,
			`input kubernetes-version: "latest" is not a Kubernetes version such as 1.33 or 1.33.2`},
		{"ref with digest", map[string]string{"ref": "registry.example.com/fleet@sha256:" + strings.Repeat("a", 64)}, nil, ExitUsage,
			"input ref must not carry a digest"},
		{"wrong key password", map[string]string{"ref": layout, "key": "KEYFILE", "key-password": "wrong-pw-5e4f"}, nil, ExitUsage,
			"wrong password? set COSIGN_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn := newRunner(t, t.TempDir())
			maps.Copy(rn.env, tc.env)
			inputs := maps.Clone(tc.inputs)
			if inputs["key"] == "KEYFILE" {
				inputs["key"], _ = keyPair(t, "right-pw")
			}
			if inputs["path"] == "" {
				inputs["path"] = demoTree
			}
			r := rn.run(t, inputs)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			if !slices.ContainsFunc(strings.Split(r.stdout, "\n"), func(l string) bool {
				return strings.HasPrefix(l, "::error title=statepack::") && strings.Contains(l, tc.want)
			}) {
				t.Errorf("stdout lacks an annotation ::error title=statepack::…%s…\n%s", tc.want, r)
			}
			if !strings.Contains(r.summary, "### ❌ statepack failed") {
				t.Errorf("job summary:\n%s", r.summary)
			}
			assertNoSecret(t, r, "pw-8c1d", "wrong-pw-5e4f", "runtime-token")
		})
	}
}

func TestActionGHCRDefaultsToTheWorkflowToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		inputs, env        map[string]string
		wantUser, wantPass string
	}{
		{"github-token input", map[string]string{"github-token": "ghs_input"}, nil, "octocat", "ghs_input"},
		{"GITHUB_TOKEN variable", nil, map[string]string{"GITHUB_TOKEN": "ghs_env"}, "octocat", "ghs_env"},
		{"explicit credentials win", map[string]string{"github-token": "ghs_input", "registry-username": "bot", "registry-password": "pat"}, nil, "bot", "pat"},
		{"user given, token as password", map[string]string{"github-token": "ghs_input", "registry-username": "bot"}, nil, "bot", "ghs_input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"GITHUB_ACTOR": "octocat", "INPUT_REF": "ghcr.io/acme/fleet:main"}
			maps.Copy(env, tc.env)
			for k, v := range tc.inputs {
				env["INPUT_"+strings.ToUpper(k)] = v
			}
			a, out := testActionRun(env)
			if err := a.readInputs(); err != nil {
				t.Fatal(err)
			}
			if a.cfg.username != tc.wantUser || a.cfg.password != tc.wantPass {
				t.Errorf("credentials = %q, %q; want %q, %q", a.cfg.username, a.cfg.password, tc.wantUser, tc.wantPass)
			}
			if tc.wantPass != "pat" && !strings.Contains(out.String(), "::add-mask::"+tc.wantPass+"\n") {
				t.Errorf("the token is not masked: %q", out.String())
			}
		})
	}
}

func TestActionYAMLMatchesTheCommand(t *testing.T) {
	t.Parallel()
	var action struct {
		Name, Description, Author string
		Branding                  struct{ Icon, Color string }
		Inputs                    yamlOrderedMap
		Outputs                   yamlOrderedMap
		Runs                      struct {
			Using, Image, Entrypoint string
			Args                     []string
		}
	}
	readYAML(t, "../../action.yml", &action)
	if got := action.Inputs.keys(); !slices.Equal(got, actionInputs) {
		t.Errorf("action.yml inputs = %v, want %v (the inputs statepack action reads)", got, actionInputs)
	}
	if got := action.Outputs.keys(); !slices.Equal(got, actionOutputs) {
		t.Errorf("action.yml outputs = %v, want %v", got, actionOutputs)
	}
	for _, in := range action.Inputs {
		if strings.TrimSpace(in.value["description"].(string)) == "" {
			t.Errorf("input %s has no description", in.key)
		}
		if _, ok := in.value["default"]; !ok {
			t.Errorf("input %s states no default", in.key)
		}
	}
	for _, out := range action.Outputs {
		if strings.TrimSpace(out.value["description"].(string)) == "" {
			t.Errorf("output %s has no description", out.key)
		}
	}
	if action.Runs.Using != "docker" || action.Runs.Image != "Dockerfile" || action.Runs.Entrypoint != "statepack" ||
		!slices.Equal(action.Runs.Args, []string{"action"}) {
		t.Errorf("action.yml runs = %+v, want a Docker action running `statepack action` from the Dockerfile", action.Runs)
	}
	if action.Name == "" || action.Description == "" || action.Branding.Icon == "" || action.Branding.Color == "" {
		t.Errorf("action.yml lacks name, description or branding: %+v", action)
	}
}

func TestDockerfileStages(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	stages := regexp.MustCompile(`(?m)^FROM (\S+) AS (\w+)$`).FindAllStringSubmatch(df, -1)
	var names []string
	for _, s := range stages {
		names = append(names, s[2])
	}
	// GitHub builds the last stage for the action; it must run as root to write GITHUB_OUTPUT.
	if want := []string{"builder", "release", "debug", "action"}; !slices.Equal(names, want) {
		t.Errorf("Dockerfile stages = %v, want %v", names, want)
	}
	release := df[strings.Index(df, "AS release"):strings.Index(df, "AS debug")]
	for _, want := range []string{"gcr.io/distroless/static-debian12:nonroot", "USER 65532:65532", `ENTRYPOINT ["statepack"]`,
		"COPY --from=builder /out/statepack /usr/local/bin/statepack"} {
		if !strings.Contains(df, want) || (want != "gcr.io/distroless/static-debian12:nonroot" && !strings.Contains(release, want)) {
			t.Errorf("Dockerfile release stage lacks %q", want)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "FROM golang:${GO_VERSION} AS builder"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile builder lacks %q", want)
		}
	}
}
