package build

import (
	"os"
	"path/filepath"
	"sync"
)

// realPaths is filepath.EvalSymlinks with the real paths of directories remembered: a tree does not change while
// it is rendered or bounded, and kustomizations name many files in each directory, so a file costs one Lstat
// instead of one per directory above it. The zero value is ready; it is safe for concurrent use.
type realPaths struct {
	mu   sync.Mutex
	dirs map[string]string // directory as asked → its real path
}

// resolve is filepath.EvalSymlinks(p).
func (r *realPaths) resolve(p string) (string, error) {
	dir := filepath.Dir(p)
	if dir == p || dir == "." {
		return filepath.EvalSymlinks(p)
	}
	realDir, err := r.dir(dir)
	if err != nil {
		return filepath.EvalSymlinks(p) // the error EvalSymlinks gives, for the path asked
	}
	real := filepath.Join(realDir, filepath.Base(p))
	st, err := os.Lstat(real)
	if err != nil {
		return "", err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return filepath.EvalSymlinks(real)
	}
	return real, nil
}

// dir is filepath.EvalSymlinks of a directory, remembered.
func (r *realPaths) dir(dir string) (string, error) {
	r.mu.Lock()
	real, ok := r.dirs[dir]
	r.mu.Unlock()
	if ok {
		return real, nil
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	if r.dirs == nil {
		r.dirs = map[string]string{}
	}
	r.dirs[dir] = real
	r.mu.Unlock()
	return real, nil
}
