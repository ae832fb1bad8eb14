package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/sign"
)

// targetConfig is one target of a config file.
type targetConfig = statepack.Target

// fleetOptions are the flags that run a config's targets.
type fleetOptions struct {
	// defaults are the flags given beside --config, for every target that does not set its own.
	defaults statepack.Target
	config   string
	targets  []string
	shard    string
	jobs     int
	// cfg is the config file load read.
	cfg *statepack.Config
}

// bind binds the flags, and refuses --target, --shard and --jobs without --config: they would be ignored.
func (o *fleetOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "run the targets of this config file (statepack.yaml) instead of one PATH")
	f.StringArrayVar(&o.targets, "target", nil, "with --config: run only this target (repeatable)")
	f.StringVar(&o.shard, "shard", "", "with --config: run shard K of N (K/N, 1-based), for CI matrices; a target's shard depends only on its name")
	f.IntVar(&o.jobs, "jobs", runtime.GOMAXPROCS(0), "with --config: targets run at once")
	next := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if o.config == "" {
			for _, name := range []string{"target", "shard", "jobs"} {
				if cmd.Flags().Changed(name) {
					return usagef("--%s needs --config: it chooses among the targets of a config file", name)
				}
			}
		}
		if next != nil {
			return next(cmd, args)
		}
		return nil
	}
}

// load reads the config file and returns the targets selected, in name order.
func (o *fleetOptions) load() ([]targetConfig, error) {
	if o.jobs < 1 {
		return nil, usagef("--jobs must be at least 1")
	}
	cfg, err := statepack.LoadConfig(o.config)
	if err != nil {
		return nil, err
	}
	cfg.ApplyDefaults(o.defaults)
	o.cfg = cfg
	return cfg.Select(statepack.Selection{Names: o.targets, Shard: o.shard})
}

// fleetResult is one target's outcome.
type fleetResult struct {
	Name string `json:"name"`
	publishResult
	// File is where build wrote the target's layer.
	File  string `json:"file,omitempty"`
	Error string `json:"error,omitempty"`
	err   error
}

// runFleet runs fn for every target, at most --jobs at once, and reports them together. A failing target stops
// only itself; the run fails with the worst exit code among the targets.
func runFleet(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, targets []targetConfig,
	fn func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error)) error {
	log := g.logger(env)
	if len(targets) == 0 {
		log.Info("no target selected", "config", o.config, "shard", o.shard)
	}
	results := statepack.EachTarget(ctx, o.jobs, targets, func(ctx context.Context, t targetConfig) fleetResult {
		res, err := fn(ctx, log.With("target", t.Name), t)
		res.Name, res.err = t.Name, err
		return res
	}, func(t targetConfig, err error) fleetResult { return fleetResult{Name: t.Name, err: err} })

	var errs []error
	var out bytes.Buffer
	for i := range results {
		r := &results[i]
		for _, f := range r.Findings {
			fmt.Fprintf(env.Stderr, "%s: %s\n", r.Name, f)
		}
		if r.err != nil {
			r.Error = r.err.Error()
			errs = append(errs, r.err)
			if !g.json() {
				fmt.Fprintf(env.Stderr, "%s: failed: %s\n", r.Name, r.err)
			}
			continue
		}
		switch {
		case r.File != "":
			fmt.Fprintf(&out, "%s\t%s\t%s\n", r.Name, r.File, r.Digest)
		case r.Unchanged:
			fmt.Fprintf(&out, "%s\t%s\tunchanged\n", r.Name, r.Ref)
		case r.Ref != "":
			fmt.Fprintf(&out, "%s\t%s\n", r.Name, r.Ref)
		default:
			nErrors, nWarnings := build.Findings(r.Findings).Count()
			fmt.Fprintf(&out, "%s\t%d object(s), %d error(s), %d warning(s)\n", r.Name, r.Objects, nErrors, nWarnings)
		}
	}
	if g.json() {
		if err := writeJSON(env.Stdout, map[string]any{"targets": results}); err != nil {
			return err
		}
	} else if _, err := env.Stdout.Write(out.Bytes()); err != nil {
		return err
	}
	return fleetFailure(errs, len(results))
}

// fleetFailure is the error of a fleet run whose targets failed with errs (nil when none did): it carries the
// error with the worst exit code, so that the run exits with that code.
func fleetFailure(errs []error, total int) error {
	if len(errs) == 0 {
		return nil
	}
	worst := errs[0]
	for _, err := range errs[1:] {
		if exitCode(err) > exitCode(worst) {
			worst = err
		}
	}
	return &reportedError{&fleetError{failed: len(errs), total: total, code: exitCode(worst), first: worst}}
}

// fleetError carries the worst exit code of a fleet run.
type fleetError struct {
	failed, total, code int
	first               error
}

func (e *fleetError) Error() string {
	return fmt.Sprintf("%d of %d target(s) failed", e.failed, e.total)
}
func (e *fleetError) Unwrap() error { return e.first }

// signers loads the keys a config's targets name, with the password from COSIGN_PASSWORD.
func signers(env *Env) *statepack.Signers {
	return &statepack.Signers{Load: func(ctx context.Context, key string) (*sign.Signer, error) { return loadSigningKey(ctx, env, key) }}
}

