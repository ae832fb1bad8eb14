package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	gcrstatic "github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
)

// readCosignTag reads the manifest under one of cosign's legacy tags for subject (tag, holding "what": signatures or
// attestations) into memory, refusing more layers than cosign accepts and layers larger than layerLimit. It
// returns nil, and no error, when the tag does not exist.
func readCosignTag(ctx context.Context, t oras.ReadOnlyTarget, subject digest.Digest, tag, what string, layerLimit int64) (*legacySignatures, error) {
	desc, raw, err := oras.FetchBytes(ctx, t, tag, oras.FetchBytesOptions{MaxBytes: maxSignatureManifest})
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s of %s (tag %s): %w", what, subject, tag, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading %s of %s: tag %s does not hold a manifest: %w", what, subject, tag, err)
	}
	mediaType := m.MediaType
	if mediaType == "" {
		mediaType = desc.MediaType
	}
	switch mediaType {
	case ocispec.MediaTypeImageManifest, string(types.DockerManifestSchema2):
	default:
		return nil, fmt.Errorf("reading %s of %s: tag %s holds a %q, not an image manifest", what, subject, tag, mediaType)
	}
	if len(m.Layers) > maxSignatureLayers {
		return nil, fmt.Errorf("reading %s of %s: tag %s has %d layers, more than the %d cosign accepts", what, subject, tag, len(m.Layers), maxSignatureLayers)
	}
	config, err := fetchLimited(ctx, t, m.Config, maxSignatureConfig)
	if err != nil {
		return nil, fmt.Errorf("reading %s of %s: config of tag %s: %w", what, subject, tag, err)
	}
	layers := make(map[v1.Hash]v1.Layer, len(m.Layers))
	for _, l := range m.Layers {
		h, err := v1.NewHash(l.Digest.String())
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s: layer of tag %s: %w", what, subject, tag, err)
		}
		if _, ok := layers[h]; ok {
			continue
		}
		b, err := fetchLimited(ctx, t, l, layerLimit)
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s: layer %s of tag %s: %w", what, subject, l.Digest, tag, err)
		}
		layers[h] = gcrstatic.NewLayer(b, types.MediaType(l.MediaType))
	}
	img, err := partial.CompressedToImage(&memImage{
		manifest:  raw,
		mediaType: types.MediaType(mediaType),
		config:    config,
		layers:    layers,
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s of %s (tag %s): %w", what, subject, tag, err)
	}
	return &legacySignatures{Image: img, desc: desc}, nil
}
