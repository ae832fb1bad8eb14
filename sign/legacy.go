package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	cosignsig "github.com/sigstore/cosign/v2/pkg/oci/signature"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Limits on what is read from a target before it is trusted. cosign refuses more than 1000 signature layers; a
// simple-signing payload is a few hundred bytes, so a megabyte leaves room for large annotations.
const (
	maxSignatureLayers   = 1000
	maxSignatureManifest = 4 << 20
	maxSignatureConfig   = 4 << 20
	maxSignatureLayer    = 1 << 20
)

// SignatureTag returns the tag under which cosign's legacy format keeps the signatures of d: "sha256-<hex>.sig"
// (cosign's pkg/oci/remote SignatureTag).
func SignatureTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// legacySignatures is a sha256-<hex>.sig manifest read from a target into memory: a go-containerregistry image that
// cosign's mutate package can append to, and an oci.Signatures that lists its layers as signatures, as cosign's
// pkg/oci/remote does for a registry.
type legacySignatures struct {
	v1.Image
	desc ocispec.Descriptor
}

var _ oci.Signatures = (*legacySignatures)(nil)

// Get implements oci.Signatures: one signature per layer, with the layer's annotations.
func (s *legacySignatures) Get() ([]oci.Signature, error) {
	m, err := s.Manifest()
	if err != nil {
		return nil, err
	}
	sigs := make([]oci.Signature, 0, len(m.Layers))
	for _, desc := range m.Layers {
		layer, err := s.LayerByDigest(desc.Digest)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, cosignsig.New(layer, desc))
	}
	return sigs, nil
}

// memImage is the minimal go-containerregistry image core over bytes already read and checked against their digests.
type memImage struct {
	manifest  []byte
	mediaType types.MediaType
	config    []byte
	layers    map[v1.Hash]v1.Layer
}

var _ partial.CompressedImageCore = (*memImage)(nil)

func (m *memImage) RawConfigFile() ([]byte, error)      { return m.config, nil }
func (m *memImage) MediaType() (types.MediaType, error) { return m.mediaType, nil }
func (m *memImage) RawManifest() ([]byte, error)        { return m.manifest, nil }

func (m *memImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := m.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("layer %s not in the signature manifest", h)
}

// readLegacy reads the signatures of subject from t. It returns nil, and no error, when the .sig tag does not exist.
func readLegacy(ctx context.Context, t oras.ReadOnlyTarget, subject digest.Digest) (*legacySignatures, error) {
	return readCosignTag(ctx, t, subject, SignatureTag(subject), "signatures", maxSignatureLayer)
}

// fetchLimited fetches desc's content, refusing it before the fetch when it claims to be larger than limit; the
// content is checked against desc's size and digest.
func fetchLimited(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", desc.Digest, desc.Size, limit)
	}
	return content.FetchAll(ctx, f, desc)
}

// writeLegacy adds sig to the signatures of subject in t, as cosign does: the signatures already under the .sig tag
// are kept and sig is appended, unless one of them is a duplicate by isDuplicate, in which case nothing is written.
// Blobs are written first and the tag last, so the tag never names an incomplete manifest. It returns the
// descriptor of the signature manifest.
//
// Two writers racing on the same subject can lose one signature, as with cosign: the last tag wins.
func writeLegacy(ctx context.Context, t oras.Target, subject digest.Digest, sig oci.Signature,
	isDuplicate func(oci.Signature) bool, log *slog.Logger) (ocispec.Descriptor, error) {
	tag := SignatureTag(subject)
	existing, err := readLegacy(ctx, t, subject)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var base oci.Signatures = empty.Signatures()
	if existing != nil {
		sigs, err := existing.Get()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("reading signatures of %s (tag %s): %w", subject, tag, err)
		}
		for i, s := range sigs {
			if isDuplicate(s) {
				log.InfoContext(ctx, "signature already present", "subject", subject, "tag", tag, "layer", i+1)
				return existing.desc, nil
			}
		}
		base = existing
	}
	img, err := mutate.AppendSignatures(base, false, sig)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("adding signature for %s: %w", subject, err)
	}
	desc, err := pushImage(ctx, t, img, tag)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing signature for %s (tag %s): %w", subject, tag, err)
	}
	log.InfoContext(ctx, "signature written", "subject", subject, "tag", tag, "manifest", desc.Digest)
	return desc, nil
}

// pushImage copies a go-containerregistry image into t, layers and config before the manifest, and tags the
// manifest. The bytes are the image's own: nothing is re-encoded on the way.
func pushImage(ctx context.Context, t oras.Target, img v1.Image, tag string) (ocispec.Descriptor, error) {
	m, err := img.Manifest()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, l := range m.Layers {
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if err := pushIfMissing(ctx, t, ociDescriptor(l), b); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := pushIfMissing(ctx, t, ociDescriptor(m.Config), config); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	mediaType := string(m.MediaType)
	if mediaType == "" {
		mt, err := img.MediaType()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		mediaType = string(mt)
	}
	return oras.TagBytes(ctx, t, mediaType, raw, tag)
}

func pushIfMissing(ctx context.Context, t content.Storage, desc ocispec.Descriptor, b []byte) error {
	ok, err := t.Exists(ctx, desc)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	err = t.Push(ctx, desc, bytes.NewReader(b))
	switch {
	case err == nil, errors.Is(err, errdef.ErrAlreadyExists):
		return nil
	case ctx.Err() != nil:
		return err
	}
	// The answer to the upload may have been lost after the registry stored the blob: the retried PUT then finds
	// no upload session (404 "blob upload unknown"). The registry checks the digest before it stores anything, so
	// the blob being there now means the push is done.
	if ok, existsErr := t.Exists(ctx, desc); existsErr == nil && ok {
		return nil
	}
	return err
}

// ociDescriptor converts a go-containerregistry descriptor to the OCI type oras-go speaks; only what identifies the
// content is kept.
func ociDescriptor(d v1.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: string(d.MediaType),
		Digest:    digest.Digest(d.Digest.String()),
		Size:      d.Size,
	}
}
