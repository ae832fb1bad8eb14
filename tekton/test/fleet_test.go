package tektontest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

const (
	targetsTaskFile      = "../statepack-targets.yaml"
	fleetPipelineRunFile = "../../docs/examples/tekton-fleet-pipelinerun.yaml"
)

func TestTargetsTaskValidates(t *testing.T) {
	task := readTaskFile(t, targetsTaskFile)
	if task.APIVersion != "tekton.dev/v1" || task.Kind != "Task" || task.Name != "statepack-targets" {
		t.Errorf("apiVersion/kind/name = %s/%s/%s", task.APIVersion, task.Kind, task.Name)
	}
	for _, p := range task.Spec.Params {
		if p.Description == "" {
			t.Errorf("param %s has no description", p.Name)
		}
	}
	if len(task.Spec.Results) != 1 || task.Spec.Results[0].Name != "TARGETS" || task.Spec.Results[0].Type != v1.ResultsTypeArray {
		t.Errorf("results = %+v, want one array result TARGETS (what a matrix fans out over)", task.Spec.Results)
	}
	if len(task.Spec.Steps) != 1 {
		t.Fatalf("steps = %d, want 1", len(task.Spec.Steps))
	}
	step := task.Spec.Steps[0]
	if step.Image != "$(params.STATEPACK_IMAGE)" {
		t.Errorf("step image = %q, want $(params.STATEPACK_IMAGE)", step.Image)
	}
	if sc := step.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("step securityContext = %+v, want non-root without privilege escalation", sc)
	}
	if strings.Contains(step.Script, "$(params.") {
		t.Error("the script splices $(params.…) into shell code: pass parameters as environment variables")
	}
	// Both Tasks pin the same statepack image.
	if a, b := paramDefault(task, "STATEPACK_IMAGE"), paramDefault(readTask(t), "STATEPACK_IMAGE"); a != b {
		t.Errorf("STATEPACK_IMAGE defaults differ: %s and %s", a, b)
	}
}

func paramDefault(task *v1.Task, name string) string {
	for _, p := range task.Spec.Params {
		if p.Name == name && p.Default != nil {
			return p.Default.StringVal
		}
	}
	return ""
}

// TestFleetPipelineRunExampleValidates: the fleet example validates as the webhook would (a matrix over the
// targets Task's array result, the matrixed results gathered in finally), and passes only the params and
// workspaces each Task declares.
func TestFleetPipelineRunExampleValidates(t *testing.T) {
	pr := readPipelineRun(t, fleetPipelineRunFile)
	tasks := map[string]*v1.Task{"statepack": readTask(t), "statepack-targets": readTaskFile(t, targetsTaskFile)}
	ran := map[string]bool{}
	for _, pt := range pr.Spec.PipelineSpec.Tasks {
		if pt.TaskRef == nil || tasks[pt.TaskRef.Name] == nil {
			continue
		}
		ran[pt.TaskRef.Name] = true
		params := pt.Params
		if pt.Matrix != nil {
			params = append(slices.Clone(params), pt.Matrix.Params...)
			if len(pt.Matrix.Params) != 1 || pt.Matrix.Params[0].Name != "TARGET" || pt.Matrix.Params[0].Value.StringVal != "$(tasks.plan.results.TARGETS[*])" {
				t.Errorf("task %s's matrix = %+v, want TARGET over the plan's TARGETS", pt.Name, pt.Matrix.Params)
			}
		}
		checkTaskUse(t, pt, params, tasks[pt.TaskRef.Name])
	}
	if !ran["statepack"] || !ran["statepack-targets"] {
		t.Errorf("the example runs %v, want both Tasks", ran)
	}
	// The finally task gathers the matrixed results the statepack Task declares, as arrays.
	var gathered []string
	for _, ft := range pr.Spec.PipelineSpec.Finally {
		for _, p := range ft.Params {
			gathered = append(gathered, p.Value.StringVal)
		}
	}
	for _, result := range []string{"IMAGE_URL", "IMAGE_DIGEST"} {
		if !slices.Contains(gathered, "$(tasks.publish.results."+result+"[*])") ||
			!slices.ContainsFunc(tasks["statepack"].Spec.Results, func(r v1.TaskResult) bool { return r.Name == result }) {
			t.Errorf("the finally task does not gather publish's %s as an array (params %q)", result, gathered)
		}
	}
}

