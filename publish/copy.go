package publish

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
)

// ErrSignatureConflict is returned by Copy when the destination already holds, under a signature or attestation tag
// of the artifact, signatures that the source's do not include (someone signed the artifact at the destination):
// copying would drop them. WithOverwriteSignatures replaces them anyway.
var ErrSignatureConflict = errors.New("signature conflict")

// signatureSuffixes are cosign's tag suffixes for what it stores next to an artifact in its legacy format:
// signatures, attestations, and attached SBOMs ("sha256-<hex>.sig" and so on).
var signatureSuffixes = []string{".sig", ".att", ".sbom"}

// CopyOption configures Copy.
type CopyOption func(*copyOptions) error

type copyOptions struct {
	overwriteSignatures bool
}

// WithOverwriteSignatures makes Copy replace a destination's signature and attestation tags whose signatures the
// source lacks, instead of failing with ErrSignatureConflict. Default: false.
func WithOverwriteSignatures(overwrite bool) CopyOption {
	return func(o *copyOptions) error { o.overwriteSignatures = overwrite; return nil }
}

// CopyResult says what Copy copied.
type CopyResult struct {
	// Descriptor is the artifact's manifest, now in the destination.
	Descriptor ocispec.Descriptor
	// SignatureTags are the cosign tags of the artifact ("sha256-<hex>.sig", ".att", ".sbom") found at the source;
	// each now points, at the destination, at a manifest holding at least the source's signatures.
	SignatureTags []string
	// Referrers are the manifests found at the source that name the artifact as their subject (OCI 1.1 referrers:
	// signatures in the sigstore bundle format, SBOMs, attestations); they, and their own referrers, are now in
	// the destination.
	Referrers []ocispec.Descriptor
}

// Copy copies the manifest desc names, with every blob it references, from src to dst by digest; then the cosign
// signature, attestation and SBOM tags of the artifact ("sha256-<hex>.sig", ".att", ".sbom") with their manifests;
// then its OCI referrers, found through the referrers API where the source registry has one, its referrers tag
// (the API's fallback) where it has not, and the layout's index for an OCI layout. It writes no other tag: callers
// tag the artifact last, with dst.Tag, once satisfied with what arrived (a signature that verifies, say).
//
// src and dst may be any two targets: repositories on the same or on different registries, OCI layouts, or one of
// each. Content already at the destination is not sent again, so running Copy again after a failure converges;
// blobs move between repositories of the same registry by a cross-repository mount where the registry allows it.
// Signatures stay valid: they sign the digest, which a copy does not change.
//
// A signature tag that already exists at the destination is left alone when it holds every signature the source's
// does, replaced when the source's holds every signature it does, and otherwise refused with ErrSignatureConflict
// (unless WithOverwriteSignatures), so that a copy never drops a signature someone made at the destination.
func Copy(ctx context.Context, src, dst *Target, desc ocispec.Descriptor, opts ...CopyOption) (*CopyResult, error) {
	var o copyOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("copying %s: %w", desc.Digest, err)
		}
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("copying %q: %w", desc.Digest, err)
	}
	what := fmt.Sprintf("copying %s to %s", src.ref.WithDigest(desc.Digest.String()), dst.ref.Name())
	graphOpts := src.copyGraphOptions(dst)
	// Every write of the copy goes through a destination that confirms a push whose answer was lost.
	dst = &Target{ref: dst.ref, storage: confirming(dst.storage), plainHTTP: dst.plainHTTP}

	// 1. The artifact: blobs first, then the manifest, by digest (oras-go copies successors before the node).
	if err := oras.CopyGraph(ctx, src.storage, dst.storage, desc, graphOpts); err != nil {
		return nil, copyError(src, dst, err, what)
	}
	res := &CopyResult{Descriptor: desc}

	// 2. cosign's tags: each manifest by digest, then its tag.
	for _, suffix := range signatureSuffixes {
		tag := desc.Digest.Algorithm().String() + "-" + desc.Digest.Encoded() + suffix
		copied, err := copySignatureTag(ctx, src, dst, tag, graphOpts, o)
		if err != nil {
			return nil, err
		}
		if copied {
			res.SignatureTags = append(res.SignatureTags, tag)
		}
	}

	// 3. Referrers, and theirs in turn.
	if graph, ok := src.storage.(content.ReadOnlyGraphStorage); ok {
		referrers, err := registry.Referrers(ctx, graph, desc, "")
		if err != nil && !errors.Is(err, errdef.ErrUnsupported) {
			return nil, src.wrap(err, "listing the referrers of %s in %s", desc.Digest, src.ref.Name())
		}
		if len(referrers) > 0 {
			ext := oras.ExtendedCopyGraphOptions{CopyGraphOptions: graphOpts,
				FindPredecessors: func(ctx context.Context, s content.ReadOnlyGraphStorage, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
					// Only manifests that name d as their subject: an index that merely lists the artifact is not
					// one of its referrers.
					return registry.Referrers(ctx, s, d, "")
				}}
			if err := oras.ExtendedCopyGraph(ctx, graph, dst.storage, desc, ext); err != nil {
				return nil, copyError(src, dst, err, what+" (its referrers)")
			}
			slices.SortFunc(referrers, func(a, b ocispec.Descriptor) int { return cmp.Compare(a.Digest, b.Digest) })
			res.Referrers = referrers
		}
	}
	return res, nil
}

