package cli

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestTargetsChangedSince lists a fleet's targets as CI reads them: every target, one per line for Tekton; with
// --changed-since, only the one a commit touched, as a one-line GitHub Actions matrix with -o json, and an empty
// matrix when nothing a target reads changed.
func TestTargetsChangedSince(t *testing.T) {
	t.Parallel()
	dir, config := twoTargetRepo(t, map[string]string{"docs/README.md": "fleet\n"})
	commit := func(file string) { t.Helper(); commitFile(t, dir, file, "# changed\n") }

	if r := mustRun(t, 0, nil, "targets", "--config", config); r.stdout != "eu\nus\n" {
		t.Errorf("targets = %q, want every target, one per line", r.stdout)
	}
	commit("clusters/us/settings.yaml")
	if r := mustRun(t, 0, nil, "targets", "--config", config, "--changed-since", "HEAD~1"); r.stdout != "us\n" {
		t.Errorf("targets --changed-since HEAD~1 = %q, want us", r.stdout)
	}
	want := `{"include":[{"target":"us","because":"clusters/us/settings.yaml"}]}` + "\n"
	if r := mustRun(t, 0, nil, "targets", "--config", config, "--changed-since", "HEAD~1", "-o", "json"); r.stdout != want {
		t.Errorf("targets -o json = %q, want %q", r.stdout, want)
	}
	commit("docs/README.md")
	if r := mustRun(t, 0, nil, "targets", "--config", config, "--changed-since", "HEAD~1", "-o", "json"); r.stdout != `{"include":[]}`+"\n" {
		t.Errorf("targets -o json after a change no target reads = %q, want an empty matrix", r.stdout)
	}
	if r := mustRun(t, 2, nil, "targets", "--config", config, "--changed-since", "no-such-branch"); r.stderr == "" {
		t.Error("targets --changed-since no-such-branch says nothing")
	}
	mustRun(t, 2, nil, "targets")
}

// commitFile writes content to file (slash-separated, relative to the work tree dir) and commits it.
func commitFile(t *testing.T, dir, file, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(file))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add(file); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: commitTime}
	if _, err := wt.Commit("change "+file, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
}

// twoTargetRepo is a git work tree holding a fleet of two targets, eu (a kustomization) and us (plain YAML), and
// the extra files; it returns the work tree and its config's path.
func twoTargetRepo(t *testing.T, extra map[string]string) (dir, config string) {
	t.Helper()
	files := map[string]string{
		"statepack.yaml":                 "apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n  - {name: eu, path: clusters/eu, ref: 'oci:out:eu'}\n  - {name: us, path: clusters/us, ref: 'oci:out:us'}\n",
		"clusters/eu/kustomization.yaml": "resources: [settings.yaml]\n",
		"clusters/eu/settings.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: eu, namespace: default}\n",
		"clusters/us/settings.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: us, namespace: default}\n",
	}
	maps.Copy(files, extra)
	dir, _ = gitRepo(t, writeTree(t, files), "")
	return dir, filepath.Join(dir, "statepack.yaml")
}
