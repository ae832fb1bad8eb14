package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/objdiff"
	"github.com/statepack/statepack/publish"
)

func init() { extraCommands = append(extraCommands, newDiffCmd) }

// errDifferent is what diff returns when the two sides differ, after printing the difference: exit 1, as diff(1).
// exitCode maps build.ErrInvalidInput to 1, so the error wraps it; Run never prints it (it is a reportedError).
var errDifferent = fmt.Errorf("the two sides differ (%w)", build.ErrInvalidInput)

// troubleError is an error that kept diff from comparing. It hides the sentinels of its cause from exitCode, so
// that diff exits 3 for it, never 1: a script reads 1 as "different", as it does from diff(1).
type troubleError struct{ err error }

func (e *troubleError) Error() string { return e.err.Error() }

// trouble marks err as one that kept diff from comparing; usage errors stay usage errors (exit 2).
func trouble(err error) error {
	var ue *usageError
	if err == nil || errors.As(err, &ue) || errors.Is(err, publish.ErrInvalidReference) || errors.Is(err, statepack.ErrInvalidOption) {
		return err
	}
	return &troubleError{err}
}

// lockedWriter serialises writes from goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// diffOperand is one argument of diff: a source tree or an artifact.
type diffOperand struct {
	path string // a tree when not empty
	ref  publish.Ref
}

// diffSide is one side of a comparison, loaded.
type diffSide = statepack.DiffSide

// diffEntry is one object that differs, in the JSON result.
type diffEntry struct {
	Object    string `json:"object"`
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Diff      string `json:"diff"`
}

// diffResult is what diff prints with -o json.
type diffResult struct {
	Equal     bool        `json:"equal"`
	From      *diffSide   `json:"from"`
	To        *diffSide   `json:"to"`
	Added     []diffEntry `json:"added"`
	Removed   []diffEntry `json:"removed"`
	Changed   []diffEntry `json:"changed"`
	Unchanged int         `json:"unchanged"`
}

type diffOptions struct {
	src            sourceOptions
	reg            registryOptions
	ver            verifyOptions
	output, format string
	context        int
}

// resultFormat is the format asked for with --format, else -o: text, json or markdown.
func (o *diffOptions) resultFormat() (string, error) {
	f := o.output
	if o.format != "" {
		f = o.format
	}
	switch f {
	case "text", "json", "markdown":
		return f, nil
	}
	return "", usagef("the result format must be text, json or markdown, got %q", f)
}

func newDiffCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		o     diffOptions
		fleet fleetOptions
	)
	cmd := &cobra.Command{
		Use:   "diff [PATH] REF | diff REF1 REF2 | diff --config FILE",
		Short: "Show which objects differ between a tree and a published artifact, or between two artifacts",
		Long: `diff compares Kubernetes objects, not files: objects are matched by group, kind, namespace and name, and each
object that differs is shown as a unified diff of its canonical YAML, so that the order of objects and files and the
formatting of the source make no difference.

"diff [PATH] REF" renders PATH (default ".") as publish would and shows what publishing it over REF would change:
REF is the old side (a/), the tree the new one (b/). "diff REF1 REF2" compares two artifacts, REF1 old, REF2 new. An
argument is a tree when it names a directory, unless it starts with oci: (a layout) or oci:// (a registry).
Artifacts need not come from statepack: every .yaml, .yml and .json file in layer 0 is read (and a kustomization in
it is built), as Flux applies them.

Output: -o text (default), -o json, or -o markdown for pull-request comments and job summaries (a table and a
collapsible diff per object, kept under GitHub's comment size limit). With --key, each artifact's signature is
verified before it is read.

"diff --config statepack.yaml" compares every target of a config file (or those named with --target, or a --shard)
with what its ref names: the tag in the ref, else the first of its tags. Targets run concurrently (--jobs), and one
report lists each as equal, different, not published yet (every object added) or failed, then the differences target
by target; a target that fails does not stop the others.

Exit codes: 0 equal, 1 different (as diff(1)), 2 usage error, 3 anything that kept the comparison from finishing
(registry or I/O failure, a failed verification, a tree that does not render). With --config: 0 when every target is
equal, 1 when any differs or is not published yet, else the code of the worst failure (2 or 3).`,
		Args: argsUsage(0, 2, "[PATH] REF or REF1 REF2, or --config"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Both sides may write to stderr at the same time: findings of the render, logs of the download.
			locked := *env
			locked.Stderr = &lockedWriter{w: env.Stderr}
			env := &locked
			switch {
			case fleet.config != "" && len(args) > 0:
				return usagef("with --config, each target's PATH and REF come from the config file: drop the arguments %s", strings.Join(args, " "))
			case fleet.config == "" && len(args) == 0:
				return usagef("diff takes [PATH] REF or REF1 REF2, or --config FILE")
			}
			format, err := o.resultFormat()
			if err != nil {
				return err
			}
			if o.context < 0 {
				return usagef("--unified must not be negative, got %d", o.context)
			}
			if fleet.config != "" {
				return runFleetDiff(cmd.Context(), env, g, &o, &fleet, format)
			}
			from, to, err := diffOperands(args)
			if err != nil {
				return err
			}
			check, err := o.ver.checker(cmd.Context(), env)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.reg.timeout)
			defer cancel()
			log := g.logger(env)
			ro, err := o.reg.readOptions(env, log)
			if err != nil {
				return err
			}
			lo, err := o.src.loadOptions(env, log)
			if err != nil {
				return err
			}
			ro.Helm = &lo.Helm // an artifact's releases are rendered as the tree's are
			// The two sides load at the same time: a render and a download overlap.
			operands := []diffOperand{from, to}
			sides := [2]*diffSide{}
			errs := [2]error{}
			var wg sync.WaitGroup
			for i, op := range operands {
				wg.Go(func() {
					if op.path != "" {
						sides[i], errs[i] = loadTreeSide(ctx, env, op.path, lo, "")
					} else {
						sides[i], errs[i] = statepack.LoadArtifactSide(ctx, op.ref, check, false, ro)
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs[0], errs[1]); err != nil {
				return trouble(err)
			}
			rep, err := statepack.Compare(sides[0], sides[1], o.context)
			if err != nil {
				return err
			}
			if err := writeDiff(env.Stdout, format, sides[0], sides[1], rep); err != nil {
				return trouble(err)
			}
			if !rep.Equal() {
				return &reportedError{errDifferent}
			}
			return nil
		},
	}
	o.src.bind(cmd)
	o.reg.bind(cmd)
	o.ver.bind(cmd)
	fleet.bind(cmd)
	// diff's own -o and --format, which take markdown besides text and json, shadow the global ones.
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "result format: text, json or markdown")
	cmd.Flags().StringVar(&o.format, "format", "", "result format: text, json or markdown (same as -o)")
	cmd.Flags().IntVarP(&o.context, "unified", "U", 3, "lines of context around each change")
	return cmd
}

