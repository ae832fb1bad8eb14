package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
)

// sourceOptions are the flags of every command that reads a source tree.
type sourceOptions struct {
	root               string
	allowRemote        bool
	loadRestrictor     string
	maxFileSize        int64
	ignorePaths        []string
	allow              []string
	substitute         []string // --substitute KEY=VALUE
	substituteFrom     []string
	substituteStrict   bool
	externalNamespaces []string
	kubernetesVersion  string
	crdDirs            []string
	schemaCache        string // --schema-cache; "" means the default location, read only when it exists
	strict             bool
	builtinCRDs        bool
	helm               string
	chartCache         string
	offline            bool
	chartAuth          []string // URL=ENV_PREFIX

	// placeWarnings renders a tree again with source positions when a warning lacks one, not only an error: validate
	// sets it (through bind), since findings are what the user asked it for. Other commands keep the positions a
	// warning has, rather than pay a second render for every tree with a kind that has no schema.
	placeWarnings bool
	// renderOnly skips validation: render sets it (through bind), since it reports only the render's own findings.
	renderOnly bool
}

func (o *sourceOptions) bind(cmd *cobra.Command) {
	o.placeWarnings = cmd.Name() == "validate"
	o.renderOnly = cmd.Name() == "render"
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "", "source root: no file outside it is read (default: the git work tree that holds PATH, else the current directory when it holds PATH, else PATH)")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "let kustomizations fetch remote bases over the network")
	f.StringVar(&o.loadRestrictor, "load-restrictor", build.LoadRestrictionsNone, "kustomize's load restrictor: "+build.LoadRestrictionsNone+
		" (as Flux builds: a kustomization may read files in sibling directories, within --root) or "+build.LoadRestrictionsRootOnly+" (as kustomize build)")
	f.StringSliceVar(&o.ignorePaths, "ignore-paths", nil, "leave out files matching these gitignore patterns, anchored at PATH (comma-separated, as flux push artifact takes them); .sourceignore files and Flux's default excludes always apply")
	f.Int64Var(&o.maxFileSize, "max-file-size", build.DefaultMaxFileSize, "largest source file read, in bytes")
	f.StringArrayVar(&o.allow, "allow", nil, "turn off the findings of a rule, saying why: RULE=REASON (repeatable); any rule but those of a tree that cannot be rendered ("+
		strings.Join(build.RenderRules, ", ")+"), e.g. schema/no-schema, or a policy: "+strings.Join(build.PolicyIDs(), ", "))
	f.StringArrayVar(&o.substitute, "substitute", nil, "a Flux postBuild variable KEY=VALUE (repeatable): validate the objects as Flux applies them after substituting ${KEY} placeholders (the artifact keeps the placeholders, which Flux substitutes after pulling)")
	f.StringArrayVar(&o.substituteFrom, "substitute-from", nil, "a file of Flux postBuild variables (repeatable; --substitute wins): KEY=VALUE lines, or YAML ConfigMaps and Secrets as postBuild.substituteFrom names them")
	f.BoolVar(&o.substituteStrict, "substitute-strict", false, "substitute as Flux's kustomize-controller with its StrictPostBuildSubstitutions feature gate: a ${VAR} with neither a value nor a default is an error (flux/substitution) naming the variable, not the empty string")
	f.StringArrayVar(&o.externalNamespaces, "external-namespace", nil, "a namespace that exists outside this tree (repeatable)")
	f.StringVar(&o.kubernetesVersion, "kubernetes-version", statepack.DefaultKubernetesVersion,
		"validate built-in kinds against this Kubernetes version's schema: "+strings.Join(statepack.KubernetesVersions(), ", "))
	f.StringArrayVar(&o.crdDirs, "crd-dir", nil, "directory of CustomResourceDefinitions to validate custom resources against (repeatable; CRDs in the tree count too)")
	f.StringVar(&o.schemaCache, "schema-cache", "", "directory of CustomResourceDefinitions kept between runs, used like --crd-dir below it in precedence (default: $XDG_CACHE_HOME/statepack/crds, else ~/.cache/statepack/crds, read only when it exists)")
	f.BoolVar(&o.strict, "strict", false, "a kind with no schema (no CRD found) is an error, not a warning")
	f.BoolVar(&o.builtinCRDs, "builtin-crds", true, "check custom resources whose CRD is neither in the tree nor in a CRD directory against the CRDs built in: "+
		strings.Join(statepack.BuiltinCRDSets(), ", ")+" (an apiVersion those releases do not serve is a warning)")
	f.StringVar(&o.helm, "helm", statepack.HelmPin, "Helm releases (Flux HelmRelease, Argo CD Application with a chart): "+
		"pin (chart references made exact, charts rendered in-process for validation), hydrate (each release replaced by the objects it renders) or off (left as they are; floating charts warned about)")
	f.StringVar(&o.chartCache, "chart-cache", "", "content-addressed cache of Helm charts kept between runs (default: $XDG_CACHE_HOME/statepack/charts, else ~/.cache/statepack/charts)")
	f.BoolVar(&o.offline, "offline", false, "resolve charts only from the lock file (statepack.lock beside the tree) and fetch them only from the chart cache: no network")
	f.StringArrayVar(&o.chartAuth, "chart-auth", nil, "basic auth for HTTP chart repositories whose URL starts with URL: URL=PREFIX reads the user name and password from the environment variables PREFIX_USERNAME and PREFIX_PASSWORD (repeatable)")
}

