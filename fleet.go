package statepack

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// Config file format (statepack.yaml): defaults, then targets that override them.
const (
	ConfigAPIVersion = "statepack.dev/v1alpha1"
	ConfigKind       = "Config"
)

// Config is a fleet: the targets of a statepack.yaml, each a tree published to a reference.
type Config struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Defaults   Target   `json:"defaults"`
	Targets    []Target `json:"targets"`
	// Images is the image pin stage of every target: pinning, and the trust policy's rules. Each image is resolved
	// and verified once per run, however many targets deploy it.
	Images *ImagesConfig `json:"images,omitempty"`

	file string // the file LoadConfig read
}

// ImagesConfig is the images section of a config: pin the images of every target, and verify them by rules (first
// match wins; see ImageRule). Key files are relative to the config file.
type ImagesConfig struct {
	Pin   bool        `json:"pin,omitempty"`
	Rules []ImageRule `json:"rules,omitempty"`
}

// Target is one target of a Config, or its defaults. Empty fields take the default's value.
type Target struct {
	Name           string            `json:"name,omitempty"`
	Path           string            `json:"path,omitempty"`
	Ref            string            `json:"ref,omitempty"`
	Tags           []string          `json:"tags,omitempty"`
	LayerMediaType string            `json:"layerMediaType,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Sign           *SignConfig       `json:"sign,omitempty"`
	Validate       *ValidateConfig   `json:"validate,omitempty"`
	// ImmutableTags refuses to move the target's tags onto other content.
	ImmutableTags *bool `json:"immutableTags,omitempty"`
	// Helm is what is done with the target's Helm releases: pin, hydrate or off (HelmOptions.Mode); "" takes the
	// defaults', then the command line's.
	Helm string `json:"helm,omitempty"`
	// IgnorePaths are gitignore patterns, anchored at the target's path, of files to leave out, as --ignore-paths
	// takes them (LoadOptions.IgnorePaths); nil takes the defaults', then the command line's, and an empty list
	// leaves out only what .sourceignore files and Flux's default excludes do.
	IgnorePaths []string `json:"ignorePaths,omitempty"`
}

// SignConfig is how a target is signed.
type SignConfig struct {
	// Key is a cosign private key (file relative to the config file, or env://VAR); "" signs nothing.
	Key string `json:"key"`
	// Attest makes the signed artifact's attestations (SLSA provenance and inventory); on unless false.
	Attest *bool `json:"attest,omitempty"`
	// Format is where signatures and attestations go: legacy (default), bundle or both.
	Format string `json:"format,omitempty"`
}

// ValidateConfig adds to the load options of a target.
type ValidateConfig struct {
	// Allow turns off the findings of rules: {rule: RULE, reason: WHY}, or a rule alone.
	Allow              []Allowance `json:"allow,omitempty"`
	ExternalNamespaces []string    `json:"externalNamespaces,omitempty"`
	// Substitute are Flux postBuild variables (LoadOptions.Substitute); they win over the command line's.
	Substitute map[string]string `json:"substitute,omitempty"`
	// SubstituteFrom are files of Flux postBuild variables (LoadOptions.SubstituteFrom), relative to the config
	// file; read after the command line's.
	SubstituteFrom []string `json:"substituteFrom,omitempty"`
	// SubstituteStrict is LoadOptions.SubstituteStrict (kustomize-controller's StrictPostBuildSubstitutions); unset
	// takes the command line's.
	SubstituteStrict *bool `json:"substituteStrict,omitempty"`
}

// SignatureFormat parses a signature format (a --signature-format value, an action input, a config's
// sign.format); "" is legacy.
func SignatureFormat(v string) (sign.Format, error) {
	switch f := sign.Format(v); f {
	case "", sign.FormatLegacy:
		return sign.FormatLegacy, nil
	case sign.FormatBundle, sign.FormatBoth:
		return f, nil
	default:
		return "", invalidf("--signature-format %q: use legacy, bundle or both", v)
	}
}

// LoadConfig reads and checks a config file. Paths in it (trees, key files) are relative to its directory, unless
// absolute. A config that does not parse or check is an ErrInvalidOption naming the file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, invalidf("reading the config file: %w", err)
	}
	cfg, err := parseConfig(data)
	if le := (*lineError)(nil); errors.As(err, &le) && le.line > 0 {
		return nil, invalidf("%s:%d: %w", path, le.line, le.err)
	}
	if err != nil {
		return nil, invalidf("%s: %w", path, err)
	}
	cfg.file = path
	dir := filepath.Dir(path)
	if cfg.Images != nil {
		for i := range cfg.Images.Rules {
			for j, k := range cfg.Images.Rules[i].Keys {
				if isKeyFile(k) && !filepath.IsAbs(k) {
					cfg.Images.Rules[i].Keys[j] = filepath.Join(dir, k)
				}
			}
		}
	}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Path = filepath.FromSlash(t.Path); !filepath.IsAbs(t.Path) {
			t.Path = filepath.Join(dir, t.Path)
		}
		if t.Sign != nil && isKeyFile(t.Sign.Key) && !filepath.IsAbs(t.Sign.Key) {
			t.Sign.Key = filepath.Join(dir, t.Sign.Key)
		}
		if t.Validate != nil && len(t.Validate.SubstituteFrom) > 0 {
			v := *t.Validate // each target its own: the defaults' settings are shared
			v.SubstituteFrom = make([]string, len(t.Validate.SubstituteFrom))
			for j, f := range t.Validate.SubstituteFrom {
				if v.SubstituteFrom[j] = filepath.FromSlash(f); !filepath.IsAbs(v.SubstituteFrom[j]) {
					v.SubstituteFrom[j] = filepath.Join(dir, v.SubstituteFrom[j])
				}
			}
			t.Validate = &v
		}
	}
	return cfg, nil
}

// isKeyFile reports whether a key reference of the config (sign.key, an image rule's keys) names a file, not
// env://VAR or a KMS URI.
func isKeyFile(key string) bool {
	return key != "" && !strings.Contains(key, "://")
}

// ParseConfig decodes a config strictly (unknown fields are errors) and merges the defaults into the targets.
func ParseConfig(data []byte) (*Config, error) {
	cfg, err := parseConfig(data)
	if err != nil {
		return nil, invalidf("%w", err)
	}
	return cfg, nil
}

func parseConfig(data []byte) (*Config, error) {
	var cfg Config
	if err := sigsyaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, configDecodeError(data, err)
	}
	if cfg.APIVersion != ConfigAPIVersion || cfg.Kind != ConfigKind {
		return nil, fmt.Errorf("apiVersion/kind must be %s/%s, got %q/%q", ConfigAPIVersion, ConfigKind, cfg.APIVersion, cfg.Kind)
	}
	if len(cfg.Targets) == 0 {
		return nil, errors.New("no targets: list them under the targets key")
	}
	if cfg.Images != nil {
		for i, r := range cfg.Images.Rules {
			if _, err := ParseImagePattern(r.Image); err != nil {
				return nil, fmt.Errorf("images.rules[%d]: %w", i, err)
			}
		}
	}
	seen := map[string]bool{}
	d := cfg.Defaults
	if err := checkIgnorePaths(data, d.IgnorePaths, "defaults:", "defaults"); err != nil {
		return nil, err
	}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		// at is an error about field of the target, on the line that sets it: the target's own, else the defaults'.
		at := func(err error, field ...any) error {
			line := configLine(data, append([]any{"targets", i}, field...)...)
			if line == 0 && len(field) > 0 {
				line = configLine(data, append([]any{"defaults"}, field...)...)
			}
			if line == 0 {
				line = configLine(data, "targets", i)
			}
			return &lineError{line: line, err: err}
		}
		switch {
		case t.Name == "":
			return nil, at(fmt.Errorf("target %d has no name", i+1))
		case seen[t.Name]:
			return nil, at(fmt.Errorf("target %q is defined twice", t.Name), "name")
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
			if _, err := SignatureFormat(t.Sign.Format); err != nil {
				return nil, at(fmt.Errorf("target %q: sign.format %q: use legacy, bundle or both", t.Name, t.Sign.Format), "sign", "format")
			}
		}
		if t.Validate == nil {
			t.Validate = d.Validate
		}
		if t.ImmutableTags == nil {
			t.ImmutableTags = d.ImmutableTags
		}
		if t.Helm == "" {
			t.Helm = d.Helm
		}
		if t.IgnorePaths == nil {
			t.IgnorePaths = d.IgnorePaths
		} else if err := checkIgnorePaths(data, t.IgnorePaths, fmt.Sprintf("target %q:", t.Name), "targets", i); err != nil {
			return nil, err
		}
		if err := (HelmOptions{Mode: t.Helm}).Check(); err != nil {
			return nil, at(fmt.Errorf("target %q: helm %q: use pin, hydrate or off", t.Name, t.Helm), "helm")
		}
		merged := map[string]string{}
		maps.Copy(merged, d.Annotations)
		maps.Copy(merged, t.Annotations)
		t.Annotations = merged
		if t.Path == "" {
			return nil, at(fmt.Errorf("target %q has no path", t.Name))
		}
		if t.Ref == "" {
			return nil, at(fmt.Errorf("target %q has no ref", t.Name))
		}
		if _, err := publish.ParseRef(t.Ref); err != nil {
			return nil, at(fmt.Errorf("target %q: %w", t.Name, err), "ref")
		}
		for k, tag := range t.Tags {
			if err := publish.ValidateTag(tag); err != nil {
				return nil, at(fmt.Errorf("target %q: %w", t.Name, err), "tags", k)
			}
		}
	}
	return &cfg, nil
}

// checkIgnorePaths checks the ignorePaths of the defaults or a target (at path in data, the config's YAML): the
// error names the pattern and its line.
func checkIgnorePaths(data []byte, patterns []string, where string, path ...any) error {
	for j, p := range patterns {
		if err := build.CheckIgnorePattern(p); err != nil {
			return &lineError{line: configLine(data, append(path, "ignorePaths", j)...), err: fmt.Errorf("%s ignorePaths[%d]: %w", where, j, err)}
		}
	}
	return nil
}

// lineError is a config error at a line of the file (0 when it is not known).
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string {
	if e.line == 0 {
		return e.err.Error()
	}
	return fmt.Sprintf("line %d: %v", e.line, e.err)
}

func (e *lineError) Unwrap() error { return e.err }

// configLine is the line of the YAML node at path (mapping keys and sequence indexes) in a config; 0 when there is
// none. The config is decoded again, as YAML nodes, only to name the line of an error.
func configLine(data []byte, path ...any) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n := doc.Content[0]
	for _, p := range path {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			for k := 0; n.Kind == yaml.MappingNode && k+1 < len(n.Content); k += 2 {
				if n.Content[k].Value == p {
					next = n.Content[k+1]
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return n.Line
}

// ApplyDefaults fills what a target leaves unset, after the config file's own defaults, from d: the command line's
// flags beside --config are defaults for every target that does not set its own. Tags, the layer media type,
// immutable tags, ignore paths, the Helm mode, validation and signing (key, format, attest, each on its own) are
// taken when unset; annotations merge, the target's winning.
func (c *Config) ApplyDefaults(d Target) {
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Helm == "" {
			t.Helm = d.Helm
		}
		if t.Tags == nil {
			t.Tags = slices.Clone(d.Tags)
		}
		if t.LayerMediaType == "" {
			t.LayerMediaType = d.LayerMediaType
		}
		if t.ImmutableTags == nil {
			t.ImmutableTags = d.ImmutableTags
		}
		if t.Validate == nil {
			t.Validate = d.Validate
		}
		if t.IgnorePaths == nil {
			t.IgnorePaths = slices.Clone(d.IgnorePaths)
		}
		if d.Sign != nil {
			if t.Sign == nil {
				copied := *d.Sign
				t.Sign = &copied
			} else {
				if t.Sign.Key == "" {
					t.Sign.Key = d.Sign.Key
				}
				if t.Sign.Format == "" {
					t.Sign.Format = d.Sign.Format
				}
				if t.Sign.Attest == nil {
					t.Sign.Attest = d.Sign.Attest
				}
			}
		}
		merged := maps.Clone(d.Annotations)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, t.Annotations)
		t.Annotations = merged
	}
}

// Selection chooses among a config's targets: by name, and by shard for CI matrices.
type Selection struct {
	// Names are the targets to run; none means all.
	Names []string
	// Shard is "K/N" (1-based): run the K-th of N shards. A target's shard depends only on its name, so adding or
	// removing a target moves no other. "" means all.
	Shard string
}

// Select returns the targets sel chooses, in name order.
func (c *Config) Select(sel Selection) ([]Target, error) {
	byName := map[string]Target{}
	for _, t := range c.Targets {
		byName[t.Name] = t
	}
	var out []Target
	if len(sel.Names) > 0 {
		for _, n := range sel.Names {
			t, ok := byName[n]
			if !ok {
				return nil, invalidf("--target %q is not in %s (targets: %s)", n, orDefault(c.file, "the config"), strings.Join(slices.Sorted(maps.Keys(byName)), ", "))
			}
			out = append(out, t)
		}
	} else {
		out = slices.Clone(c.Targets)
	}
	if sel.Shard != "" {
		k, n, err := ParseShard(sel.Shard)
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(t Target) bool { return ShardOf(t.Name, n) != k })
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Name, b.Name) })
	out = slices.CompactFunc(out, func(a, b Target) bool { return a.Name == b.Name })
	return out, nil
}

// ParseShard parses "K/N", a shard of a Selection.
func ParseShard(s string) (k, n int, err error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return 0, 0, invalidf("--shard %q must be K/N with 1 <= K <= N, e.g. 2/4", s)
	}
	return k, n, nil
}

// ShardOf is the shard (1 to n) of a target of this name: it places a target by a hash of its name by a hash of its name, so adding or removing a target moves no other.
func ShardOf(name string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32()%uint32(n)) + 1
}

// EachTarget calls fn for every target, at most jobs at once, and returns the results in the targets' order. A
// target that had not started when ctx ended gets skipped(t, ctx.Err()) instead. A failing target stops only
// itself: fn reports its failure in its result.
func EachTarget[R any](ctx context.Context, jobs int, targets []Target,
	fn func(ctx context.Context, t Target) R, skipped func(t Target, err error) R) []R {
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

// LoadOptions are base with the target's settings: its Helm mode and ignore paths when it sets them (the command
// line's otherwise), its validation settings added.
func (t Target) LoadOptions(base LoadOptions) LoadOptions {
	o := base
	if t.Helm != "" {
		o.Helm.Mode = t.Helm
	}
	if t.IgnorePaths != nil {
		o.IgnorePaths = slices.Clone(t.IgnorePaths)
	}
	if t.Validate != nil {
		o.Allow = append(slices.Clone(base.Allow), t.Validate.Allow...)
		o.ExternalNamespaces = append(slices.Clone(base.ExternalNamespaces), t.Validate.ExternalNamespaces...)
		o.SubstituteFrom = append(slices.Clone(base.SubstituteFrom), t.Validate.SubstituteFrom...)
		if t.Validate.SubstituteStrict != nil {
			o.SubstituteStrict = *t.Validate.SubstituteStrict
		}
		if len(t.Validate.Substitute) > 0 {
			o.Substitute = maps.Clone(base.Substitute)
			if o.Substitute == nil {
				o.Substitute = map[string]string{}
			}
			maps.Copy(o.Substitute, t.Validate.Substitute)
		}
	}
	return o
}

// PackageOptions shape the target's artifact.
func (t Target) PackageOptions() PackageOptions {
	return PackageOptions{LayerMediaType: t.LayerMediaType, Annotations: t.Annotations}
}

// Signers loads each distinct key once and shares its signer between the targets that name it. Load is how a key
// reference is loaded (the caller knows the password and how env:// references resolve). Unnamed, when set, signs
// the targets whose sign settings name no key — one keyless signer for the run, say — and is called once; nil leaves
// them unsigned.
type Signers struct {
	Load    func(ctx context.Context, keyRef string) (*sign.Signer, error)
	Unnamed func(ctx context.Context) (*sign.Signer, error)

	mu   sync.Mutex
	keys map[string]*sign.Signer
}

// Get returns the signer of key, loading it the first time; for "", Unnamed's (nil without it).
func (c *Signers) Get(ctx context.Context, key string) (*sign.Signer, error) {
	load := func(ctx context.Context) (*sign.Signer, error) { return c.Load(ctx, key) }
	if key == "" {
		if c.Unnamed == nil {
			return nil, nil
		}
		load = c.Unnamed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.keys[key]; ok {
		return s, nil
	}
	s, err := load(ctx)
	if err != nil {
		return nil, err
	}
	if c.keys == nil {
		c.keys = map[string]*sign.Signer{}
	}
	c.keys[key] = s
	return s, nil
}

// LoadAll loads each distinct key of the targets, so that a bad key or password fails a run before any target is
// published.
func (c *Signers) LoadAll(ctx context.Context, targets []Target) error {
	for _, t := range targets {
		if t.Sign != nil {
			if _, err := c.Get(ctx, t.Sign.Key); err != nil {
				return fmt.Errorf("target %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

// PublishOptions are base with the target's settings: its tags, package options, validation settings, immutable
// tags and signing (the signer from signers, the attestations and the format), and the reference it publishes to.
func (t Target) PublishOptions(ctx context.Context, base PublishOptions, signers *Signers) (publish.Ref, PublishOptions, error) {
	ref, err := publish.ParseRef(t.Ref)
	if err != nil {
		return publish.Ref{}, PublishOptions{}, err
	}
	o := base
	o.Tags = slices.Clone(t.Tags)
	o.Load = t.LoadOptions(base.Load)
	o.Package = t.PackageOptions()
	o.ImmutableTags = t.ImmutableTags != nil && *t.ImmutableTags
	o.Signer, o.Attest, o.SignatureFormat = nil, false, sign.FormatLegacy
	if t.Sign != nil {
		if o.Signer, err = signers.Get(ctx, t.Sign.Key); err != nil {
			return publish.Ref{}, PublishOptions{}, err
		}
		if o.SignatureFormat, err = SignatureFormat(t.Sign.Format); err != nil {
			return publish.Ref{}, PublishOptions{}, err
		}
		o.Attest = o.Signer != nil && (t.Sign.Attest == nil || *t.Sign.Attest)
	}
	return ref, o, nil
}

// PublishedRef is what a target's tree is compared with, and what an incremental publish reads: its ref with the
// tag in it, else with the first of its tags.
func (t Target) PublishedRef() (publish.Ref, error) {
	ref, err := publish.ParseRef(t.Ref)
	if err != nil {
		return publish.Ref{}, err
	}
	if ref.Tag == "" && ref.Digest == "" {
		if len(t.Tags) == 0 {
			return publish.Ref{}, invalidf("target %s: its ref %s names no tag and it has no tags, so there is nothing published to compare with: add :TAG to the ref", t.Name, t.Ref)
		}
		ref.Tag = slices.Min(t.Tags)
	}
	return ref, nil
}
