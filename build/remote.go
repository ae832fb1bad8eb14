package build

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/statepack/statepack/internal/third_party/kustomize/api/resmap"
)

// How a render stays offline.
//
// kustomize reaches the network in two places only, both in its file loader (api/internal/loader/fileloader.go):
// Load fetches a path over HTTP when it is an http or https URL (IsRemoteFile), and New clones a git repository,
// running the git program, when the path parses as one (api/internal/git NewRepoSpecFromURL). krusty builds that
// loader itself, with a plain http.Client and the git-exec cloner, and lets no caller replace either. What krusty
// does take from its caller is the file system, and every path it hands to Load or New comes from something it read
// through it: a kustomization, a generator, transformer or validator config in a file or inline in a kustomization,
// or a config that kustomize built from a directory listed under generators, transformers or validators.
//
// So, without --allow-remote, statepack checks each of those with kustomize's own decoder and kustomize's own rule
// for what is remote, at three points:
//
//   - the pre-scan (kustomizationScan) walks the kustomizations kustomize will read, before it runs, to report every
//     remote reference at once;
//   - each directory of configs is built first on its own, and the configs it yields are checked (checkConfigDirs);
//   - rootFS, the only file system kustomize gets, checks every kustomization and config as kustomize reads it and
//     refuses to hand over one that names remote content, or that lists a directory of configs not checked above.
//
// The last point is the one that holds when the others miss something: kustomize cannot fetch what it was never
// given.

