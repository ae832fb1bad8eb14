package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetsChangedSinceIgnores runs targets --changed-since over commits that touch only files a render leaves
// out, as Flux's source-controller would: one a .sourceignore names starts no job, nor one that --ignore-paths
// names (which applies to targets whose config sets no ignorePaths), while the same commit without the flag starts
// the target's job; a change to a .sourceignore starts the job of every target that reads files below it, saying
// why in the matrix.
func TestTargetsChangedSinceIgnores(t *testing.T) {
	t.Parallel()
	dir, config := twoTargetRepo(t, map[string]string{".sourceignore": "*.md\n"})
	commit := func(file, content string) { t.Helper(); commitFile(t, dir, file, content) }
	matrix := func(args ...string) string {
		t.Helper()
		return mustRun(t, 0, nil, append([]string{"targets", "--config", config, "--changed-since", "HEAD~1", "-o", "json"}, args...)...).stdout
	}
	const none = `{"include":[]}` + "\n"

	commit("clusters/eu/README.md", "# eu\n")
	if got := matrix(); got != none {
		t.Errorf("targets -o json after a change .sourceignore leaves out = %q, want an empty matrix", got)
	}
	commit("clusters/us/scratch/notes.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scratch, namespace: default}\n")
	if got := matrix("--ignore-paths", "scratch/"); got != none {
		t.Errorf("targets --ignore-paths scratch/ -o json after a change to scratch/ = %q, want an empty matrix", got)
	}
	if got, want := matrix(), `{"include":[{"target":"us","because":"clusters/us/scratch/notes.yaml"}]}`+"\n"; got != want {
		t.Errorf("targets -o json after a change to scratch/, without --ignore-paths = %q, want %q", got, want)
	}
	commit(".sourceignore", "*.md\n*.txt\n")
	why := ".sourceignore (it decides which files the render leaves out)"
	if got, want := matrix(), `{"include":[{"target":"eu","because":"`+why+`"},{"target":"us","because":"`+why+`"}]}`+"\n"; got != want {
		t.Errorf("targets -o json after a change to .sourceignore = %q, want %q", got, want)
	}
	if r := mustRun(t, 2, nil, "targets", "--config", config, "--changed-since", "HEAD~1", "--ignore-paths", " "); !strings.Contains(r.stderr, "--ignore-paths: an ignore pattern is empty") {
		t.Errorf("targets --ignore-paths ' ' says %q, want the flag and what is wrong", r.stderr)
	}
	// A chart directory may be installed by any target's HelmRelease, unless the publish renders none (--helm off).
	commit("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n")
	why = "charts/web/Chart.yaml (a chart directory, which a HelmRelease may install)"
	if got, want := matrix(), `{"include":[{"target":"eu","because":"`+why+`"},{"target":"us","because":"`+why+`"}]}`+"\n"; got != want {
		t.Errorf("targets -o json after a change to a chart directory = %q, want %q", got, want)
	}
	if got := matrix("--helm", "off"); got != none {
		t.Errorf("targets --helm off -o json after a change to a chart directory = %q, want an empty matrix", got)
	}
	// The workflow that pins statepack's version is named by neither a tree nor the config: --global-inputs names it.
	commit(".github/workflows/fleet.yaml", "# statepack@v0.9\n")
	if got := matrix(); got != none {
		t.Errorf("targets -o json after a change to the workflow = %q, want an empty matrix", got)
	}
	why = ".github/workflows/fleet.yaml (a global input)"
	if got, want := matrix("--global-inputs", ".github/workflows/*.yaml"), `{"include":[{"target":"eu","because":"`+why+`"},{"target":"us","because":"`+why+`"}]}`+"\n"; got != want {
		t.Errorf("targets --global-inputs -o json after a change to the workflow = %q, want %q", got, want)
	}
	if r := mustRun(t, 2, nil, "targets", "--config", config, "--changed-since", "HEAD~1", "--global-inputs", " "); !strings.Contains(r.stderr, "--global-inputs: an ignore pattern is empty") {
		t.Errorf("targets --global-inputs ' ' says %q, want the flag and what is wrong", r.stderr)
	}
	// The names as a Tekton array result, beside the list on stdout.
	names := filepath.Join(t.TempDir(), "TARGETS")
	if r := mustRun(t, 0, nil, "targets", "--config", config, "--changed-since", "HEAD~1", "--global-inputs", ".github/", "--names-file", names); r.stdout != "eu\nus\n" {
		t.Errorf("targets --names-file prints %q, want the list", r.stdout)
	}
	if data, err := os.ReadFile(names); err != nil || string(data) != `["eu","us"]` {
		t.Errorf("targets --names-file wrote %q (%v), want [\"eu\",\"us\"]", data, err)
	}
	mustRun(t, 0, nil, "targets", "--config", config, "--changed-since", "HEAD~1", "--names-file", names)
	if data, err := os.ReadFile(names); err != nil || string(data) != `[]` {
		t.Errorf("targets --names-file with no target touched wrote %q (%v), want []", data, err)
	}
	if r := mustRun(t, 2, nil, "targets", "--config", config, "--helm", "of"); !strings.Contains(r.stderr, `--helm "of": use pin, hydrate or off`) {
		t.Errorf("targets --helm of says %q, want the flag and its values", r.stderr)
	}
}
