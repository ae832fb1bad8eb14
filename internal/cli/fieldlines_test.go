package cli

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// fieldTree holds a Deployment whose findings are about fields written below its first line, a file with a YAML
// syntax error, and a ConfigMap in a namespace only the broken file creates.
var fieldTree = map[string]string{
	"deploy.yaml": `# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    tier: -bad-
spec:
  replicas: two
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx
`,
	"broken.yaml":   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels: {a: b\n",
	"settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team\ndata:\n  n: 1\n",
}

// TestValidateFindingsOnFieldLines: the findings of a field land on the field's line in text and -o json (which
// names the field), and one run reports every finding it can (issue 16, items 10 and 9): the syntax error of one
// file hides neither the other files' findings nor, where the label is bad, the Deployment's schema and policy
// findings. The ConfigMap's namespace is left unjudged: the Namespace may be the object that did not decode.
func TestValidateFindingsOnFieldLines(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, fieldTree)
	r := mustRun(t, 1, nil, "validate", dir, "--root", dir)
	for _, want := range []string{
		"broken.yaml:4: error: did not find expected ',' or '}' [yaml/syntax]",
		"deploy.yaml:8: error: Deployment.apps/default/web: label tier's value \"-bad-\" is invalid",
		"deploy.yaml:10: error: Deployment.apps/default/web: spec.replicas must be an integer, not the string \"two\" [schema/type]",
		"deploy.yaml:17: warning: Deployment.apps/default/web: image \"nginx\" has no tag",
		"settings.yaml:7: error: ConfigMap/team/settings: data.n must be a string, not the number 1",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate printed\n%s\nwant a line starting %q", r.stdout, want)
		}
	}
	if strings.Contains(r.stdout, "namespace-unknown") {
		t.Errorf("validate of a tree with a file that did not decode judged a namespace:\n%s", r.stdout)
	}

	r = mustRun(t, 1, nil, "validate", dir, "--root", dir, "-o", "json")
	var out struct {
		Findings []struct {
			Rule, File, Field string
			Line              int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("validate -o json = %s: %v", r.stdout, err)
	}
	var got []string
	for _, f := range out.Findings {
		got = append(got, f.File+":"+strconv.Itoa(f.Line)+" "+f.Rule+" "+f.Field)
	}
	want := []string{
		"broken.yaml:4 yaml/syntax ",
		`deploy.yaml:8 object/invalid-label metadata.labels.tier`,
		"deploy.yaml:10 schema/type spec.replicas",
		"deploy.yaml:17 policy/image-unpinned spec.template.spec.containers[0].image",
		"settings.yaml:7 schema/type data.n",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("validate -o json findings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
