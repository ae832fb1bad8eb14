package publish

import (
	"context"
	"errors"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
)

// confirmPushed turns a failed push into a success when the content is in the target after all. The answer to an
// upload can be lost after the registry stored the blob (a connection cut after the work was done); the retried PUT
// then finds no upload session and gets 404 "blob upload unknown", or the retries run out. Content is named by its
// digest and the registry checks the digest before it stores anything, so content being there means the push
// happened. The push's error is kept when the check fails too, or finds nothing.
func confirmPushed(ctx context.Context, s interface {
	Exists(context.Context, ocispec.Descriptor) (bool, error)
}, desc ocispec.Descriptor, err error) error {
	if err == nil || errors.Is(err, errdef.ErrAlreadyExists) || ctx.Err() != nil {
		return err
	}
	if ok, existsErr := s.Exists(ctx, desc); existsErr == nil && ok {
		return nil
	}
	return err
}

// confirmingTarget is a target whose pushes and mounts are confirmed with confirmPushed, for the copies oras-go
// makes (oras.CopyGraph pushes through the target's own Push and Mount).
type confirmingTarget struct{ oras.Target }

var _ oras.Target = confirmingTarget{}

func (c confirmingTarget) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	return confirmPushed(ctx, c.Target, desc, c.Target.Push(ctx, desc, r))
}

// confirmingMounter is a confirmingTarget over a registry repository, which can mount blobs from another repository
// of the same registry (and uploads them itself, under Mount, when the registry will not mount).
type confirmingMounter struct {
	confirmingTarget
	mounter registry.Mounter
}

var _ registry.Mounter = confirmingMounter{}

func (c confirmingMounter) Mount(ctx context.Context, desc ocispec.Descriptor, from string, getContent func() (io.ReadCloser, error)) error {
	return confirmPushed(ctx, c.Target, desc, c.mounter.Mount(ctx, desc, from, getContent))
}

// confirming wraps t's storage so that copies into it confirm their pushes, keeping its ability to mount.
func confirming(t oras.Target) oras.Target {
	if m, ok := t.(registry.Mounter); ok {
		return confirmingMounter{confirmingTarget: confirmingTarget{t}, mounter: m}
	}
	return confirmingTarget{t}
}
