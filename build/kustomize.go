package build

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	sigsyaml "sigs.k8s.io/yaml"
)

// kustomizeMu guards kustomize's process-wide OpenAPI schema. Every build resets it, which is harmless between builds
// that use the built-in schema, so those share the lock; a build whose kustomizations set a custom `openapi:` schema
// takes it alone and resets the schema afterwards, so the schema never leaks into another build.
var kustomizeMu sync.RWMutex

// kustomize builds the kustomization in dir with plugins off and the load restrictor on.
func (r *renderer) kustomize(ctx context.Context, dir string) (objs []Object, findings Findings) {
	kfile := r.rel(findKustomization(dir))
	fail := func(rule, file, msg string) ([]Object, Findings) {
		return nil, append(findings, Finding{Severity: SeverityError, Rule: rule, File: file, Message: msg})
	}
	scan := kustomizationScan{r: r, seen: map[string]bool{}}
	scan.walk(dir)
	if len(scan.findings) > 0 {
		return nil, scan.findings
	}
	if !r.opts.allowRemote && len(scan.remote) > 0 {
		for _, rm := range scan.remote {
			findings = append(findings, Finding{Severity: SeverityError, Rule: "kustomize/remote-base", File: rm.file,
				Message: fmt.Sprintf("%q is a remote base: fetching it needs the network; vendor it into the tree, or pass --allow-remote", rm.url)})
		}
		return nil, findings
	}
	if err := ctx.Err(); err != nil {
		return nil, nil
	}

	fsys := &rootFS{FileSystem: filesys.MakeFsOnDisk(), root: r.root, allowTemp: r.opts.allowRemote,
		maxSize: r.opts.maxFileSize, read: r.inputs}
	if r.opts.origins {
		fsys.originFor = findKustomization(dir)
	}
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified // honour sortOptions; otherwise kustomize's legacy order, as `kustomize build`
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()

	// kustomize does not watch the context: it runs in its own goroutine, and a cancelled render returns at once,
	// leaving the build to finish (and release the lock) on its own.
	type result struct {
		res []*resource.Resource
		err error
	}
	done := make(chan result, 1)
	go func() {
		if scan.customSchema {
			kustomizeMu.Lock()
			defer kustomizeMu.Unlock()
			defer openapi.ResetOpenAPI()
		} else {
			kustomizeMu.RLock()
			defer kustomizeMu.RUnlock()
		}
		m, err := runKrusty(opts, fsys, dir)
		done <- result{m, err}
	}()
	var m []*resource.Resource
	var err error
	select {
	case <-ctx.Done():
		return nil, nil
	case res := <-done:
		m, err = res.res, res.err
	}
	if fsys.refused != "" {
		return fail("source/outside-root", kfile, fsys.refused)
	}
	if err != nil {
		return fail("kustomize/build", kfile, r.relMessage(strings.TrimSpace(err.Error())))
	}
	locate := originLocator{r: r, kdir: dir, files: map[string][]Object{}}
	for _, res := range m {
		// The node itself, not kustomize's JSON round trip (AsYAML), which turns unquoted dates into timestamps.
		y, err := res.RNode.String()
		if err != nil {
			return fail("kustomize/build", kfile, err.Error())
		}
		o, f := decodeStream(kfile, []byte(y))
		for i := range o {
			o[i].Source = locate.source(&o[i])
			if r.opts.origins && !fsys.userOrigins {
				if err := stripOrigin(&o[i]); err != nil {
					return fail("kustomize/build", kfile, err.Error())
				}
			}
		}
		objs, findings = append(objs, o...), append(findings, f...)
	}
	return objs, findings
}

// originAnnotation is where kustomize records the file an object came from (buildMetadata: [originAnnotations]).
// statepack asks for it on every build, to point findings at the source, and removes it from what it packages
// unless the kustomization asked for it itself.
const originAnnotation = "config.kubernetes.io/origin"

// originLocator turns kustomize's origin annotation into a file and line under the source root.
type originLocator struct {
	r     *renderer
	kdir  string
	files map[string][]Object // decoded source files, by absolute path
}

