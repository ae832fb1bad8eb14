// Package testimages fills a real registry process with container images in every state the image pin stage must
// tell apart: signed by a trusted key in cosign's legacy format and as a sigstore bundle, keyless through an
// in-process Fulcio, unsigned, signed by an untrusted key, with and without an SBOM attestation, a multi-platform
// index; and it fronts the registry with a proxy that answers 401 for one repository. It is for tests only.
package testimages

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// KeyPassword is the password of the fixture's private keys.
const KeyPassword = "test"

// Predicate types the fixture attests with.
const (
	PredicateSPDX = "https://spdx.dev/Document"
)

// Image names of the fixture (repositories under Fixture.Host, each tagged "1").
const (
	KeyLegacy = "key-legacy" // signed with Key, legacy .sig
	KeyBundle = "key-bundle" // signed with Key, sigstore bundle referrer only
	Keyless   = "keyless"    // signed keyless as Identity/Issuer, legacy .sig
	Unsigned  = "unsigned"
	OtherKey  = "other-key" // signed with OtherKey only
	SBOM      = "sbom"      // signed with Key and attested with an SPDX document by Key
	Index     = "index"     // a multi-platform index, signed with Key
	Private   = "private"   // signed with Key; the proxy answers 401 for it
)

// Fixture is a registry filled with images.
type Fixture struct {
	// Host is the registry's host:port; ProxyHost the proxy in front of it that refuses the private repository.
	Host, ProxyHost string
	// Key and Pub are the trusted key pair's files; OtherKey and OtherPub another pair.
	Key, Pub, OtherKey, OtherPub string
	// Sigstore is the in-process Fulcio; Identity and Issuer name the keyless signer.
	Sigstore         *testsigstore.Sigstore
	Identity, Issuer string
	// Digests are the manifest digests of the images by name.
	Digests map[string]string

	mu       sync.Mutex
	requests map[string]int
	auth     []string
}

// Authorizations are the Authorization headers the proxy received, in order.
func (f *Fixture) Authorizations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.auth)
}

// ManifestRequests is how many manifest requests (resolves included) for repository repo reached the proxy.
func (f *Fixture) ManifestRequests(repo string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[repo]
}

// Ref is the tagged reference of image name in the registry (or through the proxy, when proxy is set).
func (f *Fixture) Ref(image string) string { return f.Host + "/" + image + ":1" }

// ProxyRef is the tagged reference of an image through the proxy.
func (f *Fixture) ProxyRef(image string) string { return f.ProxyHost + "/" + image + ":1" }

// Start fills a new registry for test t.
func Start(t testing.TB) *Fixture {
	t.Helper()
	ctx := context.Background()
	reg := testregistry.Start(t)
	f := &Fixture{Host: reg.Host, Digests: map[string]string{}}
	f.Key, f.Pub = testsigstore.KeyPair(t, KeyPassword)
	f.OtherKey, f.OtherPub = testsigstore.KeyPair(t, KeyPassword)
	f.Sigstore = testsigstore.Start(t)
	f.Issuer, f.Identity = f.Sigstore.EmailIssuer, "images@example.com"

	key := loadSigner(t, f.Key)
	other := loadSigner(t, f.OtherKey)
	keyless, err := sign.LoadKeylessSigner(ctx, f.Sigstore.EmailToken(t, f.Identity), sign.WithFulcioURL(f.Sigstore.FulcioURL),
		sign.WithFulcioRoots(f.Sigstore.RootPEM()), sign.WithInsecureSkipSCT(true), sign.WithTlogUpload(false))
	if err != nil {
		t.Fatalf("keyless signer: %v", err)
	}
	for _, img := range []struct {
		name   string
		signer *sign.Signer
		format sign.Format
		attest bool
	}{
		{KeyLegacy, key, sign.FormatLegacy, false},
		{KeyBundle, key, sign.FormatBundle, false},
		{Keyless, keyless, sign.FormatLegacy, false},
		{Unsigned, nil, "", false},
		{OtherKey, other, sign.FormatLegacy, false},
		{SBOM, key, sign.FormatLegacy, true},
		{Index, key, sign.FormatLegacy, false},
		{Private, key, sign.FormatLegacy, false},
	} {
		d := Push(t, f.Host, img.name, img.name == Index)
		f.Digests[img.name] = d
		if img.signer == nil {
			continue
		}
		tg, desc := target(t, f.Host, img.name, d)
		if _, err := img.signer.Sign(ctx, tg.Storage(), desc, tg.Ref().Name(), sign.WithFormat(img.format)); err != nil {
			t.Fatalf("signing %s: %v", img.name, err)
		}
		if img.attest {
			sbom := map[string]any{"spdxVersion": "SPDX-2.3", "name": img.name}
			if _, err := img.signer.Attest(ctx, tg.Storage(), desc, tg.Ref().Name(), []sign.Predicate{{Type: PredicateSPDX, Value: sbom}}); err != nil {
				t.Fatalf("attesting %s: %v", img.name, err)
			}
		}
	}
	f.ProxyHost = f.proxy(t, "/v2/"+Private+"/")
	return f
}

func loadSigner(t testing.TB, key string) *sign.Signer {
	t.Helper()
	s, err := sign.LoadSigner(context.Background(), key, []byte(KeyPassword))
	if err != nil {
		t.Fatalf("loading %s: %v", key, err)
	}
	return s
}

// Push writes a random image (or a two-platform index) to host/repo:1 and returns its digest.
func Push(t testing.TB, host, repo string, index bool) string {
	t.Helper()
	ref, err := name.ParseReference(host + "/" + repo + ":1")
	if err != nil {
		t.Fatal(err)
	}
	if index {
		idx, err := random.Index(256, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
		d, _ := idx.Digest()
		return d.String()
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return d.String()
}

func target(tb testing.TB, host, repo, digest string) (*publish.Target, ocispec.Descriptor) {
	tb.Helper()
	tg, err := publish.Open(context.Background(), publish.Ref{Registry: host, Repository: repo})
	if err != nil {
		tb.Fatal(err)
	}
	desc, err := tg.Resolve(context.Background(), digest)
	if err != nil {
		tb.Fatal(err)
	}
	return tg, desc
}

// proxy starts a reverse proxy to the registry that counts manifest requests by repository and answers 401 (with
// a Basic challenge) for paths under prefix, and returns its host:port.
func (f *Fixture) proxy(t testing.TB, prefix string) string {
	t.Helper()
	u, _ := url.Parse("http://" + f.Host)
	rp := httputil.NewSingleHostReverseProxy(u)
	f.requests = map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if repo, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/"); ok {
			f.requests[repo]++
		}
		if a := r.Header.Get("Authorization"); a != "" {
			f.auth = append(f.auth, a)
		}
		f.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, prefix) {
			w.Header().Set("WWW-Authenticate", `Basic realm="fixture"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
