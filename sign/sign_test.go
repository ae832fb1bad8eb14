package sign_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	ctypes "github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// wantPayload is the payload cosign signs for subject under the name ref: payload.Cosign for a registry name,
// the same JSON with the name kept as given for an OCI layout.
func wantPayload(t *testing.T, ref string, subject ocispec.Descriptor) []byte {
	t.Helper()
	if strings.HasPrefix(ref, "oci:") {
		return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, ref, subject.Digest)
	}
	d, err := name.NewDigest(ref + "@" + subject.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := payload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	a, _ := testKeys(t)
	eachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		subject := pushArtifact(t, tg, t.Name())
		desc, err := loadSigner(t, a).Sign(ctx, tg, subject, tg.ref)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}

		tagged, m, _ := sigManifest(t, tg, subject)
		if tagged.Digest != desc.Digest {
			t.Errorf("tag %s names %s, Sign returned %s", sign.SignatureTag(subject.Digest), tagged.Digest, desc.Digest)
		}
		if m.MediaType != string(types.OCIManifestSchema1) {
			t.Errorf("signature manifest media type = %q, want %q", m.MediaType, types.OCIManifestSchema1)
		}
		if m.Config.MediaType != string(types.OCIConfigJSON) {
			t.Errorf("signature config media type = %q, want %q", m.Config.MediaType, types.OCIConfigJSON)
		}
		if len(m.Layers) != 1 {
			t.Fatalf("signature manifest has %d layers, want 1", len(m.Layers))
		}
		l := m.Layers[0]
		if l.MediaType != ctypes.SimpleSigningMediaType {
			t.Errorf("signature layer media type = %q, want %q", l.MediaType, ctypes.SimpleSigningMediaType)
		}
		if _, err := base64.StdEncoding.DecodeString(l.Annotations[static.SignatureAnnotationKey]); err != nil || l.Annotations[static.SignatureAnnotationKey] == "" {
			t.Errorf("annotation %s = %q, want a base64 signature", static.SignatureAnnotationKey, l.Annotations[static.SignatureAnnotationKey])
		}
		got, err := content.FetchAll(ctx, tg, l)
		if err != nil {
			t.Fatal(err)
		}
		if want := wantPayload(t, tg.ref, subject); string(got) != string(want) {
			t.Errorf("payload =\n%s\nwant\n%s", got, want)
		}

		res, err := sign.Verify(ctx, tg, subject, loadVerifiers(t, a))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		want := sign.VerifiedSignature{KeyIndex: 0, Image: tg.ref + "@" + subject.Digest.String(), Layer: l.Digest}
		if res.Checked != 1 || len(res.Verified) != 1 || res.Verified[0].KeyIndex != want.KeyIndex ||
			res.Verified[0].Image != want.Image || res.Verified[0].Layer != want.Layer || res.Verified[0].Annotations != nil {
			t.Errorf("Verify = %+v, want Checked 1 and Verified [%+v]", res, want)
		}
		if res.Subject != subject.Digest || res.SignatureManifest.Digest != desc.Digest {
			t.Errorf("Verify = subject %s, manifest %s; want %s, %s", res.Subject, res.SignatureManifest.Digest, subject.Digest, desc.Digest)
		}
	})
}

