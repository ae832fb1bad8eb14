package sign_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	orasregistry "oras.land/oras-go/v2/registry"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

// memRegistry starts go-containerregistry's in-memory registry, with or without the OCI 1.1 referrers API, and
// returns a repository of it.
func memRegistry(t testing.TB, referrersAPI bool) target {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/statepack/test"
	return target{kind: "registry", Target: remoteRepo(t, ref), ref: ref, reopen: func(t testing.TB) oras.Target { return remoteRepo(t, ref) }}
}

// eachBundleTarget runs f against each kind of target the bundle format must work on; api says whether the target
// finds referrers without the referrers tag (a registry with the referrers API, or an OCI layout's index).
func eachBundleTarget(t *testing.T, f func(t *testing.T, tg target, api bool)) {
	t.Helper()
	r := testregistry.Start(t)
	t.Run("referrers API", func(t *testing.T) { f(t, memRegistry(t, true), true) })
	t.Run("no referrers API", func(t *testing.T) { f(t, memRegistry(t, false), false) })
	t.Run("docker-registry", func(t *testing.T) { f(t, registryTarget(t, r, "statepack/bundle"), false) })
	t.Run("oci-layout", func(t *testing.T) { f(t, layoutTarget(t), true) })
}

// referrersOf lists subject's referrers through a fresh handle on the target, as another client would see them.
func referrersOf(t *testing.T, tg target, subject ocispec.Descriptor) []ocispec.Descriptor {
	t.Helper()
	gs, ok := tg.reopen(t).(content.ReadOnlyGraphStorage)
	if !ok {
		t.Fatalf("%T lists no referrers", tg.Target)
	}
	refs, err := orasregistry.Referrers(context.Background(), gs, subject, "")
	if err != nil {
		t.Fatalf("listing referrers of %s: %v", subject.Digest, err)
	}
	return refs
}

