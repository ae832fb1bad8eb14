package publish

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"

	"github.com/statepack/statepack/internal/testregistry"
)

// manifestOf builds an image manifest over blobs, with an optional subject (an OCI 1.1 referrer) and artifact type.
func manifestOf(t testing.TB, subject *ocispec.Descriptor, artifactType string, layers ...string) Artifact {
	t.Helper()
	cfg := blobOf("application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}`))
	a := Artifact{Blobs: []Blob{cfg}}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg.Descriptor, Subject: subject, ArtifactType: artifactType}
	for _, l := range layers {
		b := blobOf("application/vnd.dev.cosign.simplesigning.v1+json", []byte(l))
		a.Blobs = append(a.Blobs, b)
		m.Layers = append(m.Layers, b.Descriptor)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	a.Manifest = blobOf(ocispec.MediaTypeImageManifest, raw)
	return a
}

// pushTagged pushes a and tags it.
func pushTagged(t testing.TB, tg *Target, a Artifact, tags ...string) ocispec.Descriptor {
	t.Helper()
	desc, err := tg.PushArtifact(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) > 0 {
		if err := tg.Tag(ctx, desc, tags...); err != nil {
			t.Fatal(err)
		}
	}
	return desc
}

func sigTag(d digest.Digest, suffix string) string { return "sha256-" + d.Encoded() + suffix }

// signedArtifact pushes an artifact to tg with what cosign and others leave beside it: a .sig and an .att tag,
// and an SBOM as an OCI referrer. It returns the artifact's and the referrer's descriptors.
func signedArtifact(t testing.TB, tg *Target) (art, ref ocispec.Descriptor) {
	t.Helper()
	art = pushTagged(t, tg, testArtifact(t, tarGz(t, entry{name: "a.yaml", body: "a: 1\n"})), "v1")
	pushTagged(t, tg, manifestOf(t, nil, "", `{"critical":"signature 1"}`), sigTag(art.Digest, ".sig"))
	pushTagged(t, tg, manifestOf(t, nil, "", `{"payload":"attestation"}`), sigTag(art.Digest, ".att"))
	ref = pushTagged(t, tg, manifestOf(t, &art, "application/spdx+json", `{"spdx":"sbom"}`))
	return art, ref
}

// checkCopied fails unless dst holds the artifact with all its blobs, its signature and attestation tags, and the
// referrer, and no tag of the artifact itself.
func checkCopied(t *testing.T, dst *Target, art, ref ocispec.Descriptor, srcSig ocispec.Descriptor) {
	t.Helper()
	m, _, err := dst.FetchManifest(ctx, art)
	if err != nil {
		t.Fatalf("the artifact is not at the destination: %v", err)
	}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		rc, err := dst.FetchBlob(ctx, b)
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			t.Errorf("blob %s at the destination: %v", b.Digest, err)
		}
	}
	if got, err := dst.Resolve(ctx, sigTag(art.Digest, ".sig")); err != nil || got.Digest != srcSig.Digest {
		t.Errorf("Resolve(.sig) at the destination = %v, %v; want %s", got.Digest, err, srcSig.Digest)
	}
	if _, err := dst.Resolve(ctx, sigTag(art.Digest, ".att")); err != nil {
		t.Errorf("Resolve(.att) at the destination: %v", err)
	}
	if _, err := dst.Resolve(ctx, "v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(v1) at the destination = %v, want ErrNotFound: Copy writes no tag of the artifact", err)
	}
	referrers, err := registry.Referrers(ctx, dst.Storage().(content.ReadOnlyGraphStorage), art, "")
	if err != nil || len(referrers) != 1 || referrers[0].Digest != ref.Digest {
		t.Errorf("referrers at the destination = %v, %v; want %s", referrers, err, ref.Digest)
	}
}

func TestCopyRegistryToRegistry(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	src := open(t, reg.Host+"/staging/app")
	art, ref := signedArtifact(t, src)
	sig, _ := src.Resolve(ctx, sigTag(art.Digest, ".sig"))

	requests := newCounter()
	dst := open(t, reg.Host+"/production/app", WithTransport(requests))
	res, err := Copy(ctx, src, dst, art)
	if err != nil {
		t.Fatal(err)
	}
	checkCopied(t, dst, art, ref, sig)
	if want := []string{sigTag(art.Digest, ".sig"), sigTag(art.Digest, ".att")}; !slices.Equal(res.SignatureTags, want) {
		t.Errorf("Copy().SignatureTags = %q, want %q", res.SignatureTags, want)
	}
	if len(res.Referrers) != 1 || res.Referrers[0].Digest != ref.Digest || res.Descriptor.Digest != art.Digest {
		t.Errorf("Copy() = %+v, want the artifact and its one referrer", res)
	}
	// Between repositories of one registry, blobs are mounted, never uploaded.
	for _, r := range requests.requests() {
		if strings.HasPrefix(r, "PATCH ") || strings.HasPrefix(r, "PUT /v2/production/app/blobs/") {
			t.Errorf("Copy uploaded a blob (%s), want cross-repository mounts", r)
		}
	}

	// A second run sends nothing: everything is there.
	requests.reset()
	if _, err := Copy(ctx, src, dst, art); err != nil {
		t.Fatal(err)
	}
	for _, r := range requests.requests() {
		if !strings.HasPrefix(r, "GET ") && !strings.HasPrefix(r, "HEAD ") {
			t.Errorf("the second Copy wrote %s, want only reads", r)
		}
	}
}

