package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
)

// The sigstore bundle format as cosign v2.6 writes it for `cosign sign --new-bundle-format` (cosign's
// specs/BUNDLE_SPEC.md, pkg/oci/remote WriteAttestationNewBundleFormat): an OCI 1.1 image manifest whose subject is
// the artifact, whose artifactType and only layer are a sigstore bundle v0.3, with an empty config, annotated with
// what the bundle holds.
const (
	// BundleMediaType is the media type of a sigstore bundle v0.3, the artifactType of the manifests FormatBundle
	// writes and the media type of their one layer.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// bundleMediaTypePrefix is what cosign checks a bundle layer's media type against (pkg/oci/remote Bundle).
	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"

	// annotationBundleContent says what a bundle holds: "dsse-envelope" or "message-signature".
	annotationBundleContent = "dev.sigstore.bundle.content"
	// annotationBundlePredicateType names the predicate type of the in-toto statement a DSSE bundle signs, so that
	// readers can pick signatures and attestations without fetching every bundle.
	annotationBundlePredicateType = "dev.sigstore.bundle.predicateType"

	bundleContentDSSE    = "dsse-envelope"
	bundleContentMessage = "message-signature"

	// Limits on what is read from a target before it is trusted. A signature bundle is a few kilobytes (a
	// certificate, an envelope, a log entry); attestation bundles, which share the referrers, can hold large
	// predicates. Verify reads them too, since Flux and cosign count them (see bundlesPresent).
	maxBundleReferrers = 1000
	maxBundleManifest  = 4 << 20
	maxBundleLayer     = 32 << 20
)

// signStatementV1 is the in-toto statement cosign's `sign --new-bundle-format` signs: the artifact's digest as the
// only subject, without a name, and the predicate type https://sigstore.dev/cosign/sign/v1 without a predicate.
type signStatementV1 struct {
	Type          string                 `json:"_type"`
	Subject       []signStatementSubject `json:"subject"`
	PredicateType string                 `json:"predicateType"`
}

type signStatementSubject struct {
	Digest map[string]string `json:"digest"`
}

// bundleSignStatement returns the statement FormatBundle signs for d, field for field what cosign's
// signDigestBundle marshals (encoding/json instead of protojson, so that the bytes do not vary between builds).
func bundleSignStatement(d digest.Digest) ([]byte, error) {
	return json.Marshal(signStatementV1{
		Type:          "https://in-toto.io/Statement/v1",
		Subject:       []signStatementSubject{{Digest: map[string]string{d.Algorithm().String(): d.Encoded()}}},
		PredicateType: ctypes.CosignSignPredicateType,
	})
}