func (l *originLocator) source(o *Object) Source {
	meta, _ := o.Content["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	raw, _ := annotations[originAnnotation].(string)
	if raw == "" {
		return Source{}
	}
	var origin struct {
		Path         string `json:"path"`
		Repo         string `json:"repo"`
		ConfiguredIn string `json:"configuredIn"`
	}
	if err := sigsyaml.Unmarshal([]byte(raw), &origin); err != nil || origin.Repo != "" {
		return Source{}
	}
	rel := origin.Path
	if rel == "" {
		rel = origin.ConfiguredIn // generated: point at the kustomization that configured the generator
	}
	if rel == "" {
		return Source{}
	}
	abs := filepath.Join(l.kdir, filepath.FromSlash(rel))
	src := Source{File: l.r.rel(abs)}
	if origin.Path == "" {
		return src
	}
	objs, ok := l.files[abs]
	if !ok {
		if data, err := readLimited(abs, l.r.opts.maxFileSize); err == nil && within(l.r.root, abs) {
			objs, _ = decodeStream(src.File, data)
		}
		l.files[abs] = objs
	}
	src.Line = lineOf(objs, o.ID)
	return src
}

// lineOf finds the object in a source file that a rendered object came from: the same kind and name, else the same
// kind with a name that transformers extended (prefix, suffix, hash), else the only object of that kind.
func lineOf(objs []Object, id ObjectID) int {
	var sameKind []Object
	for _, o := range objs {
		if o.ID.Kind != id.Kind {
			continue
		}
		if o.ID.Name == id.Name {
			return o.Source.Line
		}
		sameKind = append(sameKind, o)
	}
	for _, o := range sameKind {
		if o.ID.Name != "" && strings.Contains(id.Name, o.ID.Name) {
			return o.Source.Line
		}
	}
	if len(sameKind) == 1 {
		return sameKind[0].Source.Line
	}
	return 0
}

// stripOrigin removes the origin annotation (and an annotations map it leaves empty) and re-serialises the object.
func stripOrigin(o *Object) error {
	meta, _ := o.Content["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	if _, ok := annotations[originAnnotation]; !ok {
		return nil
	}
	delete(annotations, originAnnotation)
	if len(annotations) == 0 {
		delete(meta, "annotations")
	}
	stripped, err := objectFromMap(o.Content, o.Source)
	if err != nil {
		return err
	}
	*o = stripped
	return nil
}

// runKrusty runs kustomize, turning its panics (and its log.Fatal paths that we can reach) into errors.
func runKrusty(opts *krusty.Options, fsys filesys.FileSystem, dir string) (res []*resource.Resource, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("kustomize failed unexpectedly: %v", p)
		}
	}()
	m, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	if err != nil {
		return nil, err
	}
	return m.Resources(), nil
}

// remoteRef is a remote base found by the pre-scan.
type remoteRef struct{ file, url string }

// kustomizationScan walks the local kustomizations reachable from a directory before kustomize runs, to refuse
// remote bases without touching the network and to learn whether any sets a custom OpenAPI schema.
type kustomizationScan struct {
	r            *renderer
	seen         map[string]bool
	remote       []remoteRef
	customSchema bool
	findings     Findings
}

// kustomizationRefs is the part of a kustomization that names files: other kustomizations, or content kustomize
// would fetch over HTTP when given a URL (its file loader does so for any path with an http or https scheme).
type kustomizationRefs struct {
	Resources             []string          `json:"resources"`
	Bases                 []string          `json:"bases"`
	Components            []string          `json:"components"`
	Crds                  []string          `json:"crds"`
	Configurations        []string          `json:"configurations"`
	Generators            []string          `json:"generators"`
	Transformers          []string          `json:"transformers"`
	Validators            []string          `json:"validators"`
	PatchesStrategicMerge []string          `json:"patchesStrategicMerge"`
	OpenAPI               map[string]string `json:"openapi"`
	Patches               []struct {
		Path string `json:"path"`
	} `json:"patches"`
	PatchesJSON6902 []struct {
		Path string `json:"path"`
	} `json:"patchesJson6902"`
	Replacements []struct {
		Path string `json:"path"`
	} `json:"replacements"`
	ConfigMapGenerator []generatorRefs `json:"configMapGenerator"`
	SecretGenerator    []generatorRefs `json:"secretGenerator"`
	HelmCharts         []struct {
		ValuesFile string `json:"valuesFile"`
	} `json:"helmCharts"`
}

