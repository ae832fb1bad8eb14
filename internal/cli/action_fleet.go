package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/ghactions"
	"github.com/statepack/statepack/sign"
)

// The action with the config input: every target of a statepack.yaml (or those the targets and shard inputs pick)
// is validated, and published in publish mode, as `statepack publish --config` does, with one summary.

// configConflicts are the inputs that say what the config file says for each target.
var configConflicts = []string{"path", "ref", "tags", "key"}

// readConfigInputs reads config, targets and shard, refuses the inputs that conflict with a config, and selects the
// targets.
func (a *actionRun) readConfigInputs() error {
	gh, c := a.gh, &a.cfg
	names, shard := splitList(gh.Input("targets")), gh.Input("shard")
	if c.config == "" {
		switch {
		case len(names) > 0:
			return usagef("input targets needs the config input: it names targets of a statepack.yaml; set config, or remove targets")
		case shard != "":
			return usagef("input shard needs the config input: it splits the targets of a statepack.yaml; set config, or remove shard")
		}
		return nil
	}
	var conflicts []string
	for _, name := range configConflicts {
		// path defaults to "." in action.yml: only another value conflicts.
		if v := gh.Input(name); v != "" && (name != "path" || v != ".") {
			conflicts = append(conflicts, name)
		}
	}
	if len(conflicts) > 0 {
		return usagef("input config (%s) does not combine with the input(s) %s: each target's path, ref, tags and signing key come from the config file: remove %s from the step",
			c.config, strings.Join(conflicts, ", "), strings.Join(conflicts, ", "))
	}
	// sign: keyless signs the targets whose config names no key (sign.key), with one certificate; the others keep
	// their keys. Without it, the config alone says who signs: a job's OIDC token does not make keyless the default.
	switch strings.ToLower(gh.Input("sign")) {
	case "":
	case signKeyless:
		c.sign = signKeyless
	default:
		return usagef("input sign: %q does not combine with config: each target signs with the key its config names (sign.key); sign: keyless signs the targets that name none", gh.Input("sign"))
	}
	if shard != "" {
		if _, _, err := statepack.ParseShard(shard); err != nil {
			return usagef("input shard: %q must be K/N with 1 <= K <= N, e.g. 2/4 for the second job of a matrix of four", shard)
		}
	}
	if _, err := os.Stat(c.config); errors.Is(err, fs.ErrNotExist) {
		return usagef("input config: %s does not exist: give the path of the statepack.yaml relative to the workspace (the repository root after actions/checkout)", c.config)
	}
	cfg, err := statepack.LoadConfig(c.config)
	if err != nil {
		return fmt.Errorf("input config: %w", err)
	}
	if cfg.Images != nil && (cfg.Images.Pin || len(cfg.Images.Rules) > 0) {
		// Refused rather than skipped: a config that asks for verified images must never publish unverified ones.
		return usagef("input config: %s has an images section, which the action does not apply to a config yet: run `statepack publish --config %s` (or validate) in a run step with the statepack image, which applies it", c.config, c.config)
	}
	known := make([]string, len(cfg.Targets))
	for i, t := range cfg.Targets {
		known[i] = t.Name
	}
	slices.Sort(known)
	for _, n := range names {
		if !slices.Contains(known, n) {
			return usagef("input targets: %q is not a target of %s (its targets: %s)", n, c.config, strings.Join(known, ", "))
		}
	}
	cfg.ApplyDefaults(a.targetDefaults()) // the package inputs, as the flags beside --config
	c.fleet = fleetOptions{config: c.config, targets: names, shard: shard, jobs: runtime.GOMAXPROCS(0)}
	c.targets, err = cfg.Select(statepack.Selection{Names: names, Shard: shard})
	return err
}

// targetOutcome is what one target of the config left: its summary, the annotations of its findings, and its error.
type targetOutcome struct {
	summary     actionSummary
	annotations []ghactions.Annotation
	err         error
}

