// Package ghactions is the GitHub Actions runner protocol as statepack's action speaks it: inputs, masks, outputs,
// the job summary, annotations and log groups. It wraps github.com/sethvargo/go-githubactions and guards it: that
// library panics when GITHUB_OUTPUT or GITHUB_STEP_SUMMARY is unset and exits the process in Fatalf; this package
// falls back to the log (stdout) instead and never exits.
//
// It is not a general SDK: only what `statepack action` needs is here.
package ghactions

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode"

	githubactions "github.com/sethvargo/go-githubactions"
)

// fileCommandDelimiter is the heredoc delimiter go-githubactions v1.3.0 writes around every value in GITHUB_OUTPUT.
// A value that contains it would end the value early and let the rest set other outputs, so such values are refused.
const fileCommandDelimiter = "_GitHubActionsFileCommandDelimeter_"

// Runner talks to the GitHub Actions runner: workflow commands on its writer (the step's stdout), files named by
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY. Every value that goes out passes through its masker first.
type Runner struct {
	getenv  func(string) string
	raw     io.Writer // the step's stdout, unmasked: only ::add-mask:: goes here
	out     *Masker   // the step's stdout, masked
	action  *githubactions.Action
	secrets *secretSet
}

// New returns a runner that reads the environment through getenv (nil means os.Getenv) and writes workflow commands
// to w. Wrap every other writer of the step with the runner's Masker, and call Mask for each secret before anything
// else is printed.
func New(w io.Writer, getenv func(string) string) *Runner {
	if getenv == nil {
		getenv = os.Getenv
	}
	r := &Runner{getenv: getenv, raw: w, secrets: &secretSet{}}
	r.out = r.Masker(w)
	// The runner's own commands (groups, annotations) are masked but not defused: they are the only lines meant to
	// be read as commands. go-githubactions escapes their messages, so what they carry cannot start a line.
	r.action = githubactions.New(githubactions.WithWriter(&commandWriter{w: w, redact: r.Redact}), githubactions.WithGetenv(getenv))
	return r
}

// Input returns the input name as a Docker action receives it: INPUT_<NAME> upper-cased, hyphens kept, spaces
// turned into underscores; surrounding white space is trimmed.
func (r *Runner) Input(name string) string { return r.action.GetInput(name) }

// BoolInput reads a boolean input the way the actions toolkit's getBooleanInput does: true, True, TRUE, false,
// False or FALSE (YAML 1.2 core schema). An empty input gives def.
func (r *Runner) BoolInput(name string, def bool) (bool, error) {
	switch v := r.Input(name); v {
	case "":
		return def, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	default:
		return false, fmt.Errorf("input %s: %q is not a boolean: write true or false", name, v)
	}
}

// InGitHubActions reports whether the process runs as a step of a GitHub Actions job.
func (r *Runner) InGitHubActions() bool { return r.getenv("GITHUB_ACTIONS") == "true" }

// Mask tells the runner to replace secret with *** in the log from now on, and makes every Masker of this runner
// (and the runner's own output) do the same. A multi-line secret is masked as a whole and line by line, since the
// runner matches masks within lines; PEM boundary lines ("-----BEGIN …-----") are not secret and are not masked.
func (r *Runner) Mask(secret string) {
	for _, s := range maskParts(secret) {
		// The command itself must reach the runner unmasked, or it would register "***".
		fmt.Fprint(r.raw, (&githubactions.Command{Name: "add-mask", Message: s}).String()+"\n")
		r.secrets.add(s)
	}
}

func maskParts(secret string) []string {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil
	}
	parts := []string{secret}
	if strings.ContainsAny(secret, "\r\n") {
		for _, line := range strings.FieldsFunc(secret, func(r rune) bool { return r == '\n' || r == '\r' }) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "-----") || slices.Contains(parts, line) {
				continue
			}
			parts = append(parts, line)
		}
	}
	return parts
}

// Out is the step's stdout with every masked secret replaced by ***.
func (r *Runner) Out() *Masker { return r.out }

// SetOutput sets a step output through GITHUB_OUTPUT. Without GITHUB_OUTPUT (outside a runner) it prints
// "name=value" to stdout instead of panicking as go-githubactions would.
func (r *Runner) SetOutput(name, value string) error {
	value = r.Redact(value)
	if strings.Contains(value, fileCommandDelimiter) {
		return fmt.Errorf("output %s: the value holds the file command delimiter %s", name, fileCommandDelimiter)
	}
	if r.getenv("GITHUB_OUTPUT") == "" {
		_, err := fmt.Fprintf(r.out, "output %s=%s\n", name, value)
		return err
	}
	return guard("setting output "+name, func() { r.action.SetOutput(name, value) })
}

// AddStepSummary appends Markdown to the job summary (GITHUB_STEP_SUMMARY). Without GITHUB_STEP_SUMMARY it prints
// the Markdown to stdout instead.
func (r *Runner) AddStepSummary(markdown string) error {
	markdown = r.Redact(markdown)
	if r.getenv("GITHUB_STEP_SUMMARY") == "" {
		_, err := io.WriteString(r.out, markdown)
		return err
	}
	return guard("writing the job summary", func() { r.action.AddStepSummary(markdown) })
}

// Group starts a folded section of the log; EndGroup ends it. Groups do not nest.
func (r *Runner) Group(title string) { r.action.Group(title) }

