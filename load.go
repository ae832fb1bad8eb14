package statepack

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/charts"
	"github.com/statepack/statepack/internal/gitmeta"
	"github.com/statepack/statepack/internal/schema"
	"github.com/statepack/statepack/internal/substitute"
)

// LoadOptions say how a tree is rendered and validated. The zero value renders with the defaults of `statepack
// render`: the root is the git work tree that holds the path, no remote bases, the policies and the built-in
// schemas of DefaultKubernetesVersion on.
type LoadOptions struct {
	// Root is the source root: no file outside it is read. "" means the git work tree that holds the path, else the
	// working directory when it holds the path, else the path.
	Root string
	// AllowRemote lets kustomizations fetch remote bases over the network.
	AllowRemote bool
	// LoadRestrictor is kustomize's: build.LoadRestrictionsNone (the default, as Flux builds) lets a kustomization
	// read files in sibling directories within the source root; build.LoadRestrictionsRootOnly confines it to its
	// directory, as `kustomize build` does.
	LoadRestrictor string
	// IgnorePaths are gitignore patterns, anchored at the tree's path, of files to leave out, as
	// `flux push artifact --ignore-paths` takes them; they win over the .sourceignore files, which are always
	// honoured as Flux's source-controller honours them (build.WithIgnorePaths).
	IgnorePaths []string
	// MaxFileSize is the largest source file read, in bytes; 0 means build.DefaultMaxFileSize.
	MaxFileSize int64
	// Allow turns off the findings of rules, each with its reason (see Allowance): the rules of findings that mean the
	// tree cannot be rendered excepted. The findings turned off are counted in Source.Allowed.
	Allow []Allowance
	// Substitute are Flux postBuild variables, as a Flux Kustomization's postBuild.substitute gives them. When any
	// is given (here or through SubstituteFrom), the objects are validated as Flux applies them after substituting
	// their ${var} placeholders (build.Substitute); the rendering, and so the artifact, keeps the placeholders, which
	// Flux substitutes after pulling it. Without any, a check that fails only because a value holds a placeholder
	// is a warning (flux/substitution-pending) naming it.
	Substitute map[string]string
	// SubstituteFrom are files of variables read before Substitute, which wins over them, later files winning over
	// earlier ones: KEY=VALUE lines, or YAML ConfigMaps and Secrets as Flux's postBuild.substituteFrom reads them.
	SubstituteFrom []string
	// SubstituteStrict substitutes as kustomize-controller does with its StrictPostBuildSubstitutions feature gate:
	// an object that refers to a variable with neither a value nor a default (${var}, not ${var:=default}) is a
	// flux/substitution error naming the variable, instead of taking the empty string. It substitutes even when no
	// variable is given (Flux substitutes nothing without variables), so that every placeholder without a default is
	// found.
	SubstituteStrict bool
	// ExternalNamespaces exist outside the tree.
	ExternalNamespaces []string
	// KubernetesVersion is the Kubernetes version whose schemas built-in kinds are validated against; "" means
	// DefaultKubernetesVersion.
	KubernetesVersion string
	// CRDDirs hold CustomResourceDefinitions to validate custom resources against; later ones win, and CRDs in the
	// tree beat them all.
	CRDDirs []string
	// SchemaCacheDir is a directory of CRDs kept between runs, below CRDDirs in precedence; "" means none.
	SchemaCacheDir string
	// Strict makes a kind with no schema an error instead of a warning.
	Strict bool
	// NoBuiltinCRDs leaves out the built-in CRDs (BuiltinCRDSets): a custom resource is checked only against a CRD of
	// the tree, of CRDDirs or of SchemaCacheDir.
	NoBuiltinCRDs bool
	// PlaceWarnings places the objects of a kustomized tree in their source files when a warning lacks a line, not
	// only an error (errors are always placed): what validate does, since findings are what it is asked for.
	PlaceWarnings bool
	// Helm says how the Helm releases of the tree are pinned and rendered.
	Helm HelmOptions
	// RenderOnly renders without validating: Findings are the render's own (syntax, refused files, kustomize's
	// errors, the Helm stage's), no validator runs and nothing is placed. What `statepack render` needs, which
	// prints no other finding.
	RenderOnly bool
	// Context gives the branch of a detached checkout (RefName), for the git metadata.
	Context BuildContext
	// Logger receives debug and info logs; nil means none.
	Logger *slog.Logger
}

