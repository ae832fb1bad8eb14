package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// errOutsideRoot is what rootFS answers for a path outside the source root.
var errOutsideRoot = errors.New("outside the source root")

// errRemoteRefused is what rootFS answers kustomize for a file that would make it fetch remote content; the finding
// it records says what and where.
var errRemoteRefused = errors.New("names remote content, which statepack does not fetch without --allow-remote")

// rootFS is the file system kustomize sees: the disk, read-only, confined to the source root (symlinks resolved),
// regular files only, with a size limit per file, recording every file read. With remote bases allowed it also
// reads kustomize's own temporary clone directories; without, it refuses to hand kustomize any kustomization or
// config that would make it fetch remote content (see "How a render stays offline" in remote.go).
type rootFS struct {
	filesys.FileSystem
	root      string
	allowTemp bool
	offline   bool // remote bases are not allowed
	maxSize   int64

	// originFor is the root kustomization file: when kustomize reads it, rootFS adds
	// "buildMetadata: [originAnnotations]" so that every object says which file it came from.
	originFor string

	// checked holds the directories of configs (real paths) whose configs checkConfigDirs checked; offline, a
	// kustomization that lists any other directory under generators, transformers or validators is refused.
	checked map[string]bool
	// configDir is set while checkConfigDirs builds that directory on its own: see forConfigCheck.
	configDir string

	// ignore leaves out the files Flux's source-controller leaves out of an artifact: to kustomize they do not exist.
	ignore *ignorer

	mu             sync.Mutex
	read           map[string]bool   // relative slash paths of files read
	refused        string            // the first path refused for leaving the root, reported as a finding
	findings       Findings          // other refusals: remote references, files that are not regular
	kustomizations map[string]string // real path of a file kustomize asked for by a kustomization name → that name
	userOrigins    bool              // the kustomization asked for origin annotations itself: keep them
	realPaths      realPaths         // the real paths of the directories seen

	// helm holds what the helmCharts of kustomizations rendered, by the kustomization's directory (real path):
	// their kustomizations are read without helm fields, listing helmChartsFile, which serves it (helmcharts.go).
	helm map[string][]byte
}

var _ filesys.FileSystem = (*rootFS)(nil)

// check resolves path and refuses it when it leaves the root.
func (f *rootFS) check(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := f.realPaths.resolve(abs)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		// A path that does not exist yet cannot be read; check what it would be under the nearest existing parent.
		real = abs
		if parent, perr := f.realPaths.dir(filepath.Dir(abs)); perr == nil {
			real = filepath.Join(parent, filepath.Base(abs))
		}
	}
	if within(f.root, real) {
		if f.ignore != nil {
			if st, err := os.Stat(real); err == nil && f.ignore.ignored(real, st.IsDir()) {
				return "", fmt.Errorf("%s %w", f.rel(path), errIgnored)
			}
		}
		return real, nil
	}
	if f.allowTemp && strings.HasPrefix(real, filepath.Join(os.TempDir(), "kustomize-")) {
		return real, nil
	}
	f.mu.Lock()
	if f.refused == "" {
		f.refused = fmt.Sprintf("%s is outside the source root: statepack reads nothing outside it (symlinks and ../ included); set --root to a directory that holds both", path)
	}
	f.mu.Unlock()
	return "", fmt.Errorf("%s: %w", path, errOutsideRoot)
}

func (f *rootFS) record(real string) {
	if rel, err := filepath.Rel(f.root, real); err == nil && !strings.HasPrefix(rel, "..") {
		f.mu.Lock()
		f.read[filepath.ToSlash(rel)] = true
		f.mu.Unlock()
	}
}

// recordRequested also records the path kustomize asked for, when it differs from the file read (a symlink inside
// the root): pointing the link elsewhere changes what the path reads, so the path is an input too.
func (f *rootFS) recordRequested(path string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	// The lexical path, symlinks unresolved: a symlinked file or base directory is recorded under its own name,
	// and hashing it later reads through the link as it points then.
	f.record(abs)
}

// rel returns path relative to the source root, slash-separated, for findings.
func (f *rootFS) rel(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		if rel, err := filepath.Rel(f.root, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(path)
}

// refuse records a finding, once.
func (f *rootFS) refuse(fd Finding) {
	fd.Severity = SeverityError
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.findings, fd) {
		f.findings = append(f.findings, fd)
	}
}

