package statepack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
)

// PullResult is the outcome of Pull.
type PullResult struct {
	// Ref is the reference with the digest it resolved to.
	Ref    string
	Digest string
	// Files are the files extracted, slash-separated, sorted.
	Files []string
	// Annotations are the manifest's.
	Annotations map[string]string
	// Verified says that the signature (and the attestations asked for) verified before anything was extracted.
	Verified bool
}

// Pull fetches the artifact ref names (a tag or a digest) and extracts its content layer into dir, which must be
// new or empty, as Flux's source-controller takes it: layers[0], a gzip'd tar. With a verifier, the signature (and
// the attestations it asks for) must verify first. dir receives all of the artifact or nothing: each attempt
// extracts into a scratch directory, and only a complete extraction is moved into place. Every step reads by
// digest and is retried on its own after a transient failure.
func Pull(ctx context.Context, ref publish.Ref, dir string, v *Verifier, o ReadOptions) (PullResult, error) {
	res, err := pull(ctx, ref, dir, v, o)
	if err != nil && retryable(err) && !permanent(err) {
		// What is left failed past the retries — the registry or the way to it: dir holds nothing of it, and a later
		// run may well succeed.
		err = fmt.Errorf("%w (a registry failure: run the pull again)", err)
	}
	return res, err
}

func pull(ctx context.Context, ref publish.Ref, dir string, v *Verifier, o ReadOptions) (PullResult, error) {
	log := logger(o.Logger)
	t, desc, err := o.openResolved(ctx, ref)
	if err != nil {
		return PullResult{}, err
	}
	res := PullResult{Ref: ref.WithDigest(desc.Digest.String()), Digest: desc.Digest.String()}
	if v != nil {
		if err := v.checkWithRetry(ctx, log, o.StepAttempts, t, desc); err != nil {
			return res, fmt.Errorf("verifying %s before pulling: %w (nothing was extracted)", res.Ref, err)
		}
		log.Info("signature verified", "ref", res.Ref, "attestations", len(v.attestations))
		res.Verified = true
	}
	var m ocispec.Manifest
	if err := retryRead(ctx, log, o.StepAttempts, "fetch manifest", func() (err error) { m, _, err = t.FetchManifest(ctx, desc); return err }); err != nil {
		return res, err
	}
	res.Annotations = m.Annotations
	layer, err := ContentLayer(m, res.Ref)
	if err != nil {
		return res, err
	}
	if res.Files, err = pullLayer(ctx, log, o.StepAttempts, t, layer, dir); err != nil {
		return res, fmt.Errorf("extracting %s into %s: %w (nothing was extracted)", res.Ref, dir, err)
	}
	return res, nil
}

// ContentLayer picks the layer Flux would take: layers[0], which must be a gzip'd tar.
func ContentLayer(m ocispec.Manifest, ref string) (ocispec.Descriptor, error) {
	if len(m.Layers) == 0 {
		return ocispec.Descriptor{}, notArtifact(fmt.Sprintf("%s has no layers: it is not a statepack artifact", ref))
	}
	l := m.Layers[0]
	switch l.MediaType {
	case build.LayerMediaType, build.FluxLayerMediaType:
		return l, nil
	}
	return ocispec.Descriptor{}, notArtifact(fmt.Sprintf("%s: layer 0 has media type %q, not a gzip'd tar of manifests (%s or %s)",
		ref, l.MediaType, build.LayerMediaType, build.FluxLayerMediaType))
}

// notArtifact is an error saying why content is not a statepack artifact: publish.ErrNotStatepackArtifact, with
// the message alone.
type notArtifact string

func (e notArtifact) Error() string { return string(e) }
func (e notArtifact) Unwrap() error { return publish.ErrNotStatepackArtifact }

// pullLayer fetches layer from t and extracts it into dir, which must be new or empty, retrying a fetch or an
// extraction that fails on the way. Each attempt extracts into a fresh directory beside dir (in it, when dir
// exists), and only a complete extraction is moved into place: dir never holds part of an artifact, whatever
// attempt fails. On failure, nothing is left behind, not even the parents of dir that pullLayer created.
func pullLayer(ctx context.Context, log *slog.Logger, attempts int, t *publish.Target, layer ocispec.Descriptor, dir string) (files []string, err error) {
	if dir == "" {
		return nil, invalidf("the destination directory is not named")
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
	err = retryRead(ctx, log, attempts, "fetch and extract", func() error {
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