// referrersTag returns the referrers tag schema's index for subject, or nil when the tag does not exist.
func referrersTag(t *testing.T, tg oras.ReadOnlyTarget, subject ocispec.Descriptor) *ocispec.Index {
	t.Helper()
	tag := subject.Digest.Algorithm().String() + "-" + subject.Digest.Encoded()
	_, raw, err := oras.FetchBytes(context.Background(), tg, tag, oras.DefaultFetchBytesOptions)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("fetching tag %s: %v", tag, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	return &idx
}

// bundleManifest reads a bundle referrer: its manifest and the bundle.
func bundleManifest(t *testing.T, tg oras.ReadOnlyTarget, desc ocispec.Descriptor) (ocispec.Manifest, []byte) {
	t.Helper()
	ctx := context.Background()
	raw, err := content.FetchAll(ctx, tg, desc)
	if err != nil {
		t.Fatalf("fetching bundle manifest %s: %v", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("bundle manifest has %d layers, want 1", len(m.Layers))
	}
	b, err := content.FetchAll(ctx, tg, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func parseBundle(t *testing.T, raw []byte) *protobundle.Bundle {
	t.Helper()
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(raw, &pb); err != nil {
		t.Fatalf("bundle %s: %v", raw, err)
	}
	return &pb
}

// wantStatement is the in-toto statement cosign's `sign --new-bundle-format` signs for subject.
func wantStatement(subject ocispec.Descriptor) string {
	return fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"%s"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1"}`, subject.Digest.Encoded())
}

func TestBundleSignVerify(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	signerA, signerB := loadSigner(t, a), loadSigner(t, b)
	ctx := context.Background()
	pubA, err := cryptoutils.UnmarshalPEMToPublicKey(a.pub)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pubA)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	wantHint := base64.StdEncoding.EncodeToString(sum[:])

	eachBundleTarget(t, func(t *testing.T, tg target, api bool) {
		subject := pushArtifact(t, tg, t.Name())
		desc, err := signerA.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}

		// The manifest: an OCI 1.1 referrer of the artifact, as cosign writes it.
		m, raw := bundleManifest(t, tg, desc)
		if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != sign.BundleMediaType ||
			m.Config.MediaType != ocispec.MediaTypeEmptyJSON || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest ||
			m.Layers[0].MediaType != sign.BundleMediaType || m.Subject == nil ||
			m.Subject.Digest != subject.Digest || m.Subject.Size != subject.Size || m.Subject.MediaType != subject.MediaType {
			t.Errorf("bundle manifest = %+v; want an image manifest of artifact type %s, empty config, one bundle layer, subject %+v", m, sign.BundleMediaType, subject)
		}
		wantAnn := map[string]string{"dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": ctypes.CosignSignPredicateType}
		if fmt.Sprint(m.Annotations) != fmt.Sprint(wantAnn) {
			t.Errorf("bundle manifest annotations = %v, want %v", m.Annotations, wantAnn)
		}

		// The bundle: v0.3, the key's hint, a DSSE envelope over cosign's statement, no log entry.
		pb := parseBundle(t, raw)
		if pb.GetMediaType() != sign.BundleMediaType {
			t.Errorf("bundle media type = %q, want %q", pb.GetMediaType(), sign.BundleMediaType)
		}
		if got := pb.GetVerificationMaterial().GetPublicKey().GetHint(); got != wantHint {
			t.Errorf("bundle key hint = %q, want %q (base64 of the SHA-256 of the public key)", got, wantHint)
		}
		if n := len(pb.GetVerificationMaterial().GetTlogEntries()); n != 0 {
			t.Errorf("bundle has %d log entries, want none for a key", n)
		}
		env := pb.GetDsseEnvelope()
		if env.GetPayloadType() != "application/vnd.in-toto+json" || string(env.GetPayload()) != wantStatement(subject) || len(env.GetSignatures()) != 1 {
			t.Errorf("bundle envelope = %s %s (%d signatures), want an in-toto statement %s with one signature", env.GetPayloadType(), env.GetPayload(), len(env.GetSignatures()), wantStatement(subject))
		}

		// Where it is found: through the referrers API or the layout's index, else the referrers tag.
		refs := referrersOf(t, tg, subject)
		if len(refs) != 1 || refs[0].Digest != desc.Digest {
			t.Fatalf("referrers of the artifact = %v, want the bundle manifest %s", refs, desc.Digest)
		}
		idx := referrersTag(t, tg, subject)
		switch {
		case api && idx != nil:
			t.Errorf("referrers tag written on a target that lists referrers without it: %+v", idx)
		case !api && (idx == nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != desc.Digest || idx.Manifests[0].ArtifactType != sign.BundleMediaType):
			t.Errorf("referrers tag = %+v, want an index listing %s with artifact type %s", idx, desc.Digest, sign.BundleMediaType)
		}
		if _, err := tg.Resolve(ctx, sign.SignatureTag(subject.Digest)); !errors.Is(err, errdef.ErrNotFound) {
			t.Errorf("resolving the .sig tag after a bundle-only Sign = %v, want not found", err)
		}

		// Verify, through a client that knows nothing of the registry yet.
		res, err := sign.Verify(ctx, tg.reopen(t), subject, loadVerifiers(t, b, a))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		want := sign.VerifiedSignature{Format: sign.FormatBundle, KeyIndex: 1, Image: subject.Digest.String(), Layer: m.Layers[0].Digest, Manifest: desc}
		if res.Checked != 1 || len(res.Verified) != 1 || fmt.Sprint(res.Verified[0]) != fmt.Sprint(want) || res.SignatureManifest.Digest != "" {
			t.Errorf("Verify = %+v, want 1 checked and %+v", res, want)
		}

		// Idempotent: the same key writes nothing more; another key adds a referrer.
		again, err := signerA.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
		if err != nil || again.Digest != desc.Digest {
			t.Errorf("signing again = %s, %v; want the existing %s", again.Digest, err, desc.Digest)
		}
		if n := len(referrersOf(t, tg, subject)); n != 1 {
			t.Errorf("after signing twice with one key: %d referrers, want 1", n)
		}
		descB, err := signerB.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
		if err != nil {
			t.Fatal(err)
		}
		if refs := referrersOf(t, tg, subject); len(refs) != 2 {
			t.Errorf("after a second key signed: referrers %v, want 2", refs)
		}
		res, err = sign.Verify(ctx, tg.reopen(t), subject, loadVerifiers(t, b))
		if err != nil || res.Checked != 2 || len(res.Verified) != 1 || res.Verified[0].Manifest.Digest != descB.Digest {
			t.Errorf("Verify with key b = %+v, %v; want 2 checked, b's bundle %s verified", res, err, descB.Digest)
		}
	})
}

func TestBundleBoth(t *testing.T) {
	t.Parallel()
	a, _ := testKeys(t)
	signer := loadSigner(t, a)
	ctx := context.Background()
	eachBundleTarget(t, func(t *testing.T, tg target, _ bool) {
		subject := pushArtifact(t, tg, t.Name())
		desc, err := signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBoth))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		sigDesc, sm, _ := sigManifest(t, tg, subject)
		if len(sm.Layers) != 1 {
			t.Errorf(".sig manifest has %d layers, want 1", len(sm.Layers))
		}
		res, err := sign.Verify(ctx, tg.reopen(t), subject, loadVerifiers(t, a))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if res.Checked != 2 || len(res.Verified) != 2 || res.Verified[0].Format != sign.FormatBundle || res.Verified[0].Manifest.Digest != desc.Digest ||
			res.Verified[1].Format != sign.FormatLegacy || res.Verified[1].Layer != sm.Layers[0].Digest || res.SignatureManifest.Digest != sigDesc.Digest ||
			res.Verified[1].Image != tg.ref+"@"+subject.Digest.String() {
			t.Errorf("Verify = %+v, want the bundle %s then the legacy signature in %s", res, desc.Digest, sigDesc.Digest)
		}
		again, err := signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBoth))
		if err != nil || again.Digest != desc.Digest {
			t.Errorf("signing again = %s, %v; want the existing %s", again.Digest, err, desc.Digest)
		}
		if d, sm, _ := sigManifest(t, tg, subject); d.Digest != sigDesc.Digest || len(sm.Layers) != 1 {
			t.Errorf("signing again changed the .sig manifest: %s (%d layers), was %s", d.Digest, len(sm.Layers), sigDesc.Digest)
		}
		if n := len(referrersOf(t, tg, subject)); n != 1 {
			t.Errorf("signing again: %d referrers, want 1", n)
		}
	})
}

