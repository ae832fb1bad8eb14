package tektontest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

const (
	taskFile        = "../statepack.yaml"
	pipelineRunFile = "../../docs/examples/tekton-pipelinerun.yaml"
	repoRoot        = "../.."
)

// readTask decodes the statepack Task strictly (an unknown field is an error), applies Tekton's defaults and
// validates it as the webhook would.
func readTask(t *testing.T) *v1.Task {
	t.Helper()
	return readTaskFile(t, taskFile)
}

// readTaskFile is readTask for the Task in file.
func readTaskFile(t *testing.T, file string) *v1.Task {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var task v1.Task
	if err := yaml.UnmarshalStrict(data, &task); err != nil {
		t.Fatalf("decoding %s as a tekton.dev/v1 Task: %v", file, err)
	}
	ctx := context.Background()
	task.SetDefaults(ctx)
	if err := task.Validate(ctx); err != nil {
		t.Fatalf("%s does not validate: %v", file, err)
	}
	return &task
}

func TestTaskValidates(t *testing.T) {
	task := readTask(t)
	if task.APIVersion != "tekton.dev/v1" || task.Kind != "Task" || task.Name != "statepack" {
		t.Errorf("apiVersion/kind/name = %s/%s/%s", task.APIVersion, task.Kind, task.Name)
	}
	// Catalog conventions.
	if task.Labels["app.kubernetes.io/version"] == "" {
		t.Error("no app.kubernetes.io/version label")
	}
	for _, a := range []string{"tekton.dev/pipelines.minVersion", "tekton.dev/tags", "tekton.dev/displayName", "tekton.dev/categories", "tekton.dev/platforms"} {
		if task.Annotations[a] == "" {
			t.Errorf("no %s annotation", a)
		}
	}
	if task.Spec.Description == "" {
		t.Error("no description")
	}
	params := map[string]v1.ParamSpec{}
	for _, p := range task.Spec.Params {
		params[p.Name] = p
		if p.Description == "" {
			t.Errorf("param %s has no description", p.Name)
		}
	}
	for _, name := range []string{"PATH", "IMAGE", "TAGS", "SIGN", "STATEPACK_IMAGE"} {
		if _, ok := params[name]; !ok {
			t.Errorf("no param %s", name)
		}
	}
	// IMAGE is required unless CONFIG is given: the script refuses its empty default (TestTaskScriptRefusals).
	if d := params["IMAGE"].Default; d == nil || d.StringVal != "" {
		t.Errorf("IMAGE default = %v, want \"\" (CONFIG and TARGET may replace it)", d)
	}
	if d := params["STATEPACK_IMAGE"].Default; d == nil || !regexp.MustCompile(`^[a-z0-9./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$`).MatchString(d.StringVal) {
		t.Errorf("STATEPACK_IMAGE default = %v, want an image pinned by digest", d)
	}
	ws := map[string]v1.WorkspaceDeclaration{}
	for _, w := range task.Spec.Workspaces {
		ws[w.Name] = w
	}
	if w, ok := ws["source"]; !ok || w.Optional {
		t.Error("want a required source workspace")
	}
	for _, name := range []string{"dockerconfig", "signing-key"} {
		if w, ok := ws[name]; !ok || !w.Optional {
			t.Errorf("want an optional %s workspace", name)
		}
	}
	results := map[string]v1.TaskResult{}
	for _, r := range task.Spec.Results {
		results[r.Name] = r
	}
	if results["IMAGE_URL"].Type != v1.ResultsTypeString || results["IMAGE_DIGEST"].Type != v1.ResultsTypeString {
		t.Errorf("IMAGE_URL and IMAGE_DIGEST must be string results (what Tekton Chains reads): %+v", results)
	}
	if ao := results["ARTIFACT_OUTPUTS"]; ao.Type != v1.ResultsTypeObject || len(ao.Properties) != 3 ||
		ao.Properties["uri"].Type != v1.ParamTypeString || ao.Properties["digest"].Type != v1.ParamTypeString ||
		ao.Properties["isBuildArtifact"].Type != v1.ParamTypeString {
		t.Errorf("ARTIFACT_OUTPUTS = %+v, want an object {uri, digest, isBuildArtifact}", ao)
	}
	if len(task.Spec.Steps) != 1 {
		t.Fatalf("steps = %d, want 1", len(task.Spec.Steps))
	}
	step := task.Spec.Steps[0]
	if step.Image != "$(params.STATEPACK_IMAGE)" {
		t.Errorf("step image = %q, want $(params.STATEPACK_IMAGE)", step.Image)
	}
	sc := step.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("step securityContext = %+v, want non-root, no privilege escalation, all capabilities dropped", sc)
	}
	// Parameters reach the script through the environment only.
	if strings.Contains(step.Script, "$(params.") {
		t.Error("the script splices $(params.…) into shell code: pass parameters as environment variables")
	}
	for _, want := range []string{"--digest-file \"$(results.IMAGE_DIGEST.path)\"", "--ref-file", "$(results.IMAGE_URL.path)", "$(results.ARTIFACT_OUTPUTS.path)"} {
		if !strings.Contains(step.Script, want) {
			t.Errorf("the script lacks %s", want)
		}
	}
}