// diffOperands sorts the arguments into the old side and the new side.
func diffOperands(args []string) (from, to diffOperand, err error) {
	last, err := diffRef(args[len(args)-1])
	if err != nil {
		return from, to, err
	}
	if len(args) == 1 {
		return last, diffOperand{path: "."}, nil
	}
	first := args[0]
	if isTreeArg(first) {
		return last, diffOperand{path: first}, nil
	}
	ref, err := diffRef(first)
	if err != nil {
		if st, statErr := os.Stat(first); statErr == nil && !st.IsDir() {
			return from, to, usagef("%s is a file: give the directory of a tree, or an artifact reference", first)
		}
		return from, to, usagef("%s is neither a directory nor an artifact reference: %w", first, err)
	}
	return ref, last, nil
}

// diffRef parses an argument that must be an artifact reference naming a tag or a digest.
func diffRef(s string) (diffOperand, error) {
	if isTreeArg(s) {
		return diffOperand{}, usagef("%s is a directory, and diff needs an artifact to compare with: diff [PATH] REF or diff REF1 REF2", s)
	}
	ref, err := parseContentRef(s)
	if err != nil {
		return diffOperand{}, err
	}
	return diffOperand{ref: ref}, nil
}

// isTreeArg reports whether an argument names a source tree: an existing directory, unless written as a reference.
func isTreeArg(s string) bool {
	if strings.HasPrefix(s, "oci:") {
		return false
	}
	st, err := os.Stat(s)
	return err == nil && st.IsDir()
}

// loadTreeSide renders and validates a tree as publish does. Findings go to stderr, each line after prefix; a tree
// whose render has errors is refused, since its objects are incomplete, while validation findings do not stop the
// comparison.
func loadTreeSide(ctx context.Context, env *Env, path string, lo statepack.LoadOptions, prefix string) (*diffSide, error) {
	side, s, err := statepack.LoadTreeSide(ctx, path, lo)
	if s != nil {
		for _, f := range s.Findings {
			fmt.Fprintf(env.Stderr, "%s%s\n", prefix, f)
		}
	}
	return side, err
}

// writeDiff prints a comparison in a result format: text, json or markdown.
func writeDiff(w io.Writer, format string, from, to *diffSide, rep *objdiff.Report) error {
	switch format {
	case "json":
		return writeJSON(w, newDiffResult(from, to, rep))
	case "markdown":
		_, err := io.WriteString(w, diffMarkdown(from, to, rep, markdownLimit))
		return err
	}
	var b strings.Builder
	for _, e := range rep.Entries {
		b.WriteString(e.Diff)
	}
	fmt.Fprintf(&b, "from %s (%d objects) to %s (%d objects): %s\n", from.Label, from.Objects, to.Label, to.Objects, diffSummary(rep))
	_, err := io.WriteString(w, b.String())
	return err
}