func TestBundleFormatOptions(t *testing.T) {
	t.Parallel()
	a, _ := testKeys(t)
	signer := loadSigner(t, a)
	ctx := context.Background()
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	for _, f := range []sign.Format{sign.FormatBundle, sign.FormatBoth} {
		_, err := signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(f), sign.WithAnnotations(map[string]string{"env": "prod"}))
		want := fmt.Sprintf(`signing %s: signature annotations are not supported in the %q format: a sigstore bundle has no place for them (use "legacy")`, subject.Digest, f)
		if err == nil || err.Error() != want || !errors.Is(err, sign.ErrUnsupported) {
			t.Errorf("Sign(%s, annotations) = %v, want %q wrapping ErrUnsupported", f, err, want)
		}
	}
	if _, err := signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat("sigstore")); err == nil ||
		!strings.Contains(err.Error(), `unknown signature format "sigstore" (want "legacy", "bundle" or "both")`) {
		t.Errorf("Sign(format sigstore) = %v", err)
	}
	if refs := referrersOf(t, target{reopen: func(testing.TB) oras.Target { return tg.Target }}, subject); len(refs) != 0 {
		t.Errorf("refused Sign calls wrote referrers: %v", refs)
	}
}

func TestBundleVerifyFailures(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	signerA := loadSigner(t, a)
	ctx := context.Background()
	eachBundleTarget(t, func(t *testing.T, tg target, _ bool) {
		signed := func(t *testing.T, seed string) (ocispec.Descriptor, ocispec.Descriptor) {
			t.Helper()
			subject := pushArtifact(t, tg, seed)
			desc, err := signerA.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			return subject, desc
		}
		// store writes a bundle as a referrer of subject, the way an attacker with push rights could.
		store := func(t *testing.T, subject ocispec.Descriptor, bundle []byte, predicateType string) ocispec.Descriptor {
			t.Helper()
			desc, err := sign.WriteBundleReferrer(ctx, tg.Target, subject, bundle, map[string]string{"dev.sigstore.bundle.predicateType": predicateType})
			if err != nil {
				t.Fatalf("WriteBundleReferrer: %v", err)
			}
			return desc
		}
		prefix := func(s ocispec.Descriptor) string {
			return fmt.Sprintf("signature verification failed for %s: 1 signature(s) checked, none verifies with the given key(s): ", s.Digest)
		}
		var other ocispec.Descriptor
		for _, tc := range []struct {
			name   string
			setup  func(t *testing.T) ocispec.Descriptor
			keys   []keyPair
			opts   []sign.VerifyOption
			wantIs error
			want   func(s ocispec.Descriptor) string // the exact message, or its start when prefix is set
			prefix bool
		}{
			{
				name:   "wrong key",
				setup:  func(t *testing.T) ocispec.Descriptor { s, _ := signed(t, "wrong key"); return s },
				keys:   []keyPair{b},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s) + "its signature does not verify with this key: invalid signature when validating ASN.1 encoded signature"
				},
			},
			{
				name: "tampered signature",
				setup: func(t *testing.T) ocispec.Descriptor {
					s := pushArtifact(t, tg, "tampered signature")
					pb := parseBundle(t, bundleFor(t, signerA, s))
					sig := pb.GetDsseEnvelope().GetSignatures()[0].Sig
					sig[len(sig)-1] ^= 0xff
					store(t, s, marshalBundle(t, pb), ctypes.CosignSignPredicateType)
					return s
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s) + "its signature does not verify with this key: "
				},
				prefix: true,
			},
			{
				name: "tampered statement",
				setup: func(t *testing.T) ocispec.Descriptor {
					s := pushArtifact(t, tg, "tampered statement")
					pb := parseBundle(t, bundleFor(t, signerA, pushArtifact(t, tg, "tampered statement, signed")))
					pb.GetDsseEnvelope().Payload = []byte(wantStatement(s))
					store(t, s, marshalBundle(t, pb), ctypes.CosignSignPredicateType)
					return s
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s) + "its signature does not verify with this key: invalid signature when validating ASN.1 encoded signature"
				},
			},
			{
				name: "bundle of another digest",
				setup: func(t *testing.T) ocispec.Descriptor {
					s := pushArtifact(t, tg, "the copy")
					o, desc := signed(t, "the signed one")
					other = o
					_, raw := bundleManifest(t, tg, desc)
					store(t, s, raw, ctypes.CosignSignPredicateType)
					return s
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s) + fmt.Sprintf("statement digest mismatch: the bundle is for %s, not %s (copied from another artifact?)", other.Digest, s.Digest)
				},
			},
			{
				name: "not a bundle",
				setup: func(t *testing.T) ocispec.Descriptor {
					s := pushArtifact(t, tg, "not a bundle")
					junk := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
					layer := content.NewDescriptorFromBytes(sign.BundleMediaType, junk)
					if err := tg.Push(ctx, layer, bytes.NewReader(junk)); err != nil {
						t.Fatal(err)
					}
					config := ocispec.DescriptorEmptyJSON
					if err := tg.Push(ctx, config, bytes.NewReader(config.Data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
						t.Fatal(err)
					}
					if _, err := oras.PackManifest(ctx, tg, oras.PackManifestVersion1_1, sign.BundleMediaType, oras.PackManifestOptions{
						Subject: &s, Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
					}); err != nil {
						t.Fatal(err)
					}
					return s
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s) + "it is not a valid sigstore bundle: "
				},
				prefix: true,
			},
			{
				name: "message signature",
				setup: func(t *testing.T) ocispec.Descriptor {
					s := pushArtifact(t, tg, "message signature")
					pb := parseBundle(t, bundleFor(t, signerA, s))
					sum, _ := hex.DecodeString(s.Digest.Encoded())
					pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
						MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum},
						Signature:     pb.GetDsseEnvelope().GetSignatures()[0].Sig,
					}}
					store(t, s, marshalBundle(t, pb), ctypes.CosignSignPredicateType)
					return s
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s) + "it holds a message signature, not the DSSE envelope that cosign and Flux verify for an image"
				},
			},
			{
				name: "annotations required",
				setup: func(t *testing.T) ocispec.Descriptor {
					s, _ := signed(t, "annotations")
					return s
				},
				keys:   []keyPair{a},
				opts:   []sign.VerifyOption{sign.WithRequiredAnnotations(map[string]string{"env": "prod"})},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s) + `a sigstore bundle carries no annotations, and {"env":"prod"} are required`
				},
			},
			{
				name: "an attestation is not a signature",
				setup: func(t *testing.T) ocispec.Descriptor {
					s := pushArtifact(t, tg, "attested only")
					stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"%s"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`, s.Digest.Encoded())
					att, err := signerA.DSSEBundle(ctx, "application/vnd.in-toto+json", []byte(stmt))
					if err != nil {
						t.Fatal(err)
					}
					store(t, s, att, "https://slsa.dev/provenance/v1")
					// The same attestation with the annotation stripped is skipped too, after it is read.
					if _, err := sign.WriteBundleReferrer(ctx, tg.Target, s, att, nil); err != nil {
						t.Fatal(err)
					}
					return s
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrNoSignature,
				want: func(s ocispec.Descriptor) string {
					return fmt.Sprintf("no signature found for %s: the target has no tag %s", s.Digest, sign.SignatureTag(s.Digest))
				},
			},
			{
				name: "bundle signed by a key, identity expected",
				setup: func(t *testing.T) ocispec.Descriptor {
					s, _ := signed(t, "key, identity expected")
					return s
				},
				opts:   []sign.VerifyOption{sign.WithIdentities(sign.Identity{Subject: "dev@example.com", Issuer: "https://issuer.example"}), sign.WithTrustedRoot(emptyTrustedRoot), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return fmt.Sprintf("signature verification failed for %s: 1 signature(s) checked, none verifies with the expected identity: it has no certificate: it was made with a key, not keyless (verify it with the public key)", s.Digest)
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				subject := tc.setup(t)
				var keys []signature.Verifier
				if len(tc.keys) > 0 {
					keys = loadVerifiers(t, tc.keys...)
				}
				res, err := sign.Verify(ctx, tg.reopen(t), subject, keys, tc.opts...)
				if err == nil {
					t.Fatalf("Verify = %+v, want an error", res)
				}
				for _, s := range []error{sign.ErrNoSignature, sign.ErrVerification} {
					if errors.Is(err, s) != (s == tc.wantIs) {
						t.Errorf("Verify = %v: errors.Is %v = %v, want only %v", err, s, errors.Is(err, s), tc.wantIs)
					}
				}
				want := tc.want(subject)
				if tc.prefix && !strings.HasPrefix(err.Error(), want) {
					t.Errorf("Verify =\n%s\nwant it to start with\n%s", err, want)
				}
				if !tc.prefix && err.Error() != want {
					t.Errorf("Verify =\n%s\nwant\n%s", err, want)
				}
			})
		}
	})
}

// emptyTrustedRoot trusts nothing: what a key-only verification is given where a trusted root is required.
var emptyTrustedRoot = []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)

// bundleFor returns a bundle signature of subject by signer, made as Sign makes it but not stored.
func bundleFor(t *testing.T, signer *sign.Signer, subject ocispec.Descriptor) []byte {
	t.Helper()
	b, err := signer.DSSEBundle(context.Background(), "application/vnd.in-toto+json", []byte(wantStatement(subject)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshalBundle(t *testing.T, pb *protobundle.Bundle) []byte {
	t.Helper()
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func slogText(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestBundleKeyless(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	signer := loadKeyless(t, ss, ss.GitHubToken(t, wfX))
	certPEM, _ := signer.Certificate()
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	idX := sign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}
	idY := sign.Identity{Subject: wfY.Identity(), Issuer: ss.GitHubIssuer}
	otherRoot, otherTrustedRoot := otherCA(t)

	eachBundleTarget(t, func(t *testing.T, tg target, _ bool) {
		subject := pushArtifact(t, tg, t.Name())
		desc, err := signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		m, raw := bundleManifest(t, tg, desc)
		t.Logf("keyless bundle: %d bytes", len(raw))
		pb := parseBundle(t, raw)
		if got := pb.GetVerificationMaterial().GetCertificate().GetRawBytes(); !bytes.Equal(got, certs[0].Raw) {
			t.Errorf("bundle certificate = %x, want the signer's Fulcio certificate", got)
		}
		if n := len(pb.GetVerificationMaterial().GetTlogEntries()); n != 0 {
			t.Errorf("bundle has %d log entries, want none (log upload off)", n)
		}
		for _, tc := range []struct {
			name string
			opts []sign.VerifyOption
		}{
			{"exact identity, Fulcio root", offlineVerify(ss, idX)},
			{"second of two identities", offlineVerify(ss, idY, idX)},
			{"regexps, trusted root", []sign.VerifyOption{
				sign.WithIdentities(sign.Identity{SubjectRegexp: `^https://github\.com/acme/x/`, IssuerRegexp: "^" + regexp.QuoteMeta(ss.GitHubIssuer) + "$"}),
				sign.WithTrustedRoot(ss.TrustedRootJSON(t)), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true),
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := sign.Verify(ctx, tg.reopen(t), subject, nil, tc.opts...)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.Checked != 1 || len(res.Verified) != 1 {
					t.Fatalf("Verify = %+v, want 1 checked, 1 verified", res)
				}
				v := res.Verified[0]
				if v.Format != sign.FormatBundle || v.KeyIndex != -1 || v.Identity != idX || v.Certificate == nil || !v.Certificate.Equal(certs[0]) ||
					v.TlogVerified || v.Manifest.Digest != desc.Digest || v.Layer != m.Layers[0].Digest {
					t.Errorf("Verify = %+v, want a keyless bundle signature by %+v in %s", v, idX, desc.Digest)
				}
			})
		}
		again, err := signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
		if err != nil || again.Digest != desc.Digest {
			t.Errorf("signing again with the same keyless signer = %s, %v; want the existing %s", again.Digest, err, desc.Digest)
		}

		prefix := fmt.Sprintf("signature verification failed for %s: 1 signature(s) checked, none verifies with the expected identity: ", subject.Digest)
		for _, tc := range []struct {
			name   string
			keys   []keyPair
			opts   []sign.VerifyOption
			want   string
			prefix bool
		}{
			{name: "wrong identity", opts: offlineVerify(ss, idY),
				want: prefix + "certificate identity https://github.com/acme/x/.github/workflows/a.yml@refs/heads/main does not match https://github.com/acme/y/.github/workflows/a.yml@refs/heads/main"},
			{name: "wrong issuer", opts: offlineVerify(ss, sign.Identity{Subject: wfX.Identity(), Issuer: ss.EmailIssuer}),
				want: prefix + fmt.Sprintf("certificate OIDC issuer %s does not match %s", ss.GitHubIssuer, ss.EmailIssuer)},
			{name: "another Fulcio's root", opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithRootCerts(otherRoot), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)},
				want: prefix + fmt.Sprintf("its certificate (for %s from %s) was not issued by a trusted Fulcio CA: ", wfX.Identity(), ss.GitHubIssuer), prefix: true},
			{name: "another Fulcio's trusted root", opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithTrustedRoot(otherTrustedRoot), sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)},
				want: prefix + fmt.Sprintf("its certificate (for %s from %s) was not issued by a trusted Fulcio CA: leaf certificate verification failed", wfX.Identity(), ss.GitHubIssuer)},
			{name: "log entry required", opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithTrustedRoot(ss.TrustedRootJSON(t)), sign.WithIgnoreSCT(true)},
				want: prefix + "it has no transparency-log entry (signed with the log upload off?); to accept it without one, ignore the log (cosign's --insecure-ignore-tlog)"},
			{name: "SCT required", opts: []sign.VerifyOption{sign.WithIdentities(idX), sign.WithTrustedRoot(ss.TrustedRootJSON(t)), sign.WithIgnoreTlog(true)},
				want: prefix + "failed to verify signed certificate timestamp: ", prefix: true},
			{name: "keyless bundle, a key given", keys: []keyPair{testKeyA(t)}, opts: []sign.VerifyOption{sign.WithIgnoreTlog(true)},
				want: fmt.Sprintf("signature verification failed for %s: 1 signature(s) checked, none verifies with the given key(s): it has a certificate: it was made keyless, not with a key (verify it with the expected identity)", subject.Digest)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var keys []signature.Verifier
				if len(tc.keys) > 0 {
					keys = loadVerifiers(t, tc.keys...)
				}
				_, err := sign.Verify(ctx, tg.reopen(t), subject, keys, tc.opts...)
				if !errors.Is(err, sign.ErrVerification) {
					t.Fatalf("Verify = %v, want ErrVerification", err)
				}
				if tc.prefix && !strings.HasPrefix(err.Error(), tc.want) || !tc.prefix && err.Error() != tc.want {
					t.Errorf("Verify =\n%s\nwant (prefix %v)\n%s", err, tc.prefix, tc.want)
				}
			})
		}
	})
}

