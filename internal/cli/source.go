package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/gitmeta"
	"github.com/statepack/statepack/internal/schema"
)

// sourceOptions are the flags of every command that reads a source tree.
type sourceOptions struct {
	root               string
	allowRemote        bool
	maxFileSize        int64
	allow              []string
	externalNamespaces []string
	kubernetesVersion  string
	crdDirs            []string
	schemaCache        string // --schema-cache; "" means the default location, read only when it exists
	strict             bool

	schemaCacheDir string // the schema cache in force, set by loadSource: "" when there is none
	// placeWarnings renders a tree again with source positions when a warning lacks one, not only an error: validate
	// sets it (through bind), since findings are what the user asked it for. Other commands keep the positions a
	// warning has, rather than pay a second render for every tree with a kind that has no schema.
	placeWarnings bool
}

func (o *sourceOptions) bind(cmd *cobra.Command) {
	o.placeWarnings = cmd.Name() == "validate"
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "", "source root: no file outside it is read (default: the git work tree that holds PATH, else the current directory when it holds PATH, else PATH)")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "let kustomizations fetch remote bases over the network")
	f.Int64Var(&o.maxFileSize, "max-file-size", build.DefaultMaxFileSize, "largest source file read, in bytes")
	f.StringArrayVar(&o.allow, "allow", nil, "turn off a policy by its ID (repeatable): "+strings.Join(build.PolicyIDs(), ", "))
	f.StringArrayVar(&o.externalNamespaces, "external-namespace", nil, "a namespace that exists outside this tree (repeatable)")
	f.StringVar(&o.kubernetesVersion, "kubernetes-version", schema.DefaultKubernetesVersion,
		"validate built-in kinds against this Kubernetes version's schema: "+strings.Join(schema.Versions(), ", "))
	f.StringArrayVar(&o.crdDirs, "crd-dir", nil, "directory of CustomResourceDefinitions to validate custom resources against (repeatable; CRDs in the tree count too)")
	f.StringVar(&o.schemaCache, "schema-cache", "", "directory of CustomResourceDefinitions kept between runs, used like --crd-dir below it in precedence (default: $XDG_CACHE_HOME/statepack/crds, else ~/.cache/statepack/crds, read only when it exists)")
	f.BoolVar(&o.strict, "strict", false, "a kind with no schema (no CRD found) is an error, not a warning")
}

// resolveSchemaCache picks the schema cache directory: the one --schema-cache names, which must exist, or the default
// location under the user's cache directory when it exists.
func (o *sourceOptions) resolveSchemaCache(env *Env) error {
	if o.schemaCache != "" {
		st, err := os.Stat(o.schemaCache)
		if err != nil || !st.IsDir() {
			return usagef("--schema-cache %s is not a directory: create it and put CustomResourceDefinition manifests in it, or leave the flag out", o.schemaCache)
		}
		o.schemaCacheDir = o.schemaCache
		return nil
	}
	base := env.getenv("XDG_CACHE_HOME")
	if base == "" || !filepath.IsAbs(base) { // the XDG spec says to ignore a relative path
		home := env.getenv("HOME")
		if home == "" {
			return nil
		}
		base = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(base, "statepack", "crds")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		o.schemaCacheDir = dir
	}
	return nil
}

// validators builds the checks beyond the structural ones: policies, then schemas.
func (o *sourceOptions) validators() ([]build.Validator, error) {
	policies, err := build.PolicyValidator(build.PolicyOptions{Allow: o.allow, ExternalNamespaces: o.externalNamespaces})
	if err != nil {
		return nil, &usageError{err}
	}
	version := o.kubernetesVersion
	if version == "" {
		version = schema.DefaultKubernetesVersion
	}
	// Later directories take precedence: the cache first, then --crd-dir; CRDs in the tree beat both.
	var dirs []string
	if o.schemaCacheDir != "" {
		dirs = append(dirs, o.schemaCacheDir)
	}
	schemas, err := schema.NewValidator(schema.KubernetesVersion(version), schema.CRDDirs(append(dirs, o.crdDirs...)), schema.Strict(o.strict))
	if err != nil {
		return nil, &usageError{err}
	}
	return []build.Validator{policies, schemas}, nil
}

// packageOptions are the flags that shape the artifact.
type packageOptions struct {
	layerMediaType string
	annotations    []string
}

// check refuses bad package flags before any work is done.
func (o *packageOptions) check() error {
	if o.layerMediaType != build.LayerMediaType && o.layerMediaType != build.FluxLayerMediaType {
		return usagef("--layer-media-type %q is not supported: use %s (default, Flux and Argo CD) or %s (Flux only)",
			o.layerMediaType, build.LayerMediaType, build.FluxLayerMediaType)
	}
	return nil
}