// DefaultKubernetesVersion is the Kubernetes version whose schemas validate built-in kinds by default.
const DefaultKubernetesVersion = schema.DefaultKubernetesVersion

// KubernetesVersions lists the Kubernetes versions whose schemas are built in.
func KubernetesVersions() []string { return schema.Versions() }

// BuiltinCRDSets names the projects whose CRDs are built in, with their releases: "Flux v2.9.4", "Argo CD v3.6.2",
// "Gateway API v1.7.0 (experimental channel)", "cert-manager v1.21.2". A custom resource of theirs is checked
// against them when neither the tree nor a CRD directory holds its CRD.
func BuiltinCRDSets() []string {
	var out []string
	for _, e := range schema.Ecosystems() {
		out = append(out, e.String())
	}
	return out
}

func (o *LoadOptions) kubernetesVersion() string {
	if o.KubernetesVersion == "" {
		return DefaultKubernetesVersion
	}
	return o.KubernetesVersion
}

// GitInfo is what statepack reads of the git work tree that holds a source.
type GitInfo = gitmeta.Info

// Source is a tree, rendered and validated by Load (or only located, by Locate).
type Source struct {
	// Path is the tree's directory, as given.
	Path string
	// Root is the source root, as given or as chosen (see LoadOptions.Root).
	Root string
	// Rendering is the render; nil for a Source from Locate.
	Rendering *build.Rendering
	// Findings are the render's and the validators' findings, sorted.
	Findings build.Findings
	// Git is the work tree's metadata; nil outside a git work tree.
	Git *GitInfo
	// Charts are the Helm releases the tree declares and what each renders (none with HelmOff).
	Charts []ChartRelease

	fetcher    *charts.Fetcher // made on the first chart from a repository
	lock       *charts.Lock    // the tree's lock file; nil when it has none
	chartsLive bool            // a chart was resolved from its repository, not from a lock
	// Allowed counts the findings LoadOptions.Allow turned off, by rule.
	Allowed []AllowedFindings

	opts    LoadOptions
	vars    map[string]string // Flux postBuild variables; nil when none are given
	secrets []string          // values of vars that came from a Secret: never shown in a finding
}

