package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/statepack/statepack"
)

// The status of a target in diff --config.
const (
	diffEqual       = "equal"       // the tree renders to the objects of the published artifact
	diffDifferent   = "different"   // some objects differ
	diffUnpublished = "unpublished" // nothing is published under the target's ref yet: every object is added
	diffFailed      = "failed"      // the comparison did not finish
)

// fleetDiffTarget is one target of diff --config: how it compares, and the comparison itself in the fields of a
// single diff's JSON result (empty lists when it failed).
type fleetDiffTarget struct {
	Name string `json:"name"`
	// Ref is what the tree was compared with: the target's repository and the tag it publishes first.
	Ref    string `json:"ref"`
	Path   string `json:"path"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	diffResult

	from, to *diffSide
	rep      *statepack.DiffReport
	err      error
}

// fleetDiffCounts counts the targets of a diff --config by status.
type fleetDiffCounts struct {
	Targets     int `json:"targets"`
	Equal       int `json:"equal"`
	Different   int `json:"different"`
	Unpublished int `json:"unpublished"`
	Failed      int `json:"failed"`
}

// fleetDiffResult is what diff --config prints with -o json.
type fleetDiffResult struct {
	// Equal is true when every target compared equal.
	Equal   bool              `json:"equal"`
	Summary fleetDiffCounts   `json:"summary"`
	Targets []fleetDiffTarget `json:"targets"`
}

// runFleetDiff compares every selected target's tree with the artifact under its ref, at most --jobs at once, and
// prints one report. Exit: 0 when all are equal, 1 when any differs or is not published yet, the worst failure's
// code when any failed (the others are still reported).
func runFleetDiff(ctx context.Context, env *Env, g *globalOptions, o *diffOptions, fleet *fleetOptions, format string) error {
	targets, err := fleet.load()
	if err != nil {
		return err
	}
	check, err := o.ver.checker(ctx, env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.reg.timeout)
	defer cancel()
	log := g.logger(env)
	if len(targets) == 0 {
		log.Info("no target selected", "config", fleet.config, "shard", fleet.shard)
	}
	ro, err := o.reg.readOptions(env, log)
	if err != nil {
		return err
	}
	lo, err := o.src.loadOptions(env, log)
	if err != nil {
		return err
	}
	results := statepack.EachTarget(ctx, fleet.jobs, targets, func(ctx context.Context, t statepack.Target) fleetDiffTarget {
		tro, tlo := ro, t.LoadOptions(lo)
		tro.Logger, tlo.Logger = log.With("target", t.Name), log.With("target", t.Name)
		tro.Helm = &tlo.Helm // the artifact's releases are rendered as the target's tree's are
		return diffTarget(ctx, env, o, check, t, tlo, tro)
	}, func(t statepack.Target, err error) fleetDiffTarget {
		return failedDiff(fleetDiffTarget{Name: t.Name, Path: t.Path}, err)
	})

	res := fleetDiffResult{Targets: results}
	var failures []error
	for _, r := range results {
		res.Summary.Targets++
		switch r.Status {
		case diffEqual:
			res.Summary.Equal++
		case diffDifferent:
			res.Summary.Different++
		case diffUnpublished:
			res.Summary.Unpublished++
		case diffFailed:
			res.Summary.Failed++
			failures = append(failures, r.err)
			fmt.Fprintf(env.Stderr, "%s: failed: %s\n", r.Name, r.err)
		}
	}
	res.Equal = res.Summary.Equal == res.Summary.Targets

	switch format {
	case "json":
		err = writeJSON(env.Stdout, res)
	case "markdown":
		_, err = io.WriteString(env.Stdout, fleetDiffMarkdown(res, markdownLimit))
	default:
		_, err = io.WriteString(env.Stdout, fleetDiffText(res))
	}
	if err != nil {
		return trouble(err)
	}
	if err := fleetFailure(failures, len(results)); err != nil {
		return err
	}
	if !res.Equal {
		return &reportedError{errDifferent}
	}
	return nil
}

// diffTarget renders a target's tree and reads the artifact under its ref at the same time, then compares them.
func diffTarget(ctx context.Context, env *Env, o *diffOptions, check *statepack.Verifier, t statepack.Target, lo statepack.LoadOptions, ro statepack.ReadOptions) fleetDiffTarget {
	res := fleetDiffTarget{Name: t.Name, Path: t.Path}
	ref, err := t.PublishedRef()
	if err != nil {
		return failedDiff(res, err)
	}
	res.Ref = ref.String()
	var (
		tree, published *diffSide
		treeErr, pubErr error
		wg              sync.WaitGroup
	)
	wg.Go(func() { tree, treeErr = loadTreeSide(ctx, env, t.Path, lo, t.Name+": ") })
	wg.Go(func() { published, pubErr = statepack.LoadArtifactSide(ctx, ref, check, true, ro) })
	wg.Wait()
	if err := errors.Join(treeErr, pubErr); err != nil {
		return failedDiff(res, err)
	}
	res.Status = diffDifferent
	if published == nil {
		res.Status = diffUnpublished
		published = statepack.UnpublishedSide(ref)
	}
	rep, err := statepack.Compare(published, tree, o.context)
	if err != nil {
		return failedDiff(res, err)
	}
	if rep.Equal() && res.Status == diffDifferent {
		res.Status = diffEqual
	}
	res.from, res.to, res.rep = published, tree, rep
	res.diffResult = newDiffResult(published, tree, rep)
	return res
}

// failedDiff marks a target's comparison as failed with err, as single diff reports its errors.
func failedDiff(res fleetDiffTarget, err error) fleetDiffTarget {
	res.err = trouble(err)
	res.Status, res.Error = diffFailed, err.Error()
	res.Added, res.Removed, res.Changed = []diffEntry{}, []diffEntry{}, []diffEntry{}
	return res
}

// statusText is a target's status as the text and markdown reports write it.
func (r *fleetDiffTarget) statusText() string {
	if r.Status == diffUnpublished {
		return "not published yet"
	}
	return r.Status
}

// changes is the one-line account of a target: what differs, or why it could not be compared.
func (r *fleetDiffTarget) changes() string {
	if r.rep == nil {
		return firstLine(r.Error)
	}
	return diffSummary(r.rep)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// headline is "2 targets: 1 different, 1 equal", leaving out the zeros.
func (c fleetDiffCounts) headline() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{c.Different, "different"}, {c.Unpublished, "not published yet"}, {c.Failed, "failed"}, {c.Equal, "equal"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	head := fmt.Sprintf("%d target(s)", c.Targets)
	if len(parts) == 0 {
		return head
	}
	return head + ": " + strings.Join(parts, ", ")
}

// fleetDiffText is the text report: the unified diffs of each target that differs under a line naming it, then one
// line per target (name, status, what differs) and a total.
func fleetDiffText(res fleetDiffResult) string {
	var b strings.Builder
	for _, r := range res.Targets {
		if r.rep == nil || r.rep.Equal() {
			continue
		}
		fmt.Fprintf(&b, "# %s: from %s (%d objects) to %s (%d objects)\n", r.Name, r.from.Label, r.from.Objects, r.to.Label, r.to.Objects)
		for _, e := range r.rep.Entries {
			b.WriteString(e.Diff)
		}
	}
	for _, r := range res.Targets {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", r.Name, r.statusText(), r.changes())
	}
	fmt.Fprintf(&b, "%s\n", res.Summary.headline())
	return b.String()
}

// fleetDiffMarkdown is the report for a pull-request comment or a job summary: a headline, a table of the targets,
// then a section for each target that is not equal, with the objects that differ as diff's markdown shows them.
// The text stays under limit bytes: each section gets an equal share of what the table leaves.
func fleetDiffMarkdown(res fleetDiffResult, limit int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### statepack diff: %s\n\n", res.Summary.headline())
	if len(res.Targets) == 0 {
		b.WriteString("No target selected.\n")
		return b.String()
	}
	b.WriteString("| target | ref | status | changes |\n| --- | --- | --- | --- |\n")
	var sections []fleetDiffTarget
	for i, r := range res.Targets {
		row := fmt.Sprintf("| %s | %s | %s | %s |\n", diffMDCode(r.Name), diffMDCode(r.Ref), r.statusText(), mdText(r.changes()))
		if b.Len()+len(row)+diffNoteReserve > limit/2 {
			fmt.Fprintf(&b, "\n_%d more target(s) left out: the rest would not fit in a comment._\n", len(res.Targets)-i)
			break
		}
		b.WriteString(row)
		if r.Status != diffEqual {
			sections = append(sections, r)
		}
	}
	b.WriteString("\n")
	for i, r := range sections {
		share := (limit - b.Len()) / (len(sections) - i)
		heading := fmt.Sprintf("#### %s: %s\n\n", diffMDCode(r.Name), r.statusText())
		if share < len(heading)+diffNoteReserve {
			fmt.Fprintf(&b, "_%d target section(s) left out: they would not fit in a comment._\n", len(sections)-i)
			break
		}
		b.WriteString(heading)
		if r.rep == nil {
			fmt.Fprintf(&b, "> %s\n\n", mdText(truncate(r.Error, share-len(heading)-diffNoteReserve)))
			continue
		}
		b.WriteString(diffMarkdownBody(r.from, r.to, r.rep, share-len(heading)))
		b.WriteString("\n")
	}
	return b.String()
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n-len("…"), 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