func (o *packageOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.layerMediaType, "layer-media-type", build.LayerMediaType,
		"media type of the layer: "+build.LayerMediaType+" (Flux and Argo CD) or "+build.FluxLayerMediaType+" (Flux only)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "extra manifest annotation KEY=VALUE (repeatable)")
}

// source is a rendered, validated tree.
type source struct {
	path      string
	root      string // the source root, as given or as chosen by defaultRoot
	rendering *build.Rendering
	findings  build.Findings
	git       *gitmeta.Info // nil outside a git work tree
}

// loadSource renders and validates the tree at path. Findings come back in the source, not as an error, so that
// commands decide how to report them.
func loadSource(ctx context.Context, env *Env, log *slog.Logger, path string, o *sourceOptions) (*source, error) {
	s, err := locateSource(env, log, path, o)
	if err != nil {
		return nil, err
	}
	if o.maxFileSize <= 0 {
		return nil, usagef("--max-file-size must be positive")
	}
	if err := o.resolveSchemaCache(env); err != nil {
		return nil, err
	}
	validators, err := o.validators()
	if err != nil {
		return nil, err
	}
	opts := []build.RenderOption{build.WithRoot(s.root), build.WithAllowRemote(o.allowRemote), build.WithMaxFileSize(o.maxFileSize)}
	if err := s.render(ctx, path, validators, opts...); err != nil {
		return nil, err
	}
	// Objects from kustomize carry no source position unless kustomize tracks origins, which makes it slower; so
	// only a tree with findings to place is rendered a second time, with positions: one with errors, which stop the
	// command anyway, or with warnings too under validate (placeWarnings). Kustomize may have built a subdirectory
	// of a plain tree as well as the tree itself.
	if s.rendering.Kustomized && slices.ContainsFunc(s.findings, func(f build.Finding) bool {
		return f.Line == 0 && f.Object != nil && (o.placeWarnings || f.Severity == build.SeverityError)
	}) {
		log.Debug("rendering again with source positions to place the findings")
		if err := s.render(ctx, path, validators, append(opts, build.WithSourcePositions(true))...); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *source) render(ctx context.Context, path string, validators []build.Validator, opts ...build.RenderOption) error {
	r, err := build.Render(ctx, path, opts...)
	if errors.Is(err, build.ErrInvalidInput) {
		return &usageError{err} // PATH is not a directory, or lies outside --root
	}
	if err != nil {
		return err
	}
	s.rendering = r
	s.findings = r.Findings
	if !r.Findings.HasErrors() {
		s.findings = append(slices.Clone(s.findings), build.Validate(ctx, r.Objects, validators...)...)
		s.findings.Sort()
	}
	return nil
}

// locateSource checks PATH, reads its git metadata and decides the source root, without rendering.
func locateSource(env *Env, log *slog.Logger, path string, o *sourceOptions) (*source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usagef("source %s: %w", path, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, usagef("source %s is not a directory: give the directory that holds the manifests or the kustomization", path)
	}
	s := &source{path: path}
	info, err := gitmeta.Read(path, ciRefName(env))
	switch {
	case errors.Is(err, gitmeta.ErrNotRepository):
		log.Debug("source is not in a git work tree", "path", path)
	case err != nil:
		log.Warn("reading git metadata", "error", err)
	default:
		s.git = info
	}
	s.root = o.root
	if s.root == "" {
		s.root = defaultRoot(path, s.git)
	}
	return s, nil
}

// relPath is the tree's path relative to the source root, slash-separated, both with symlinks resolved; the path as
// given when that fails.
func (s *source) relPath() string {
	abs, err := filepath.Abs(s.path)
	if err != nil {
		return filepath.ToSlash(s.path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		if realRoot, err := filepath.EvalSymlinks(s.root); err == nil {
			if r, err := filepath.Rel(realRoot, real); err == nil {
				return filepath.ToSlash(r)
			}
		}
	}
	return filepath.ToSlash(s.path)
}

// settings describes everything besides the input files that shapes the artifact of a tree: the tool version,
// where the tree is, how it is rendered and validated, the layer type and the user's annotations. The git
// annotations (revision, created, source) are left out on purpose: an incremental publish keeps the artifact of
// the last commit that changed the target.
func (s *source) settings(env *Env, o *sourceOptions, p *packageOptions) string {
	return strings.Join([]string{
		"version=" + env.Version,
		"path=" + s.relPath(),
		fmt.Sprintf("allowRemote=%v", o.allowRemote),
		"allow=" + strings.Join(slices.Sorted(slices.Values(o.allow)), ","),
		"externalNamespaces=" + strings.Join(slices.Sorted(slices.Values(o.externalNamespaces)), ","),
		"kubernetesVersion=" + o.kubernetesVersion,
		"crdDirs=" + strings.Join(o.crdDirs, ","),
		fmt.Sprintf("strict=%v", o.strict),
		"layerMediaType=" + p.layerMediaType,
		"annotations=" + strings.Join(slices.Sorted(slices.Values(p.annotations)), "\x00"),
	}, "\n")
}

// defaultRoot picks the source root: the git work tree, else the working directory when it holds path, else path.
func defaultRoot(path string, info *gitmeta.Info) string {
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

// ciRefName returns the branch or tag name CI systems give for a detached checkout.
func ciRefName(env *Env) string {
	if ref := env.getenv("GITHUB_REF"); strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/") {
		if name := env.getenv("GITHUB_REF_NAME"); name != "" {
			return name
		}
		_, name, _ := strings.Cut(strings.TrimPrefix(ref, "refs/"), "/")
		return name
	}
	if name := env.getenv("GITHUB_HEAD_REF"); name != "" {
		return name // pull requests: the source branch
	}
	for _, k := range []string{"CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH", "GIT_BRANCH", "BRANCH_NAME"} {
		if v := env.getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// annotations returns the manifest annotations for the source: git metadata, SOURCE_DATE_EPOCH, and the user's.
func (s *source) annotations(env *Env, log *slog.Logger, o *packageOptions) (map[string]string, error) {
	a := map[string]string{}
	var missing []string
	if s.git != nil {
		if s.git.Source != "" {
			a[build.AnnotationSource] = s.git.Source
		} else {
			missing = append(missing, build.AnnotationSource+" (the repository has no remote)")
		}
		a[build.AnnotationRevision] = s.git.Revision
		a[build.AnnotationCreated] = s.git.CommitTime.Format(time.RFC3339)
	} else {
		missing = append(missing, build.AnnotationSource, build.AnnotationRevision)
	}
	if sde := env.getenv("SOURCE_DATE_EPOCH"); sde != "" {
		secs, err := strconv.ParseInt(sde, 10, 64)
		if err != nil || secs < 0 {
			return nil, usagef("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", sde)
		}
		a[build.AnnotationCreated] = time.Unix(secs, 0).UTC().Format(time.RFC3339)
	} else if s.git == nil {
		missing = append(missing, build.AnnotationCreated+" (set SOURCE_DATE_EPOCH)")
	}
	for _, kv := range o.annotations {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--annotation %q is not KEY=VALUE", kv)
		}
		if k == build.AnnotationCreated {
			if t, err := time.Parse(time.RFC3339, v); err != nil || t.Location() != time.UTC {
				return nil, usagef("--annotation %s=%q must be an RFC 3339 time in UTC, like 2024-05-01T12:00:00Z", k, v)
			}
		}
		a[k] = v
	}
	if len(missing) > 0 {
		reason := "not in a git work tree"
		if s.git != nil {
			reason = "git metadata incomplete"
		}
		log.Info(reason+": annotations left out", "annotations", strings.Join(missing, ", "))
	}
	return a, nil
}

// bundle packages a clean source.
func (s *source) bundle(env *Env, log *slog.Logger, o *packageOptions, extra ...build.PackageOption) (*build.Bundle, error) {
	a, err := s.annotations(env, log, o)
	if err != nil {
		return nil, err
	}
	return build.Package(s.rendering.Objects, append([]build.PackageOption{build.WithLayerMediaType(o.layerMediaType), build.WithAnnotations(a)}, extra...)...)
}

// reportFindings prints findings: to stdout as the result of validate, else to stderr.
func reportFindings(w io.Writer, g *globalOptions, findings build.Findings) {
	if g.json() {
		return // JSON commands embed findings in their result
	}
	for _, f := range findings {
		fmt.Fprintln(w, f.String())
	}
}

// failOnFindings returns a reported error when findings hold an error; the findings were printed already.
func failOnFindings(findings build.Findings) error {
	if !findings.HasErrors() {
		return nil
	}
	errs, warns := findings.Count()
	return &reportedError{fmt.Errorf("%w: %d error(s), %d warning(s)", build.ErrInvalidInput, errs, warns)}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// countKinds counts objects by kind, for summaries.
func countKinds(objs []build.Object) map[string]int {
	m := map[string]int{}
	for _, o := range objs {
		m[o.ID.Kind]++
	}
	return m
}
