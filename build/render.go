package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultMaxFileSize is the largest source file Render reads unless WithMaxFileSize says otherwise.
const DefaultMaxFileSize = 32 << 20

// kustomizationFiles are the names kustomize recognises, in the order it looks for them.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Rendering is the outcome of Render.
type Rendering struct {
	// Objects in render order: kustomize's order for a kustomization, file then document order for plain YAML.
	Objects []Object
	// Findings are problems found while reading the tree (syntax errors, refused files). When any is an error, the
	// objects are incomplete and must not be packaged.
	Findings Findings
	// Kustomize is true when the path was a kustomization.
	Kustomize bool
	// Kustomized is true when kustomize built any of the objects: the path, or a subdirectory of a plain tree, was a
	// kustomization. Objects it built have source positions only with WithSourcePositions.
	Kustomized bool
	// Inputs lists every file the render read, slash-separated and relative to the source root, sorted. A
	// directory that the plain-YAML reader listed appears with a trailing "/": adding a file there changes the
	// render too.
	Inputs []string
	// Root is the source root the inputs are relative to (absolute, symlinks resolved).
	Root string
	// RemoteCharts are the kustomizations' helmCharts entries whose chart came from its repository through the
	// WithRemoteCharts resolver (a chart vendored under chartHome is read from the tree, and is not listed), in the
	// order the kustomizations were scanned.
	RemoteCharts []RemoteChart

	// builds are the kustomize builds that made objects without source positions, for LocateSources.
	builds      []kustomizeBuild
	maxFileSize int64
}

// RenderOption configures Render.
type RenderOption func(*renderOptions) error

type renderOptions struct {
	root        string
	allowRemote bool
	maxFileSize int64
	origins     bool
	rootOnly    bool
	ignorePaths []string
	charts      ChartResolver
}

// Load restrictors, as kustomize names them (`kustomize build --load-restrictor`).
const (
	// LoadRestrictionsNone lets a kustomization read files outside its own directory, within the source root: what
	// Flux's kustomize-controller builds with (fluxcd/pkg kustomize kustomize_generator.go). The default.
	LoadRestrictionsNone = "LoadRestrictionsNone"
	// LoadRestrictionsRootOnly confines each kustomization to its directory and below: `kustomize build`'s default.
	LoadRestrictionsRootOnly = "LoadRestrictionsRootOnly"
)

// WithLoadRestrictor chooses kustomize's load restrictor: LoadRestrictionsNone (default, as Flux) or
// LoadRestrictionsRootOnly (as `kustomize build`). Either way nothing outside the source root is read.
func WithLoadRestrictor(name string) RenderOption {
	return func(o *renderOptions) error {
		switch name {
		case "", LoadRestrictionsNone:
			o.rootOnly = false
		case LoadRestrictionsRootOnly:
			o.rootOnly = true
		default:
			return fmt.Errorf("load restrictor %q: use %s (as Flux) or %s (as kustomize build)", name, LoadRestrictionsNone, LoadRestrictionsRootOnly)
		}
		return nil
	}
}

// WithRoot sets the source root: no file outside it is read, whatever symlinks or "../" entries say. Paths in
// findings are relative to it. Default: the rendered path itself.
func WithRoot(dir string) RenderOption {
	return func(o *renderOptions) error {
		if dir == "" {
			return errors.New("source root must not be empty")
		}
		o.root = dir
		return nil
	}
}

// WithAllowRemote lets kustomizations fetch remote bases and resources over the network. Default: refused, with a
// finding that names the URL.
func WithAllowRemote(allow bool) RenderOption {
	return func(o *renderOptions) error { o.allowRemote = allow; return nil }
}

// WithSourcePositions makes kustomize record where each object came from (its origin annotations), so that
// objects and findings name their source file and line. It costs: kustomize runs about 1.8 times longer. Callers
// render without it and, when they have findings to place, call Rendering.LocateSources, which gives the same
// answer from the kustomizations' files, or, where it cannot prove that, render again with it. Default: off;
// objects from kustomize then have no source, and plain YAML always has one.
func WithSourcePositions(on bool) RenderOption {
	return func(o *renderOptions) error { o.origins = on; return nil }
}

// WithMaxFileSize refuses source files larger than n bytes. Default: DefaultMaxFileSize.
func WithMaxFileSize(n int64) RenderOption {
	return func(o *renderOptions) error {
		if n <= 0 {
			return fmt.Errorf("maximum file size must be positive, got %d", n)
		}
		o.maxFileSize = n
		return nil
	}
}

