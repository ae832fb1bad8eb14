package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// Config file format (statepack.yaml): defaults, then targets that override them.
const (
	configAPIVersion = "statepack.dev/v1alpha1"
	configKind       = "Config"
)

type fleetConfig struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Defaults   targetConfig   `json:"defaults"`
	Targets    []targetConfig `json:"targets"`
}

// targetConfig is one target, or the defaults. Empty fields take the default's value.
type targetConfig struct {
	Name           string            `json:"name,omitempty"`
	Path           string            `json:"path,omitempty"`
	Ref            string            `json:"ref,omitempty"`
	Tags           []string          `json:"tags,omitempty"`
	LayerMediaType string            `json:"layerMediaType,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Sign           *signConfig       `json:"sign,omitempty"`
	Validate       *validateConfig   `json:"validate,omitempty"`
	// ImmutableTags refuses to move the target's tags onto other content.
	ImmutableTags *bool `json:"immutableTags,omitempty"`
}

type signConfig struct {
	// Key is a cosign private key (file relative to the config file, or env://VAR); "" signs nothing.
	Key string `json:"key"`
	// Attest makes the signed artifact's attestations (SLSA provenance and inventory); on unless false.
	Attest *bool `json:"attest,omitempty"`
	// Format is where signatures and attestations go: legacy (default), bundle or both, as --signature-format.
	Format string `json:"format,omitempty"`
}

type validateConfig struct {
	Allow              []string `json:"allow,omitempty"`
	ExternalNamespaces []string `json:"externalNamespaces,omitempty"`
}

// loadFleetConfig reads and checks a config file. Paths in it are relative to its directory, unless absolute.
func loadFleetConfig(path string) (*fleetConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("reading the config file: %w", err)
	}
	cfg, err := parseFleetConfig(data)
	if err != nil {
		return nil, usagef("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Path = filepath.FromSlash(t.Path); !filepath.IsAbs(t.Path) {
			t.Path = filepath.Join(dir, t.Path)
		}
		if t.Sign != nil && t.Sign.Key != "" && !strings.Contains(t.Sign.Key, "://") && !filepath.IsAbs(t.Sign.Key) {
			t.Sign.Key = filepath.Join(dir, t.Sign.Key)
		}
	}
	return cfg, nil
}

// parseFleetConfig decodes a config strictly (unknown fields are errors) and merges defaults into the targets.
func parseFleetConfig(data []byte) (*fleetConfig, error) {
	var cfg fleetConfig
	if err := sigsyaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("not a statepack config: %w", err)
	}
	if cfg.APIVersion != configAPIVersion || cfg.Kind != configKind {
		return nil, fmt.Errorf("apiVersion/kind must be %s/%s, got %q/%q", configAPIVersion, configKind, cfg.APIVersion, cfg.Kind)
	}
	if len(cfg.Targets) == 0 {
		return nil, errors.New("no targets: list them under the targets key")
	}
	seen := map[string]bool{}
	d := cfg.Defaults
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("target %d has no name", i+1)
		case seen[t.Name]:
			return nil, fmt.Errorf("target %q is defined twice", t.Name)
		}
		seen[t.Name] = true
		if t.Path == "" {
			t.Path = d.Path
		}
		if t.Ref == "" {
			t.Ref = d.Ref
		}
		if t.Tags == nil {
			t.Tags = d.Tags
		}
		if t.LayerMediaType == "" {
			t.LayerMediaType = d.LayerMediaType
		}
		if t.Sign == nil && d.Sign != nil {
			copied := *d.Sign // each target its own: paths are resolved per target
			t.Sign = &copied
		}
		if t.Sign != nil {
			if _, err := signatureFormat(t.Sign.Format); err != nil {
				return nil, fmt.Errorf("target %q: sign.format %q: use legacy, bundle or both", t.Name, t.Sign.Format)
			}
		}
		if t.Validate == nil {
			t.Validate = d.Validate
		}
		if t.ImmutableTags == nil {
			t.ImmutableTags = d.ImmutableTags
		}
		merged := map[string]string{}
		for k, v := range d.Annotations {
			merged[k] = v
		}
		for k, v := range t.Annotations {
			merged[k] = v
		}
		t.Annotations = merged
		if t.Path == "" {
			return nil, fmt.Errorf("target %q has no path", t.Name)
		}
		if t.Ref == "" {
			return nil, fmt.Errorf("target %q has no ref", t.Name)
		}
		if _, err := publish.ParseRef(t.Ref); err != nil {
			return nil, fmt.Errorf("target %q: %w", t.Name, err)
		}
		for _, tag := range t.Tags {
			if err := publish.ValidateTag(tag); err != nil {
				return nil, fmt.Errorf("target %q: %w", t.Name, err)
			}
		}
	}
	return &cfg, nil
}

// fleetOptions are the flags that run a config's targets.
type fleetOptions struct {
	config  string
	targets []string
	shard   string
	jobs    int
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
	cfg, err := loadFleetConfig(o.config)
	if err != nil {
		return nil, err
	}
	return o.selected(cfg)
}

// selected returns the targets to run, in name order.
func (o *fleetOptions) selected(cfg *fleetConfig) ([]targetConfig, error) {
	if o.jobs < 1 {
		return nil, usagef("--jobs must be at least 1")
	}
	byName := map[string]targetConfig{}
	for _, t := range cfg.Targets {
		byName[t.Name] = t
	}
	var out []targetConfig
	if len(o.targets) > 0 {
		for _, n := range o.targets {
			t, ok := byName[n]
			if !ok {
				return nil, usagef("--target %q is not in %s (targets: %s)", n, o.config, strings.Join(slices.Sorted(mapsKeys(byName)), ", "))
			}
			out = append(out, t)
		}
	} else {
		out = slices.Clone(cfg.Targets)
	}
	if o.shard != "" {
		k, n, err := parseShard(o.shard)
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(t targetConfig) bool { return shardOf(t.Name, n) != k })
	}
	slices.SortFunc(out, func(a, b targetConfig) int { return strings.Compare(a.Name, b.Name) })
	out = slices.CompactFunc(out, func(a, b targetConfig) bool { return a.Name == b.Name })
	return out, nil
}

func mapsKeys(m map[string]targetConfig) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func parseShard(s string) (k, n int, err error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return 0, 0, usagef("--shard %q must be K/N with 1 <= K <= N, e.g. 2/4", s)
	}
	return k, n, nil
}

// shardOf places a target by a hash of its name, so adding or removing a target moves no other.
func shardOf(name string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32()%uint32(n)) + 1
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

// eachTarget calls fn for every target, at most jobs at once, and returns the results in the targets' order. A
// target that had not started when ctx ended gets skipped(t, ctx.Err()) instead.
func eachTarget[R any](ctx context.Context, jobs int, targets []targetConfig,
	fn func(ctx context.Context, t targetConfig) R, skipped func(t targetConfig, err error) R) []R {
	results := make([]R, len(targets))
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = skipped(t, ctx.Err())
				return
			}
			defer func() { <-sem }()
			results[i] = fn(ctx, t)
		})
	}
	wg.Wait()
	return results
}

// runFleet runs fn for every target, at most --jobs at once, and reports them together. A failing target stops
// only itself; the run fails with the worst exit code among the targets.
func runFleet(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, targets []targetConfig,
	fn func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error)) error {
	log := g.logger(env)
	if len(targets) == 0 {
		log.Info("no target selected", "config", o.config, "shard", o.shard)
	}
	results := eachTarget(ctx, o.jobs, targets, func(ctx context.Context, t targetConfig) fleetResult {
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

// targetOptions turns a target's settings into the options of the single-tree code path.
func targetOptions(t targetConfig, base *sourceOptions) (*sourceOptions, *packageOptions) {
	src := *base
	if t.Validate != nil {
		src.allow = append(slices.Clone(src.allow), t.Validate.Allow...)
		src.externalNamespaces = append(slices.Clone(src.externalNamespaces), t.Validate.ExternalNamespaces...)
	}
	pkg := &packageOptions{layerMediaType: build.LayerMediaType}
	if t.LayerMediaType != "" {
		pkg.layerMediaType = t.LayerMediaType
	}
	for _, k := range slices.Sorted(annotationKeys(t.Annotations)) {
		pkg.annotations = append(pkg.annotations, k+"="+t.Annotations[k])
	}
	return &src, pkg
}

func annotationKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// signerCache loads each distinct key once and shares its signer between the targets that name it.
type signerCache struct {
	mu   sync.Mutex
	keys map[string]*sign.Signer
}

func (c *signerCache) get(ctx context.Context, env *Env, key string) (*sign.Signer, error) {
	if key == "" {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.keys[key]; ok {
		return s, nil
	}
	s, err := loadSigningKey(ctx, env, key)
	if err != nil {
		return nil, err
	}
	if c.keys == nil {
		c.keys = map[string]*sign.Signer{}
	}
	c.keys[key] = s
	return s, nil
}

// loadKeys loads each distinct key of the targets once, before anything renders or pushes, so that a bad key or
// password fails the run before any target is published.
func (c *signerCache) loadKeys(ctx context.Context, env *Env, targets []targetConfig) error {
	for _, t := range targets {
		if t.Sign != nil {
			if _, err := c.get(ctx, env, t.Sign.Key); err != nil {
				return fmt.Errorf("target %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

// publishJob is how a target is published: its ref, its tags (the tag in the ref and the extra ones, sorted), its
// options, and its signer from keys (loaded by loadKeys).
func (t targetConfig) publishJob(ctx context.Context, env *Env, src *sourceOptions, keys *signerCache) (publishJob, error) {
	ref, err := publish.ParseRef(t.Ref)
	if err != nil {
		return publishJob{}, err
	}
	tags := slices.Clone(t.Tags)
	if ref.Tag != "" {
		tags = append(tags, ref.Tag)
	}
	tags = slices.Compact(slices.Sorted(slices.Values(tags)))
	var signer *sign.Signer
	format := sign.FormatLegacy
	attest := false
	if t.Sign != nil {
		if signer, err = keys.get(ctx, env, t.Sign.Key); err != nil {
			return publishJob{}, err
		}
		if format, err = signatureFormat(t.Sign.Format); err != nil {
			return publishJob{}, err
		}
		attest = signer != nil && (t.Sign.Attest == nil || *t.Sign.Attest)
	}
	tsrc, pkg := targetOptions(t, src)
	if err := pkg.check(); err != nil {
		return publishJob{}, err
	}
	return publishJob{path: t.Path, ref: ref, tags: tags, src: tsrc, pkg: pkg, signer: signer, attest: attest, format: format,
		immutable: t.ImmutableTags != nil && *t.ImmutableTags}, nil
}

// fleetPublish publishes each target: its keys are loaded first, so that a bad key fails before anything renders.
func fleetPublish(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, src *sourceOptions, reg *registryOptions, incremental bool) error {
	targets, err := o.load()
	if err != nil {
		return err
	}
	var keys signerCache
	if err := keys.loadKeys(ctx, env, targets); err != nil {
		return err
	}
	return runFleet(ctx, env, g, o, targets, func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error) {
		job, err := t.publishJob(ctx, env, src, &keys)
		if err != nil {
			return fleetResult{}, err
		}
		job.incremental = incremental
		res, err := runPublish(ctx, env, log, reg, job)
		return fleetResult{publishResult: res}, err
	})
}

// fleetValidate validates each target.
func fleetValidate(ctx context.Context, env *Env, g *globalOptions, o *fleetOptions, src *sourceOptions) error {
	targets, err := o.load()
	if err != nil {
		return err
	}
	return runFleet(ctx, env, g, o, targets, func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error) {
		tsrc, _ := targetOptions(t, src)
		s, err := loadSource(ctx, env, log, t.Path, tsrc)
		if err != nil {
			return fleetResult{}, err
		}
		res := fleetResult{publishResult: publishResult{Objects: len(s.rendering.Objects), Findings: s.findings}}
		return res, failOnFindings(s.findings)
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
	return runFleet(ctx, env, g, o, targets, func(ctx context.Context, log *slog.Logger, t targetConfig) (fleetResult, error) {
		tsrc, pkg := targetOptions(t, src)
		if err := pkg.check(); err != nil {
			return fleetResult{}, err
		}
		s, err := loadSource(ctx, env, log, t.Path, tsrc)
		if err != nil {
			return fleetResult{}, err
		}
		res := fleetResult{publishResult: publishResult{Findings: s.findings}}
		if err := failOnFindings(s.findings); err != nil {
			return res, err
		}
		b, err := s.bundle(env, log, pkg)
		if err != nil {
			return res, err
		}
		res.File = filepath.Join(dir, t.Name+".tar.gz")
		res.Digest, res.Objects, res.Size = b.LayerDescriptor.Digest.String(), len(b.Files), b.LayerDescriptor.Size
		return res, writeFileAtomic(res.File, b.Layer)
	})
}