// runConfig validates, and in publish mode publishes, every selected target, at most GOMAXPROCS at once. Each
// target's log is one folded section, printed when the target is done; a failing target fails the step (with the
// worst exit code) but the others are still published and reported.
func (a *actionRun) runConfig(ctx context.Context) error {
	c := &a.cfg
	a.summary.Config = c.config
	a.logConfigInputs()

	env := &a.env
	base, err := a.publishBase(nil)
	if err != nil {
		return err
	}
	keys := &statepack.Signers{Load: func(ctx context.Context, key string) (*sign.Signer, error) {
		return loadKey(ctx, &a.env, key, c.keyPassword)
	}}
	if c.sign == signKeyless {
		keys.Unnamed = a.keylessSigner // one Fulcio certificate for every target that names no key
	}
	if c.mode == modePublish {
		// Every key first, so that a wrong key or password fails before anything renders or is pushed.
		if err := keys.LoadAll(ctx, c.targets); err != nil {
			return err
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, actionTimeout)
		defer cancel()
	}
	findingsCap := maxSummaryFindings
	if n := len(c.targets); n > 1 {
		findingsCap = max(10, maxSummaryFindings/n) // summary-json stays well under the 1 MiB a step output holds
	}

	var mu sync.Mutex // one target's log section at a time
	outcomes := statepack.EachTarget(ctx, c.fleet.jobs, c.targets, func(ctx context.Context, t targetConfig) targetOutcome {
		var buf bytes.Buffer
		tenv := *env
		tenv.Stdout, tenv.Stderr = &buf, &buf
		o := a.runTarget(ctx, &tenv, t, base, keys)
		o.summary.capFindings(findingsCap)
		mu.Lock()
		defer mu.Unlock()
		a.gh.Group(fmt.Sprintf("Target %s: %s", t.Name, o.summary.Status))
		_, _ = a.env.Stdout.Write(buf.Bytes()) // through the masker, as every log line
		a.gh.EndGroup()
		for _, an := range o.annotations {
			a.gh.Annotate(an)
		}
		return o
	}, func(t targetConfig, err error) targetOutcome {
		return targetOutcome{summary: a.targetSummary(t).failed(err), err: err}
	})

	var errs []error
	for _, o := range outcomes {
		a.summary.Targets = append(a.summary.Targets, o.summary)
		if o.err != nil {
			errs = append(errs, o.err)
		}
	}
	a.summary.total(c.mode)
	if err := errors.Join(a.writeOutputs(), a.writeSummary()); err != nil {
		return err
	}
	return fleetFailure(errs, len(outcomes))
}

// targetSummary is the summary of a target before it runs.
func (a *actionRun) targetSummary(t targetConfig) actionSummary {
	return actionSummary{Mode: a.cfg.mode, Name: t.Name, Path: a.fromWorkspace(t.Path), Target: t.Ref, Tags: []string{}, Attestations: []string{},
		KubernetesVersion: a.cfg.kubernetesVersion, Findings: build.Findings{}}
}