// Objects are the rendered objects.
func (s *Source) Objects() []build.Object {
	if s.Rendering == nil {
		return nil
	}
	return s.Rendering.Objects
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Load renders and validates the tree at path: structural checks, the policies and the schemas. Findings come back
// in the Source, not as an error, so that the caller decides how to report them (FindingsError makes one). Objects
// from kustomize carry source positions only when a finding needs placing: in a tree with errors (or, with
// PlaceWarnings, warnings) that lack a line, they are located from the kustomizations' files
// (build.Rendering.LocateSources), or, where that cannot be proven right, by a second render with kustomize's
// origin annotations.
func Load(ctx context.Context, path string, o LoadOptions) (*Source, error) {
	s, err := Locate(path, o)
	if err != nil {
		return nil, err
	}
	if o.MaxFileSize < 0 {
		return nil, invalidf("the largest file size must be positive, got %d", o.MaxFileSize)
	}
	if err := o.Helm.Check(); err != nil {
		return nil, err
	}
	var validators []build.Validator
	if !o.RenderOnly {
		start := time.Now()
		v, err := o.validators(ctx)
		if err != nil {
			return nil, err
		}
		validators = v
		logger(o.Logger).Debug("loaded the validators", "duration", since(start))
	}
	opts := []build.RenderOption{build.WithRoot(s.Root), build.WithAllowRemote(o.AllowRemote)}
	switch o.LoadRestrictor {
	case "", build.LoadRestrictionsNone, build.LoadRestrictionsRootOnly:
		opts = append(opts, build.WithLoadRestrictor(o.LoadRestrictor))
	default:
		return nil, invalidf("--load-restrictor %q: use %s (as Flux builds, the default) or %s (as kustomize build)",
			o.LoadRestrictor, build.LoadRestrictionsNone, build.LoadRestrictionsRootOnly)
	}
	if o.MaxFileSize > 0 {
		opts = append(opts, build.WithMaxFileSize(o.MaxFileSize))
	}
	if len(o.IgnorePaths) > 0 {
		opts = append(opts, build.WithIgnorePaths(o.IgnorePaths))
	}
	if o.Helm.mode() != HelmOff {
		// A kustomization's helmCharts entry with a repo is rendered from the chart its repository serves, as
		// Argo CD renders it; with --helm=off no chart is fetched and such an entry is refused.
		opts = append(opts, build.WithRemoteCharts(s.pullChart))
	}
	vars, secrets, err := o.variables()
	if err != nil {
		return nil, err
	}
	s.vars, s.secrets = vars, secrets
	if err := s.render(ctx, validators, opts...); err != nil {
		return nil, err
	}
	// Objects from kustomize carry no source position unless kustomize tracks origins, which makes it twice as
	// slow; so only a tree with findings to place is located, from the kustomizations and the files they name
	// (LocateSources), and validated again. Where that cannot be proven to match kustomize's origins, the tree is
	// rendered a second time, with them. Kustomize may have built a subdirectory of a plain tree as well as the tree
	// itself.
	if s.Rendering.Kustomized && slices.ContainsFunc(s.Findings, func(f build.Finding) bool {
		return f.Line == 0 && f.Object != nil && (o.PlaceWarnings || f.Severity == build.SeverityError)
	}) {
		if s.Rendering.LocateSources() {
			logger(o.Logger).Debug("placing the findings from the kustomizations' source files")
			s.placeCharts()
			s.validate(ctx, validators)
			return s, nil
		}
		logger(o.Logger).Debug("rendering again with source positions to place the findings")
		if err := s.render(ctx, validators, append(opts, build.WithSourcePositions(true))...); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Source) render(ctx context.Context, validators []build.Validator, opts ...build.RenderOption) error {
	start := time.Now()
	r, err := build.Render(ctx, s.Path, opts...)
	if errors.Is(err, build.ErrInvalidInput) {
		return &invalidOption{err} // the path is not a directory, or lies outside the root
	}
	if err != nil {
		return err
	}
	s.Rendering = r
	s.Charts = nil
	if len(r.RemoteCharts) > 0 {
		s.addLockInput()
	}
	s.helmStage(ctx) // adds to r.Findings: a release that cannot be rendered leaves the rendering incomplete
	log := logger(s.opts.Logger)
	log.Debug("rendered", "objects", len(r.Objects), "duration", since(start))
	start = time.Now()
	s.validate(ctx, validators)
	log.Debug("validated", "validators", len(validators), "findings", len(s.Findings), "duration", since(start))
	return nil
}

// validate sets the findings: the render's (the Helm stage's included), then the validators' of the objects that
// rendered, each placed on the line of the field it names. A render with errors still has its objects validated,
// so that one run reports everything findable (the errors keep the tree from being packaged); only the findings
// that judge an object by what the rest of the set holds (build.NeedsWholeSet) are left out then, since the
// objects that did not render may be what they miss.
func (s *Source) validate(ctx context.Context, validators []build.Validator) {
	r := s.Rendering
	s.Findings = slices.Clone(r.Findings)
	if !s.opts.RenderOnly {
		incomplete := r.Findings.HasErrors()
		for _, f := range s.validateObjects(ctx, validators) {
			if !incomplete || !build.NeedsWholeSet(f) {
				s.Findings = append(s.Findings, f)
			}
		}
		if len(r.Objects) == 0 && !incomplete {
			s.Findings = append(s.Findings, s.noObjects())
		}
		r.PlaceFields(s.Findings)
	}
	for i := range s.Findings {
		s.Findings[i].Message = substitute.Mask(s.Findings[i].Message, s.secrets)
	}
	s.Findings.Sort()
	s.Findings, s.Allowed = applyAllow(s.Findings, s.opts.Allow)
}

// noObjects is the finding of a tree that renders no object: validate fails on it as publish does (an empty artifact
// would delete everything an agent applied before), and it names the files the render ignored, such as Jsonnet or
// CUE sources that statepack does not evaluate.
func (s *Source) noObjects() build.Finding {
	var ignored []string
	_ = filepath.WalkDir(s.Path, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case p != s.Path && strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return filepath.SkipDir
			}
		case !d.IsDir() && !slices.Contains([]string{".yaml", ".yml", ".json"}, strings.ToLower(filepath.Ext(p))):
			if rel, err := filepath.Rel(s.Path, p); err == nil {
				ignored = append(ignored, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	msg := s.Path + " rendered no objects: an empty artifact would delete everything an agent applied before"
	if len(ignored) > 0 {
		shown := ignored[:min(len(ignored), 5)]
		msg += fmt.Sprintf("; ignored %d file(s) that are not YAML or JSON manifests (%s", len(ignored), strings.Join(shown, ", "))
		if len(ignored) > len(shown) {
			msg += ", …"
		}
		msg += "): statepack does not evaluate Jsonnet, CUE or templates; render them to YAML first"
	}
	return build.Finding{Severity: build.SeverityError, Rule: "source/no-objects", File: s.RelPath(), Message: msg}
}

// variables are the Flux postBuild variables of SubstituteFrom's files, then Substitute's, checked as Flux checks
// their names; nil when there are none.
//
// secrets are the values that came from a Secret of SubstituteFrom (and were not replaced by Substitute): findings
// must not show them (substitute.Mask).
func (o *LoadOptions) variables() (vars map[string]string, secrets []string, err error) {
	vars = map[string]string{}
	secret := map[string]bool{}
	for _, f := range o.SubstituteFrom {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, invalidf("--substitute-from: %w", err)
		}
		from, fromSecret, err := substitute.ReadFileSecrets(f, data)
		if err != nil {
			return nil, nil, invalidf("--substitute-from %w", err)
		}
		maps.Copy(vars, from)
		for k := range from {
			secret[k] = fromSecret[k]
		}
	}
	maps.Copy(vars, o.Substitute)
	if err := substitute.CheckNames(vars); err != nil {
		return nil, nil, invalidf("--substitute: %w", err)
	}
	if len(vars) == 0 {
		return nil, nil, nil
	}
	for k, v := range vars {
		if _, given := o.Substitute[k]; secret[k] && !given {
			secrets = append(secrets, v)
		}
	}
	// Longest first, so that a value holding another is hidden whole.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	return vars, secrets, nil
}

// validators are the checks beyond the structural ones: policies, then schemas.
func (o *LoadOptions) validators(ctx context.Context) ([]build.Validator, error) {
	if err := checkAllow(o.Allow); err != nil {
		return nil, err
	}
	// Every policy runs: the findings of those allowed are counted, with the other allowed rules', in Source.Allowed.
	policies, err := build.PolicyValidator(build.PolicyOptions{ExternalNamespaces: o.ExternalNamespaces,
		ClusterScopedKinds: schema.ClusterScopedKinds()})
	if err != nil {
		return nil, &invalidOption{err}
	}
	// Later directories take precedence: the cache first, then the CRD directories; CRDs in the tree beat both.
	dirs, readDir, err := o.crdDirs(ctx)
	if err != nil {
		return nil, err
	}
	schemas, err := schema.NewValidator(schema.KubernetesVersion(o.kubernetesVersion()), schema.CRDDirs(dirs, readDir), schema.Strict(o.Strict),
		schema.BuiltinCRDs(!o.NoBuiltinCRDs))
	if err != nil {
		return nil, &invalidOption{err}
	}
	return []build.Validator{policies, schemas}, nil
}

// LoadManifests renders and validates one stream of manifests — a file's content, or what `kustomize build` wrote
// to a pipe — as Load does a tree: name is what findings call it ("app.yaml", "-" for stdin), data its bytes, no
// more than MaxFileSize. The stream is decoded as plain YAML (or JSON when name ends in .json), never built: a
// kustomization in it is an object like any other.
func LoadManifests(ctx context.Context, name string, data []byte, o LoadOptions) (*Source, error) {
	limit := o.MaxFileSize
	if limit <= 0 {
		limit = build.DefaultMaxFileSize
	}
	if int64(len(data)) > limit {
		return nil, invalidf("%s is %d bytes, more than the largest file read (%d): raise --max-file-size", name, len(data), limit)
	}
	dir, err := os.MkdirTemp("", "statepack-stream-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := "stdin.yaml"
	if name != "-" {
		file = filepath.Base(name)
		if ext := strings.ToLower(filepath.Ext(file)); ext != ".json" && ext != ".yaml" && ext != ".yml" {
			file += ".yaml"
		}
		if base := strings.ToLower(file); base == "kustomization.yaml" || base == "kustomization.yml" {
			file = "manifests-" + file // decoded, never built
		}
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
		return nil, err
	}
	o.Root, o.Context.RefName = dir, ""
	s, err := Load(ctx, dir, o)
	if err != nil {
		return nil, err
	}
	display := name
	if name == "-" {
		display = "(stdin)"
	}
	for i := range s.Findings {
		if s.Findings[i].File == file || s.Findings[i].File == "." {
			s.Findings[i].File = display
		}
		s.Findings[i].Message = strings.ReplaceAll(strings.ReplaceAll(s.Findings[i].Message, filepath.Join(dir, file), display), dir, display)
	}
	for i := range s.Rendering.Objects {
		if s.Rendering.Objects[i].Source.File == file {
			s.Rendering.Objects[i].Source.File = display
		}
	}
	s.Path, s.Root, s.Git = display, "", nil
	return s, nil
}

// crdDirs reads the CustomResourceDefinitions of the schema cache and the CRD directories, in that order (later
// directories win), once: a directory that cannot be read, holds a file that does not parse, or (a CRD directory)
// holds no CRD is the caller's mistake, reported once, naming it. Only CRD documents are read, nothing is built: a
// CRD directory may be a kustomization that installs a controller too.
func (o *LoadOptions) crdDirs(ctx context.Context) ([]string, schema.DirReader, error) {
	var dirs []string
	read := map[string][]build.Object{}
	add := func(flag, dir string, required bool) error {
		crds, err := build.CustomResourceDefinitions(ctx, dir, o.MaxFileSize, required)
		if err != nil {
			return invalidf("%s %s: %w: point it at a directory of CustomResourceDefinition manifests", flag, dir, err)
		}
		dirs, read[dir] = append(dirs, dir), crds
		return nil
	}
	if o.SchemaCacheDir != "" {
		if err := add("--schema-cache", o.SchemaCacheDir, false); err != nil {
			return nil, nil, err
		}
	}
	for _, d := range o.CRDDirs {
		if err := add("--crd-dir", d, true); err != nil {
			return nil, nil, err
		}
	}
	return dirs, func(_ context.Context, dir string) ([]build.Object, build.Findings, error) {
		return read[dir], nil, nil
	}, nil
}

// Locate checks path, reads its git metadata and decides the source root, without rendering.
func Locate(path string, o LoadOptions) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, invalidf("source %s: %w", path, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, invalidf("source %s is not a directory: give the directory that holds the manifests or the kustomization", path)
	}
	s := &Source{Path: path, opts: o}
	info, err := gitmeta.Read(path, o.Context.RefName)
	switch {
	case errors.Is(err, gitmeta.ErrNotRepository):
		logger(o.Logger).Debug("source is not in a git work tree", "path", path)
	case err != nil:
		logger(o.Logger).Warn("reading git metadata", "error", err)
	default:
		s.Git = info
		if info.SourceDropped {
			logger(o.Logger).Warn("the git remote's URL is left out of the source annotation: it is neither a URL nor host:path, or may hold a credential")
		}
	}
	s.Root = o.Root
	if s.Root == "" {
		s.Root = defaultRoot(path, s.Git)
	}
	return s, nil
}

// defaultRoot picks the source root: the git work tree, else the working directory when it holds path, else path.
func defaultRoot(path string, info *GitInfo) string {
	abs, _ := filepath.Abs(path)
	if info != nil && info.TopLevel != "" {
		return info.TopLevel
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return wd
		}
	}
	return abs
}

// RelPath is the tree's path relative to the source root, slash-separated, both with symlinks resolved; the path
// as given when that fails.
func (s *Source) RelPath() string {
	abs, err := filepath.Abs(s.Path)
	if err != nil {
		return filepath.ToSlash(s.Path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		if realRoot, err := filepath.EvalSymlinks(s.Root); err == nil {
			if r, err := filepath.Rel(realRoot, real); err == nil {
				return filepath.ToSlash(r)
			}
		}
	}
	return filepath.ToSlash(s.Path)
}

// withObjects is a copy of the source whose rendering holds objs instead (the objects with their images pinned,
// say); s is left as it was.
func (s *Source) withObjects(objs []build.Object, err error) (*Source, error) {
	if err != nil {
		return nil, err
	}
	c := *s
	r := *s.Rendering
	r.Objects = objs
	c.Rendering = &r
	return &c, nil
}

// FindingsError returns a *build.FindingsError (which wraps build.ErrInvalidInput) when the findings hold an error,
// else nil.
func (s *Source) FindingsError() error {
	if !s.Findings.HasErrors() {
		return nil
	}
	return &build.FindingsError{Findings: s.Findings}
}

// PackageOptions shape the artifact of a tree.
type PackageOptions struct {
	// LayerMediaType is build.LayerMediaType (the default, for Flux and Argo CD) or build.FluxLayerMediaType.
	LayerMediaType string
	// Annotations are added to the manifest's; they win over the git annotations.
	Annotations map[string]string
}

func (o PackageOptions) layerMediaType() string {
	if o.LayerMediaType == "" {
		return build.LayerMediaType
	}
	return o.LayerMediaType
}

// Check refuses a layer media type other than the two a consumer takes, and a creation time that is not RFC 3339
// in UTC.
func (o PackageOptions) Check() error {
	if mt := o.layerMediaType(); mt != build.LayerMediaType && mt != build.FluxLayerMediaType {
		return invalidf("--layer-media-type %q is not supported: use %s (default, Flux and Argo CD) or %s (Flux only)",
			mt, build.LayerMediaType, build.FluxLayerMediaType)
	}
	if v, ok := o.Annotations[build.AnnotationCreated]; ok {
		if t, err := time.Parse(time.RFC3339, v); err != nil || t.Location() != time.UTC {
			return invalidf("--annotation %s=%q must be an RFC 3339 time in UTC, like 2024-05-01T12:00:00Z", build.AnnotationCreated, v)
		}
	}
	for k := range o.Annotations {
		if k == "" {
			return invalidf("an annotation has an empty key")
		}
	}
	if v, ok := o.Annotations[build.AnnotationSequence]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 || strconv.FormatInt(n, 10) != v {
			return invalidf("--annotation %s=%q must be a non-negative decimal integer (statepack writes the commit time in Unix seconds)", build.AnnotationSequence, v)
		}
	}
	return nil
}

// settings describes everything besides the input files that shapes the artifact of a tree: the tool version,
// where the tree is, how it is rendered and validated, the layer type and the user's annotations. The git
// annotations (revision, created, source) are left out on purpose: an incremental publish keeps the artifact of
// the last commit that changed the target.
func (s *Source) settings(version string, p PackageOptions) string {
	o := s.opts
	annotations := make([]string, 0, len(p.Annotations))
	for k, v := range p.Annotations {
		annotations = append(annotations, k+"="+v)
	}
	lines := []string{
		"version=" + version,
		"path=" + s.RelPath(),
		fmt.Sprintf("allowRemote=%v", o.AllowRemote),
		"allow=" + strings.Join(allowRules(o.Allow), ","),
		"externalNamespaces=" + strings.Join(slices.Sorted(slices.Values(o.ExternalNamespaces)), ","),
		"kubernetesVersion=" + o.kubernetesVersion(),
		"crdDirs=" + strings.Join(o.CRDDirs, ","),
		fmt.Sprintf("strict=%v", o.Strict),
		"layerMediaType=" + p.layerMediaType(),
		"annotations=" + strings.Join(slices.Sorted(slices.Values(annotations)), "\x00"),
	}
	if len(o.IgnorePaths) > 0 {
		lines = append(lines, "ignorePaths="+strings.Join(o.IgnorePaths, "\x00")) // only when given, so that digests stay
	}
	if o.SubstituteStrict {
		lines = append(lines, "substituteStrict=true") // only when given, so that digests stay
	}
	if len(s.vars) > 0 {
		// Only a digest: the values may come from a Secret. Only when given, so that digests stay.
		h := sha256.New()
		for _, k := range slices.Sorted(maps.Keys(s.vars)) {
			fmt.Fprintf(h, "%s=%s\x00", k, s.vars[k])
		}
		lines = append(lines, fmt.Sprintf("substitute=sha256:%x", h.Sum(nil)))
	}
	if o.LoadRestrictor == build.LoadRestrictionsRootOnly {
		lines = append(lines, "loadRestrictor="+o.LoadRestrictor) // only when not the default, so digests stay
	}
	if m := o.Helm.mode(); m != HelmPin {
		lines = append(lines, "helm="+m)
	}
	if s.chartsLive {
		// A chart resolved live may differ next time while no file changed: nothing to compare with later, so
		// an incremental publish of this tree always renders (Locate never sets chartsLive).
		lines = append(lines, "charts=live")
	}
	return strings.Join(lines, "\n")
}

// annotations are the manifest annotations of the source: git metadata, the build context's SOURCE_DATE_EPOCH, and
// the caller's.
func (s *Source) annotations(bc BuildContext, log *slog.Logger, p PackageOptions) map[string]string {
	a := map[string]string{}
	var missing []string
	if s.Git != nil {
		if s.Git.Source != "" {
			a[build.AnnotationSource] = s.Git.Source
		} else {
			missing = append(missing, build.AnnotationSource+" (the repository has no remote)")
		}
		a[build.AnnotationRevision] = s.Git.Revision
		a[build.AnnotationCreated] = s.Git.CommitTime.Format(time.RFC3339)
		a[build.AnnotationSequence] = sequence(s.Git)
	} else {
		missing = append(missing, build.AnnotationSource, build.AnnotationRevision)
	}
	if bc.SourceDateEpoch != nil {
		a[build.AnnotationCreated] = bc.SourceDateEpoch.UTC().Format(time.RFC3339)
	} else if s.Git == nil {
		missing = append(missing, build.AnnotationCreated+" (set SOURCE_DATE_EPOCH)")
	}
	for k, v := range p.Annotations {
		a[k] = v
	}
	if len(missing) > 0 {
		reason := "not in a git work tree"
		if s.Git != nil {
			reason = "git metadata incomplete"
		}
		logger(log).Info(reason+": annotations left out", "annotations", strings.Join(missing, ", "))
	}
	return a
}

// sequence is the AnnotationSequence of a commit: its committer time in Unix seconds. It must be reproducible (the
// same commit, the same digest) and grow as the branch moves on. The committer time is part of the commit itself,
// so every clone reads the same value, shallow ones too: CI checks out one commit deep by default, where counting
// the commits of the first-parent history (the other candidate) would give 1 in CI and thousands on a laptop, and
// two digests for one commit. It grows with the branch as long as each commit is made after its parent: merges,
// squashes and rebases on the forge stamp the time of the merge, and a revert is a new, later commit, so it passes
// the check as the reviewed change it is. It can go down only when a commit carries a time before its parent's (a
// skewed clock, a forged GIT_COMMITTER_DATE), which takes write access to the branch, not to the registry: the
// check guards against tags moved in the registry, and anyone who can push commits can publish newer content
// anyway. SOURCE_DATE_EPOCH, which overrides the created annotation, does not change it.
func sequence(g *GitInfo) string {
	return strconv.FormatInt(g.CommitTime.Unix(), 10)
}

// Bundle packages a source that has no error findings, with the git annotations, bc's creation time and the
// caller's annotations; extra options (the inputs, say) are passed on to build.Package.
func (s *Source) Bundle(bc BuildContext, p PackageOptions, log *slog.Logger, extra ...build.PackageOption) (*build.Bundle, error) {
	if s.Rendering == nil {
		return nil, errors.New("packaging a source that was not loaded")
	}
	if err := s.FindingsError(); err != nil {
		return nil, err
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	opts := []build.PackageOption{build.WithLayerMediaType(p.layerMediaType()), build.WithAnnotations(s.annotations(bc, log, p))}
	return build.Package(s.Rendering.Objects, append(opts, extra...)...)
}