func testKeyA(t *testing.T) keyPair {
	a, _ := testKeys(t)
	return a
}

// TestBundleTlogUpload checks what a keyless bundle signature sends to Rekor, through a server that records the
// request and refuses it: the dsse entry cosign makes for the envelope, and nothing written when the log refuses.
func TestBundleTlogUpload(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	got := make(chan []byte, 1)
	rekor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/log/entries" {
			select {
			case got <- b:
			default:
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":400,"message":"this test log records entries and refuses them"}`))
	}))
	defer rekor.Close()
	signer, err := sign.LoadKeylessSigner(ctx, ss.GitHubToken(t, wfX), keylessOpts(ss, sign.WithTlogUpload(true), sign.WithRekorURL(rekor.URL))...)
	if err != nil {
		t.Fatal(err)
	}
	tg := memRegistry(t, true)
	subject := pushArtifact(t, tg, t.Name())
	_, err = signer.Sign(ctx, tg.Target, subject, tg.ref, sign.WithFormat(sign.FormatBundle))
	if want := "recording the signature in the transparency log " + rekor.URL + ": "; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Sign = %v, want an error containing %q", err, want)
	}
	if refs := referrersOf(t, tg, subject); len(refs) != 0 {
		t.Errorf("after the log refused: referrers %v, want none", refs)
	}
	var body []byte
	select {
	case body = <-got:
	default:
		t.Fatal("nothing was sent to Rekor")
	}
	var entry struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Spec       struct {
			ProposedContent struct {
				Envelope  string   `json:"envelope"`
				Verifiers [][]byte `json:"verifiers"`
			} `json:"proposedContent"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &entry); err != nil {
		t.Fatalf("Rekor request %s: %v", body, err)
	}
	certPEM, _ := signer.Certificate()
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
	}
	if err := json.Unmarshal([]byte(entry.Spec.ProposedContent.Envelope), &env); err != nil {
		t.Fatalf("logged envelope %q: %v", entry.Spec.ProposedContent.Envelope, err)
	}
	// Rekor's dsse type re-encodes the certificate it is given: compare certificates, not PEM bytes.
	sameCert := func(pemBytes []byte) bool {
		got, err := cryptoutils.UnmarshalCertificatesFromPEM(pemBytes)
		want, _ := cryptoutils.UnmarshalCertificatesFromPEM(certPEM)
		return err == nil && len(got) == 1 && len(want) == 1 && got[0].Equal(want[0])
	}
	if entry.Kind != "dsse" || entry.APIVersion != "0.0.1" || len(entry.Spec.ProposedContent.Verifiers) != 1 ||
		!sameCert(entry.Spec.ProposedContent.Verifiers[0]) || string(env.Payload) != wantStatement(subject) {
		t.Errorf("Rekor entry = %s\nwant a dsse 0.0.1 entry of the statement with the signer's certificate", body)
	}
}

// BenchmarkSignFormats measures Sign with a key in each format, into an OCI layout and into a registry with the
// referrers API, and reports the size of the bundle FormatBundle writes.
func BenchmarkSignFormats(b *testing.B) {
	a, _ := testKeys(b)
	signer := loadSigner(b, a)
	ctx := context.Background()
	for _, kind := range []string{"oci-layout", "registry"} {
		for _, f := range []sign.Format{sign.FormatLegacy, sign.FormatBundle, sign.FormatBoth} {
			b.Run(kind+"/"+string(f), func(b *testing.B) {
				tg := layoutTarget(b)
				if kind == "registry" {
					tg = memRegistry(b, true)
				}
				subjects := make([]ocispec.Descriptor, b.N)
				for i := range subjects {
					subjects[i] = pushArtifact(b, tg.Target, fmt.Sprint(i))
				}
				b.ResetTimer()
				var last ocispec.Descriptor
				for i := range b.N {
					d, err := signer.Sign(ctx, tg.Target, subjects[i], tg.ref, sign.WithFormat(f))
					if err != nil {
						b.Fatal(err)
					}
					last = d
				}
				b.StopTimer()
				if f != sign.FormatLegacy {
					raw, err := content.FetchAll(ctx, tg.Target, last)
					if err != nil {
						b.Fatal(err)
					}
					var m ocispec.Manifest
					if err := json.Unmarshal(raw, &m); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(m.Layers[0].Size), "bundle-bytes")
					b.ReportMetric(float64(len(raw)), "manifest-bytes")
				}
			})
		}
	}
}