// TestPayloadName checks the name the payload gives the artifact: a registry name is normalised as cosign does, and
// a tag on it is dropped.
func TestPayloadName(t *testing.T) {
	t.Parallel()
	a, _ := testKeys(t)
	s := loadSigner(t, a)
	for _, tc := range []struct{ name, ref, want string }{
		{"registry repository", "registry.example/team/app", "registry.example/team/app"},
		{"tag dropped", "registry.example/team/app:v1", "registry.example/team/app"},
		{"oci:// prefix", "oci://registry.example/team/app", "registry.example/team/app"},
		{"Docker Hub short name", "app", "index.docker.io/library/app"},
		{"OCI layout", "oci:/srv/layout:v1", "oci:/srv/layout:v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tg := layoutTarget(t)
			subject := pushArtifact(t, tg, tc.name)
			if _, err := s.Sign(ctx, tg, subject, tc.ref); err != nil {
				t.Fatalf("Sign(%q): %v", tc.ref, err)
			}
			_, m, _ := sigManifest(t, tg, subject)
			got, err := content.FetchAll(ctx, tg, m.Layers[0])
			if err != nil {
				t.Fatal(err)
			}
			if want := wantPayload(t, tc.want, subject); string(got) != string(want) {
				t.Errorf("Sign(%q) payload =\n%s\nwant\n%s", tc.ref, got, want)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	t.Parallel()
	a, _ := testKeys(t)
	s := loadSigner(t, a)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		ref     string
		opts    []sign.SignOption
		missing bool // the subject is not pushed
		wantIs  error
		wantMsg string
	}{
		{name: "subject not in target", ref: "oci:x", missing: true, wantIs: errdef.ErrNotFound, wantMsg: "in the target; push the artifact before signing it"},
		{name: "unknown format", ref: "oci:x", opts: []sign.SignOption{sign.WithFormat("cbor")}, wantMsg: `unknown signature format "cbor"`},
		{name: "empty annotation key", ref: "oci:x", opts: []sign.SignOption{sign.WithAnnotations(map[string]string{"": "x"})}, wantMsg: "signature annotation with an empty key"},
		{name: "no name", ref: "", wantMsg: "no name for the signed payload"},
		{name: "bad name", ref: "Registry.Example/UPPER", wantMsg: "name for the signed payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := layoutTarget(t)
			subject := pushArtifact(t, tg, tc.name)
			if tc.missing {
				subject = pushArtifact(t, layoutTarget(t), "elsewhere")
			}
			_, err := s.Sign(ctx, tg, subject, tc.ref, tc.opts...)
			if err == nil {
				t.Fatalf("Sign = nil error, want one containing %q", tc.wantMsg)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), subject.Digest.String()) {
				t.Errorf("Sign = %q, want it to name %s and contain %q", err, subject.Digest, tc.wantMsg)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Sign = %v, want errors.Is %v", err, tc.wantIs)
			}
			if _, err := tg.Resolve(ctx, sign.SignatureTag(subject.Digest)); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("after a refused Sign, resolving the .sig tag = %v, want not found", err)
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	signer := loadSigner(t, a)
	eachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		prefix := func(d fmt.Stringer) string {
			return fmt.Sprintf("signature verification failed for %s: 1 signature(s) checked, none verifies with the given key(s): ", d)
		}
		signed := func(t *testing.T, seed string) ocispec.Descriptor {
			t.Helper()
			subject := pushArtifact(t, tg, seed)
			if _, err := signer.Sign(ctx, tg, subject, tg.ref); err != nil {
				t.Fatalf("Sign: %v", err)
			}
			return subject
		}
		var movedFrom ocispec.Descriptor // the artifact whose signature the "another digest" case copies
		for _, tc := range []struct {
			name   string
			setup  func(t *testing.T) ocispec.Descriptor
			keys   []keyPair
			wantIs error
			// want returns the exact message, or a part of it when exact is false.
			want  func(subject ocispec.Descriptor) string
			exact bool
		}{
			{
				name:   "unsigned",
				setup:  func(t *testing.T) ocispec.Descriptor { return pushArtifact(t, tg, "unsigned") },
				keys:   []keyPair{a},
				wantIs: sign.ErrNoSignature,
				want: func(s ocispec.Descriptor) string {
					return fmt.Sprintf("no signature found for %s: the target has no tag %s", s.Digest, sign.SignatureTag(s.Digest))
				},
				exact: true,
			},
			{
				name: "signature manifest without layers",
				setup: func(t *testing.T) ocispec.Descriptor {
					subject := signed(t, "emptied")
					_, m, _ := sigManifest(t, tg, subject)
					m.Layers = []ocispec.Descriptor{}
					retagSigManifest(t, tg, subject, m)
					return subject
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrNoSignature,
				want: func(s ocispec.Descriptor) string {
					return fmt.Sprintf("no signature found for %s: tag %s holds no signature layer", s.Digest, sign.SignatureTag(s.Digest))
				},
				exact: true,
			},
			{
				name:   "wrong key",
				setup:  func(t *testing.T) ocispec.Descriptor { return signed(t, "wrong key") },
				keys:   []keyPair{b},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s.Digest) + "invalid signature when validating ASN.1 encoded signature"
				},
				exact: true,
			},
			{
				name: "signature of another digest under this tag",
				setup: func(t *testing.T) ocispec.Descriptor {
					movedFrom = signed(t, "the signed one")
					subject := pushArtifact(t, tg, "the moved tag")
					_, m, _ := sigManifest(t, tg, movedFrom)
					retagSigManifest(t, tg, subject, m)
					return subject
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return prefix(s.Digest) + fmt.Sprintf("payload digest mismatch: the signature is for %s, not %s (copied from another artifact, or a moved tag?)", movedFrom.Digest, s.Digest)
				},
				exact: true,
			},
			{
				name: "tampered signature",
				setup: func(t *testing.T) ocispec.Descriptor {
					subject := signed(t, "tampered")
					_, m, _ := sigManifest(t, tg, subject)
					raw, err := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[static.SignatureAnnotationKey])
					if err != nil {
						t.Fatal(err)
					}
					raw[len(raw)-1] ^= 0xff
					m.Layers[0].Annotations[static.SignatureAnnotationKey] = base64.StdEncoding.EncodeToString(raw)
					retagSigManifest(t, tg, subject, m)
					return subject
				},
				keys:   []keyPair{a},
				wantIs: sign.ErrVerification,
				want:   func(s ocispec.Descriptor) string { return prefix(s.Digest) + "invalid signature" },
			},
			{
				name: "two keys, neither matches",
				setup: func(t *testing.T) ocispec.Descriptor {
					subject := pushArtifact(t, tg, "two keys")
					if _, err := loadSigner(t, b).Sign(ctx, tg, subject, tg.ref); err != nil {
						t.Fatal(err)
					}
					return subject
				},
				keys:   []keyPair{a, a},
				wantIs: sign.ErrVerification,
				want: func(s ocispec.Descriptor) string {
					return fmt.Sprintf("signature verification failed for %s: 1 signature(s) checked, none verifies with the given key(s): signature 1 (layer sha256:", s.Digest)
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				subject := tc.setup(t)
				res, err := sign.Verify(ctx, tg, subject, loadVerifiers(t, tc.keys...))
				if err == nil {
					t.Fatalf("Verify = %+v, want an error", res)
				}
				if !errors.Is(err, tc.wantIs) {
					t.Errorf("Verify = %v, want errors.Is %v", err, tc.wantIs)
				}
				for _, other := range []error{sign.ErrNoSignature, sign.ErrVerification} {
					if other != tc.wantIs && errors.Is(err, other) {
						t.Errorf("Verify = %v, is also %v", err, other)
					}
				}
				want := tc.want(subject)
				if tc.exact && err.Error() != want {
					t.Errorf("Verify =\n%s\nwant\n%s", err, want)
				}
				if !tc.exact && !strings.HasPrefix(err.Error(), want) {
					t.Errorf("Verify =\n%s\nwant it to start with\n%s", err, want)
				}
			})
		}
	})
}