func newDiffResult(from, to *diffSide, rep *objdiff.Report) diffResult {
	res := diffResult{Equal: rep.Equal(), From: from, To: to, Unchanged: rep.Unchanged,
		Added: []diffEntry{}, Removed: []diffEntry{}, Changed: []diffEntry{}}
	for _, e := range rep.Entries {
		d := diffEntry{Object: e.Name(), Group: e.ID.Group, Kind: e.ID.Kind, Namespace: e.ID.Namespace, Name: e.ID.Name, Diff: e.Diff}
		switch e.Status {
		case objdiff.Added:
			res.Added = append(res.Added, d)
		case objdiff.Removed:
			res.Removed = append(res.Removed, d)
		case objdiff.Changed:
			res.Changed = append(res.Changed, d)
		}
	}
	return res
}

// diffSummary is "1 changed, 2 added, 10 unchanged", leaving out the zeros, or "no differences".
func diffSummary(rep *objdiff.Report) string {
	if rep.Equal() {
		return "no differences"
	}
	var parts []string
	for _, s := range []objdiff.Status{objdiff.Changed, objdiff.Added, objdiff.Removed} {
		if n := rep.Count(s); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if rep.Unchanged > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", rep.Unchanged))
	}
	return strings.Join(parts, ", ")
}

// markdownLimit keeps the markdown result under GitHub's 65,536-character limit for comments, with room for
// whatever a workflow adds around it. Job summaries take up to 1 MiB, so the same limit suits both.
const markdownLimit = 60_000

// diffMarkdown writes the comparison for a pull-request comment or a job summary: a headline, a table of the
// objects that differ, and a collapsible unified diff per object, changed objects first. Rows and diffs that would
// take the text past limit bytes are left out, and a last line says how many.
func diffMarkdown(from, to *diffSide, rep *objdiff.Report, limit int) string {
	const heading = "### statepack diff\n\n"
	return heading + diffMarkdownBody(from, to, rep, limit-len(heading))
}

// diffMarkdownBody is diffMarkdown without its heading, for reports that put several comparisons under headings
// of their own (diff --config).
func diffMarkdownBody(from, to *diffSide, rep *objdiff.Report, limit int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From %s (%d objects) to %s (%d objects): ", diffMDCode(from.Label), from.Objects, diffMDCode(to.Label), to.Objects)
	if rep.Equal() {
		b.WriteString("**no differences**.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "**%s**.\n\n", diffSummary(rep))

	entries := orderedEntries(rep)
	rows := 0
	b.WriteString("| change | object |\n| --- | --- |\n")
	for _, e := range entries {
		row := fmt.Sprintf("| %s | %s |\n", e.Status, diffMDCode(e.Name()))
		if b.Len()+len(row)+diffNoteReserve > limit {
			break
		}
		b.WriteString(row)
		rows++
	}
	b.WriteString("\n")
	details := writeDiffDetails(&b, entries, limit, nil)
	if rows < len(entries) || details < len(entries) {
		fmt.Fprintf(&b, "_%d of %d objects listed and %d of their diffs shown: the rest would not fit in a comment. "+
			"Run `statepack diff` for the full output._\n", rows, len(entries), details)
	}
	return b.String()
}

// diffNoteReserve is the room kept for the note about left-out parts.
const diffNoteReserve = 400

// orderedEntries lists the entries of a report changed first, then added, then removed, each group in the report's
// order.
func orderedEntries(rep *objdiff.Report) []objdiff.Entry {
	var entries []objdiff.Entry
	for _, s := range []objdiff.Status{objdiff.Changed, objdiff.Added, objdiff.Removed} {
		for _, e := range rep.Entries {
			if e.Status == s {
				entries = append(entries, e)
			}
		}
	}
	return entries
}

// writeDiffDetails writes a collapsible unified diff per entry, in order, while b stays under limit bytes (with room
// for a note), and returns how many it wrote. redact, when not nil, is applied to each diff before it is written:
// the action masks its secrets there.
func writeDiffDetails(b *strings.Builder, entries []objdiff.Entry, limit int, redact func(string) string) int {
	n := 0
	for _, e := range entries {
		diff := e.Diff
		if redact != nil {
			diff = redact(diff)
		}
		fence := strings.Repeat("`", max(3, longestRun(diff, '`')+1))
		section := fmt.Sprintf("<details><summary>%s %s</summary>\n\n%sdiff\n%s%s\n\n</details>\n\n",
			e.Status, diffMDCode(e.Name()), fence, diff, fence)
		if b.Len()+len(section)+diffNoteReserve > limit {
			break
		}
		b.WriteString(section)
		n++
	}
	return n
}

// diffMDCode writes s as inline code that is safe in a table cell and in HTML.
func diffMDCode(s string) string { return mdCode(s) }

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