// dsseBundle signs payload, of type payloadType, in a DSSE envelope and returns it as a sigstore bundle v0.3 (JSON),
// as cosign's signDigestBundle and attest with --new-bundle-format make it: a key signature carries the hint of the
// public key (base64 of the SHA-256 of its DER form), a keyless one the Fulcio certificate and, when the signer
// uploads to the log, the Rekor entry of kind dsse recorded for the envelope before this returns.
//
// Attestations in the bundle format are made with this and stored with writeBundleReferrer.
func (s *Signer) dsseBundle(ctx context.Context, payloadType string, payload []byte) ([]byte, error) {
	d, err := s.signDSSE(ctx, payloadType, payload, "signature")
	if err != nil {
		return nil, err
	}
	pub, err := d.sv.PublicKey(sigopts.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	// What cosign calls the signer's bytes: the certificate, or the public key, as PEM.
	var material []byte
	if d.keyless != nil {
		material = d.keyless.certPEM
	} else if material, err = cryptoutils.MarshalPublicKeyToPEM(pub); err != nil {
		return nil, err
	}
	b, err := cbundle.MakeNewBundle(pub, d.entry, payload, d.envelope, material, nil)
	if err != nil {
		return nil, fmt.Errorf("making the sigstore bundle: %w", err)
	}
	return b, nil
}

// writeBundleReferrer stores bundleJSON, a sigstore bundle (v0.3 or later), in t as a referrer of subject, the way
// cosign's WriteAttestationNewBundleFormat does: an empty config blob and the bundle as the only layer (media type
// BundleMediaType), then an OCI 1.1 image manifest with artifactType BundleMediaType, subject set to subject and the
// given annotations, pushed by digest and never tagged. It returns the manifest's descriptor.
//
// subject must be the artifact's complete descriptor as the target knows it (media type, digest and size), since
// an OCI layout finds referrers by exact descriptor. annotations should name the statement's predicate type under
// "dev.sigstore.bundle.predicateType", as cosign writes it: Verify reads that annotation to skip the bundles that
// are not signatures without fetching them. "dev.sigstore.bundle.content" is set from the bundle ("dsse-envelope" or
// "message-signature") unless annotations give it. No creation time is added: the same bundle for the same subject
// gives the same manifest, byte for byte.
//
// On a registry with the OCI 1.1 referrers API the registry indexes the manifest; on one without it, oras-go
// maintains the referrers tag schema (the image index tagged "<alg>-<hex>" that lists the subject's referrers),
// which is what a *remote.Repository does once it knows the registry lacks the API: call listReferrers on the same
// repository first, as Sign does, so that it does not have to guess from the push response. An OCI layout
// (oras-go's content/oci) records the manifest in index.json and finds it among the subject's predecessors. When
// the registry refuses to delete the referrers index the new one replaced, that is logged to log and not an error.
//
// The bundle is checked to parse as a sigstore bundle before anything is written. Writing the same bundle twice
// writes nothing new; deciding whether an equivalent bundle is already there is the caller's business.
func writeBundleReferrer(ctx context.Context, t oras.Target, subject ocispec.Descriptor, bundleJSON []byte, annotations map[string]string, log *slog.Logger) (ocispec.Descriptor, error) {
	if log == nil {
		log = discardLogger()
	}
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("not a sigstore bundle: %w", err)
	}
	if !b.MinVersion("v0.3") {
		return ocispec.Descriptor{}, fmt.Errorf("sigstore bundle %s: cosign reads bundles from v0.3 on", b.GetMediaType())
	}
	if err := subject.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("subject %q: %w", subject.Digest, err)
	}
	if subject.MediaType == "" || subject.Size <= 0 {
		return ocispec.Descriptor{}, fmt.Errorf("subject %s: want its media type and size as the target knows them", subject.Digest)
	}
	ann := make(map[string]string, len(annotations)+1)
	for k, v := range annotations {
		ann[k] = v
	}
	if _, ok := ann[annotationBundleContent]; !ok {
		ann[annotationBundleContent] = bundleContentMessage
		if _, err := b.Envelope(); err == nil {
			ann[annotationBundleContent] = bundleContentDSSE
		}
	}

	config := ocispec.DescriptorEmptyJSON
	config.Data = nil
	layer := content.NewDescriptorFromBytes(BundleMediaType, bundleJSON)
	manifest := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: BundleMediaType,
		Config:       config,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  ann,
	}
	raw, err := json.Marshal(manifest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, raw)

	if err := pushIfMissing(ctx, t, config, ocispec.DescriptorEmptyJSON.Data); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config %s: %w", config.Digest, err)
	}
	if err := pushIfMissing(ctx, t, layer, bundleJSON); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("bundle layer %s: %w", layer.Digest, err)
	}
	err = t.Push(ctx, desc, bytes.NewReader(raw))
	var rerr *remote.ReferrersError
	switch {
	case err == nil, errors.Is(err, errdef.ErrAlreadyExists):
	case errors.As(err, &rerr) && rerr.IsReferrersIndexDelete():
		// The manifest and the new referrers index are in place; the registry only kept the index it replaced.
		log.WarnContext(ctx, "the registry did not delete the referrers index that the new one replaced", "subject", subject.Digest, "error", err)
	default:
		return ocispec.Descriptor{}, fmt.Errorf("bundle manifest %s: %w", desc.Digest, err)
	}
	return desc, nil
}