type generatorRefs struct {
	Files []string `json:"files"`
	Envs  []string `json:"envs"`
	Env   string   `json:"env"`
}

// filePaths lists every path-bearing entry except resources, bases and components.
func (k *kustomizationRefs) filePaths() []string {
	paths := append(append(append(append(append(append([]string(nil), k.Crds...), k.Configurations...), k.Generators...),
		k.Transformers...), k.Validators...), k.PatchesStrategicMerge...)
	paths = append(paths, k.OpenAPI["path"])
	for _, p := range k.Patches {
		paths = append(paths, p.Path)
	}
	for _, p := range k.PatchesJSON6902 {
		paths = append(paths, p.Path)
	}
	for _, p := range k.Replacements {
		paths = append(paths, p.Path)
	}
	for _, h := range k.HelmCharts {
		paths = append(paths, h.ValuesFile)
	}
	for _, g := range append(slices.Clone(k.ConfigMapGenerator), k.SecretGenerator...) {
		paths = append(paths, g.Env)
		paths = append(paths, g.Envs...)
		for _, f := range g.Files {
			if _, p, ok := strings.Cut(f, "="); ok {
				f = p // "key=path"
			}
			paths = append(paths, f)
		}
	}
	return paths
}

func (s *kustomizationScan) walk(dir string) {
	if s.seen[dir] {
		return
	}
	s.seen[dir] = true
	kf := findKustomization(dir)
	if kf == "" {
		return
	}
	data, err := readLimited(kf, s.r.opts.maxFileSize)
	if err != nil {
		s.findings = append(s.findings, Finding{Severity: SeverityError, Rule: "source/unreadable", File: s.r.rel(kf), Message: err.Error()})
		return
	}
	if err := checkExpansion(data); err != nil {
		line, msg := yamlErrorLine(err) // "line N: …" when checkExpansion can name the line
		s.findings = append(s.findings, Finding{Severity: SeverityError, Rule: "yaml/syntax", File: s.r.rel(kf), Line: line, Message: msg})
		return
	}
	var k kustomizationRefs
	if err := sigsyaml.Unmarshal(data, &k); err != nil {
		line, msg := yamlErrorLine(err)
		s.findings = append(s.findings, Finding{Severity: SeverityError, Rule: "yaml/syntax", File: s.r.rel(kf), Line: line, Message: msg})
		return
	}
	if len(k.OpenAPI) > 0 {
		s.customSchema = true
	}
	for _, p := range k.filePaths() {
		if isRemoteFile(p) {
			s.remote = append(s.remote, remoteRef{file: s.r.rel(kf), url: p})
		}
	}
	for _, group := range [][]string{k.Resources, k.Bases, k.Components} {
		for _, entry := range group {
			local := filepath.Join(dir, entry)
			if filepath.IsAbs(entry) {
				local = entry
			}
			st, statErr := os.Stat(local)
			if isRemoteFile(entry) || (statErr != nil && isRemote(entry)) {
				s.remote = append(s.remote, remoteRef{file: s.r.rel(kf), url: entry})
				continue
			}
			if statErr == nil && st.IsDir() {
				if real, err := filepath.EvalSymlinks(local); err == nil && within(s.r.root, real) {
					s.walk(real)
				}
			}
		}
	}
}

// isRemoteFile is kustomize's own test for a path its file loader fetches over HTTP.
func isRemoteFile(path string) bool {
	u, err := url.Parse(path)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

// hostLike matches the start of kustomize's remote forms without a scheme: "github.com/org/repo", "example.com:8080/…".
var hostLike = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]+)?/`)

// isRemote reports whether a resources entry that does not exist locally names remote content, in any of the
// forms kustomize accepts (URLs, git@host:…, git::…, host/org/repo).
func isRemote(entry string) bool {
	return strings.Contains(entry, "://") || strings.HasPrefix(entry, "git@") || strings.HasPrefix(entry, "git::") ||
		hostLike.MatchString(entry)
}