func TestSignIdempotentAndAppends(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	sa, sb := loadSigner(t, a), loadSigner(t, b)
	eachTarget(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		subject := pushArtifact(t, tg, t.Name())
		layers := func() []ocispec.Descriptor {
			_, m, _ := sigManifest(t, tg, subject)
			return m.Layers
		}

		first, err := sa.Sign(ctx, tg, subject, tg.ref)
		if err != nil {
			t.Fatal(err)
		}
		again, err := sa.Sign(ctx, tg, subject, tg.ref)
		if err != nil {
			t.Fatal(err)
		}
		if again.Digest != first.Digest || len(layers()) != 1 {
			t.Fatalf("signing twice with one key: manifest %s then %s, %d layers; want the same manifest, 1 layer", first.Digest, again.Digest, len(layers()))
		}

		second, err := sb.Sign(ctx, tg, subject, tg.ref)
		if err != nil {
			t.Fatal(err)
		}
		ls := layers()
		if second.Digest == first.Digest || len(ls) != 2 {
			t.Fatalf("signing with a second key: %d layers, want 2", len(ls))
		}
		if _, _, raw := sigManifest(t, tg, subject); !strings.Contains(string(raw), ls[0].Annotations[static.SignatureAnnotationKey]) {
			t.Errorf("the first signature was not kept")
		}
		if _, err := sa.Sign(ctx, tg, subject, tg.ref); err != nil || len(layers()) != 2 {
			t.Errorf("re-signing with the first key: err %v, %d layers; want nil, 2", err, len(layers()))
		}

		for _, tc := range []struct {
			name     string
			keys     []keyPair
			wantKeys []int // KeyIndex of each verified signature, in layer order
		}{
			{"first key", []keyPair{a}, []int{0}},
			{"second key", []keyPair{b}, []int{0}},
			{"both keys", []keyPair{b, a}, []int{1, 0}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := sign.Verify(ctx, tg, subject, loadVerifiers(t, tc.keys...))
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				var got []int
				for _, v := range res.Verified {
					got = append(got, v.KeyIndex)
				}
				if res.Checked != 2 || fmt.Sprint(got) != fmt.Sprint(tc.wantKeys) {
					t.Errorf("Verify = Checked %d, key indexes %v; want 2, %v", res.Checked, got, tc.wantKeys)
				}
			})
		}
	})
}