// isRemoteFile is kustomize's IsRemoteFile (api/internal/loader): its file loader fetches such a path over HTTP.
func isRemoteFile(p string) bool {
	u, err := url.Parse(p)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

// isGitRepo reports whether kustomize's loader clones p with git when asked for a directory at p: whether
// git.NewRepoSpecFromURL parses it. That function is internal to kustomize; resource.Origin.Append is its public
// face and sets Repo exactly when it parses. kustomize strips one "git::" prefix in any case, logging a warning on
// the process-wide logger: it is stripped here first, so that the check stays quiet.
func isGitRepo(p string) (remote bool) {
	defer func() {
		if recover() != nil {
			remote = true // a parser that panics does not get to say "local"
		}
	}()
	if rest, ok := cutPrefixFold(p, "git::"); ok {
		if _, twice := cutPrefixFold(rest, "git::"); twice {
			return false // kustomize strips one prefix, and no scheme, user or host parses after a second
		}
		p = rest
	}
	return (&resource.Origin{}).Append(p).Repo != ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// isRemoteBase is kustomize's rule for an entry it may read as a file or enter as a directory (resources,
// components, and paths under generators, transformers and validators): fetched over HTTP when an http(s) URL,
// cloned when it parses as a git repository. kustomize tries a local file first and clones only when that fails, so
// a local file whose name parses as a repository ("github.com/org/repo/x.yaml") is refused too: statepack cannot
// promise that reading it will not fail over to git.
func isRemoteBase(p string) bool {
	return isRemoteFile(p) || isGitRepo(p)
}

// fileSourcePath is the path in a generator's file source, as kustomize's ParseFileSource splits it: "path" or
// "key=path"; ok is false for a source kustomize refuses.
func fileSourcePath(s string) (string, bool) {
	switch strings.Count(s, "=") {
	case 0:
		return s, true
	case 1:
		if key, p, _ := strings.Cut(s, "="); key != "" && p != "" {
			return p, true
		}
	}
	return "", false
}

// kvPaths lists the files a ConfigMap or Secret generator reads: file sources and env files.
func kvPaths(kv types.KvPairSources) []string {
	paths := append([]string(nil), kv.EnvSources...)
	if kv.EnvSource != "" {
		paths = append(paths, kv.EnvSource)
	}
	for _, s := range kv.FileSources {
		if p, ok := fileSourcePath(s); ok {
			paths = append(paths, p)
		}
	}
	return paths
}

// kustomizeResources parses YAML into resources the way kustomize does, for configs and inline entries.
var kustomizeResources = sync.OnceValue(func() *resmap.Factory {
	return resmap.NewFactory(provider.NewDepProvider().GetResourceFactory())
})

// kustomizationLoads is what one kustomization makes kustomize load, as kustomize decodes it.
type kustomizationLoads struct {
	// remote lists what kustomize would fetch over HTTP or clone with git, in the order of the file.
	remote []string
	// bases are local entries kustomize may enter as kustomization directories: resources and components.
	bases []string
	// configs are local entries under generators, transformers and validators: files of configs, or directories
	// kustomize builds into configs.
	configs []string
	// files are the local files the kustomization names outside resources and components (patches, generator
	// sources, replacements, CRDs, configurations, an OpenAPI schema): paths, or inline text where kustomize takes
	// either.
	files []string
	// customSchema is set when the kustomization sets an OpenAPI schema, which kustomize keeps process-wide.
	customSchema bool
	// expansion is set when YAML inline in the kustomization (a config or a patch) is an alias bomb.
	expansion error
	// helm is what the kustomization's helm fields ask for, and its namespace.
	helm helmChartsOf
}

// readKustomization decodes a kustomization as kustomize does (types.Kustomization: YAML to JSON, unknown fields
// refused, then FixKustomization) and lists what it makes kustomize load. ok is false when kustomize refuses the
// file: it then loads nothing from it.
func readKustomization(data []byte) (loads kustomizationLoads, ok bool) {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return loads, false
	}
	k.FixKustomization() // bases into resources, env into envs, legacy helm fields into helmCharts
	loads.customSchema = len(k.OpenAPI) > 0
	loads.helm = helmChartsOf{charts: k.HelmCharts, namespace: k.Namespace,
		fifo: k.SortOptions != nil && k.SortOptions.Order == types.FIFOSortOrder}
	var gens []types.GeneratorArgs
	for _, g := range k.ConfigMapGenerator {
		gens = append(gens, g.GeneratorArgs)
	}
	for _, g := range k.SecretGenerator {
		gens = append(gens, g.GeneratorArgs)
	}
	for _, g := range gens {
		if g.Behavior == "" || g.Behavior == "create" {
			loads.helm.generated++ // merge and replace change an object in place
		}
	}
	if k.HelmGlobals != nil {
		loads.helm.globals = *k.HelmGlobals
	}

	// Entries kustomize reads with Load only: fetched over HTTP when they are URLs.
	files := append(append([]string(nil), k.Crds...), k.Configurations...)
	//lint:ignore SA1019 deprecated, but kustomize still reads it
	for _, p := range k.PatchesStrategicMerge {
		files = append(files, string(p)) // patch text or a path: kustomize tries both
		loads.checkInline(string(p))
	}
	//lint:ignore SA1019 deprecated, but kustomize still reads it
	for _, p := range append(append([]types.Patch(nil), k.Patches...), k.PatchesJson6902...) {
		files = append(files, p.Path)
		loads.checkInline(p.Patch)
	}
	for _, r := range k.Replacements {
		files = append(files, r.Path)
	}
	if p, ok := k.OpenAPI["path"]; ok {
		files = append(files, p)
	}
	for _, g := range k.ConfigMapGenerator {
		files = append(files, kvPaths(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		files = append(files, kvPaths(g.KvPairSources)...)
	}
	for _, h := range k.HelmCharts { // statepack reads them (inflate), from the tree only
		files = append(files, h.ValuesFile)
		files = append(files, h.AdditionalValuesFiles...)
	}
	for _, p := range files {
		if isRemoteFile(p) {
			loads.remote = append(loads.remote, p)
		} else if p != "" {
			loads.files = append(loads.files, p)
		}
	}

	// Entries kustomize reads as a file or enters as a directory: fetched or cloned when remote.
	for _, p := range append(append([]string(nil), k.Resources...), k.Components...) {
		if isRemoteBase(p) {
			loads.remote = append(loads.remote, p)
		} else {
			loads.bases = append(loads.bases, p)
		}
	}
	// Generators, transformers and validators: an entry that parses as resources is inline configs (kustomize's
	// configureExternalGenerators and configureExternalTransformers decide the same way), else a path.
	for _, p := range append(append(append([]string(nil), k.Generators...), k.Transformers...), k.Validators...) {
		if !loads.checkInline(p) {
			continue
		}
		if rm, err := kustomizeResources().NewResMapFromBytes([]byte(p)); err == nil {
			for _, res := range rm.Resources() {
				loads.remote = append(loads.remote, remoteConfigPaths(res)...)
			}
			continue
		}
		if isRemoteBase(p) {
			loads.remote = append(loads.remote, p)
		} else {
			loads.configs = append(loads.configs, p)
		}
	}
	return loads, true
}

// checkInline refuses YAML text in a kustomization that kustomize would expand without a budget. It reports
// whether s may be parsed.
func (l *kustomizationLoads) checkInline(s string) bool {
	if s == "" {
		return true
	}
	if err := checkExpansion([]byte(s)); err != nil {
		if l.expansion == nil {
			l.expansion = err
		}
		return false
	}
	return true
}

// configPaths lists the paths a builtin generator or transformer config makes kustomize load: the fields each
// builtin's Config or Generate passes to the loader (api/internal/builtins). A config whose apiVersion is not
// "builtin" names an external plugin, which statepack's plugin settings refuse before it is configured.
func configPaths(res *resource.Resource) []string {
	gvk := res.GetGvk()
	if gvk.Group != "" || gvk.Version != konfig.BuiltinPluginApiVersion {
		return nil
	}
	j, err := res.MarshalJSON()
	if err != nil {
		return nil
	}
	// Decoding errors are ignored on purpose: the fields decoded so far are checked all the same (kustomize would
	// refuse such a config, so this only errs on the side of refusing).
	switch gvk.Kind {
	case "ConfigMapGenerator", "SecretGenerator":
		var c types.GeneratorArgs
		_ = json.Unmarshal(j, &c)
		return kvPaths(c.KvPairSources)
	case "PatchTransformer", "PatchJson6902Transformer":
		var c struct {
			Path string `json:"path"`
		}
		_ = json.Unmarshal(j, &c)
		return []string{c.Path}
	case "PatchStrategicMergeTransformer":
		var c struct {
			Paths []string `json:"paths"`
		}
		_ = json.Unmarshal(j, &c)
		return c.Paths
	case "ReplacementTransformer":
		var c struct {
			Replacements []types.ReplacementField `json:"replacements"`
		}
		_ = json.Unmarshal(j, &c)
		var paths []string
		for _, r := range c.Replacements {
			paths = append(paths, r.Path)
		}
		return paths
	case "ValueAddTransformer":
		var c struct {
			TargetFilePath string `json:"targetFilePath"`
		}
		_ = json.Unmarshal(j, &c)
		return []string{c.TargetFilePath}
	case "HelmChartInflationGenerator": // helm is off, so never read; refused all the same
		var c types.HelmChart
		_ = json.Unmarshal(j, &c)
		return append([]string{c.ValuesFile}, c.AdditionalValuesFiles...)
	}
	return nil
}

// remoteConfigPaths lists what a config makes kustomize fetch over HTTP.
func remoteConfigPaths(res *resource.Resource) []string {
	var remote []string
	for _, p := range configPaths(res) {
		if isRemoteFile(p) {
			remote = append(remote, p)
		}
	}
	return remote
}

// mayHoldBuiltinConfig is a cheap test that lets most files skip parsing: a builtin config spells "builtin" in its
// apiVersion, unless an escape ("\x62uiltin") or another encoding (UTF-16, with NUL bytes) hides the word.
func mayHoldBuiltinConfig(data []byte) bool {
	return bytes.Contains(data, []byte("builtin")) || bytes.ContainsAny(data, "\\\x00")
}

// remoteInConfigFile lists what the configs in a file make kustomize fetch over HTTP, should kustomize use the file
// as generator, transformer or validator configs. Any file kustomize reads may be one.
func remoteInConfigFile(data []byte) []string {
	if !mayHoldBuiltinConfig(data) || checkExpansion(data) != nil {
		return nil // an alias bomb is refused before this is asked
	}
	resources, err := kustomizeResources().RF().SliceFromBytes(data)
	if err != nil {
		return nil // kustomize cannot read configs from it either
	}
	var remote []string
	for _, res := range resources {
		remote = append(remote, remoteConfigPaths(res)...)
	}
	return remote
}