func TestPipelineRunExampleValidates(t *testing.T) {
	pr := readPipelineRun(t, pipelineRunFile)
	// The example passes only parameters and workspaces the Task declares.
	task := readTask(t)
	var found bool
	for _, pt := range pr.Spec.PipelineSpec.Tasks {
		if pt.TaskRef == nil || pt.TaskRef.Name != "statepack" {
			continue
		}
		found = true
		checkTaskUse(t, pt, pt.Params, task)
	}
	if !found {
		t.Error("the example PipelineRun does not run the statepack Task")
	}
}

// readPipelineRun decodes a PipelineRun strictly, names it as the API server would, applies Tekton's defaults and
// validates it as the webhook would.
func readPipelineRun(t *testing.T, file string) *v1.PipelineRun {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var pr v1.PipelineRun
	if err := yaml.UnmarshalStrict(data, &pr); err != nil {
		t.Fatalf("decoding %s as a tekton.dev/v1 PipelineRun: %v", file, err)
	}
	if pr.Name == "" && pr.GenerateName != "" {
		pr.Name = pr.GenerateName + "x7k2p" // the API server names it before the webhook validates it
	}
	ctx := context.Background()
	pr.SetDefaults(ctx)
	if err := pr.Validate(ctx); err != nil {
		t.Fatalf("%s does not validate: %v", file, err)
	}
	return &pr
}

// checkTaskUse fails when the pipeline task passes a param (of params) or binds a workspace that task does not
// declare.
func checkTaskUse(t *testing.T, pt v1.PipelineTask, params v1.Params, task *v1.Task) {
	t.Helper()
	for _, p := range params {
		if !slices.ContainsFunc(task.Spec.Params, func(s v1.ParamSpec) bool { return s.Name == p.Name }) {
			t.Errorf("task %s passes param %s, which the %s Task does not declare", pt.Name, p.Name, task.Name)
		}
	}
	for _, w := range pt.Workspaces {
		if !slices.ContainsFunc(task.Spec.Workspaces, func(d v1.WorkspaceDeclaration) bool { return d.Name == w.Name }) {
			t.Errorf("task %s binds workspace %s, which the %s Task does not declare", pt.Name, w.Name, task.Name)
		}
	}
}

// statepackBinary builds statepack from the main module once.
var statepackBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "statepack-tekton-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "statepack")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/statepack")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building statepack: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := statepackBinary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// stepRun is one run of the Task's step script, outside a cluster: Tekton's substitutions done by hand, the
// workspaces as directories, the results as files.
type stepRun struct {
	params     map[string]string
	workspaces map[string]string // name → directory; unbound when absent
	shell      string
}

type stepResult struct {
	err     error
	output  string
	results map[string]string
	binDir  string
}