// resultFiles are the files publish writes its one artifact's digest and reference to (Tekton results); "" writes
// none.
type resultFiles struct{ digest, ref string }

// fleetPublish publishes each target: its keys are loaded first, so that a bad key fails before anything renders.
// keyless (nil: none) signs the targets whose config names no key.
func fleetPublish(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, src *sourceOptions, reg *registryOptions, img *imageFlags, incremental bool,
	files resultFiles, keyless func(context.Context) (*sign.Signer, error)) error {
	targets, err := o.load()
	if err != nil {
		return err
	}
	// A result file holds one artifact: with a config, only a run of one target (a Tekton matrix's TaskRun) has one.
	if (files.digest != "" || files.ref != "") && len(targets) != 1 {
		return usagef("--digest-file and --ref-file with --config need exactly one target, and %d are selected: give --target NAME", len(targets))
	}
	keys := signers(env)
	keys.Unnamed = keyless // one Fulcio certificate for every target that names no key
	if err := keys.LoadAll(ctx, targets); err != nil {
		return err
	}
	base, err := publishBase(env, g.logger(env), src, reg)
	if err != nil {
		return err
	}
	base.Incremental = incremental
	if base.Images, err = fleetImages(ctx, env, g, o, reg, img); err != nil {
		return err
	}
	return runFleet(ctx, env, g, o, targets, func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error) {
		ref, po, err := t.PublishOptions(ctx, base, keys)
		if err != nil {
			return fleetResult{}, err
		}
		po.Logger, po.Load.Logger = log, log
		res, err := statepack.Publish(ctx, t.Path, ref, po)
		if err == nil {
			err = writeResultFiles(map[string]string{files.digest: res.Digest, files.ref: res.Ref})
		}
		return fleetResult{publishResult: res}, reported(err)
	})
}

// publishBase are the options every target of a fleet shares: the source and registry flags, the build context.
func publishBase(env *Env, log *slog.Logger, src *sourceOptions, reg *registryOptions) (statepack.PublishOptions, error) {
	lo, err := src.loadOptions(env, log)
	if err != nil {
		return statepack.PublishOptions{}, err
	}
	bc, err := buildContext(env)
	if err != nil {
		return statepack.PublishOptions{}, err
	}
	regOpts, err := reg.options(env)
	if err != nil {
		return statepack.PublishOptions{}, err
	}
	return statepack.PublishOptions{Load: lo, Registry: regOpts, Context: bc, Logger: log}, nil
}

// fleetImages are the image options of a fleet run: the flags and the config's images section, with one checker
// that every target shares.
func fleetImages(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, reg *registryOptions, img *imageFlags) (statepack.ImageOptions, error) {
	conn, err := reg.connection(env)
	if err != nil {
		return statepack.ImageOptions{}, err
	}
	return img.options(ctx, env, conn, o.cfg.Images, g.logger(env))
}

// fleetValidate validates each target, and resolves and verifies their images when asked.
func fleetValidate(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, src *sourceOptions, img *imageFlags) error {
	targets, err := o.load()
	if err != nil {
		return err
	}
	lo, err := src.loadOptions(env, g.logger(env))
	if err != nil {
		return err
	}
	imgOpts, err := fleetImages(ctx, env, g, o, &registryOptions{}, img)
	if err != nil {
		return err
	}
	return runFleet(ctx, env, g, o, targets, func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error) {
		tlo := t.LoadOptions(lo)
		tlo.Logger = log
		s, err := statepack.Load(ctx, t.Path, tlo)
		if err != nil {
			return fleetResult{}, err
		}
		res := fleetResult{publishResult: publishResult{Objects: len(s.Rendering.Objects), Findings: s.Findings}}
		if res.Images, err = checkImages(ctx, s, imgOpts); err != nil {
			return res, err
		}
		res.Findings = s.Findings
		return res, failOnFindings(s.Findings)
	})
}

// fleetBuild builds each target's layer into dir/<name>.tar.gz.
func fleetBuild(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, src *sourceOptions, dir string) error {
	targets, err := o.load()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lo, err := src.loadOptions(env, g.logger(env))
	if err != nil {
		return err
	}
	bc, err := buildContext(env)
	if err != nil {
		return err
	}
	return runFleet(ctx, env, g, o, targets, func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error) {
		po := t.PackageOptions()
		if err := po.Check(); err != nil {
			return fleetResult{}, err
		}
		tlo := t.LoadOptions(lo)
		tlo.Logger = log
		s, err := statepack.Load(ctx, t.Path, tlo)
		if err != nil {
			return fleetResult{}, err
		}
		res := fleetResult{publishResult: publishResult{Findings: s.Findings}}
		if err := failOnFindings(s.Findings); err != nil {
			return res, err
		}
		b, err := s.Bundle(bc, po, log)
		if err != nil {
			return res, err
		}
		res.File = filepath.Join(dir, t.Name+".tar.gz")
		res.Digest, res.Objects, res.Size = b.LayerDescriptor.Digest.String(), len(b.Files), b.LayerDescriptor.Size
		return res, writeFileAtomic(res.File, b.Layer)
	})
}