func TestAnnotations(t *testing.T) {
	t.Parallel()
	a, _ := testKeys(t)
	s := loadSigner(t, a)
	ctx := context.Background()
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	if _, err := s.Sign(ctx, tg, subject, tg.ref); err != nil {
		t.Fatal(err)
	}
	// New annotations make a new claim: it is appended even though this key already signed the digest.
	if _, err := s.Sign(ctx, tg, subject, tg.ref, sign.WithAnnotations(map[string]string{"env": "prod"})); err != nil {
		t.Fatal(err)
	}
	if _, m, _ := sigManifest(t, tg, subject); len(m.Layers) != 2 {
		t.Fatalf("after signing with new annotations: %d layers, want 2", len(m.Layers))
	}
	vs := loadVerifiers(t, a)

	res, err := sign.Verify(ctx, tg, subject, vs, sign.WithRequiredAnnotations(map[string]string{"env": "prod"}))
	if err != nil {
		t.Fatalf("Verify(env=prod): %v", err)
	}
	if len(res.Verified) != 1 || res.Verified[0].Annotations["env"] != "prod" {
		t.Errorf("Verify(env=prod) = %+v, want the one signature with env=prod", res.Verified)
	}
	_, err = sign.Verify(ctx, tg, subject, vs, sign.WithRequiredAnnotations(map[string]string{"env": "dev"}))
	if !errors.Is(err, sign.ErrVerification) || !strings.Contains(err.Error(), "2 signature(s) checked") ||
		!strings.Contains(err.Error(), `payload annotations {"env":"prod"} lack the required {"env":"dev"}`) {
		t.Errorf("Verify(env=dev) = %v, want ErrVerification saying 2 signatures lack env=dev", err)
	}
}

