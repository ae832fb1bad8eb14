package ghactions

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newRunner(env map[string]string) (*Runner, *bytes.Buffer) {
	var out bytes.Buffer
	return New(&out, func(k string) string { return env[k] }), &out
}

func TestInputNames(t *testing.T) {
	r, _ := newRunner(map[string]string{"INPUT_REGISTRY-PASSWORD": "  s3cret \n", "INPUT_PATH": "clusters/prod"})
	if got := r.Input("registry-password"); got != "s3cret" {
		t.Errorf(`Input("registry-password") = %q, want "s3cret" (INPUT_REGISTRY-PASSWORD, hyphen kept, trimmed)`, got)
	}
	if got := r.Input("path"); got != "clusters/prod" {
		t.Errorf(`Input("path") = %q`, got)
	}
}

func TestBoolInput(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"", true, false}, {"true", true, false}, {"TRUE", true, false}, {"False", false, false},
		{"yes", false, true}, {"1", false, true},
	} {
		r, _ := newRunner(map[string]string{"INPUT_PLAIN-HTTP": tc.in})
		got, err := r.BoolInput("plain-http", true)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("BoolInput(%q) = %t, %v; want %t, error %t", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestAnnotationEscaping(t *testing.T) {
	r, out := newRunner(nil)
	r.Annotate(Annotation{Level: LevelError, File: "dir,with:odd%chars/a.yaml", Line: 7, Title: "statepack: yaml/syntax",
		Message: "100% wrong\r\nsecond line: here, there"})
	r.Annotate(Annotation{Level: LevelWarning, Message: "no file"})
	r.Annotate(Annotation{Level: LevelWarning, File: "b.yaml", Line: 3, Column: 5, Message: "at a field"})
	r.Annotate(Annotation{Level: LevelWarning, File: "c.yaml", Column: 5, Message: "a column without a line is not one"})
	want := "::error file=dir%2Cwith%3Aodd%25chars/a.yaml,line=7,title=statepack%3A yaml/syntax::100%25 wrong%0D%0Asecond line: here, there\n" +
		"::warning::no file\n" +
		"::warning col=5,file=b.yaml,line=3::at a field\n" +
		"::warning file=c.yaml::a column without a line is not one\n"
	if out.String() != want {
		t.Errorf("annotations =\n%q\nwant\n%q", out.String(), want)
	}
}

func TestMaskComesFirstAndRedacts(t *testing.T) {
	r, out := newRunner(nil)
	key := "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAAsecretline1\nBBBBsecretline2\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
	r.Mask("hunter2")
	r.Mask("")
	r.Mask(key)
	log := r.Masker(out)
	// A secret split across writes is still caught: the masker holds back incomplete lines.
	log.Write([]byte("password is hun"))
	log.Write([]byte("ter2 and the key line is BBBBsecretline2\n"))
	log.Write([]byte("tail hunter2"))
	log.Flush()
	got := out.String()
	wantMasks := "::add-mask::hunter2\n::add-mask::-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----%0AAAAAsecretline1%0ABBBBsecretline2%0A-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n" +
		"::add-mask::AAAAsecretline1\n::add-mask::BBBBsecretline2\n"
	if !strings.HasPrefix(got, wantMasks) {
		t.Fatalf("output starts\n%q\nwant the masks first:\n%q", got, wantMasks)
	}
	rest := strings.TrimPrefix(got, wantMasks)
	if want := "password is *** and the key line is ***\ntail ***"; rest != want {
		t.Errorf("masked log = %q, want %q", rest, want)
	}
}

func TestOutputsAndSummaryWithoutRunnerFiles(t *testing.T) {
	// go-githubactions panics when GITHUB_OUTPUT or GITHUB_STEP_SUMMARY is unset; the runner prints instead.
	r, out := newRunner(nil)
	if err := r.SetOutput("digest", "sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddStepSummary("### done\n"); err != nil {
		t.Fatal(err)
	}
	if want := "output digest=sha256:abc\n### done\n"; out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

func TestOutputsToFiles(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "output"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary")}
	r, out := newRunner(env)
	r.Mask("tok3n")
	if err := r.SetOutput("ref", "host/repo@sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOutput("note", "multi\nline tok3n"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddStepSummary("### done tok3n\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	want := "ref<<_GitHubActionsFileCommandDelimeter_\nhost/repo@sha256:abc\n_GitHubActionsFileCommandDelimeter_\n" +
		"note<<_GitHubActionsFileCommandDelimeter_\nmulti\nline ***\n_GitHubActionsFileCommandDelimeter_\n"
	if string(got) != want {
		t.Errorf("GITHUB_OUTPUT =\n%s\nwant\n%s", got, want)
	}
	if got, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"]); string(got) != "### done ***\n\n" {
		t.Errorf("GITHUB_STEP_SUMMARY = %q", got)
	}
	if strings.Contains(out.String(), "output ") {
		t.Errorf("outputs went to stdout too: %q", out.String())
	}
	// A value holding the delimiter would set other outputs: refused.
	if err := r.SetOutput("evil", "x\n_GitHubActionsFileCommandDelimeter_\nother=1"); err == nil {
		t.Error("SetOutput with the delimiter in the value = nil error")
	}
}

func TestUnwritableOutputIsAnError(t *testing.T) {
	// As in a Docker action whose USER is not root: the runner's files are not writable. No panic, an error.
	env := map[string]string{"GITHUB_OUTPUT": filepath.Join(t.TempDir(), "missing-dir", "output")}
	r, _ := newRunner(env)
	err := r.SetOutput("digest", "sha256:abc")
	if err == nil || !strings.Contains(err.Error(), "setting output digest") {
		t.Errorf("SetOutput into an unwritable file = %v, want an error", err)
	}
}