// resolveSchemaCache picks the schema cache directory: the one --schema-cache names, which must exist, or the default
// location under the user's cache directory when it exists; "" when there is none.
func (o *sourceOptions) resolveSchemaCache(env *Env) (string, error) {
	if o.schemaCache != "" {
		st, err := os.Stat(o.schemaCache)
		if err != nil || !st.IsDir() {
			return "", usagef("--schema-cache %s is not a directory: create it and put CustomResourceDefinition manifests in it, or leave the flag out", o.schemaCache)
		}
		return o.schemaCache, nil
	}
	base := userCacheDir(env) // the XDG spec says to ignore a relative path
	if base == "" {
		return "", nil
	}
	dir := filepath.Join(base, "statepack", "crds")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	return "", nil
}

// loadOptions are the flags as the library's load options, with the schema cache found and the branch of a detached
// checkout from the environment.
func (o *sourceOptions) loadOptions(env *Env, log *slog.Logger) (statepack.LoadOptions, error) {
	if o.maxFileSize <= 0 {
		return statepack.LoadOptions{}, usagef("--max-file-size must be positive")
	}
	cache, err := o.resolveSchemaCache(env)
	if err != nil {
		return statepack.LoadOptions{}, err
	}
	helm, err := o.helmOptions(env)
	if err != nil {
		return statepack.LoadOptions{}, err
	}
	vars, err := keyValues("--substitute", o.substitute)
	if err != nil {
		return statepack.LoadOptions{}, err
	}
	var allow []statepack.Allowance
	for _, a := range o.allow {
		allow = append(allow, statepack.ParseAllowance(a))
	}
	return statepack.LoadOptions{
		Substitute:         vars,
		SubstituteFrom:     o.substituteFrom,
		SubstituteStrict:   o.substituteStrict,
		Root:               o.root,
		AllowRemote:        o.allowRemote,
		LoadRestrictor:     o.loadRestrictor,
		MaxFileSize:        o.maxFileSize,
		IgnorePaths:        o.ignorePaths,
		Allow:              allow,
		ExternalNamespaces: o.externalNamespaces,
		KubernetesVersion:  o.kubernetesVersion,
		CRDDirs:            o.crdDirs,
		SchemaCacheDir:     cache,
		Strict:             o.strict,
		NoBuiltinCRDs:      !o.builtinCRDs,
		Helm:               helm,
		PlaceWarnings:      o.placeWarnings,
		RenderOnly:         o.renderOnly,
		Context:            statepack.BuildContext{Version: env.Version, RefName: ciRefName(env)},
		Logger:             log,
	}, nil
}

// helmOptions are the chart flags as the library's options: the chart cache (the default location is created on
// first use), offline mode, credentials for HTTP repositories from the environment, and OCI chart registries read
// with the Docker config's credentials only (never the --username given for the publish target).
func (o *sourceOptions) helmOptions(env *Env) (statepack.HelmOptions, error) {
	// One share per command: the targets of a fleet fetch each chart, and render each release, once between them.
	h := statepack.HelmOptions{Mode: o.helm, ChartCache: o.chartCache, Offline: o.offline, Share: statepack.NewChartShare()}
	if h.ChartCache == "" {
		if base := userCacheDir(env); base != "" {
			h.ChartCache = filepath.Join(base, "statepack", "charts")
		}
	}
	var creds []statepack.ChartCredential
	for _, a := range o.chartAuth {
		url, prefix, ok := strings.Cut(a, "=")
		if !ok || url == "" || prefix == "" {
			return h, usagef("--chart-auth %q is not URL=PREFIX (the credentials are read from PREFIX_USERNAME and PREFIX_PASSWORD)", a)
		}
		user, pass := env.getenv(prefix+"_USERNAME"), env.getenv(prefix+"_PASSWORD")
		if user == "" || pass == "" {
			return h, usagef("--chart-auth %s: set %s_USERNAME and %s_PASSWORD in the environment", url, prefix, prefix)
		}
		creds = append(creds, statepack.ChartCredential{URL: url, Username: user, Password: pass})
	}
	h.HTTPAuth = statepack.ChartCredentials(creds...)
	var reg registryOptions
	opts, err := reg.options(env)
	if err != nil {
		return h, err
	}
	h.Registry = opts
	return h, nil
}