// EndGroup ends the folded section that Group started.
func (r *Runner) EndGroup() { r.action.EndGroup() }

// Level is the severity of an annotation.
type Level string

// Annotation levels, as workflow commands name them.
const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
	LevelNotice  Level = "notice"
)

// Annotation is a message the runner attaches to the job and, with File, to a line of a file in the pull request.
type Annotation struct {
	Level   Level
	File    string // relative to the repository root (GITHUB_WORKSPACE)
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based, on Line; 0 when unknown
	Title   string
	Message string
}

// Annotate issues ::error, ::warning or ::notice with the annotation's properties. go-githubactions escapes "%",
// CR and LF in the message, and also ":" and "," in property values.
func (r *Runner) Annotate(a Annotation) {
	props := githubactions.CommandProperties{}
	if a.File != "" {
		props["file"] = a.File
		if a.Line > 0 {
			props["line"] = fmt.Sprint(a.Line)
			if a.Column > 0 {
				props["col"] = fmt.Sprint(a.Column)
			}
		}
	}
	if a.Title != "" {
		props["title"] = a.Title
	}
	level := a.Level
	if level == "" {
		level = LevelError
	}
	// Masked before go-githubactions escapes "%", CR, LF, ":" and ",": a secret holding one of them would no longer
	// be recognised afterwards.
	for k, v := range props {
		props[k] = r.Redact(v)
	}
	r.action.IssueCommand(&githubactions.Command{Name: string(level), Message: r.Redact(a.Message), Properties: props})
}

// guard runs f, which may panic (go-githubactions panics on file command errors), and returns the panic as an error.
func guard(what string, f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = fmt.Errorf("%s: %w", what, e)
				return
			}
			err = fmt.Errorf("%s: %v", what, p)
		}
	}()
	f()
	return nil
}

// secretSet holds the values masked so far, longest first, so that a secret that contains another is replaced
// whole.
type secretSet struct {
	mu     sync.RWMutex
	values []string
}

func (s *secretSet) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.values, v) {
		return
	}
	s.values = append(s.values, v)
	slices.SortStableFunc(s.values, func(a, b string) int { return len(b) - len(a) })
}

// Redact replaces every secret masked so far in s with ***.
func (r *Runner) Redact(s string) string {
	r.secrets.mu.RLock()
	defer r.secrets.mu.RUnlock()
	for _, secret := range r.secrets.values {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

// Masker is a writer that replaces the runner's masked secrets with *** before they reach the underlying writer,
// and defuses every line the runner would read as a workflow command (see Defuse): what goes through it is log, and
// nothing in a log — an object name, a file name, an error of kustomize's, an input — may steer the runner. It holds
// back an incomplete last line until the next write or Flush, so that a secret or a command split over two writes is
// still caught.
type Masker struct {
	mu     sync.Mutex
	w      io.Writer
	redact func(string) string
	buf    []byte
}

// Masker wraps w so that what goes through it is masked like the runner's log, and defused.
func (r *Runner) Masker(w io.Writer) *Masker { return &Masker{w: w, redact: r.Redact} }

// Guard wraps w so that no line written through it is read by the runner as a workflow command: the writer of a
// command that prints text from the tree (findings, diffs, logs) on a runner's stdout or stderr. It masks nothing.
func Guard(w io.Writer) *Masker { return &Masker{w: w, redact: func(s string) string { return s }} }

// commandWriter writes the runner's own workflow commands, masked but not defused.
type commandWriter struct {
	w      io.Writer
	redact func(string) string
}

func (c *commandWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, c.redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Defuse changes text so that the GitHub Actions runner reads no workflow command in it, changing nothing else: a
// line (the runner splits at CR and LF) that starts with "::" after white space gets a backslash in front, and
// "##[" (the older syntax, read anywhere in a line) becomes "##\[". The runner's ActionCommand.TryParseV2 trims
// leading white space before it looks for "::" (actions/runner src/Runner.Common/ActionCommand.cs), hence the
// white space; stop-commands is one of these commands, so it is defused like any other.
func Defuse(text string) string {
	var b strings.Builder
	start := true
	for i := 0; i < len(text); {
		if start {
			rest := strings.TrimLeftFunc(text[i:], func(r rune) bool { return r != '\n' && r != '\r' && unicode.IsSpace(r) })
			if strings.HasPrefix(rest, "::") {
				b.WriteByte('\\')
			}
			start = false
		}
		c := text[i]
		b.WriteByte(c)
		i++
		if c == '\n' || c == '\r' {
			start = true
		}
	}
	return strings.ReplaceAll(b.String(), "##[", "##\\[")
}

// Write masks and forwards every complete line of p; it reports len(p) written unless the underlying writer fails.
func (m *Masker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(m.buf, p...)
	i := bytes.LastIndexByte(m.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	lines := string(m.buf[:i+1])
	m.buf = append(m.buf[:0], m.buf[i+1:]...)
	if _, err := io.WriteString(m.w, Defuse(m.redact(lines))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what is held back of an incomplete last line.
func (m *Masker) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.buf) == 0 {
		return nil
	}
	rest := string(m.buf)
	m.buf = m.buf[:0]
	_, err := io.WriteString(m.w, Defuse(m.redact(rest)))
	return err
}
