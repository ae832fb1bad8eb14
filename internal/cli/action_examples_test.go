package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/statepack/statepack/internal/ghactions"
)

// yamlOrderedMap is a YAML mapping whose keys keep their order, for checking action.yml against the code.
type yamlOrderedMap []struct {
	key   string
	value map[string]any
}

func (m *yamlOrderedMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("not a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var v map[string]any
		if err := n.Content[i+1].Decode(&v); err != nil {
			return err
		}
		*m = append(*m, struct {
			key   string
			value map[string]any
		}{n.Content[i].Value, v})
	}
	return nil
}

func (m yamlOrderedMap) keys() []string {
	var out []string
	for _, e := range m {
		out = append(out, e.key)
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s is not valid YAML: %v", path, err)
	}
}

// readDocs decodes every document of a YAML stream.
func readDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d is not valid YAML: %v", path, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// testActionRun is an action run whose runner writes to a buffer and reads env only.
func testActionRun(env map[string]string) (*actionRun, *bytes.Buffer) {
	var out bytes.Buffer
	e := Env{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return env[k] }, Version: "test"}
	return &actionRun{env: e, gh: ghactions.New(&out, e.Getenv), g: &globalOptions{}}, &out
}

// get walks a decoded YAML document: get(doc, "spec", "source", "repoURL").
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func kinds(docs []map[string]any) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d["apiVersion"].(string)+"/"+d["kind"].(string))
	}
	return out
}

func TestExamplesParse(t *testing.T) {
	t.Parallel()
	dir := "../../docs/examples"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if docs := readDocs(t, filepath.Join(dir, e.Name())); len(docs) == 0 {
			t.Errorf("%s holds no YAML document", e.Name())
		}
	}
	for _, want := range []string{"argocd.yaml", "flux.yaml", "github-workflow.yaml", "tekton-pipelinerun.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("docs/examples lacks %s", want)
		}
	}
}

func TestFluxExample(t *testing.T) {
	t.Parallel()
	docs := readDocs(t, "../../docs/examples/flux.yaml")
	if got, want := kinds(docs), []string{"source.toolkit.fluxcd.io/v1/OCIRepository", "kustomize.toolkit.fluxcd.io/v1/Kustomization"}; !slices.Equal(got, want) {
		t.Fatalf("flux.yaml kinds = %v, want %v", got, want)
	}
	repo, ks := docs[0], docs[1]
	if url, _ := get(repo, "spec", "url").(string); !strings.HasPrefix(url, "oci://") {
		t.Errorf("OCIRepository url = %v, want oci://…", url)
	}
	if get(repo, "spec", "verify", "provider") != "cosign" || get(repo, "spec", "verify", "matchOIDCIdentity") == nil {
		t.Errorf("OCIRepository verify = %v, want cosign with matchOIDCIdentity", get(repo, "spec", "verify"))
	}
	if get(ks, "spec", "sourceRef", "kind") != "OCIRepository" || get(ks, "spec", "sourceRef", "name") != get(repo, "metadata", "name") {
		t.Errorf("Kustomization sourceRef = %v, want the OCIRepository", get(ks, "spec", "sourceRef"))
	}
}

func TestArgoCDExample(t *testing.T) {
	t.Parallel()
	docs := readDocs(t, "../../docs/examples/argocd.yaml")
	if got, want := kinds(docs), []string{"argoproj.io/v1alpha1/Application"}; !slices.Equal(got, want) {
		t.Fatalf("argocd.yaml kinds = %v, want %v", got, want)
	}
	if url, _ := get(docs[0], "spec", "source", "repoURL").(string); !strings.HasPrefix(url, "oci://") {
		t.Errorf("Application repoURL = %v, want an OCI source", url)
	}
	if get(docs[0], "spec", "source", "path") != "." {
		t.Errorf("Application path = %v, want . (the archive is flat)", get(docs[0], "spec", "source", "path"))
	}
}

func TestGitHubWorkflowExample(t *testing.T) {
	t.Parallel()
	var wf struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			If          string
			Permissions map[string]string
			Steps       []struct {
				Uses string
				With map[string]string
			}
		}
	}
	readYAML(t, "../../docs/examples/github-workflow.yaml", &wf)
	if _, ok := wf.On["pull_request"]; !ok {
		t.Error("the workflow does not run on pull_request")
	}
	if branches := get(wf.On, "push", "branches"); !slices.Equal(toStrings(branches), []string{"main"}) {
		t.Errorf("on.push.branches = %v, want [main]", branches)
	}
	publish, ok := wf.Jobs["publish"]
	if !ok {
		t.Fatal("no publish job")
	}
	if publish.Permissions["id-token"] != "write" || publish.Permissions["packages"] != "write" {
		t.Errorf("publish permissions = %v, want id-token: write and packages: write", publish.Permissions)
	}
	uses := 0
	for name, job := range wf.Jobs {
		for _, s := range job.Steps {
			if !strings.HasPrefix(s.Uses, "statepack/statepack@") {
				continue
			}
			uses++
			for k := range s.With {
				if !slices.Contains(actionInputs, k) {
					t.Errorf("job %s gives input %q, which action.yml does not declare", name, k)
				}
			}
			if name == "publish" && (s.With["ref"] == "" || s.With["sign"] != "keyless") {
				t.Errorf("the publish job's step = %v, want a ref and sign: keyless", s.With)
			}
			if name == "validate" && s.With["ref"] != "" {
				t.Errorf("the validate job publishes (ref %q)", s.With["ref"])
			}
		}
	}
	if uses != 2 {
		t.Errorf("the workflow uses the action %d times, want 2 (validate, publish)", uses)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestFleetChangedExample checks docs/examples/github-fleet-changed.yaml against the action and the CLI: the plan
// job runs `statepack targets --changed-since … -o json` and hands its matrix to the publish job, whose action step
// gives only inputs action.yml declares and picks its target from the matrix.
func TestFleetChangedExample(t *testing.T) {
	t.Parallel()
	var wf struct {
		Jobs map[string]struct {
			Needs    any
			Strategy struct{ Matrix string }
			Steps    []struct {
				Uses string
				Run  string
				With map[string]string
			}
		}
	}
	readYAML(t, "../../docs/examples/github-fleet-changed.yaml", &wf)
	plan, publish := wf.Jobs["plan"], wf.Jobs["publish"]
	var runs string
	for _, s := range plan.Steps {
		runs += s.Run
	}
	if !strings.Contains(runs, "statepack targets --config statepack.yaml --changed-since") || !strings.Contains(runs, "-o json") {
		t.Errorf("the plan job does not run statepack targets --changed-since … -o json:\n%s", runs)
	}
	if publish.Strategy.Matrix != "${{ fromJSON(needs.plan.outputs.matrix) }}" {
		t.Errorf("the publish job's matrix = %q, want the plan job's output", publish.Strategy.Matrix)
	}
	found := false
	for _, s := range publish.Steps {
		if !strings.HasPrefix(s.Uses, "statepack/statepack@") {
			continue
		}
		found = true
		for k := range s.With {
			if !slices.Contains(actionInputs, k) {
				t.Errorf("the publish step gives input %q, which action.yml does not declare", k)
			}
		}
		if s.With["targets"] != "${{ matrix.target }}" || s.With["config"] == "" {
			t.Errorf("the publish step = %v, want config and targets: ${{ matrix.target }}", s.With)
		}
	}
	if !found {
		t.Error("the publish job does not use the action")
	}
}