func (s stepRun) run(t *testing.T, task *v1.Task) stepResult {
	t.Helper()
	bin, err := statepackBinary()
	if err != nil {
		t.Fatal(err)
	}
	step := task.Spec.Steps[0]
	dir := t.TempDir()
	resultsDir := filepath.Join(dir, "results")
	if err := os.Mkdir(resultsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for _, p := range task.Spec.Params {
		if p.Default != nil {
			params[p.Name] = p.Default.StringVal
		}
	}
	for k, v := range s.params {
		params[k] = v
	}
	subst := func(v string) string {
		for k, val := range params {
			v = strings.ReplaceAll(v, "$(params."+k+")", val)
		}
		for _, r := range task.Spec.Results {
			v = strings.ReplaceAll(v, "$(results."+r.Name+".path)", filepath.Join(resultsDir, r.Name))
		}
		for _, w := range task.Spec.Workspaces {
			path, bound := s.workspaces[w.Name]
			v = strings.ReplaceAll(v, "$(workspaces."+w.Name+".bound)", fmt.Sprint(bound))
			v = strings.ReplaceAll(v, "$(workspaces."+w.Name+".path)", path)
		}
		for k, val := range taskRunContext {
			v = strings.ReplaceAll(v, "$(context.taskRun."+k+")", val)
		}
		return v
	}
	if leftover := regexp.MustCompile(`\$\((params|results|workspaces|context)\.[^)]*\)`).FindString(subst(step.Script)); leftover != "" {
		t.Fatalf("the script references %s, which this test does not substitute", leftover)
	}
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte(subst(step.Script)), 0o755); err != nil {
		t.Fatal(err)
	}
	shell := s.shell
	if shell == "" {
		shell = "bash"
	}
	cmd := exec.Command(shell, script)
	cmd.Dir = subst(step.WorkingDir)
	cmd.Env = []string{"PATH=" + filepath.Dir(bin) + ":/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	for _, e := range step.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			// The downward API, as the kubelet resolves it for the TaskRun's pod.
			cmd.Env = append(cmd.Env, e.Name+"="+podFields[e.ValueFrom.FieldRef.FieldPath])
		case e.ValueFrom != nil:
			t.Fatalf("env %s: this test resolves only fieldRef", e.Name)
		default:
			if leftover := regexp.MustCompile(`\$\([^)]*\)`).FindString(subst(e.Value)); leftover != "" {
				t.Fatalf("env %s references %s, which this test does not substitute", e.Name, leftover)
			}
			cmd.Env = append(cmd.Env, e.Name+"="+subst(e.Value))
		}
	}
	out, err := cmd.CombinedOutput()
	res := stepResult{err: err, output: string(out), results: map[string]string{}, binDir: filepath.Dir(bin)}
	for _, r := range task.Spec.Results {
		if data, err := os.ReadFile(filepath.Join(resultsDir, r.Name)); err == nil {
			res.results[r.Name] = string(data)
		}
	}
	return res
}

// taskRunContext and podFields are what Tekton and the kubelet give the step of a TaskRun named publish-run in
// the namespace ci, started by the PipelineRun release-42.
var (
	taskRunContext = map[string]string{"name": "publish-run", "namespace": "ci", "uid": "6f1c2a9e-0000-4000-8000-000000000001"}
	podFields      = map[string]string{"metadata.labels['tekton.dev/pipelineRun']": "release-42"}
)

// sourceWorkspace is a copy of the demo tree, as git-clone would leave it (without .git: statepack then leaves the
// git annotations out and says so).
func sourceWorkspace(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "source")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(repoRoot, "testdata", "demo"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func checkResults(t *testing.T, res stepResult, wantRepository string) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("the step failed: %v\n%s", res.err, res.output)
	}
	digest := res.results["IMAGE_DIGEST"]
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(digest) {
		t.Errorf("IMAGE_DIGEST = %q, want sha256:<hex> without a newline", digest)
	}
	if res.results["IMAGE_URL"] != wantRepository {
		t.Errorf("IMAGE_URL = %q, want %q (Tekton Chains joins it with IMAGE_DIGEST)", res.results["IMAGE_URL"], wantRepository)
	}
	var ao map[string]string
	if err := json.Unmarshal([]byte(res.results["ARTIFACT_OUTPUTS"]), &ao); err != nil {
		t.Fatalf("ARTIFACT_OUTPUTS = %q: %v", res.results["ARTIFACT_OUTPUTS"], err)
	}
	if want := map[string]string{"uri": wantRepository, "digest": digest, "isBuildArtifact": "true"}; !mapsEqual(ao, want) {
		t.Errorf("ARTIFACT_OUTPUTS = %v, want %v", ao, want)
	}
	if !strings.Contains(res.output, "statepack: published "+wantRepository+"@"+digest) {
		t.Errorf("step output:\n%s", res.output)
	}
}