// fleetWorkspace is a git work tree holding a config of two targets (copies of testdata/plain) published to OCI
// layouts outside it, committed once.
func fleetWorkspace(t *testing.T) (dir, layouts string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git is not installed: %v", err)
	}
	dir, layouts = filepath.Join(t.TempDir(), "source"), t.TempDir()
	for _, name := range []string{"a", "b"} {
		if err := os.CopyFS(filepath.Join(dir, name), os.DirFS(filepath.Join(repoRoot, "testdata", "plain"))); err != nil {
			t.Fatal(err)
		}
	}
	config := "apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n" +
		"- {name: a, path: a, ref: 'oci:" + filepath.Join(layouts, "a") + ":main'}\n" +
		"- {name: b, path: b, ref: 'oci:" + filepath.Join(layouts, "b") + ":main'}\n"
	if err := os.WriteFile(filepath.Join(dir, "statepack.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q", "-b", "main")
	commitAll(t, dir, "fleet")
	return dir, layouts
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=ci", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func commitAll(t *testing.T, dir, message string) {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", message)
}

// TestTargetsTaskScript runs the targets Task's step on a fleet's git history: its TARGETS result is a JSON array of
// the targets a commit touched (all of them without CHANGED_SINCE, or when a GLOBAL_INPUTS file changed), and a bad
// param stops it with statepack's usage error.
func TestTargetsTaskScript(t *testing.T) {
	task := readTaskFile(t, targetsTaskFile)
	dir, _ := fleetWorkspace(t)
	targets := func(params map[string]string) []string {
		t.Helper()
		res := stepRun{params: params, workspaces: map[string]string{"source": dir}}.run(t, task)
		if res.err != nil {
			t.Fatalf("the step with %v failed: %v\n%s", params, res.err, res.output)
		}
		var names []string
		if err := json.Unmarshal([]byte(res.results["TARGETS"]), &names); err != nil {
			t.Fatalf("TARGETS = %q, want a JSON array: %v", res.results["TARGETS"], err)
		}
		return names
	}
	if got := targets(nil); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("TARGETS without CHANGED_SINCE = %q, want every target", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "b", "extra.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: default}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "b changed")
	if got := targets(map[string]string{"CHANGED_SINCE": "HEAD~1"}); !slices.Equal(got, []string{"b"}) {
		t.Errorf("TARGETS after a change to b = %q, want [b]", got)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".tekton"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".tekton", "pipeline.yaml"), []byte("# statepack image v0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "statepack upgraded")
	if got := targets(map[string]string{"CHANGED_SINCE": "HEAD~1"}); len(got) != 0 {
		t.Errorf("TARGETS after a change outside every target = %q, want none", got)
	}
	if got := targets(map[string]string{"CHANGED_SINCE": "HEAD~1", "GLOBAL_INPUTS": "docs/, .tekton/"}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("TARGETS after a change to a GLOBAL_INPUTS file = %q, want every target", got)
	}
	if got := targets(map[string]string{"CHANGED_SINCE": strings.Repeat("0", 40)}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("TARGETS since a new branch's all-zero before = %q, want every target", got)
	}
	res := stepRun{params: map[string]string{"HELM": "maybe"}, workspaces: map[string]string{"source": dir}}.run(t, task)
	if res.err == nil || !strings.Contains(res.output, `--helm "maybe": use pin, hydrate or off`) || res.results["TARGETS"] != "" {
		t.Errorf("the step with HELM=maybe = %v, results %v, want a usage error and no result:\n%s", res.err, res.results, res.output)
	}
}

// TestTaskScriptPublishesATargetOfAConfig: with CONFIG and TARGET, the statepack Task publishes that target of the
// config to its ref, and its results name that artifact (what Tekton Chains signs in each TaskRun of a matrix).
func TestTaskScriptPublishesATargetOfAConfig(t *testing.T) {
	task := readTask(t)
	dir, layouts := fleetWorkspace(t)
	res := stepRun{
		params:     map[string]string{"CONFIG": "statepack.yaml", "TARGET": "b", "TAGS": "v1"},
		workspaces: map[string]string{"source": dir},
	}.run(t, task)
	checkResults(t, res, "oci:"+filepath.Join(layouts, "b"))
	if _, err := os.Stat(filepath.Join(layouts, "a")); !os.IsNotExist(err) {
		t.Errorf("target a was published too: %v", err)
	}
	index, err := os.ReadFile(filepath.Join(layouts, "b", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{`"main"`, `"v1"`} {
		if !strings.Contains(string(index), tag) {
			t.Errorf("target b's layout lacks the tag %s: %s", tag, index)
		}
	}
}