// resolveSubject returns subject's descriptor as t knows it: the media type and size of the manifest stored under
// its digest. When t cannot say (it does not hold the subject), subject is returned as given, with the image
// manifest media type when it has none.
func resolveSubject(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
	d, err := t.Resolve(ctx, subject.Digest.String())
	if err == nil && d.Digest == subject.Digest {
		return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, nil
	}
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return ocispec.Descriptor{}, err
	}
	out := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	if out.MediaType == "" {
		out.MediaType = ocispec.MediaTypeImageManifest
	}
	return out, nil
}

// listReferrers lists the manifests in t whose subject is subject, the way Flux and cosign find bundles: through
// the registry's referrers API, or, on a registry without it, the referrers tag schema (oras-go's remote.Repository
// does both and remembers which one the registry has); through the predecessors index of an OCI layout; or, for
// any other target, by reading the referrers tag "<alg>-<hex>" itself.
func listReferrers(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	switch s := t.(type) {
	case registry.ReferrerLister:
		var out []ocispec.Descriptor
		err := s.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
			out = append(out, page...)
			if len(out) > maxBundleReferrers {
				return fmt.Errorf("more than %d referrers", maxBundleReferrers)
			}
			return nil
		})
		return out, err
	case content.ReadOnlyGraphStorage:
		return registry.Referrers(ctx, s, subject, "")
	}
	tag := subject.Digest.Algorithm().String() + "-" + subject.Digest.Encoded()
	_, raw, err := oras.FetchBytes(ctx, t, tag, oras.FetchBytesOptions{MaxBytes: maxBundleManifest})
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("referrers tag %s: %w", tag, err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, fmt.Errorf("referrers tag %s does not hold an image index: %w", tag, err)
	}
	return index.Manifests, nil
}

// foundBundle is a sigstore bundle read from a referrer of the subject, or why it could not be read.
type foundBundle struct {
	manifest ocispec.Descriptor // the referrer manifest
	layer    ocispec.Descriptor // its bundle layer
	raw      []byte
	bundle   *sgbundle.Bundle
	// refused says why the referrer, which claims to hold a signature bundle, cannot be one; bundle is then nil.
	refused error
	// predicateType is the predicate type of the bundle's statement or, when that could not be read, what the
	// referrer's annotation says it is ("" when it says nothing).
	predicateType string
	// cosignCounts says that cosign's GetBundles, and so Flux, finds this referrer: its one layer parses as a
	// sigstore bundle v0.3 or later, whatever it holds. Such a bundle makes them read bundles only.
	cosignCounts bool
}

// ofType says whether fb is, or may be, a bundle of predicateType: its statement has that type, or, for a referrer
// that could not be read as a bundle, its annotation names that type or none.
func (fb foundBundle) ofType(predicateType string) bool {
	if fb.bundle != nil {
		return fb.predicateType == predicateType
	}
	return fb.predicateType == "" || fb.predicateType == predicateType
}

// bundlesOfType returns the bundles among found that are, or may be, of predicateType.
func bundlesOfType(found []foundBundle, predicateType string) []foundBundle {
	var out []foundBundle
	for _, fb := range found {
		if fb.ofType(predicateType) {
			out = append(out, fb)
		}
	}
	return out
}

// bundlesPresent counts the bundles among found that cosign's GetBundles finds. Flux's source-controller (v1.8,
// Flux 2.8, and later) and `cosign verify` read only bundles when there is one or more, of any predicate type:
// attestation bundles too switch them away from the legacy signatures (see Verify).
func bundlesPresent(found []foundBundle) int {
	n := 0
	for _, fb := range found {
		if fb.cosignCounts {
			n++
		}
	}
	return n
}

// readSignatureBundles reads the signature bundles among subject's referrers in t: each referrer manifest with one
// sigstore bundle layer, except those whose statement (or, before it is fetched, the annotation naming it) has a
// predicate type other than cosign's signature one: those are attestations. A referrer that claims to be a bundle
// and is not a well-formed one is returned with the reason in refused, so that Verify says why it did not count.
func readSignatureBundles(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor) ([]foundBundle, error) {
	return readBundles(ctx, t, subject, ctypes.CosignSignPredicateType)
}