// refuseIrregular records the finding for a file that is not a regular file, when err says so. A directory is no
// finding: kustomize's loader, with LoadRestrictionsNone, reads a resource entry as a file first and takes it as a
// directory when that fails, so the error alone goes back.
func (f *rootFS) refuseIrregular(path string, err error) {
	if errors.Is(err, errNotRegular) && !f.IsDir(path) {
		rel := f.rel(path)
		f.refuse(Finding{Rule: "source/not-regular", File: rel, Message: rel + " " + err.Error()})
	}
}

var errReadOnly = errors.New("statepack renders read-only: kustomize may not write to the source tree")

func (f *rootFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (f *rootFS) Mkdir(string) error                  { return errReadOnly }
func (f *rootFS) MkdirAll(string) error               { return errReadOnly }
func (f *rootFS) RemoveAll(string) error              { return errReadOnly }
func (f *rootFS) WriteFile(string, []byte) error      { return errReadOnly }

func (f *rootFS) Open(path string) (filesys.File, error) {
	real, err := f.check(path)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(real); err == nil && st.IsDir() {
		f.recordRequested(path)
		f.record(real)
		return f.FileSystem.Open(real)
	}
	file, _, err := openRegular(real)
	if err != nil {
		f.refuseIrregular(path, err)
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	f.recordRequested(path)
	f.record(real)
	return file, nil
}

func (f *rootFS) ReadFile(path string) ([]byte, error) {
	if data, _, ok := f.helmFile(path); ok {
		return data, nil
	}
	real, err := f.check(path)
	if err != nil {
		return nil, err
	}
	if f.IsDir(path) {
		// kustomize, under LoadRestrictionsNone, reads a resource entry as a file before it tries it as a
		// directory; say what its own loader says.
		return nil, fmt.Errorf("'%s' must resolve to a file", path)
	}
	data, err := readLimited(real, f.maxSize)
	if err != nil {
		f.refuseIrregular(path, err)
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	// kustomize expands YAML aliases without a budget, in any file it parses (a resource may have any name): refuse
	// a bomb before it does. A file that is not YAML passes.
	if err := checkExpansion(data); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	kpath, isKustomization := f.kustomizationPath(path, real)
	kdir := filepath.Dir(kpath)
	if isKustomization {
		if err := f.checkKustomization(kpath, data); err != nil {
			return nil, err
		}
	} else if f.offline {
		if remote := remoteInConfigFile(data); len(remote) > 0 {
			for _, u := range remote {
				f.refuse(remoteFinding(f.rel(path), u))
			}
			return nil, fmt.Errorf("reading %s: %w", path, errRemoteRefused)
		}
	}
	f.recordRequested(path)
	f.record(real)
	if isKustomization && f.inflatedKustomization(kpath) {
		data = withHelmCharts(data)
	}
	if isKustomization && f.configDir != "" {
		if data, err = forConfigCheck(data, kdir == f.configDir); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	if f.originFor != "" && real == f.originFor {
		return f.withOriginAnnotations(data), nil
	}
	return data, nil
}

// kustomizationPath reports whether kustomize reads the file at path as a kustomization, and the path it asked for
// it by, in the directory it is the kustomization of. kustomize asks for a kustomization by name (CleanedAbs sees
// the name), then reads the file it resolves to, which for a symlink has another name.
func (f *rootFS) kustomizationPath(path, real string) (string, bool) {
	if slices.Contains(kustomizationFiles, filepath.Base(path)) {
		if abs, err := filepath.Abs(path); err == nil {
			return abs, true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	asked, ok := f.kustomizations[real]
	return asked, ok
}

// checkKustomization refuses a kustomization with an alias bomb inline and, offline, one that names remote content
// or lists a directory of configs that checkConfigDirs did not check. path is the kustomization's path by its name.
func (f *rootFS) checkKustomization(path string, data []byte) error {
	dir := filepath.Dir(path)
	loads, ok := readKustomization(data)
	if !ok {
		return nil // kustomize refuses it, and loads nothing from it
	}
	if loads.expansion != nil {
		return fmt.Errorf("reading %s: inline YAML: %w", path, loads.expansion)
	}
	if !f.offline {
		return nil
	}
	rel := f.rel(path)
	for _, u := range loads.remote {
		f.refuse(remoteFinding(rel, u))
	}
	refused := len(loads.remote) > 0
	for _, entry := range loads.configs {
		p := entry
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue // kustomize cannot read it either
		}
		if st, err := os.Stat(real); err == nil && st.IsDir() && !f.checked[real] {
			f.refuse(Finding{Rule: "kustomize/unchecked-configs", File: rel, Message: fmt.Sprintf(
				"%q is a directory of generator, transformer or validator configs that statepack could not check for remote references before kustomize builds it: refused without --allow-remote", entry)})
			refused = true
		}
	}
	if refused {
		return fmt.Errorf("reading %s: %w", path, errRemoteRefused)
	}
	return nil
}

// keepLocalConfigs is appended to the transformers of a directory of configs that checkConfigDirs builds on its
// own. A build leaves out the objects annotated config.kubernetes.io/local-config: "true", but a directory listed
// under generators or transformers hands kustomize all of them as configs: this transformer, run last, keeps them.
const keepLocalConfigs = `apiVersion: builtin
kind: AnnotationsTransformer
metadata:
  name: statepack-keep-local-configs
annotations:
  config.kubernetes.io/local-config: "false"
fieldSpecs:
- path: metadata/annotations
  create: true
`

// forConfigCheck rewrites a kustomization that kustomize reads while checkConfigDirs builds a directory of configs,
// so that the build yields the configs kustomize would use: without vars (kustomize replaces them only at the very
// end of the outermost build, after it used the configs), and, for the directory itself (top), keeping local
// configs. It decodes with kustomize's own types, so a file kustomize refuses is returned as it is.
func forConfigCheck(data []byte, top bool) ([]byte, error) {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return data, nil
	}
	//lint:ignore SA1019 deprecated, but kustomize still replaces vars
	k.Vars = nil
	if top {
		k.Transformers = append(k.Transformers, keepLocalConfigs)
	}
	return sigsyaml.Marshal(&k)
}

// withOriginAnnotations adds originAnnotations to a kustomization's buildMetadata. A kustomization that does not
// parse is returned as it is, for kustomize to report.
func (f *rootFS) withOriginAnnotations(data []byte) []byte {
	var k map[string]any
	if err := sigsyaml.Unmarshal(data, &k); err != nil || k == nil {
		return data
	}
	list, _ := k["buildMetadata"].([]any)
	for _, v := range list {
		if v == types.OriginAnnotations {
			f.mu.Lock()
			f.userOrigins = true
			f.mu.Unlock()
			return data
		}
	}
	k["buildMetadata"] = append(list, types.OriginAnnotations)
	out, err := sigsyaml.Marshal(k)
	if err != nil {
		return data
	}
	return out
}

func (f *rootFS) IsDir(path string) bool {
	real, err := f.check(path)
	return err == nil && f.FileSystem.IsDir(real)
}

func (f *rootFS) Exists(path string) bool {
	real, err := f.check(path)
	return err == nil && f.FileSystem.Exists(real)
}

func (f *rootFS) ReadDir(path string) ([]string, error) {
	real, err := f.check(path)
	if err != nil {
		return nil, err
	}
	names, err := f.FileSystem.ReadDir(real)
	if err != nil || f.ignore == nil {
		return names, err
	}
	return slices.DeleteFunc(names, func(n string) bool {
		_, err := f.check(filepath.Join(real, n))
		return errors.Is(err, errIgnored)
	}), nil
}

func (f *rootFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if _, dir, ok := f.helmFile(path); ok {
		return filesys.ConfirmedDir(dir), helmChartsFile, nil
	}
	real, err := f.check(path)
	if err != nil {
		return "", "", err
	}
	// kustomize asks for its kustomization files by name, here, and reads the file they resolve to: remember
	// which files are kustomizations, and of which directory, when the name is a symlink.
	if slices.Contains(kustomizationFiles, filepath.Base(path)) {
		if abs, err := filepath.Abs(path); err == nil && real != abs {
			if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
				f.mu.Lock()
				f.kustomizations[real] = filepath.Join(dir, filepath.Base(abs))
				f.mu.Unlock()
			}
		}
	}
	// kustomize resolves a base directory here, and reads on from its real path: when the path is a symlink, the
	// link itself is an input (recorded with a trailing "@", digested by its target).
	if abs, err := filepath.Abs(path); err == nil {
		if fi, err := os.Lstat(abs); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			if rel, err := filepath.Rel(f.root, abs); err == nil && !strings.HasPrefix(rel, "..") {
				f.mu.Lock()
				f.read[filepath.ToSlash(rel)+"@"] = true
				f.mu.Unlock()
			}
		}
	}
	return f.FileSystem.CleanedAbs(path)
}

func (f *rootFS) Glob(pattern string) ([]string, error) {
	matches, err := f.FileSystem.Glob(pattern)
	if err != nil {
		return nil, err
	}
	out := matches[:0]
	for _, m := range matches {
		if _, err := f.check(m); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *rootFS) Walk(path string, fn filepath.WalkFunc) error {
	if _, err := f.check(path); err != nil {
		return err
	}
	return f.FileSystem.Walk(path, fn)
}
