package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// retryRead runs one idempotent step of pull, verify or copy (a resolve, a verification, a fetch, a copy by digest,
// a tag) through retryStep, the retries of publish's steps. The transport retries a request that fails before its
// answer; a step retry covers what fails later, such as an answer cut in the middle of its body. A step fails at
// once, without a retry, with an answer that another try would only repeat (see permanent).
func retryRead(ctx context.Context, log *slog.Logger, step string, fn func() error) error {
	var final error
	err := retryStep(ctx, log, step, func() error {
		err := fn()
		if err != nil && permanent(err) {
			final = err
			return nil // stops retryStep; final is the outcome
		}
		return err
	})
	if final != nil {
		return final
	}
	return err
}

// permanent reports the errors of reads that a retry would only repeat, beyond those retryStep never retries:
// content that is not there or not signed, an archive Extract refuses, content that does not match its digest, a
// destination that is not empty, signatures a copy would drop, the caller's mistakes, and any answer of the
// registry in 4xx but 408 and 429.
func permanent(err error) bool {
	var usage *usageError
	var er *errcode.ErrorResponse
	switch {
	case errors.Is(err, publish.ErrNotFound), errors.Is(err, sign.ErrNoSignature),
		errors.Is(err, publish.ErrUnsafeArchive), errors.Is(err, publish.ErrTooLarge),
		errors.Is(err, publish.ErrSignatureConflict), errors.Is(err, content.ErrMismatchedDigest),
		errors.Is(err, fs.ErrExist), errors.As(err, &usage):
		return true
	case errors.As(err, &er):
		return er.StatusCode >= 400 && er.StatusCode < 500 && er.StatusCode != 408 && er.StatusCode != 429
	}
	return false
}

// verifyWithRetry verifies desc's signatures (and attestations, when asked) in t, reading again after a transient
// failure; a signature that does not verify is not retried.
func (c *checker) verifyWithRetry(ctx context.Context, log *slog.Logger, t *publish.Target, desc ocispec.Descriptor) (*sign.Verification, error) {
	var v *sign.Verification
	err := retryRead(ctx, log, "verify", func() (err error) {
		v, err = c.verify(ctx, t.Storage(), desc)
		return err
	})
	return v, err
}

// pullLayer fetches layer from t and extracts it into dir, which must be new or empty, retrying a fetch or an
// extraction that fails on the way. Each attempt extracts into a fresh directory beside dir (in it, when dir
// exists), and only a complete extraction is moved into place: dir never holds part of an artifact, whatever
// attempt fails. On failure, nothing is left behind, not even the parents of dir that pullLayer created.
func pullLayer(ctx context.Context, log *slog.Logger, t *publish.Target, layer ocispec.Descriptor, dir string) (files []string, err error) {
	if dir == "" {
		return nil, errors.New("the destination directory is not named")
	}
	dir = filepath.Clean(dir)
	exists, err := emptyDir(dir)
	if err != nil {
		return nil, err
	}
	// The scratch directory must be on dir's file system, for a rename: inside dir when it exists (it may be a
	// mount point or ".", which cannot be replaced), else beside it.
	scratchParent := filepath.Dir(dir)
	if exists {
		scratchParent = dir
	}
	createdTop, err := mkdirParents(scratchParent)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && createdTop != "" {
			_ = os.RemoveAll(createdTop)
		}
	}()

	var scratch string
	err = retryRead(ctx, log, "fetch and extract", func() error {
		tmp, err := os.MkdirTemp(scratchParent, ".statepack-pull-*")
		if err != nil {
			return fmt.Errorf("making a scratch directory: %w", err)
		}
		if files, err = fetchAndExtract(ctx, t, layer, tmp); err != nil {
			_ = os.RemoveAll(tmp)
			return err
		}
		scratch = tmp
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := moveInto(scratch, dir, exists); err != nil {
		_ = os.RemoveAll(scratch)
		return nil, fmt.Errorf("moving the files into place: %w", err)
	}
	return files, nil
}

// fetchAndExtract is one attempt of pullLayer: the blob is read to its end, which checks its digest.
func fetchAndExtract(ctx context.Context, t *publish.Target, layer ocispec.Descriptor, dir string) ([]string, error) {
	rc, err := t.FetchBlob(ctx, layer)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return publish.Extract(rc, dir, publish.Limits{})
}

// emptyDir reports whether dir exists; it refuses a dir that exists and is not an empty directory, as Extract does.
func emptyDir(dir string) (exists bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case len(entries) > 0:
		return true, &dirNotEmptyError{dir: dir}
	}
	return true, nil
}

// dirNotEmptyError refuses to mix an artifact's files with others, as Extract does; it matches fs.ErrExist.
type dirNotEmptyError struct{ dir string }

func (e *dirNotEmptyError) Error() string {
	return fmt.Sprintf("%s is not empty: extract into a new or empty directory", e.dir)
}
func (e *dirNotEmptyError) Is(target error) bool { return target == fs.ErrExist }

// mkdirParents creates dir and its missing parents, returning the topmost directory it created ("" when dir existed).
func mkdirParents(dir string) (createdTop string, err error) {
	if _, err := os.Stat(dir); err == nil {
		return "", nil
	}
	top := dir
	for parent := filepath.Dir(top); parent != top; parent = filepath.Dir(top) {
		if _, err := os.Lstat(parent); err == nil {
			break
		}
		top = parent
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return top, nil
}

// moveInto puts what was extracted into scratch in place: scratch becomes dir when dir does not exist, else each of
// its entries moves into the empty dir (and, should one move fail, those moved are taken out again).
func moveInto(scratch, dir string, exists bool) error {
	if !exists {
		if err := os.Chmod(scratch, 0o755); err != nil {
			return err
		}
		return os.Rename(scratch, dir)
	}
	entries, err := os.ReadDir(scratch)
	if err != nil {
		return err
	}
	var moved []string
	for _, e := range entries {
		to := filepath.Join(dir, e.Name())
		if err := os.Rename(filepath.Join(scratch, e.Name()), to); err != nil {
			for _, m := range moved {
				_ = os.RemoveAll(m)
			}
			return err
		}
		moved = append(moved, to)
	}
	return os.Remove(scratch)
}
