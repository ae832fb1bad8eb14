package statepack

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/statepack/statepack/internal/charts"
)

// LockResult is what Lock did.
type LockResult struct {
	// Path is the lock file's path.
	Path string
	// Charts are the pins the lock holds, one per chart reference of the tree.
	Charts []charts.LockEntry
	// Changed is true when the file was written (created, or its content changed).
	Changed bool
	// Source is the tree as loaded to find its charts; its Findings say what could not be pinned.
	Source *Source
}

// Lock resolves every chart reference of the tree at path live — ignoring the lock file it may have — and writes
// the result to LockFileName beside the tree, as `statepack lock` does: commit the file, and Load (render, validate,
// publish) then resolves each chart to its locked version and digest, and refuses a repository that serves other
// bytes for it. A tree whose charts cannot all be resolved (findings with errors) gets no lock: the error is a
// *build.FindingsError. A tree with no chart from a repository writes no file.
func Lock(ctx context.Context, path string, o LoadOptions) (*LockResult, error) {
	if o.Helm.Offline {
		return nil, invalidf("locking resolves charts from their repositories: leave out --offline")
	}
	if o.Helm.mode() == HelmOff {
		o.Helm.Mode = HelmPin // lock pins whatever the publish mode is
	}
	o.Helm.ignoreLock = true
	s, err := Load(ctx, path, o)
	if err != nil {
		return nil, err
	}
	res := &LockResult{Path: filepath.Join(path, LockFileName), Source: s}
	if err := s.FindingsError(); err != nil {
		return res, err
	}
	if s.fetcher == nil {
		return res, nil
	}
	l := s.fetcher.Lock()
	res.Charts = l.Entries()
	data := l.Marshal()
	old, err := os.ReadFile(res.Path)
	if err == nil && bytes.Equal(old, data) {
		return res, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	if err := writeFileAtomic(res.Path, data); err != nil {
		return res, err
	}
	res.Changed = true
	return res, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it into place, so that an interrupted
// lock leaves the old file whole.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".statepack-lock-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