func TestTaskScriptPublishesToALayout(t *testing.T) {
	task := readTask(t)
	for _, shell := range []string{"bash", "sh"} {
		t.Run(shell, func(t *testing.T) {
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("no %s: %v", shell, err)
			}
			layout := filepath.Join(t.TempDir(), "layout")
			res := stepRun{
				shell:      shell,
				params:     map[string]string{"PATH": "production", "IMAGE": "oci:" + layout + ":main", "TAGS": "v1, latest"},
				workspaces: map[string]string{"source": sourceWorkspace(t)},
			}.run(t, task)
			checkResults(t, res, "oci:"+layout)
			index, err := os.ReadFile(filepath.Join(layout, "index.json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range []string{`"main"`, `"v1"`, `"latest"`} {
				if !strings.Contains(string(index), tag) {
					t.Errorf("the layout's index lacks the tag %s: %s", tag, index)
				}
			}
		})
	}
}

func TestTaskScriptRefusals(t *testing.T) {
	task := readTask(t)
	for _, tc := range []struct {
		name       string
		params     map[string]string
		workspaces map[string]string
		want       string
	}{
		{"keyless without token", map[string]string{"SIGN": "keyless"}, nil, "SIGN=keyless needs the identity-token workspace"},
		{"unknown attest", map[string]string{"ATTEST": "yes"}, nil, `ATTEST must be true or false, not "yes"`},
		{"key without workspace", map[string]string{"SIGN": "key"}, nil, "SIGN=key needs the signing-key workspace"},
		{"unknown sign", map[string]string{"SIGN": "gpg"}, nil, `SIGN must be none, key or keyless, not "gpg"`},
		{"empty dockerconfig", nil, map[string]string{"dockerconfig": "EMPTY"}, "holds neither config.json nor .dockerconfigjson"},
		// Not globbed into the file names of the working directory: passed on, and refused as a tag.
		{"glob in TAGS", map[string]string{"TAGS": "*"}, nil, `--tag "*" is not a valid tag`},
		{"invalid tree", map[string]string{"PATH": "base/missing"}, nil, "base/missing"},
		{"no IMAGE", map[string]string{"IMAGE": ""}, nil, "IMAGE is required: where to publish PATH (or give CONFIG and TARGET)"},
		{"CONFIG without TARGET", map[string]string{"IMAGE": "", "PATH": ".", "CONFIG": "statepack.yaml"}, nil, "CONFIG needs TARGET"},
		{"CONFIG with IMAGE", map[string]string{"CONFIG": "statepack.yaml", "TARGET": "production"}, nil, "leave PATH and IMAGE unset"},
		{"CONFIG with keyless, without a token", map[string]string{"IMAGE": "", "PATH": ".", "CONFIG": "statepack.yaml", "TARGET": "production", "SIGN": "keyless"}, nil,
			"SIGN=keyless needs the identity-token workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]string{"PATH": "production", "IMAGE": "oci:" + filepath.Join(t.TempDir(), "layout") + ":main"}
			for k, v := range tc.params {
				params[k] = v
			}
			ws := map[string]string{"source": sourceWorkspace(t)}
			for k, v := range tc.workspaces {
				if v == "EMPTY" {
					v = t.TempDir()
				}
				ws[k] = v
			}
			res := stepRun{params: params, workspaces: ws}.run(t, task)
			if res.err == nil || !strings.Contains(res.output, tc.want) {
				t.Errorf("step = %v, want a failure saying %q:\n%s", res.err, tc.want, res.output)
			}
			if res.results["IMAGE_DIGEST"] != "" || res.results["IMAGE_URL"] != "" {
				t.Errorf("a failed step wrote results: %v", res.results)
			}
		})
	}
}

