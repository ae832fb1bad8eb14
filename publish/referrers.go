package publish

import (
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
)

// maxReferrers bounds how many referrers Referrers lists for one subject.
const maxReferrers = 1000

// ReferrerListing says how a target lists an artifact's referrers (the OCI 1.1 manifests whose subject it is:
// sigstore bundles, SBOMs, attestations). It matters to clients that read bundles: they find them through the
// referrers API, or else the referrers tag, and some keep only what the listing describes as a bundle.
type ReferrerListing string

const (
	// ReferrersAPI: the registry answers the OCI 1.1 referrers API (GET /v2/<name>/referrers/<digest>) and lists
	// each referrer with the artifact type the registry reports for it.
	ReferrersAPI ReferrerListing = "referrers API"
	// ReferrersTag: the registry has no referrers API; writers maintain, and readers fetch, the image index tagged
	// <alg>-<hex> (the distribution spec's referrers tag schema), whose entries carry the artifact type their writer
	// gave them. Debian's docker-registry 2.8 and CNCF distribution 3 are such registries.
	ReferrersTag ReferrerListing = "referrers tag"
	// LayoutIndex: an OCI image layout, which records every manifest in its index.json; oras-go finds the
	// referrers among them and reads their artifact types from the manifests. No consumer reads a layout: it is
	// what a copy to a registry with the referrers API lists.
	LayoutIndex ReferrerListing = "layout index"
)

// Referrers lists the referrers of subject in the target as a client reading them finds them, each descriptor
// with the artifact type and annotations the listing gives, and says how they were listed. For a registry it asks
// the referrers API first and reads the referrers tag when the registry answers that it has no such API, as
// oras-go and go-containerregistry (hence cosign, Flux and Kyverno) do on every listing. It asks through a fresh
// connection: the target's own may have concluded, from a push whose response lacked the OCI-Subject header, that
// the registry has no API when it does, and a client that never pushed asks the API. Which listing answered is
// what oras-go recorded on that connection, read back through Repository.SetReferrersCapability (it refuses to
// change a capability it already knows). subject must be the descriptor the target resolved (media type, digest,
// size). It fails with the target's error when the listing fails, and when more than 1000 referrers are listed.
func (t *Target) Referrers(ctx context.Context, subject ocispec.Descriptor) ([]ocispec.Descriptor, ReferrerListing, error) {
	var out []ocispec.Descriptor
	collect := func(page []ocispec.Descriptor) error {
		out = append(out, page...)
		if len(out) > maxReferrers {
			return fmt.Errorf("more than %d referrers", maxReferrers)
		}
		return nil
	}
	fail := func(err error) ([]ocispec.Descriptor, ReferrerListing, error) {
		return nil, "", t.wrap(err, "listing the referrers of %s in %s", subject.Digest, t.ref.Name())
	}
	switch s := t.storage.(type) {
	case *remote.Repository:
		fresh := &remote.Repository{Client: s.Client, Reference: s.Reference, PlainHTTP: s.PlainHTTP, MaxMetadataBytes: s.MaxMetadataBytes}
		if err := fresh.Referrers(ctx, subject, "", collect); err != nil {
			return fail(err)
		}
		// A successful listing leaves the capability known: SetReferrersCapability(true) fails only when oras-go
		// found that the registry has no referrers API and read the referrers tag instead.
		if err := fresh.SetReferrersCapability(true); errors.Is(err, remote.ErrReferrersCapabilityAlreadySet) {
			return out, ReferrersTag, nil
		}
		return out, ReferrersAPI, nil
	case content.ReadOnlyGraphStorage:
		refs, err := registry.Referrers(ctx, s, subject, "")
		if err != nil {
			return fail(err)
		}
		if err := collect(refs); err != nil {
			return fail(err)
		}
		return out, LayoutIndex, nil
	}
	return fail(errors.New("the target cannot list referrers"))
}
