package statepack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
)

// writeFiles writes a tree of files under a new temporary directory and returns it.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestHooksNamedByGenerateName: Argo CD and Helm hooks named by metadata.generateName are accepted (issue #16), their
// other checks still run (schemas included), and two hooks of one generateName get files of their own.
func TestHooksNamedByGenerateName(t *testing.T) {
	t.Parallel()
	job := func(hook, image string) string {
		return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n  namespace: default\n  annotations: {" + hook + "}\n" +
			"spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: \"" + image + "\"}]\n"
	}
	root := writeFiles(t, map[string]string{
		"argo.yaml": job("argocd.argoproj.io/hook: PreSync", "example.com/migrate:1.0"),
		"helm.yaml": job("helm.sh/hook: pre-upgrade", "example.com/migrate:1.1"),
	})
	s, err := Load(context.Background(), root, LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if s.Findings.HasErrors() {
		t.Fatalf("hooks named by generateName: %v", s.Findings)
	}
	b, err := s.Bundle(BuildContext{}, PackageOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Files) != 2 || b.Files[0].Name == b.Files[1].Name || !strings.HasPrefix(b.Files[0].Name, "job.batch_default_migrate-") {
		t.Errorf("the two hooks were packaged as %+v, want two files named after their generateName", b.Files)
	}

	// Without a hook annotation, generateName is still refused: nothing would create the object.
	root = writeFiles(t, map[string]string{"job.yaml": strings.Replace(job("x: y", "example.com/migrate:1.0"), "{x: y}", "{}", 1)})
	s, err = Load(context.Background(), root, LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Findings.HasErrors() || s.Findings[0].Rule != "object/generate-name" || !strings.Contains(s.Findings[0].String(), "Job.batch/default/migrate-*") {
		t.Errorf("generateName without a hook: %v, want object/generate-name naming Job.batch/default/migrate-*", s.Findings)
	}
}

// TestTreeWithoutObjectsFails: validate fails on a tree that renders no object, as publish does, naming what it
// ignored (issue #16).
func TestTreeWithoutObjectsFails(t *testing.T) {
	t.Parallel()
	for name, files := range map[string]map[string]string{
		"empty":           {".keep": ""},
		"jsonnet and cue": {"main.jsonnet": "{}", "app/app.cue": "x: 1", "README.md": "# not manifests"},
		"only empty YAML": {"a.yaml": "# nothing\n"},
	} {
		t.Run(name, func(t *testing.T) {
			root := writeFiles(t, files)
			s, err := Load(context.Background(), root, LoadOptions{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Findings) != 1 || s.Findings[0].Rule != "source/no-objects" || s.Findings[0].Severity != build.SeverityError {
				t.Fatalf("Load() findings = %v, want one source/no-objects error", s.Findings)
			}
			if name == "jsonnet and cue" && !strings.Contains(s.Findings[0].Message, "ignored 3 file(s) that are not YAML or JSON manifests (README.md, app/app.cue, main.jsonnet)") {
				t.Errorf("the finding does not name what was ignored: %s", s.Findings[0].Message)
			}
		})
	}
}

// TestAPIServerValueRulesLeaveValidTreesAlone: labels, annotations and quantities the API server accepts, and Flux
// postBuild placeholders it never sees, raise no finding.
func TestAPIServerValueRulesLeaveValidTreesAlone(t *testing.T) {
	t.Parallel()
	root := writeFiles(t, map[string]string{"app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app.kubernetes.io/name: web, cluster: "${cluster_name}", empty: ""}
  annotations: {example.com/Owner: team-a, "kustomize.toolkit.fluxcd.io/prune": disabled}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.com/web:1.0
        resources: {limits: {cpu: 1500m, memory: 1.5Gi, nvidia.com/gpu: 1}, requests: {cpu: "${cpu:=250m}", memory: 128Mi}}
`})
	s, err := Load(context.Background(), root, LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Findings {
		if strings.HasPrefix(f.Rule, "object/") {
			t.Errorf("a valid object got %v", f)
		}
	}
}

// TestLoadRestrictorIsFluxs: a kustomization that names a file in a sibling directory builds, as Flux's
// kustomize-controller builds it (LoadRestrictionsNone); with LoadRestrictionsRootOnly (kustomize build's default)
// it is refused with an explanation; a file outside the source root stays refused either way (issue #16).
func TestLoadRestrictorIsFluxs(t *testing.T) {
	t.Parallel()
	// The source root is repo/; outside.yaml, a valid manifest beside it, exists, so only the root boundary can
	// refuse it.
	base := writeFiles(t, map[string]string{
		"outside.yaml":                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside, namespace: default}\n",
		"repo/shared/cm.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: default}\n",
		"repo/apps/web/kustomization.yaml": "resources:\n- ../../shared/cm.yaml\n",
		"repo/apps/out/kustomization.yaml": "resources:\n- ../../../outside.yaml\n",
	})
	root := filepath.Join(base, "repo")
	load := func(dir, restrictor string) *Source {
		t.Helper()
		s, err := Load(context.Background(), filepath.Join(root, dir), LoadOptions{Root: root, LoadRestrictor: restrictor})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := load("apps/web", ""); s.Findings.HasErrors() || len(s.Objects()) != 1 {
		t.Errorf("a sibling file under the default restrictor: %d objects, %v", len(s.Objects()), s.Findings)
	}
	s := load("apps/web", build.LoadRestrictionsRootOnly)
	if !s.Findings.HasErrors() || !strings.Contains(s.Findings[0].Message, "Flux builds with LoadRestrictionsNone") {
		t.Errorf("a sibling file under LoadRestrictionsRootOnly: %v, want kustomize's refusal explained", s.Findings)
	}
	if s := load("apps/out", ""); !s.Findings.HasErrors() || s.Findings[0].Rule != "source/outside-root" {
		t.Errorf("a file outside the source root under LoadRestrictionsNone: %v, want source/outside-root", s.Findings)
	}
	if _, err := Load(context.Background(), filepath.Join(root, "apps/web"), LoadOptions{Root: root, LoadRestrictor: "none"}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("an unknown restrictor = %v, want ErrInvalidOption", err)
	}
}