// Registry credentials of the test registry; htpasswdLine holds the bcrypt hash of registryPassword.
const (
	registryUser     = "tekton"
	registryPassword = "tekton-registry-pw"
	htpasswdLine     = "tekton:$2a$04$X5NHrBtjGs1MZW0mtu/J1e12xGF1navggoR4VTTJbsRLPUrlVdntm\n"
)

func TestTaskScriptPublishesToARegistryAndSigns(t *testing.T) {
	task := readTask(t)
	host := startRegistry(t)
	bin, err := statepackBinary()
	if err != nil {
		t.Fatal(err)
	}

	// The dockerconfig workspace as a kubernetes.io/dockerconfigjson Secret mounts it: a .dockerconfigjson file.
	dockerconfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + registryPassword))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
	if err := os.WriteFile(filepath.Join(dockerconfig, ".dockerconfigjson"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The signing-key workspace: cosign.key and cosign.password.
	keys := t.TempDir()
	gen := exec.Command(bin, "generate-key-pair", "--output-key-prefix", filepath.Join(keys, "cosign"))
	gen.Env = append(os.Environ(), "COSIGN_PASSWORD=key-pw")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generate-key-pair: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(keys, "cosign.password"), []byte("key-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	repository := host + "/acme/fleet/production"
	res := stepRun{
		params:     map[string]string{"PATH": "production", "IMAGE": repository + ":main", "TAGS": "v1", "SIGN": "key"},
		workspaces: map[string]string{"source": sourceWorkspace(t), "dockerconfig": dockerconfig, "signing-key": keys},
	}.run(t, task)
	checkResults(t, res, repository)

	// Verify with the public key what Chains would read: IMAGE_URL@IMAGE_DIGEST.
	// The provenance attestation names this TaskRun and its PipelineRun.
	verify := exec.Command(bin, "verify", res.results["IMAGE_URL"]+"@"+res.results["IMAGE_DIGEST"], "--key", filepath.Join(keys, "cosign.pub"),
		"--attestation", "slsa", "--attestation", "inventory", "-o", "json", "--username", registryUser, "--password-stdin")
	verify.Stdin = strings.NewReader(registryPassword + "\n")
	out, err := verify.Output()
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	for _, want := range []string{
		`"id":"https://statepack.dev/builders/tekton/v1"`,
		`"invocationID":"tekton://ci/taskruns/publish-run"`,
		`"tekton":{"namespace":"ci","pipelineRun":"release-42","taskRun":"publish-run","taskRunUID":"6f1c2a9e-0000-4000-8000-000000000001"}`,
		`"predicateType": "https://statepack.dev/inventory/v1"`,
	} {
		if !strings.Contains(compactJSON(out), want) && !strings.Contains(string(out), want) {
			t.Errorf("verify --attestation slsa -o json lacks %s:\n%s", want, out)
		}
	}
}

// compactJSON is the predicates of verify's JSON output without insignificant white space.
func compactJSON(b []byte) string {
	var v struct {
		Attestations []struct{ Predicate json.RawMessage }
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	var buf bytes.Buffer
	for _, a := range v.Attestations {
		_ = json.Compact(&buf, a.Predicate)
	}
	return buf.String()
}

// startRegistry runs Debian's docker-registry (CNCF distribution) with basic auth on a free loopback port, as the
// main module's testregistry does. STATEPACK_SKIP_REGISTRY=1 turns a missing binary into a skip.
func startRegistry(t *testing.T) string {
	t.Helper()
	var bin string
	for _, name := range []string{"docker-registry", "registry"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		msg := "no registry binary on PATH: apt-get install docker-registry (or set STATEPACK_SKIP_REGISTRY=1 to skip)"
		if os.Getenv("STATEPACK_SKIP_REGISTRY") == "1" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(htpasswdLine), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: %s/storage}, delete: {enabled: true}}
http: {addr: %q}
auth: {htpasswd: {realm: test, path: %s/htpasswd}}
`, dir, host, dir)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return host
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry did not start: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