// TestCosignCompatibility checks statepack's signatures against cosign's own library code, on a real registry.
func TestCosignCompatibility(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	r := testregistry.Start(t)
	ctx := context.Background()
	ropts := []ociremote.Option{ociremote.WithRemoteOptions(ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))}
	pub := func(t *testing.T, kp keyPair) *cosign.CheckOpts {
		return &cosign.CheckOpts{
			SigVerifier:        loadVerifiers(t, kp)[0],
			IgnoreTlog:         true,
			ClaimVerifier:      cosign.SimpleClaimVerifier,
			RegistryClientOpts: ropts,
		}
	}
	digestRef := func(t *testing.T, tg target, subject ocispec.Descriptor) name.Digest {
		d, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// cosignSign signs subject the way `cosign sign --key` does, through cosign's library.
	cosignSign := func(t *testing.T, tg target, subject ocispec.Descriptor, kp keyPair) {
		t.Helper()
		d := digestRef(t, tg, subject)
		p, err := payload.Cosign{Image: d}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		sv, err := cosign.LoadPrivateKey(kp.priv, kp.password, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sv.SignMessage(strings.NewReader(string(p)))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := static.NewSignature(p, base64.StdEncoding.EncodeToString(raw))
		if err != nil {
			t.Fatal(err)
		}
		se, err := mutate.AttachSignatureToEntity(ociremote.SignedUnknown(d, ropts...), sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := ociremote.WriteSignatures(d.Repository, se, ropts...); err != nil {
			t.Fatalf("cosign WriteSignatures: %v", err)
		}
	}

	t.Run("cosign verifies statepack", func(t *testing.T) {
		tg := registryTarget(t, r, "compat/statepack-signed")
		subject := pushArtifact(t, tg, t.Name())
		if _, err := loadSigner(t, a).Sign(ctx, tg, subject, tg.ref); err != nil {
			t.Fatal(err)
		}
		sigs, _, err := cosign.VerifyImageSignatures(ctx, digestRef(t, tg, subject), pub(t, a))
		if err != nil || len(sigs) != 1 {
			t.Fatalf("cosign VerifyImageSignatures = %d signatures, %v; want 1, nil", len(sigs), err)
		}
		if _, _, err := cosign.VerifyImageSignatures(ctx, digestRef(t, tg, subject), pub(t, b)); err == nil {
			t.Errorf("cosign VerifyImageSignatures with the wrong key = nil error")
		}
	})

	t.Run("statepack verifies cosign and appends to it", func(t *testing.T) {
		tg := registryTarget(t, r, "compat/cosign-signed")
		subject := pushArtifact(t, tg, t.Name())
		cosignSign(t, tg, subject, a)
		res, err := sign.Verify(ctx, tg, subject, loadVerifiers(t, a))
		if err != nil {
			t.Fatalf("Verify of a cosign signature: %v", err)
		}
		if want := tg.ref + "@" + subject.Digest.String(); res.Verified[0].Image != want {
			t.Errorf("Verify image = %q, want %q", res.Verified[0].Image, want)
		}
		// statepack keeps cosign's signature and adds its own; cosign then sees both.
		if _, err := loadSigner(t, a).Sign(ctx, tg, subject, tg.ref); err != nil {
			t.Fatal(err)
		}
		if _, m, _ := sigManifest(t, tg, subject); len(m.Layers) != 1 {
			t.Errorf("signing with the key cosign used: %d layers, want 1 (cosign's signature already verifies)", len(m.Layers))
		}
		if _, err := loadSigner(t, b).Sign(ctx, tg, subject, tg.ref); err != nil {
			t.Fatal(err)
		}
		for _, kp := range []keyPair{a, b} {
			if _, _, err := cosign.VerifyImageSignatures(ctx, digestRef(t, tg, subject), pub(t, kp)); err != nil {
				t.Errorf("cosign VerifyImageSignatures after statepack appended: %v", err)
			}
		}
	})

	t.Run("same bytes as cosign", func(t *testing.T) {
		// statepack signs in one repository; cosign's library then writes the very same signature (payload and
		// base64) for the same digest into another. The manifests and configs must be identical, byte for byte.
		ours := registryTarget(t, r, "compat/bytes-statepack")
		theirs := registryTarget(t, r, "compat/bytes-cosign")
		subject := pushArtifact(t, ours, t.Name())
		if s2 := pushArtifact(t, theirs, t.Name()); s2.Digest != subject.Digest {
			t.Fatalf("same artifact, two digests: %s, %s", subject.Digest, s2.Digest)
		}
		if _, err := loadSigner(t, a).Sign(ctx, ours, subject, ours.ref); err != nil {
			t.Fatal(err)
		}
		_, m, rawOurs := sigManifest(t, ours, subject)
		p, err := content.FetchAll(ctx, ours, m.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		sig, err := static.NewSignature(p, m.Layers[0].Annotations[static.SignatureAnnotationKey])
		if err != nil {
			t.Fatal(err)
		}
		d := digestRef(t, theirs, subject)
		se, err := mutate.AttachSignatureToEntity(ociremote.SignedUnknown(d, ropts...), sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := ociremote.WriteSignatures(d.Repository, se, ropts...); err != nil {
			t.Fatal(err)
		}
		_, mTheirs, rawTheirs := sigManifest(t, theirs, subject)
		if string(rawOurs) != string(rawTheirs) {
			t.Errorf("signature manifest =\n%s\ncosign writes\n%s", rawOurs, rawTheirs)
		}
		cfgOurs, err := content.FetchAll(ctx, ours, m.Config)
		if err != nil {
			t.Fatal(err)
		}
		cfgTheirs, err := content.FetchAll(ctx, theirs, mTheirs.Config)
		if err != nil {
			t.Fatal(err)
		}
		if string(cfgOurs) != string(cfgTheirs) {
			t.Errorf("signature config =\n%s\ncosign writes\n%s", cfgOurs, cfgTheirs)
		}
	})
}

var _ oras.Target = target{}