// fromWorkspace writes a path relative to GITHUB_WORKSPACE (else the working directory) when it lies inside, as a
// reviewer knows the repository's files; config files' paths are resolved to absolute ones.
func (a *actionRun) fromWorkspace(path string) string {
	base := a.env.getenv("GITHUB_WORKSPACE")
	if base == "" {
		base, _ = os.Getwd()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(base, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.ToSlash(rel)
	}
	return path
}

// runTarget renders and validates one target, and in publish mode compares it with the artifact its tag names and
// publishes it. Its log goes to env's stdout; its error is in the outcome, and in the summary as its failure.
func (a *actionRun) runTarget(ctx context.Context, env *Env, t targetConfig, base statepack.PublishOptions, keys *statepack.Signers) targetOutcome {
	sum := a.targetSummary(t)
	fail := func(o targetOutcome, err error) targetOutcome {
		o.summary, o.err = sum.failed(err), err
		fmt.Fprintf(env.Stderr, "%s: failed: %s\n", t.Name, o.summary.Failure)
		if !errors.Is(err, build.ErrInvalidInput) { // findings are annotated on their files already
			o.annotations = append(o.annotations, ghactions.Annotation{Level: ghactions.LevelError, Title: "statepack: target " + t.Name, Message: err.Error()})
		}
		return o
	}
	var o targetOutcome
	log := (&globalOptions{verbose: a.cfg.verbose}).logger(env)
	base.Logger, base.Load.Logger = log, log
	s, err := statepack.Load(ctx, t.Path, t.LoadOptions(base.Load))
	if err != nil {
		return fail(o, err)
	}
	sum.describe(s)
	for _, f := range s.Findings {
		fmt.Fprintln(env.Stderr, f.String())
		o.annotations = append(o.annotations, a.annotation(s.Root, f))
	}
	fmt.Fprintf(env.Stderr, "%s: %d object(s), %d error(s), %d warning(s)\n", t.Path, sum.Objects, sum.Errors, sum.Warnings)
	if sum.Errors > 0 {
		return fail(o, fmt.Errorf("%w: validation found %d error(s), %d warning(s)", build.ErrInvalidInput, sum.Errors, sum.Warnings))
	}
	sum.Status = statusValidated
	if a.cfg.mode != modePublish {
		o.summary = sum
		return o
	}
	ref, po, err := t.PublishOptions(ctx, base, keys)
	if err != nil {
		return fail(o, err)
	}
	po.Source = s                         // rendered and validated above: published as it is
	po.Attest = po.Attest && a.cfg.attest // the attest input turns attestations off for every target
	sum.Signing = signNone
	switch {
	case po.Signer != nil && t.Sign.Key == "":
		sum.Signing, sum.SignedWith = signKeyless, "keyless: "+po.Signer.String()
	case po.Signer != nil:
		sum.Signing, sum.SignedWith = signKey, "key: "+po.Signer.String()
	}
	tags, err := statepack.Tags(ref.Tag, po.Tags...)
	if err != nil {
		return fail(o, err)
	}
	sum.Changes = statepack.ChangesSince(ctx, ref, tags, s, statepack.ReadOptions{Registry: po.Registry, Context: po.Context, Logger: log})
	res, err := statepack.Publish(ctx, t.Path, ref, po)
	if err != nil {
		return fail(o, reported(err))
	}
	fmt.Fprintln(env.Stdout, res.Ref)
	sum.published(res)
	o.summary = sum
	return o
}

// failed marks a tree's summary as failed with err.
func (s actionSummary) failed(err error) actionSummary {
	s.Status, s.Failure = statusFailed, err.Error()
	return s
}

// capFindings keeps at most n findings in the summary, counting the others as omitted.
func (s *actionSummary) capFindings(n int) {
	if len(s.Findings) > n {
		s.FindingsOmitted += len(s.Findings) - n
		s.Findings = s.Findings[:n]
	}
}

// total fills the summary of a config run from its targets: the sums of objects, errors and warnings, every kind and
// image, and digest, ref and tags when a single target was selected and published.
func (s *actionSummary) total(mode string) {
	s.Findings = build.Findings{}
	s.Status = statusValidated
	if mode == modePublish {
		s.Status = statusPublished
	}
	var images []string
	for _, t := range s.Targets {
		if t.Status == statusFailed {
			s.Status = statusFailed
		}
		if !t.validated {
			continue
		}
		s.validated = true
		s.Objects += t.Objects
		s.Errors += t.Errors
		s.Warnings += t.Warnings
		if s.Kinds == nil {
			s.Kinds = map[string]int{}
		}
		for k, n := range t.Kinds {
			s.Kinds[k] += n
		}
		images = append(images, t.Images...)
	}
	slices.Sort(images)
	s.Images = nonNil(slices.Compact(images))
	if len(s.Targets) == 1 && s.Targets[0].Digest != "" {
		t := s.Targets[0]
		s.Ref, s.Repository, s.Digest, s.Tags = t.Ref, t.Repository, t.Digest, t.Tags
	}
}

// logConfigInputs prints the effective inputs of a config run, secrets only as "set", and the targets selected.
func (a *actionRun) logConfigInputs() {
	c, w := a.cfg, a.env.Stderr
	a.gh.Group("statepack " + a.env.Version + ": inputs")
	defer a.gh.EndGroup()
	set := func(v string) string {
		if v == "" {
			return "(not set)"
		}
		return "(set)"
	}
	fmt.Fprintf(w, "config: %s\ntargets: %s\nshard: %s\nmode: %s\n", c.config, orDefault(strings.Join(c.fleet.targets, ", "), "(all)"),
		orDefault(c.fleet.shard, "(not set)"), c.mode)
	fmt.Fprintf(w, "key-password: %s\nregistry-username: %s\nregistry-password: %s\ngithub-token: %s\n", set(c.keyPassword),
		orDefault(orDefault(c.username, a.gh.Input("registry-username")), "(not set)"),
		set(orDefault(c.password, a.gh.Input("registry-password"))), set(a.gh.Input("github-token")))
	fmt.Fprintf(w, "kubernetes-version: %s\nattest: %t\nplain-http: %t\n", orDefault(c.kubernetesVersion, "(not set)"), c.attest, c.plainHTTP)
	names := make([]string, len(c.targets))
	for i, t := range c.targets {
		names[i] = t.Name
	}
	fmt.Fprintf(w, "selected: %d target(s): %s\n", len(names), orDefault(strings.Join(names, ", "), "none"))
}

// renderConfigSummary is the job summary of a config run: a table of the targets, then a section for each.
func renderConfigSummary(s actionSummary) string {
	var b strings.Builder
	failed := 0
	for _, t := range s.Targets {
		if t.Status == statusFailed {
			failed++
		}
	}
	n := len(s.Targets)
	var title string
	switch {
	case failed > 0:
		title = fmt.Sprintf("❌ statepack: %d of %d target(s) of %s failed", failed, n, mdCode(s.Config))
	case s.Failure != "":
		title = "❌ statepack failed"
	case s.Mode == modePublish:
		title = fmt.Sprintf("✅ statepack published %d target(s) of %s", n, mdCode(s.Config))
	default:
		title = fmt.Sprintf("✅ statepack validated %d target(s) of %s", n, mdCode(s.Config))
	}
	fmt.Fprintf(&b, "### %s\n\n", title)
	if s.Failure != "" {
		fmt.Fprintf(&b, "> %s\n\n", mdText(s.Failure))
	}
	if n == 0 {
		if s.Failure == "" {
			b.WriteString("No target selected.\n")
		}
		return b.String()
	}
	b.WriteString("| Target | Status | Ref | Objects | Findings | Changes |\n|---|---|---|---:|---|---|\n")
	for _, t := range s.Targets {
		ref := t.Target
		if t.Ref != "" {
			ref = t.Ref
		}
		findings := ""
		if t.validated {
			findings = fmt.Sprintf("%d error(s), %d warning(s)", t.Errors, t.Warnings)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", mdCode(t.Name), t.Status, mdCode(ref), t.Objects, findings, changesCell(t.Changes))
	}
	b.WriteString("\n")
	changesLimit := min(summaryChangesLimit, summaryLimit/2/n)
	for _, t := range s.Targets {
		fmt.Fprintf(&b, "#### Target %s: %s\n\n", mdCode(t.Name), t.Status)
		if t.Failure != "" {
			fmt.Fprintf(&b, "> %s\n\n", mdText(t.Failure))
		}
		if t.validated {
			writeTreeSummary(&b, t, "#####", changesLimit)
		}
	}
	return b.String()
}

// changesCell is the account of a target's changes in the table of a config run's summary.
func changesCell(c *actionChanges) string {
	switch {
	case c == nil:
		return ""
	case c.Error != "":
		return "not known"
	case c.FirstPublish:
		return "first publish"
	case c.Report == nil || c.Report.Equal():
		return "none"
	}
	return diffSummary(c.Report)
}