// userCacheDir is $XDG_CACHE_HOME when absolute, else ~/.cache; "" when neither is known.
func userCacheDir(env *Env) string {
	if base := env.getenv("XDG_CACHE_HOME"); base != "" && filepath.IsAbs(base) {
		return base
	}
	if home := env.getenv("HOME"); home != "" {
		return filepath.Join(home, ".cache")
	}
	return ""
}

// keyValues parses the KEY=VALUE values of a repeatable flag; nil for none.
func keyValues(flag string, kvs []string) (map[string]string, error) {
	var m map[string]string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("%s %q is not KEY=VALUE", flag, kv)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m, nil
}

// packageOptions are the flags that shape the artifact.
type packageOptions struct {
	layerMediaType string
	annotations    []string
}

func (o *packageOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.layerMediaType, "layer-media-type", build.LayerMediaType,
		"media type of the layer: "+build.LayerMediaType+" (Flux and Argo CD) or "+build.FluxLayerMediaType+" (Flux only)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "extra manifest annotation KEY=VALUE (repeatable)")
}

// values are the flags as the library's package options, checked.
func (o *packageOptions) values() (statepack.PackageOptions, error) {
	annotations, err := keyValues("--annotation", o.annotations)
	if err != nil {
		return statepack.PackageOptions{}, err
	}
	p := statepack.PackageOptions{LayerMediaType: o.layerMediaType, Annotations: annotations}
	return p, p.Check()
}

// source is a rendered, validated tree.
type source = statepack.Source

// loadSource renders and validates the tree at path. Findings come back in the source, not as an error, so that
// commands decide how to report them.
func loadSource(ctx context.Context, env *Env, log *slog.Logger, path string, o *sourceOptions) (*source, error) {
	lo, err := o.loadOptions(env, log)
	if err != nil {
		return nil, err
	}
	return statepack.Load(ctx, path, lo)
}

// loadSourceOrStream is loadSource for the commands that also read a single file or stdin ("-"): render and
// validate, as `kustomize build x | statepack validate -` and `statepack validate app.yaml`.
func loadSourceOrStream(ctx context.Context, env *Env, log *slog.Logger, path string, o *sourceOptions) (*source, error) {
	var data []byte
	switch st, err := os.Stat(path); {
	case path == "-":
		if env.Stdin == nil {
			return nil, usagef("- reads the manifests from stdin, which is not available")
		}
		data, err = io.ReadAll(io.LimitReader(env.Stdin, o.maxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
	case err == nil && st.Mode().IsRegular():
		if data, err = readBounded(path, o.maxFileSize); err != nil {
			return nil, err
		}
	default:
		return loadSource(ctx, env, log, path, o)
	}
	lo, err := o.loadOptions(env, log)
	if err != nil {
		return nil, err
	}
	return statepack.LoadManifests(ctx, path, data, lo)
}

// readBounded reads a file of at most limit bytes, and one byte more to tell it is larger.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("reading %s: %w", path, err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
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

// chartsSummary says, after the object count, what the tree's Helm releases rendered beside it: "" when none.
func chartsSummary(s *source) string {
	if len(s.Charts) == 0 {
		return ""
	}
	n := 0
	for _, c := range s.Charts {
		n += len(c.Objects)
	}
	verb := "validated beside them"
	if slices.ContainsFunc(s.Charts, func(c statepack.ChartRelease) bool { return c.Hydrated }) {
		verb = "hydrated"
	}
	return fmt.Sprintf(" (%d Helm release(s) rendering %d object(s), %s)", len(s.Charts), n, verb)
}

// chartsJSON lists the tree's Helm releases for -o json: release, namespace, chart and digest.
func chartsJSON(s *source) []map[string]any {
	out := []map[string]any{}
	for _, c := range s.Charts {
		out = append(out, map[string]any{"release": c.Release.Name, "namespace": c.Release.Namespace, "declaredBy": c.Release.ID,
			"chart": c.Chart, "digest": c.Digest, "objects": len(c.Objects)})
	}
	return out
}
