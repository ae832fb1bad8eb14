package sign

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2"
)

// BundleRisk is what BundleOnlyRisk found: who trusted an artifact through its legacy signatures and, now that
// sigstore bundles refer to it, no longer can with Flux's source-controller (v1.8 and later) and `cosign verify`,
// which then read only the bundles (see Verify).
type BundleRisk struct {
	// Bundles is how many sigstore bundles refer to the subject, of any predicate type, as cosign counts them.
	// With none, the legacy signatures are read and nothing is at risk.
	Bundles int
	// Keys are the indexes, in the verifiers given, of the keys that verify a legacy signature of the subject but
	// none of its bundles: a consumer that trusts only such keys refuses the artifact.
	Keys []int
	// Identities are the expected identities (WithIdentities) that a keyless legacy signature of the subject
	// matches but none of its bundles does.
	Identities []Identity
	// Unverified are the layers of the legacy signatures that verify with none of the keys and identities given:
	// made by keys (or identities) the caller did not name. Their consumers refuse the artifact too unless a
	// bundle verifies with their key, which cannot be told without it.
	Unverified []digest.Digest
}

// AtRisk says whether a consumer that accepts the artifact through its legacy signatures refuses it with Flux 2.8
// or later: bundles refer to it, and a legacy signature verifies with a key or identity that no bundle does, or with
// none that were given.
func (r *BundleRisk) AtRisk() bool {
	return r.Bundles > 0 && (len(r.Keys) > 0 || len(r.Identities) > 0 || len(r.Unverified) > 0)
}

// BundleOnlyRisk tells a publisher whether the bundles that refer to subject in t leave behind consumers that
// trusted it through a legacy signature: it checks each of verifiers, and each identity of WithIdentities, alone, as
// a Flux cluster that trusts only that key or identity would, and reports those with which a legacy signature
// verifies but no bundle (of any predicate type) does, and the legacy signatures that none of them verifies. A
// publish that adds a bundle signed with a new key to an artifact signed before with an old key in the legacy
// format calls it after signing, with the keys it knows (its own at least), and warns when the result is AtRisk:
// clusters that trust the old key keep working only if the old key signs a bundle too.
//
// It takes the options Verify takes; WithRequiredAnnotations and WithLegacyFallback play no part, as Flux has no
// annotations to require and no fallback. It fails only when the target cannot be read, or on arguments Verify
// refuses; a subject with no signature at all is no risk.
func BundleOnlyRisk(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor, verifiers []signature.Verifier, opts ...VerifyOption) (*BundleRisk, error) {
	o, err := verifyArgs(subject, verifiers, opts, "checking the bundles of")
	if err != nil {
		return nil, err
	}
	o.annotations = nil
	ev, err := readEvidence(ctx, t, subject, o)
	if err != nil {
		return nil, err
	}
	risk := &BundleRisk{Bundles: bundlesPresent(ev.bundles)}
	if risk.Bundles == 0 || len(ev.list) == 0 {
		return risk, nil
	}
	verified := map[digest.Digest]bool{}
	// lost checks one key or identity alone: whether a legacy signature verifies with it and no bundle does.
	lost := func(vs []signature.Verifier, ids []Identity) (bool, error) {
		one := *o
		one.identities = ids
		res := &Verification{}
		var ignored []error
		if err := ev.verifyLegacy(ctx, vs, &one, false, res, &ignored); err != nil {
			return false, err
		}
		for _, s := range res.Verified {
			verified[s.Layer] = true
		}
		if len(res.Verified) == 0 {
			return false, nil
		}
		bc, err := newBundleChecker(subject.Digest, vs, &one)
		if err != nil {
			return false, err
		}
		for _, fb := range ev.bundles {
			if !fb.cosignCounts {
				continue
			}
			_, _, ok, err := bc.check(fb)
			if err != nil {
				return false, err
			}
			if ok {
				return false, nil
			}
		}
		return true, nil
	}
	for k, v := range verifiers {
		l, err := lost([]signature.Verifier{v}, nil)
		if err != nil {
			return nil, fmt.Errorf("checking the bundles of %s with key %d: %w", subject.Digest, k, err)
		}
		if l {
			risk.Keys = append(risk.Keys, k)
		}
	}
	for _, id := range o.identities {
		l, err := lost(nil, []Identity{id})
		if err != nil {
			return nil, fmt.Errorf("checking the bundles of %s with identity %s: %w", subject.Digest, id, err)
		}
		if l {
			risk.Identities = append(risk.Identities, id)
		}
	}
	for _, sig := range ev.list {
		layer, err := sig.Digest()
		if err != nil {
			continue
		}
		if d := digest.Digest(layer.String()); !verified[d] {
			risk.Unverified = append(risk.Unverified, d)
		}
	}
	return risk, nil
}