// Render reads the desired state at path: a kustomization directory, or a directory of plain YAML/JSON manifests
// read recursively (hidden files and directories skipped; a subdirectory holding a kustomization is built with
// kustomize, as Flux does). Problems in the tree come back as findings; the error is for bad options and I/O
// failures of the machine. Render is safe to call concurrently.
func Render(ctx context.Context, path string, opts ...RenderOption) (*Rendering, error) {
	o := renderOptions{maxFileSize: DefaultMaxFileSize}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	absPath, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if o.root == "" {
		o.root = absPath
	}
	root, err := realRoot(o.root)
	if err != nil {
		return nil, err
	}
	realPath, err := filepath.EvalSymlinks(absPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !within(root, realPath) {
		return nil, fmt.Errorf("%w: %s is outside the source root %s", ErrInvalidInput, path, root)
	}
	st, err := os.Stat(realPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory: give the directory that holds the manifests or the kustomization", ErrInvalidInput, path)
	}
	r := &renderer{opts: o, root: root, inputs: map[string]bool{}, ignore: newIgnorer(root, realPath, o.ignorePaths)}
	out := &Rendering{Root: root}
	if kf := r.findKustomization(realPath); kf != "" {
		out.Kustomize, r.kustomized = true, true
		out.Objects, out.Findings = r.kustomize(ctx, realPath)
		r.built(realPath, 0, len(out.Objects))
		builtBy(out.Objects, r.rel(kf))
	} else {
		out.Objects, out.Findings = r.plain(ctx, realPath)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out.Kustomized = r.kustomized
	for _, c := range r.remoteCharts {
		if !slices.Contains(out.RemoteCharts, c) { // a base two kustomizations of a plain tree share is scanned with each
			out.RemoteCharts = append(out.RemoteCharts, c)
		}
	}
	out.builds, out.maxFileSize = r.builds, o.maxFileSize
	for _, f := range r.ignore.read() {
		r.inputs[f] = true
	}
	for f := range r.inputs {
		out.Inputs = append(out.Inputs, f)
	}
	slices.Sort(out.Inputs)
	out.Findings.Sort()
	// A base that two kustomizations of a plain tree share is scanned with each: its deprecations are one finding.
	out.Findings = slices.CompactFunc(out.Findings, func(a, b Finding) bool {
		return a.Rule == "kustomize/deprecated" && a == b
	})
	return out, nil
}

// realRoot resolves the source root to an absolute path without symlinks.
func realRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("source root: %w", err)
	}
	return real, nil
}

