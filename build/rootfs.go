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

// rootFS is the file system kustomize sees: the disk, read-only, confined to the source root (symlinks resolved), with
// a size limit per file, recording every file read. With remote bases allowed it also reads kustomize's own
// temporary clone directories.
type rootFS struct {
	filesys.FileSystem
	root      string
	allowTemp bool
	maxSize   int64

	// originFor is the root kustomization file: when kustomize reads it, rootFS adds
	// "buildMetadata: [originAnnotations]" so that every object says which file it came from.
	originFor string

	mu          sync.Mutex
	read        map[string]bool // relative slash paths of files read
	refused     string          // the first refusal, reported as a finding
	userOrigins bool            // the kustomization asked for origin annotations itself: keep them
}

var _ filesys.FileSystem = (*rootFS)(nil)

// check resolves path and refuses it when it leaves the root.
func (f *rootFS) check(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		// A path that does not exist yet cannot be read; check what it would be under the nearest existing parent.
		real = abs
		if parent, perr := filepath.EvalSymlinks(filepath.Dir(abs)); perr == nil {
			real = filepath.Join(parent, filepath.Base(abs))
		}
	}
	if within(f.root, real) {
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
	f.recordRequested(path)
	f.record(real)
	return f.FileSystem.Open(real)
}

func (f *rootFS) ReadFile(path string) ([]byte, error) {
	real, err := f.check(path)
	if err != nil {
		return nil, err
	}
	data, err := readLimited(real, f.maxSize)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if isManifestFile(real) || slices.Contains(kustomizationFiles, filepath.Base(real)) {
		// kustomize expands YAML aliases without a budget: refuse a bomb before it does.
		if err := checkExpansion(data); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	f.recordRequested(path)
	f.record(real)
	if f.originFor != "" && real == f.originFor {
		return f.withOriginAnnotations(data), nil
	}
	return data, nil
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
	return f.FileSystem.ReadDir(real)
}

func (f *rootFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if _, err := f.check(path); err != nil {
		return "", "", err
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
