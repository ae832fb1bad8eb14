package sign_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// keyPair is a cosign key pair made by GenerateKeyPair.
type keyPair struct {
	priv, pub, password []byte
}

var (
	keysOnce   sync.Once
	keyA, keyB keyPair
	keysErr    error
)

// testKeys returns two key pairs, made once per test binary: scrypt makes each one cost a fraction of a second.
// keyA is encrypted with a password, keyB with the empty one.
func testKeys(t testing.TB) (a, b keyPair) {
	t.Helper()
	keysOnce.Do(func() {
		keyA.password = []byte("correct horse battery staple")
		if keyA.priv, keyA.pub, keysErr = sign.GenerateKeyPair(keyA.password); keysErr != nil {
			return
		}
		keyB.priv, keyB.pub, keysErr = sign.GenerateKeyPair(nil)
	})
	if keysErr != nil {
		t.Fatalf("GenerateKeyPair: %v", keysErr)
	}
	return keyA, keyB
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// signers caches one Signer per private key: decrypting a key costs a second under the race detector, and a Signer
// is safe for concurrent use.
var signers sync.Map // string(private PEM) → *sign.Signer

func loadSigner(t testing.TB, kp keyPair) *sign.Signer {
	t.Helper()
	if s, ok := signers.Load(string(kp.priv)); ok {
		return s.(*sign.Signer)
	}
	s, err := sign.LoadSigner(context.Background(), writeFile(t, "cosign.key", kp.priv), kp.password)
	if err != nil {
		t.Fatalf("LoadSigner: %v", err)
	}
	signers.Store(string(kp.priv), s)
	return s
}

func loadVerifiers(t *testing.T, kps ...keyPair) []signature.Verifier {
	t.Helper()
	var refs []string
	for _, kp := range kps {
		refs = append(refs, writeFile(t, "cosign.pub", kp.pub))
	}
	vs, err := sign.LoadVerifiers(context.Background(), refs...)
	if err != nil {
		t.Fatalf("LoadVerifiers: %v", err)
	}
	return vs
}

// target is an OCI target and the name a signed payload gives it.
type target struct {
	kind string // "registry" or "oci-layout"
	oras.Target
	ref string
	// reopen returns a new handle on the same storage, as another process would open it: a new repository client
	// that knows nothing of the registry yet, or the layout read again from disk. Nil for targets made elsewhere.
	reopen func(t testing.TB) oras.Target
}

func registryTarget(t *testing.T, r *testregistry.Registry, repo string) target {
	t.Helper()
	ref := r.Host + "/" + repo
	rr, err := orasremote.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	rr.PlainHTTP = true
	return target{kind: "registry", Target: rr, ref: ref, reopen: func(t testing.TB) oras.Target { return remoteRepo(t, ref) }}
}

// remoteRepo is a new oras-go client for the repository ref on a plain-HTTP loopback registry.
func remoteRepo(t testing.TB, ref string) *orasremote.Repository {
	t.Helper()
	rr, err := orasremote.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	rr.PlainHTTP = true
	return rr
}

func layoutTarget(t testing.TB) target {
	t.Helper()
	dir := t.TempDir()
	s, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return target{kind: "oci-layout", Target: s, ref: "oci:" + dir, reopen: func(t testing.TB) oras.Target {
		t.Helper()
		s, err := oci.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

// eachTarget runs f once against a repository of a real registry process and once against an OCI layout.
func eachTarget(t *testing.T, f func(t *testing.T, tg target)) {
	t.Helper()
	r := testregistry.Start(t)
	t.Run("registry", func(t *testing.T) { f(t, registryTarget(t, r, "statepack/test")) })
	t.Run("oci-layout", func(t *testing.T) { f(t, layoutTarget(t)) })
}

// pushArtifact pushes a small statepack-like artifact (an OCI image manifest with a config and one layer) and
// returns its manifest descriptor; seed makes its digest differ from other artifacts'.
func pushArtifact(t testing.TB, tg oras.Target, seed string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	push := func(mediaType string, b []byte) ocispec.Descriptor {
		desc := content.NewDescriptorFromBytes(mediaType, b)
		if err := tg.Push(ctx, desc, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			t.Fatalf("pushing %s: %v", mediaType, err)
		}
		return desc
	}
	cfg := push("application/vnd.cncf.flux.config.v1+json", []byte("{}"))
	layer := push(ocispec.MediaTypeImageLayerGzip, []byte("layer of "+seed))
	desc, err := oras.PackManifest(ctx, tg, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor:    &cfg,
		Layers:              []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatalf("pushing manifest: %v", err)
	}
	return desc
}

// sigManifest reads the manifest under subject's .sig tag.
func sigManifest(t *testing.T, tg oras.ReadOnlyTarget, subject ocispec.Descriptor) (ocispec.Descriptor, ocispec.Manifest, []byte) {
	t.Helper()
	desc, raw, err := oras.FetchBytes(context.Background(), tg, sign.SignatureTag(subject.Digest), oras.DefaultFetchBytesOptions)
	if err != nil {
		t.Fatalf("fetching tag %s: %v", sign.SignatureTag(subject.Digest), err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return desc, m, raw
}

// retagSigManifest writes m under subject's .sig tag; its blobs must already be in tg.
func retagSigManifest(t *testing.T, tg oras.Target, subject ocispec.Descriptor, m ocispec.Manifest) {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.TagBytes(context.Background(), tg, m.MediaType, raw, sign.SignatureTag(subject.Digest)); err != nil {
		t.Fatalf("tagging %s: %v", sign.SignatureTag(subject.Digest), err)
	}
}