// within reports whether path is root or below it. Both must be clean absolute paths.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func findKustomization(dir string) string {
	for _, name := range kustomizationFiles {
		p := filepath.Join(dir, name)
		if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// renderer holds the state of one Render call.
type renderer struct {
	opts   renderOptions
	root   string
	inputs map[string]bool // guarded by being filled from one goroutine, or through rootFS's mutex
	// kustomized is set when a kustomization was built (or its build tried), for Rendering.Kustomized.
	kustomized bool
	// builds are the kustomize builds made without source positions.
	builds []kustomizeBuild
	// ignore leaves out what Flux's source-controller leaves out of an artifact.
	ignore *ignorer
	// remoteCharts are the helmCharts entries rendered from a chart the resolver pulled.
	remoteCharts []RemoteChart
}

// built records a kustomize build of dir that made objects [first, first+n) of the render, when they have no
// source positions, for LocateSources.
func (r *renderer) built(dir string, first, n int) {
	if !r.opts.origins && n > 0 {
		r.builds = append(r.builds, kustomizeBuild{dir: dir, first: first, n: n})
	}
}

// isChart says whether dir is a Helm chart: a Chart.yaml beside a templates directory.
func isChart(dir string) bool {
	chart, err := os.Lstat(filepath.Join(dir, "Chart.yaml"))
	if err != nil || !chart.Mode().IsRegular() {
		return false
	}
	templates, err := os.Stat(filepath.Join(dir, "templates"))
	return err == nil && templates.IsDir()
}

// chartFinding is the one finding of a Helm chart directory in a plain tree: its templates are Go templates, not
// YAML, and its values and Chart.yaml are not objects, so reading it as manifests would give a page of syntax errors.
func (r *renderer) chartFinding(dir string) Finding {
	rel, name := r.rel(dir), r.rel(dir)
	if name == "." {
		name = filepath.Base(dir)
	}
	return Finding{Severity: SeverityError, Rule: "source/helm-chart", File: path.Join(rel, "Chart.yaml"),
		Message: fmt.Sprintf("%s is a Helm chart (Chart.yaml beside templates/): its templates are not manifests, so statepack does not read it as YAML; deploy it with a Flux HelmRelease or a kustomization's helmCharts, commit what helm template renders instead, or list it in .sourceignore", name)}
}

// builtBy records the kustomization file that built objs.
func builtBy(objs []Object, kfile string) {
	for i := range objs {
		objs[i].Kustomization = kfile
	}
}

// findKustomization is the kustomization file of dir, unless it is ignored: Flux would not see it.
func (r *renderer) findKustomization(dir string) string {
	if kf := findKustomization(dir); kf != "" && !r.ignore.ignored(kf, false) {
		return kf
	}
	return ""
}

// rel returns path relative to the source root, slash-separated, for messages.
func (r *renderer) rel(path string) string {
	if rel, err := filepath.Rel(r.root, path); err == nil {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(path)
}

// relMessage rewrites absolute paths under the source root in a message (kustomize's errors carry them) as
// relative ones, so messages read the same on every machine.
func (r *renderer) relMessage(msg string) string {
	return strings.ReplaceAll(msg, r.root+string(filepath.Separator), "")
}

func isManifestFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// plain reads a directory of manifests recursively, in lexical order.
func (r *renderer) plain(ctx context.Context, dir string) ([]Object, Findings) {
	var objs []Object
	var findings Findings
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			findings = append(findings, Finding{Severity: SeverityError, Rule: "source/unreadable", File: r.rel(p),
				Message: err.Error()})
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if r.ignore.ignored(p, d.IsDir()) && !d.IsDir() {
			return nil // a directory is walked: a negation may keep a file in it, as in Flux
		}
		if d.IsDir() {
			if p != dir && r.findKustomization(p) != "" {
				r.kustomized = true
				o, f := r.kustomize(ctx, p)
				r.built(p, len(objs), len(o))
				builtBy(o, r.rel(r.findKustomization(p)))
				objs, findings = append(objs, o...), append(findings, f...)
				return filepath.SkipDir
			}
			if isChart(p) && !r.ignore.ignored(filepath.Join(p, "Chart.yaml"), false) {
				findings = append(findings, r.chartFinding(p))
				return filepath.SkipDir
			}
			r.inputs[r.rel(p)+"/"] = true
			return nil
		}
		if !isManifestFile(d.Name()) {
			return nil
		}
		o, f := r.readManifestFile(p, d)
		objs, findings = append(objs, o...), append(findings, f...)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		findings = append(findings, Finding{Severity: SeverityError, Rule: "source/unreadable", File: r.rel(dir),
			Message: err.Error()})
	}
	return objs, findings
}

func (r *renderer) readManifestFile(p string, d fs.DirEntry) ([]Object, Findings) {
	rel := r.rel(p)
	refuse := func(rule, msg string) ([]Object, Findings) {
		return nil, Findings{{Severity: SeverityError, Rule: rule, File: rel, Message: msg}}
	}
	if d.Type()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return refuse("source/unreadable", "broken symlink: "+err.Error())
		}
		if !within(r.root, target) {
			return refuse("source/outside-root", "symlink points outside the source root: statepack reads nothing outside it; copy the file into the tree instead")
		}
		st, err := os.Stat(target)
		if err != nil || st.IsDir() {
			return nil, nil // a symlink to a directory is not followed
		}
		if err := regular(st.Mode()); err != nil {
			return refuse("source/not-regular", rel+" "+err.Error())
		}
	} else if err := regular(d.Type()); err != nil {
		return refuse("source/not-regular", rel+" "+err.Error())
	}
	data, err := readLimited(p, r.opts.maxFileSize)
	if errors.Is(err, errNotRegular) {
		return refuse("source/not-regular", rel+" "+err.Error())
	}
	if err != nil {
		return refuse("source/too-large", err.Error())
	}
	r.inputs[rel] = true
	return decodeStream(rel, data)
}

// readLimited reads a regular file, refusing one larger than limit and anything else (errNotRegular) before
// opening it.
func readLimited(p string, limit int64) ([]byte, error) {
	f, st, err := openRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, fmt.Errorf("file is %d bytes, over the %d-byte limit: split it, or raise --max-file-size", st.Size(), limit)
	}
	buf := make([]byte, st.Size())
	_, err = io.ReadFull(f, buf)
	return buf, err
}