func TestCopyThroughLayout(t *testing.T) {
	t.Parallel()
	// The air-gapped hand-off: registry → OCI layout (carried across) → another registry.
	regA, regB := testregistry.Start(t), testregistry.Start(t)
	src := open(t, regA.Host+"/team/app")
	art, ref := signedArtifact(t, src)
	sig, _ := src.Resolve(ctx, sigTag(art.Digest, ".sig"))

	dir := filepath.Join(t.TempDir(), "carry")
	if _, err := Copy(ctx, src, open(t, "oci:"+dir), art); err != nil {
		t.Fatal(err)
	}
	layout := open(t, "oci:"+dir, WithExistingLayout()) // opened afresh: everything is in index.json
	checkCopied(t, layout, art, ref, sig)

	dst := open(t, regB.Host+"/mirror/app")
	res, err := Copy(ctx, layout, dst, art)
	if err != nil {
		t.Fatal(err)
	}
	checkCopied(t, dst, art, ref, sig)
	if len(res.SignatureTags) != 2 || len(res.Referrers) != 1 {
		t.Errorf("Copy() from the layout = %+v, want 2 signature tags and 1 referrer", res)
	}
}

func TestCopyReferrersAPI(t *testing.T) {
	t.Parallel()
	// A registry with the OCI 1.1 referrers API (go-containerregistry's, switched on) to one without it (distribution
	// 2.8): the referrer is found through the API and lands in the destination's referrers tag.
	srv := httptest.NewServer(gcrregistry.New(gcrregistry.WithReferrersSupport(true), gcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	src := open(t, strings.TrimPrefix(srv.URL, "http://")+"/team/app")
	art, ref := signedArtifact(t, src)
	sig, _ := src.Resolve(ctx, sigTag(art.Digest, ".sig"))
	reg := testregistry.Start(t)
	dst := open(t, reg.Host+"/team/app")
	if _, err := Copy(ctx, src, dst, art); err != nil {
		t.Fatal(err)
	}
	checkCopied(t, dst, art, ref, sig)
	if !slices.Contains(testregistry.Tags(t, reg.Host, "team/app"), sigTag(art.Digest, "")[:len("sha256-")+64]) {
		t.Errorf("tags at the destination = %q, want the referrers tag sha256-<hex>", testregistry.Tags(t, reg.Host, "team/app"))
	}
}

func TestCopySignatureTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src, dst  []string // signature layers at each side; dst nil: no tag there yet
		overwrite bool
		want      []string // layers at dst afterwards
		wantErr   error
	}{
		{name: "new", src: []string{"s1"}, want: []string{"s1"}},
		{name: "same", src: []string{"s1"}, dst: []string{"s1"}, want: []string{"s1"}},
		{name: "source has more", src: []string{"s1", "s2"}, dst: []string{"s1"}, want: []string{"s1", "s2"}},
		{name: "destination has more", src: []string{"s1"}, dst: []string{"s1", "d1"}, want: []string{"s1", "d1"}},
		{name: "conflict", src: []string{"s1"}, dst: []string{"d1"}, want: []string{"d1"}, wantErr: ErrSignatureConflict},
		{name: "conflict overwritten", src: []string{"s1"}, dst: []string{"d1"}, overwrite: true, want: []string{"s1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := open(t, "oci:"+t.TempDir()), open(t, "oci:"+t.TempDir())
			art := pushTagged(t, src, testArtifact(t, tarGz(t, entry{name: "a.yaml", body: "a: 1\n"})))
			tag := sigTag(art.Digest, ".sig")
			pushTagged(t, src, manifestOf(t, nil, "", tc.src...), tag)
			if tc.dst != nil {
				pushTagged(t, dst, manifestOf(t, nil, "", tc.dst...), tag)
			}
			_, err := Copy(ctx, src, dst, art, WithOverwriteSignatures(tc.overwrite))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Copy() = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "--force") {
				t.Errorf("Copy() = %q, want it to say how to overwrite", err)
			}
			desc, err := dst.Resolve(ctx, tag)
			if err != nil {
				t.Fatal(err)
			}
			got, err := manifestLayers(ctx, dst, desc)
			if err != nil {
				t.Fatal(err)
			}
			want := manifestOf(t, nil, "", tc.want...)
			var wantM ocispec.Manifest
			_ = json.Unmarshal(want.Manifest.Data, &wantM)
			var wantLayers []digest.Digest
			for _, l := range wantM.Layers {
				wantLayers = append(wantLayers, l.Digest)
			}
			if !slices.Equal(got, wantLayers) {
				t.Errorf("signature layers at the destination = %v, want those of %q", got, tc.want)
			}
		})
	}
}

func TestCopyMissing(t *testing.T) {
	t.Parallel()
	src, dst := open(t, "oci:"+t.TempDir()), open(t, "oci:"+t.TempDir())
	a := testArtifact(t, []byte("not pushed"))
	_, err := Copy(ctx, src, dst, a.Manifest.Descriptor)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Copy(absent) = %v, want ErrNotFound", err)
	}
}
