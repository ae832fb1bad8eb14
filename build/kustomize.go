package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/third_party/kustomize/api/krusty"
)

// kustomizeMu guards kustomize's process-wide OpenAPI schema. Every build resets it, which is harmless between builds
// that use the built-in schema, so those share the lock; a build whose kustomizations set a custom `openapi:` schema
// takes it alone and resets the schema afterwards, so the schema never leaks into another build. A build of
// kustomizations with deprecated fields takes it alone too: it points os.Stderr, where kustomize prints its
// warnings, at the null device (quietStderr).
var kustomizeMu sync.RWMutex

// kustomize builds the kustomization in dir with plugins off and the load restrictor on.
func (r *renderer) kustomize(ctx context.Context, dir string) (objs []Object, findings Findings) {
	kfile := r.rel(findKustomization(dir))
	fail := func(rule, file, msg string) ([]Object, Findings) {
		return nil, append(findings, Finding{Severity: SeverityError, Rule: rule, File: file, Message: msg})
	}
	scan := kustomizationScan{r: r, ctx: ctx, seen: map[string]bool{}}
	scan.walk(dir, "")
	if len(scan.findings) > 0 {
		return nil, scan.findings
	}
	findings = scan.warnings
	if !r.opts.allowRemote && len(scan.remote) > 0 {
		for _, rm := range scan.remote {
			findings = append(findings, remoteFinding(rm.file, rm.url))
		}
		return nil, findings
	}
	if err := ctx.Err(); err != nil {
		return nil, nil
	}

	checked := map[string]bool{}
	fsys := r.rootFS(checked, scan.helm)
	if r.opts.origins {
		fsys.originFor = findKustomization(dir)
	}
	opts := kustomizeOptions(r.opts.rootOnly)

	// kustomize does not watch the context: it runs in its own goroutine, and a cancelled render returns at once,
	// leaving the build to finish (and release the lock) on its own.
	type result struct {
		res      []*resource.Resource
		err      error
		findings Findings // from checking the directories of configs
	}
	done := make(chan result, 1)
	// The result is sent once the deferred calls have run: the lock released, the schema reset, os.Stderr back.
	go func() {
		done <- func() result {
			if scan.customSchema || len(scan.warnings) > 0 {
				kustomizeMu.Lock()
				defer kustomizeMu.Unlock()
				if scan.customSchema {
					defer openapi.ResetOpenAPI()
				}
				if len(scan.warnings) > 0 {
					defer quietStderr()()
				}
			} else {
				kustomizeMu.RLock()
				defer kustomizeMu.RUnlock()
			}
			if !r.opts.allowRemote && len(scan.configDirs) > 0 {
				if f := r.checkConfigDirs(opts, scan.configDirs, checked, scan.helm); len(f) > 0 {
					return result{findings: f}
				}
				if scan.customSchema {
					openapi.ResetOpenAPI() // as the build would find it without the checks
				}
			}
			m, err := runKrusty(opts, fsys, dir)
			return result{res: m, err: err}
		}()
	}()
	var m []*resource.Resource
	var err error
	select {
	case <-ctx.Done():
		return nil, nil
	case res := <-done:
		if len(res.findings) > 0 {
			return nil, res.findings
		}
		m, err = res.res, res.err
	}
	if fsys.refused != "" {
		return fail("source/outside-root", kfile, fsys.refused)
	}
	if len(fsys.findings) > 0 {
		return nil, fsys.findings
	}
	if err != nil {
		msg := r.relMessage(strings.TrimSpace(err.Error()))
		if strings.Contains(msg, "security; file") && strings.Contains(msg, "is not in or below") {
			msg += " (the load restrictor LoadRestrictionsRootOnly keeps a kustomization to its own directory; Flux builds with LoadRestrictionsNone, statepack's default: drop --load-restrictor, or move the file below the kustomization)"
		}
		return fail("kustomize/build", kfile, msg)
	}
	if scan.fifo && len(scan.helm) > 0 {
		if m, err = fifoHelmOrder(m, scan.generated); err != nil {
			return fail("kustomize/build", kfile, err.Error())
		}
	}
	locate := originLocator{r: r, kdir: dir, files: map[string][]Object{}}
	for i, res := range m {
		// Once decoded, kustomize's node is garbage: dropped as the loop goes, kustomize's objects and statepack's
		// are not both held in full at the render's peak.
		m[i] = nil
		if err := managedBy(res); err != nil {
			return fail("kustomize/build", kfile, err.Error())
		}
		if err := helmOrigin(res, dir); err != nil {
			return fail("kustomize/build", kfile, err.Error())
		}
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

// kustomizeOptions are the options of every build: statepack's own order, plugins off, the load restrictor Flux
// uses unless rootOnly.
func kustomizeOptions(rootOnly bool) *krusty.Options {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified // honour sortOptions; otherwise kustomize's legacy order, as `kustomize build`
	// Flux's kustomize-controller builds with LoadRestrictionsNone: a kustomization may name files in sibling
	// directories. The source root still bounds what is read (rootFS).
	opts.LoadRestrictions = types.LoadRestrictionsNone
	if rootOnly {
		opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	}
	opts.PluginConfig = types.DisabledPluginConfig()
	return opts
}

// rootFS returns the file system a build of this render reads through.
// helm holds what the kustomizations' helmCharts rendered (kustomizationScan.inflate).
func (r *renderer) rootFS(checked map[string]bool, helm map[string][]byte) *rootFS {
	return &rootFS{FileSystem: filesys.MakeFsOnDisk(), root: r.root, allowTemp: r.opts.allowRemote,
		offline: !r.opts.allowRemote, maxSize: r.opts.maxFileSize, read: r.inputs, checked: checked,
		kustomizations: map[string]string{}, ignore: r.ignore, helm: helm}
}

// checkConfigDirs builds each directory of configs on its own, as kustomize accumulates a directory listed under
// generators, transformers or validators, and refuses the configs in it that would make kustomize fetch remote
// content. Such configs may be computed (a patch or a replacement in the directory can write a URL into a
// config's path), so they are known only once built. The directories come innermost first; each one that passes
// goes into checked, which rootFS consults. The build reads through its own rootFS, with the same checks, and its
// reads are not inputs of the render: the render's own build reads the same files.
func (r *renderer) checkConfigDirs(opts *krusty.Options, dirs []string, checked map[string]bool, helm map[string][]byte) Findings {
	for _, d := range dirs {
		fsys := r.rootFS(checked, helm)
		fsys.read = map[string]bool{}
		fsys.configDir = d
		kfile := r.rel(d)
		if kfs := kustomizationsIn(d); len(kfs) > 0 {
			kfile = r.rel(kfs[0])
		}
		res, err := runKrusty(opts, fsys, d)
		if fsys.refused != "" {
			return Findings{{Severity: SeverityError, Rule: "source/outside-root", File: kfile, Message: fsys.refused}}
		}
		if len(fsys.findings) > 0 {
			return fsys.findings
		}
		if err != nil {
			return Findings{{Severity: SeverityError, Rule: "kustomize/build", File: kfile, Message: fmt.Sprintf(
				"building the configs in %s, to check them for remote references: %s", r.rel(d), r.relMessage(strings.TrimSpace(err.Error())))}}
		}
		var findings Findings
		for _, c := range res {
			for _, u := range remoteConfigPaths(c) {
				findings = append(findings, remoteFinding(kfile, u))
			}
		}
		if len(findings) > 0 {
			return findings
		}
		checked[d] = true
	}
	return nil
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

// remoteRef is a remote reference found by the pre-scan: the file that holds it, and the URL.
type remoteRef struct{ file, url string }

// remoteFinding refuses a remote reference without --allow-remote.
func remoteFinding(file, url string) Finding {
	return Finding{Severity: SeverityError, Rule: "kustomize/remote-base", File: file,
		Message: fmt.Sprintf("%q is a remote base: fetching it needs the network; vendor it into the tree, or pass --allow-remote", url)}
}

// kustomizationScan walks the local kustomizations reachable from a directory before kustomize runs, to refuse
// remote references without touching the network, to find the directories of configs to check before kustomize
// builds them into configs, and to learn whether any kustomization sets a custom OpenAPI schema. It decides what is
// remote, and which entries kustomize enters, with kustomize's decoder and rules (readKustomization); rootFS
// applies the same checks again as kustomize reads, so what the walk misses is refused then.
type kustomizationScan struct {
	r      *renderer
	ctx    context.Context // renders the helmCharts
	seen   map[string]bool // directories walked, real paths
	remote []remoteRef
	// configDirs are the directories listed under generators, transformers or validators (real paths), each after
	// the directories it lists itself, so that checking them in order checks the innermost first.
	configDirs   []string
	customSchema bool
	findings     Findings
	warnings     Findings // kustomize's deprecation warnings, reported once
	// helm holds what the helmCharts of each kustomization rendered, by the kustomization's directory (real path),
	// and generated how many objects its ConfigMap and Secret generators add.
	helm      map[string][]byte
	generated map[string]int
	// fifo is set when the kustomization built orders its output fifo (sortOptions).
	fifo bool
}

// kustomizationsIn lists the kustomization files kustomize finds in dir: any recognised name that is not a
// directory, symlinks followed, as kustomize reads through them.
func kustomizationsIn(dir string) []string {
	var out []string
	for _, name := range kustomizationFiles {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// walk scans the kustomizations of dir. namespace is the one its helmCharts inherit from the kustomizations above,
// as kustomize hands it down; a directory reached twice keeps what it inherited first.
func (s *kustomizationScan) walk(dir, namespace string) {
	if s.seen[dir] {
		return
	}
	s.seen[dir] = true
	for _, kf := range kustomizationsIn(dir) {
		if real, err := filepath.EvalSymlinks(kf); err == nil && within(s.r.root, real) {
			s.scan(dir, kf, namespace) // one that leaves the root is refused by rootFS when kustomize asks for it
		}
	}
}

func (s *kustomizationScan) fail(rule, file string, line int, msg string) {
	s.findings = append(s.findings, Finding{Severity: SeverityError, Rule: rule, File: file, Line: line, Message: msg})
}

// scan reads one kustomization file of dir.
func (s *kustomizationScan) scan(dir, kf, namespace string) {
	rel := s.r.rel(kf)
	data, err := readLimited(kf, s.r.opts.maxFileSize)
	if errors.Is(err, errNotRegular) {
		s.fail("source/not-regular", rel, 0, rel+" "+err.Error())
		return
	}
	if err != nil {
		s.fail("source/unreadable", rel, 0, err.Error())
		return
	}
	if err := checkExpansion(data); err != nil {
		line, msg := yamlErrorLine(err) // "line N: …" when checkExpansion can name the line
		s.fail("yaml/syntax", rel, line, msg)
		return
	}
	var syntax types.Kustomization // kustomize's types, leniently: what does not even parse is a syntax error
	if err := sigsyaml.Unmarshal(data, &syntax); err != nil {
		line, msg := yamlErrorLine(err)
		s.fail("yaml/syntax", rel, line, msg)
		return
	}
	s.warnings = append(s.warnings, deprecations(rel, data, &syntax)...)
	loads, ok := readKustomization(data)
	if !ok {
		return // kustomize refuses the file, with its own message, and loads nothing from it
	}
	if len(s.seen) == 1 {
		s.fifo = loads.helm.fifo // the kustomization built: its sortOptions order the output
	}
	if loads.expansion != nil {
		line, msg := yamlErrorLine(loads.expansion)
		s.fail("yaml/syntax", rel, line, "inline YAML: "+msg)
		return
	}
	s.customSchema = s.customSchema || loads.customSchema
	for _, u := range loads.remote {
		s.remote = append(s.remote, remoteRef{file: rel, url: u})
	}
	if len(loads.helm.charts) > 0 {
		s.inflate(dir, kf, loads.helm, namespace)
	}
	if loads.helm.namespace != "" {
		namespace = loads.helm.namespace
	}
	for _, entry := range loads.bases {
		if real, st := s.local(dir, entry); st != nil && st.IsDir() {
			s.walk(real, namespace)
		}
	}
	for _, entry := range loads.configs {
		real, st := s.local(dir, entry)
		switch {
		case st == nil:
		case st.IsDir():
			s.walk(real, namespace)
			if !slices.Contains(s.configDirs, real) {
				s.configDirs = append(s.configDirs, real)
			}
		default:
			data, err := readLimited(real, s.r.opts.maxFileSize)
			if err != nil || checkExpansion(data) != nil {
				continue // kustomize reads it through rootFS, which refuses it
			}
			for _, u := range remoteInConfigFile(data) {
				s.remote = append(s.remote, remoteRef{file: s.r.rel(filepath.Join(dir, entry)), url: u})
			}
		}
	}
}

// local resolves a local entry of the kustomization in dir to its real path, when it exists under the source root.
func (s *kustomizationScan) local(dir, entry string) (string, os.FileInfo) {
	p := entry
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil || !within(s.r.root, real) {
		return "", nil
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", nil
	}
	return real, st
}
