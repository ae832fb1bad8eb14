package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateAnnotatesInGitHubActions: a `run: statepack validate` step in a workflow turns its findings into
// workflow-command annotations on the source files, relative to the workspace; outside Actions it prints none.
func TestValidateAnnotatesInGitHubActions(t *testing.T) {
	t.Parallel()
	workspace, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": workspace}
	r := mustRun(t, 1, env, "validate", "../../testdata/bad/schema-pattern")
	// The field's column too (col=): spec.bucketName is written at column 3 of line 7.
	want := "::error col=3,file=testdata/bad/schema-pattern/bucket.yaml,line=7,title=statepack%3A schema/pattern::Bucket.example.com/default/assets: spec.bucketName is"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("validate in GitHub Actions printed\n%s\nwant an annotation starting %q", r.stdout, want)
	}
	if plain := mustRun(t, 1, nil, "validate", "../../testdata/bad/schema-pattern"); strings.Contains(plain.stdout, "::error") {
		t.Errorf("validate outside GitHub Actions printed a workflow command:\n%s", plain.stdout)
	}
	warn := mustRun(t, 0, env, "validate", "../../testdata/bad/schema-deprecated-apiversion")
	// The deprecation names the apiVersion field, written at column 1 of the object's first line.
	if !strings.Contains(warn.stdout, "::warning col=1,file=testdata/bad/schema-deprecated-apiversion/volume-class.yaml,line=1,") {
		t.Errorf("a warning did not become a ::warning annotation:\n%s", warn.stdout)
	}
}
