package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// injectedCommands returns the lines of out that the GitHub Actions runner would read as workflow commands and that
// statepack did not mean: every command statepack issues is an annotation titled "statepack…", an ::add-mask:: or a
// log group. The runner splits lines at CR and LF and trims leading white space before it looks for "::"; it reads
// "##[" anywhere in a line.
func injectedCommands(out string) []string {
	var bad []string
	for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\n' || r == '\r' }) {
		t := strings.TrimLeftFunc(line, unicode.IsSpace)
		switch {
		case strings.Contains(line, "##["):
			bad = append(bad, line)
		case !strings.HasPrefix(t, "::"):
		case strings.Contains(t, "title=statepack"), strings.HasPrefix(t, "::add-mask::"),
			strings.HasPrefix(t, "::group::"), strings.HasPrefix(t, "::endgroup::"):
		default:
			bad = append(bad, line)
		}
	}
	return bad
}

// TestNothingFromTheTreeStartsALineOnTheRunner plants workflow commands where a pull request controls the text —
// a file name, a kustomize error naming a missing file, an object's annotation that reaches a diff — and runs
// validate and diff on a runner (GITHUB_ACTIONS=true): none of them may reach the runner as a command (issue #15).
func TestNothingFromTheTreeStartsALineOnTheRunner(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plain/ok\n::error title=pwned::injected.yaml", "kind: [unclosed\n")
	write("plain/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\ndata:\n  script: |\n    ::add-mask::oops\n    ##[set-output name=x;]y\n")
	write("kust/kustomization.yaml", "resources:\n- \"missing\\n::stop-commands::tok.yaml\"\n")
	env := map[string]string{"GITHUB_ACTIONS": "true"}
	for _, args := range [][]string{
		{"validate", filepath.Join(root, "plain"), "--root", root},
		{"validate", filepath.Join(root, "kust"), "--root", root},
		{"render", filepath.Join(root, "kust"), "--root", root},
	} {
		r := run(t, env, "", args...)
		if r.code == 0 {
			t.Errorf("statepack %s succeeded on a broken tree:\n%s", strings.Join(args, " "), r)
		}
		if bad := injectedCommands(r.stdout + "\n" + r.stderr); len(bad) > 0 {
			t.Errorf("statepack %s let the tree issue workflow commands %q:\n%s", strings.Join(args, " "), bad, r)
		}
	}
	// render writes the manifests as they are, but not where the runner reads them: to a file only.
	cmOnly := filepath.Join(root, "cmonly")
	write("cmonly/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\ndata:\n  script: |\n    ::add-mask::oops\n")
	r := run(t, env, "", "render", cmOnly, "--root", root)
	if r.code != 1 || !strings.Contains(r.stderr, "ConfigMap/default/cm") || r.stdout != "" {
		t.Errorf("render of a ConfigMap holding workflow commands on a runner, to a pipe: %s\nwant exit 1 naming it, nothing on stdout", r)
	}
	file, err := os.Create(filepath.Join(t.TempDir(), "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var stderr strings.Builder
	if code := Run(t.Context(), []string{"render", cmOnly, "--root", root}, Env{Stdin: strings.NewReader(""), Stdout: file, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] }, Version: "test"}); code != 0 {
		t.Fatalf("render > file on a runner: exit %d\n%s", code, stderr.String())
	}
	if got, _ := os.ReadFile(file.Name()); !strings.Contains(string(got), "    ::add-mask::oops\n") {
		t.Errorf("render > file wrote %q, want the manifests as they are", got)
	}
	// A diff shows the ConfigMap's script, line by line, as context and as changes.
	ref := "oci:" + filepath.Join(t.TempDir(), "layout") + ":main"
	if err := os.Remove(filepath.Join(root, "plain", "ok\n::error title=pwned::injected.yaml")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, nil, "publish", filepath.Join(root, "plain"), ref, "--root", root)
	write("plain/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\ndata:\n  script: |\n    ::add-mask::oops\n    ::error::changed\n    ##[set-output name=x;]y\n")
	for _, format := range []string{"text", "markdown"} {
		r := run(t, env, "", "diff", filepath.Join(root, "plain"), ref, "--root", root, "-o", format)
		if r.code != 1 {
			t.Errorf("statepack diff -o %s: %s\nwant exit 1 (different)", format, r)
		}
		if bad := injectedCommands(r.stdout + "\n" + r.stderr); len(bad) > 0 {
			t.Errorf("statepack diff -o %s let the tree issue workflow commands %q:\n%s", format, bad, r)
		}
	}
}

// TestActionInputsCannotIssueCommands: inputs with line breaks are logged, reported and annotated by the action
// without any of their lines becoming a workflow command.
func TestActionInputsCannotIssueCommands(t *testing.T) {
	t.Parallel()
	rn := newRunner(t, t.TempDir())
	r := rn.run(t, map[string]string{
		"path":               demoTree + "\n::error title=pwned::path",
		"kubernetes-version": "1.33\n::add-mask::x",
		"tags":               "main\n::stop-commands::tok",
	})
	if r.code == 0 {
		t.Errorf("the action accepted inputs with line breaks:\n%s", r)
	}
	if bad := injectedCommands(r.stdout + "\n" + r.stderr); len(bad) > 0 {
		t.Errorf("action inputs issued workflow commands %q:\n%s", bad, r)
	}
}

// TestTableCellsStayOnOneLine: a value from the tree in a job summary or diff table cell cannot end the row and add
// headings or links (issue #15).
func TestTableCellsStayOnOneLine(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"web:1\n## pwned\n[x](https://evil)", "a\r\n|b|", "x\u2028y", "<script>|"} {
		got := mdCode(in)
		inner := strings.TrimSuffix(strings.TrimPrefix(got, "<code>"), "</code>")
		if strings.ContainsAny(inner, "\r\n\u2028|<>") {
			t.Errorf("mdCode(%q) = %q: the cell breaks out of its line or its table", in, got)
		}
	}
}

// TestValidateFilesAndStdin: `statepack validate app.yaml` and `kustomize build x | statepack validate -` read one
// stream of manifests, naming it in findings (issue #16).
func TestValidateFilesAndStdin(t *testing.T) {
	t.Parallel()
	good := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: default}\n"
	bad := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name, namespace: default}\n"
	dir := t.TempDir()
	file := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, 1, nil, "validate", file)
	if !strings.Contains(r.stdout, file+":7: error: ConfigMap/default/Bad_Name") {
		t.Errorf("validate FILE: %s\nwant the finding at %s:7 (metadata.name's line)", r, file)
	}
	if r := run(t, nil, good, "validate", "-"); r.code != 0 || !strings.Contains(r.stdout, "(stdin): 2 object(s), 0 error(s)") {
		t.Errorf("validate - with two objects on stdin: %s", r)
	}
	if r := run(t, nil, good, "render", "-"); r.code != 0 || !strings.Contains(r.stdout, "name: b") {
		t.Errorf("render -: %s", r)
	}
	if r := run(t, nil, bad, "validate", "-"); r.code != 1 || !strings.Contains(r.stdout, "(stdin):7: error") {
		t.Errorf("validate - with a bad name: %s\nwant the finding at (stdin):7", r)
	}
}