// readBundles reads the bundles among subject's referrers in t whose statement has predicateType: cosign's
// signature type for signatures, another for attestations (as `cosign attest --new-bundle-format` stores them), or
// any type when predicateType is "".
func readBundles(ctx context.Context, t oras.ReadOnlyTarget, subject ocispec.Descriptor, predicateType string) ([]foundBundle, error) {
	refs, err := listReferrers(ctx, t, subject)
	if err != nil {
		return nil, err
	}
	var out []foundBundle
	for _, ref := range refs {
		if ref.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		switch {
		case ref.ArtifactType == "", ref.ArtifactType == ocispec.MediaTypeEmptyJSON, strings.HasPrefix(ref.ArtifactType, bundleMediaTypePrefix):
			// Some registries (go-containerregistry's among them) report the config's media type as the artifact
			// type; an empty one does not say that the manifest is not a bundle.
		default:
			continue
		}
		if pt, ok := ref.Annotations[annotationBundlePredicateType]; ok && predicateType != "" && pt != predicateType {
			continue
		}
		if len(out) >= maxBundleReferrers {
			return nil, fmt.Errorf("more than %d sigstore bundles refer to %s", maxBundleReferrers, subject.Digest)
		}
		fb, isBundle, err := readBundleReferrer(ctx, t, subject, ref, predicateType)
		if err != nil {
			return nil, err
		}
		if isBundle {
			out = append(out, fb)
		}
	}
	return out, nil
}

// readBundleReferrer reads one referrer. isBundle is false for a referrer that is not a sigstore bundle, or is one
// whose statement has another predicate type than predicateType (unless that is "", for any); err is for a failure
// to read the target.
func readBundleReferrer(ctx context.Context, t oras.ReadOnlyTarget, subject, ref ocispec.Descriptor, predicateType string) (fb foundBundle, isBundle bool, err error) {
	fb.manifest = ocispec.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size}
	raw, err := fetchLimited(ctx, t, fb.manifest, maxBundleManifest)
	if err != nil {
		return fb, false, fmt.Errorf("reading referrer %s of %s: %w", ref.Digest, subject.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fb, false, nil
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		// A referrers tag index may list anything; only what names this subject counts.
		return fb, false, nil
	}
	claims := strings.HasPrefix(m.ArtifactType, bundleMediaTypePrefix)
	fb.predicateType = m.Annotations[annotationBundlePredicateType]
	if len(m.Layers) != 1 || !strings.HasPrefix(m.Layers[0].MediaType, bundleMediaTypePrefix) {
		if claims {
			fb.refused = fmt.Errorf("its manifest has artifact type %s but %d layer(s), not one sigstore bundle", m.ArtifactType, len(m.Layers))
			return fb, true, nil
		}
		return fb, false, nil
	}
	if pt, ok := m.Annotations[annotationBundlePredicateType]; ok && predicateType != "" && pt != predicateType {
		return fb, false, nil
	}
	fb.layer = m.Layers[0]
	if fb.raw, err = fetchLimited(ctx, t, fb.layer, maxBundleLayer); err != nil {
		return fb, false, fmt.Errorf("reading the bundle in referrer %s of %s: %w", ref.Digest, subject.Digest, err)
	}
	b := &sgbundle.Bundle{}
	if err := b.UnmarshalJSON(fb.raw); err != nil {
		fb.refused = fmt.Errorf("it is not a valid sigstore bundle: %w", err)
		return fb, true, nil
	}
	if !b.MinVersion("v0.3") {
		fb.refused = fmt.Errorf("its bundle is a %s; cosign and Flux read bundles from v0.3 on", b.GetMediaType())
		return fb, true, nil
	}
	// From here on cosign's GetBundles (pkg/oci/remote Bundle) takes it, though what follows may refuse it.
	fb.cosignCounts = true
	env, err := b.Envelope()
	if err != nil {
		fb.refused = errors.New("it holds a message signature, not the DSSE envelope that cosign and Flux verify for an image")
		return fb, true, nil
	}
	if env.RawEnvelope().PayloadType != ctypes.IntotoPayloadType {
		fb.refused = fmt.Errorf("its envelope holds a %q, not an in-toto statement", env.RawEnvelope().PayloadType)
		return fb, true, nil
	}
	st, err := env.Statement()
	if err != nil {
		fb.refused = fmt.Errorf("its envelope does not hold an in-toto statement: %w", err)
		return fb, true, nil
	}
	if predicateType != "" && st.GetPredicateType() != predicateType {
		return fb, false, nil // a signature when attestations are read, or the reverse
	}
	fb.predicateType = st.GetPredicateType()
	fb.bundle = b
	return fb, true, nil
}