// copyGraphOptions mounts blobs from src's repository when both are repositories of the same registry.
func (t *Target) copyGraphOptions(dst *Target) oras.CopyGraphOptions {
	opts := oras.DefaultCopyGraphOptions
	if !t.ref.IsLayout() && !dst.ref.IsLayout() && t.ref.Registry == dst.ref.Registry && t.ref.Repository != dst.ref.Repository {
		from := t.ref.Repository
		opts.MountFrom = func(context.Context, ocispec.Descriptor) ([]string, error) { return []string{from}, nil }
	}
	return opts
}

// copySignatureTag copies the manifest under tag, if src has one, and points dst's tag at what dst should hold.
func copySignatureTag(ctx context.Context, src, dst *Target, tag string, opts oras.CopyGraphOptions, o copyOptions) (bool, error) {
	sdesc, err := src.storage.Resolve(ctx, tag)
	if errors.Is(err, errdef.ErrNotFound) || isStatus(err, 404) {
		return false, nil
	}
	if err != nil {
		return false, src.wrap(err, "resolving %s in %s", tag, src.ref.Name())
	}
	ddesc, err := dst.storage.Resolve(ctx, tag)
	switch {
	case err == nil && ddesc.Digest == sdesc.Digest:
		return true, nil // already there: a re-run
	case err == nil:
		keep, err := reconcileSignatures(ctx, src, dst, tag, sdesc, ddesc, o)
		if err != nil || keep {
			return err == nil, err
		}
	case errors.Is(err, errdef.ErrNotFound) || isStatus(err, 404):
	default:
		return false, dst.wrap(err, "resolving %s in %s", tag, dst.ref.Name())
	}
	what := fmt.Sprintf("copying %s to %s", src.ref.Name()+":"+tag, dst.ref.Name())
	if err := oras.CopyGraph(ctx, src.storage, dst.storage, sdesc, opts); err != nil {
		return false, copyError(src, dst, err, what)
	}
	if err := dst.storage.Tag(ctx, sdesc, tag); err != nil {
		return false, dst.wrap(err, "tagging %s as %s in %s", sdesc.Digest, tag, dst.ref.Name())
	}
	return true, nil
}

// reconcileSignatures decides what to do when dst's tag holds another manifest than src's: keep dst's when it holds
// every layer (signature) src's does; replace it when src's holds every layer dst's does or when told to
// overwrite; refuse otherwise.
func reconcileSignatures(ctx context.Context, src, dst *Target, tag string, sdesc, ddesc ocispec.Descriptor, o copyOptions) (keep bool, err error) {
	srcLayers, err := manifestLayers(ctx, src, sdesc)
	if err != nil {
		return false, src.wrap(err, "reading %s in %s", tag, src.ref.Name())
	}
	dstLayers, err := manifestLayers(ctx, dst, ddesc)
	if err != nil && !o.overwriteSignatures {
		return false, dst.wrap(err, "reading %s in %s", tag, dst.ref.Name())
	}
	switch {
	case err == nil && subset(srcLayers, dstLayers):
		return true, nil
	case err == nil && subset(dstLayers, srcLayers), o.overwriteSignatures:
		return false, nil
	}
	return false, fmt.Errorf("copying %s to %s: %w: the destination's %s holds signatures the source's lacks (someone signed it there); copying would drop them: add them at the source, or overwrite with --force",
		src.ref.Name()+":"+tag, dst.ref.Name(), ErrSignatureConflict, tag)
}

// manifestLayers returns the layer digests of a small image manifest.
func manifestLayers(ctx context.Context, t *Target, desc ocispec.Descriptor) ([]digest.Digest, error) {
	if desc.Size > maxManifestSize {
		return nil, fmt.Errorf("%w: manifest %s is %d bytes", ErrTooLarge, desc.Digest, desc.Size)
	}
	raw, err := content.FetchAll(ctx, t.storage, desc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	out := make([]digest.Digest, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = l.Digest
	}
	return out, nil
}

func subset(small, big []digest.Digest) bool {
	for _, d := range small {
		if !slices.Contains(big, d) {
			return false
		}
	}
	return true
}

// copyError says which side failed, so that the redaction and hints of the right target apply.
func copyError(src, dst *Target, err error, what string) error {
	var ce *oras.CopyError
	if errors.As(err, &ce) && ce.Origin == oras.CopyErrorOriginDestination {
		return dst.wrap(ce.Err, "%s", what)
	}
	if errors.As(err, &ce) {
		return src.wrap(ce.Err, "%s", what)
	}
	return src.wrap(err, "%s", what)
}