// statementNames says whether the signed statement in b names d among its subjects, and if not, what it names.
func statementNames(b *sgbundle.Bundle, d digest.Digest) (ok bool, named []string) {
	env, err := b.Envelope()
	if err != nil {
		return false, nil
	}
	st, err := env.Statement()
	if err != nil {
		return false, nil
	}
	for _, s := range st.GetSubject() {
		for alg, hex := range s.GetDigest() {
			if alg == d.Algorithm().String() && hex == d.Encoded() {
				return true, nil
			}
			named = append(named, alg+":"+hex)
		}
	}
	return false, named
}

// isOwnBundle says whether fb is a signature of subject that v made: its envelope's signature verifies with v and
// its statement names subject. Sign uses it so as not to write the same signature twice.
func isOwnBundle(fb foundBundle, v signature.Verifier, subject digest.Digest) bool {
	if fb.bundle == nil {
		return false
	}
	if ok, _ := statementNames(fb.bundle, subject); !ok {
		return false
	}
	return envelopeVerifies(fb.bundle, v) == nil
}

// envelopeVerifies checks the one signature of b's DSSE envelope with v, over the envelope's pre-authentication
// encoding of its payload, as sigstore-go does; it returns v's own error, which says why.
func envelopeVerifies(b *sgbundle.Bundle, v signature.Verifier) error {
	env, err := b.Envelope()
	if err != nil {
		return err
	}
	raw := env.RawEnvelope()
	if len(raw.Signatures) != 1 {
		return fmt.Errorf("its envelope has %d signatures; cosign writes one", len(raw.Signatures))
	}
	payload, err := raw.DecodeB64Payload()
	if err != nil {
		return fmt.Errorf("its envelope's payload: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(raw.Signatures[0].Sig)
	if err != nil {
		return fmt.Errorf("its envelope's signature: %w", err)
	}
	return v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(ssldsse.PAE(raw.PayloadType, payload)))
}

// writeBundle signs subject in the bundle format unless t already holds a bundle signature of it by this signer,
// and returns the referrer manifest holding it.
func (s *Signer) writeBundle(ctx context.Context, t oras.Target, subject ocispec.Descriptor, log *slog.Logger) (ocispec.Descriptor, error) {
	full, err := resolveSubject(ctx, t, subject)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolving it in the target: %w", err)
	}
	// Listing the referrers first also tells a remote repository whether the registry has the referrers API, so
	// that the push below maintains the referrers tag exactly when the registry needs it.
	found, err := readSignatureBundles(ctx, t, full)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("listing its sigstore bundles: %w", err)
	}
	own := s.impl.verifier()
	for _, fb := range found {
		if isOwnBundle(fb, own, full.Digest) {
			log.InfoContext(ctx, "bundle signature already present", "subject", full.Digest, "manifest", fb.manifest.Digest)
			return fb.manifest, nil
		}
	}
	stmt, err := bundleSignStatement(full.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	b, err := s.dsseBundle(ctx, ctypes.IntotoPayloadType, stmt)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("with %s: %w", s.source, err)
	}
	desc, err := writeBundleReferrer(ctx, t, full, b, map[string]string{annotationBundlePredicateType: ctypes.CosignSignPredicateType}, log)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing its bundle: %w", err)
	}
	log.InfoContext(ctx, "bundle signature written", "subject", full.Digest, "manifest", desc.Digest, "size", len(b))
	return desc, nil
}
