package images_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/statepack/statepack/internal/images"
	"github.com/statepack/statepack/internal/testimages"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	const d = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	tests := []struct {
		in                  string
		name, tag, digest   string
		registry, repo, err string
	}{
		{in: "nginx", name: "docker.io/library/nginx", tag: "latest", registry: "index.docker.io", repo: "library/nginx"},
		{in: "nginx:1.27", name: "docker.io/library/nginx", tag: "1.27", registry: "index.docker.io", repo: "library/nginx"},
		{in: "ghcr.io/acme/web:1@" + d, name: "ghcr.io/acme/web", tag: "1", digest: d, registry: "ghcr.io", repo: "acme/web"},
		{in: "ghcr.io/acme/web@" + d, name: "ghcr.io/acme/web", digest: d, registry: "ghcr.io", repo: "acme/web"},
		{in: "localhost:5000/app", name: "localhost:5000/app", tag: "latest", registry: "localhost:5000", repo: "app"},
		{in: "Nginx:1", err: `invalid image reference "Nginx:1"`},
		{in: "", err: "it is empty"},
		{in: " nginx", err: "surrounding spaces"},
		{in: "ghcr.io/acme/web@sha256:12", err: `invalid image reference "ghcr.io/acme/web@sha256:12"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := images.ParseRef(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, images.ErrReference) {
					t.Fatalf("ParseRef(%q) = %v, want an ErrReference containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{r.Name, r.Repository.Tag, r.Repository.Digest, r.Repository.Registry, r.Repository.Repository}
			want := []string{tc.name, tc.tag, tc.digest, tc.registry, tc.repo}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("ParseRef(%q) = %q, want %q", tc.in, got, want)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.27", "ghcr.io/acme/web:1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"localhost:5000/a/b/c:x", "[::1]:5000/app", "a@b", "registry:5000/tools:latest"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := images.ParseRef(s)
		if err != nil {
			return
		}
		if r.Image != s || r.Repository.Registry == "" || r.Repository.Repository == "" || (r.Repository.Tag == "" && r.Repository.Digest == "") {
			t.Fatalf("ParseRef(%q) = %+v: incomplete", s, r)
		}
		// What a pin writes parses back to the same repository and digest.
		pinned := images.Resolved{Ref: r}.Pinned()
		if back, err := images.ParseRef(pinned); err != nil || back.Name != r.Name {
			t.Fatalf("ParseRef(%q) = %+v, %v; want %s", pinned, back, err, r.Name)
		}
	})
}

func loadKeys(t *testing.T, files ...string) []signature.Verifier {
	t.Helper()
	v, err := sign.LoadVerifiers(context.Background(), files...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestResolveAndVerify runs every image state of the fixture through one Resolver, as a publish does.
func TestResolveAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := testimages.Start(t)
	r, err := images.New(images.Options{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	key := &images.Trust{ID: "key", Keys: loadKeys(t, f.Pub), Options: []sign.VerifyOption{sign.WithIgnoreTlog(true)}}
	keyLegacy := &images.Trust{ID: "key-legacy", Keys: key.Keys, Options: key.Options, Format: sign.FormatLegacy}
	keyBundle := &images.Trust{ID: "key-bundle", Keys: key.Keys, Options: key.Options, Format: sign.FormatBundle}
	sbom := &images.Trust{ID: "sbom", Keys: key.Keys, Options: key.Options, Attestations: []string{testimages.PredicateSPDX}}
	keyless := func(identity string) *images.Trust {
		return &images.Trust{ID: "keyless " + identity, Options: []sign.VerifyOption{
			sign.WithIdentities(sign.Identity{Subject: identity, Issuer: f.Issuer}), sign.WithRootCerts(f.Sigstore.RootPEM()),
			sign.WithIgnoreTlog(true), sign.WithIgnoreSCT(true)}}
	}
	tests := []struct {
		name       string
		ref        string
		trust      *images.Trust
		resolveErr error  // nil: resolves to the fixture's digest
		verifyErr  error  // nil: verifies
		msg        string // in the error
	}{
		{name: "key legacy", ref: f.Ref(testimages.KeyLegacy), trust: key},
		{name: "key legacy, legacy required", ref: f.Ref(testimages.KeyLegacy), trust: keyLegacy},
		{name: "key legacy, bundle required", ref: f.Ref(testimages.KeyLegacy), trust: keyBundle, verifyErr: sign.ErrVerification, msg: "none in the bundle format"},
		{name: "key bundle", ref: f.Ref(testimages.KeyBundle), trust: key},
		{name: "key bundle, bundle required", ref: f.Ref(testimages.KeyBundle), trust: keyBundle},
		{name: "key bundle, legacy required", ref: f.Ref(testimages.KeyBundle), trust: keyLegacy, verifyErr: sign.ErrVerification, msg: "none in the legacy format"},
		{name: "keyless", ref: f.Ref(testimages.Keyless), trust: keyless(f.Identity)},
		{name: "keyless, identity not allowed", ref: f.Ref(testimages.Keyless), trust: keyless("someone@example.com"), verifyErr: sign.ErrVerification, msg: "images@example.com"},
		{name: "keyless image, key trusted", ref: f.Ref(testimages.Keyless), trust: key, verifyErr: sign.ErrVerification},
		{name: "unsigned", ref: f.Ref(testimages.Unsigned), trust: key, verifyErr: sign.ErrNoSignature},
		{name: "untrusted key", ref: f.Ref(testimages.OtherKey), trust: key, verifyErr: sign.ErrVerification},
		{name: "SBOM attested", ref: f.Ref(testimages.SBOM), trust: sbom},
		{name: "SBOM missing", ref: f.Ref(testimages.KeyLegacy), trust: sbom, verifyErr: sign.ErrNoAttestation, msg: testimages.PredicateSPDX},
		{name: "index", ref: f.Ref(testimages.Index), trust: key},
		{name: "pinned", ref: f.Ref(testimages.KeyLegacy) + "@" + f.Digests[testimages.KeyLegacy], trust: key},
		{name: "pinned by digest only", ref: f.Host + "/" + testimages.KeyLegacy + "@" + f.Digests[testimages.KeyLegacy], trust: key},
		{name: "pinned to a digest that is not there", ref: f.Ref(testimages.KeyLegacy) + "@" + f.Digests[testimages.Unsigned], resolveErr: publish.ErrNotFound},
		{name: "tag that does not exist", ref: f.Host + "/" + testimages.KeyLegacy + ":2", resolveErr: publish.ErrNotFound, msg: "resolving 2 in"},
		{name: "repository refused", ref: f.ProxyRef(testimages.Private), resolveErr: publish.ErrUnauthorized, msg: "docker login"},
		{name: "not a reference", ref: "Bad:Ref", resolveErr: images.ErrReference},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.Resolve(ctx, tc.ref)
			if tc.resolveErr != nil {
				if !errors.Is(res.Err, tc.resolveErr) || !strings.Contains(res.Err.Error(), tc.msg) {
					t.Fatalf("Resolve(%s) = %v, want %v containing %q", tc.ref, res.Err, tc.resolveErr, tc.msg)
				}
				if v := r.Verify(ctx, res, key); !errors.Is(v.Err, tc.resolveErr) {
					t.Errorf("Verify(unresolved) = %v, want the resolve error", v.Err)
				}
				return
			}
			name := strings.TrimPrefix(tc.ref, f.Host+"/")
			name, _, _ = strings.Cut(name, ":")
			name, _, _ = strings.Cut(name, "@")
			if res.Err != nil || res.Digest() != f.Digests[name] {
				t.Fatalf("Resolve(%s) = %s, %v; want %s", tc.ref, res.Digest(), res.Err, f.Digests[name])
			}
			v := r.Verify(ctx, res, tc.trust)
			switch {
			case tc.verifyErr == nil && v.Err != nil:
				t.Fatalf("Verify(%s) = %v, want it verified", tc.ref, v.Err)
			case tc.verifyErr == nil && (v.Signatures == nil || len(v.Signatures.Verified) == 0):
				t.Fatalf("Verify(%s) verified nothing", tc.ref)
			case tc.verifyErr != nil && (!errors.Is(v.Err, tc.verifyErr) || !strings.Contains(v.Err.Error(), tc.msg)):
				t.Fatalf("Verify(%s) = %v, want %v containing %q", tc.ref, v.Err, tc.verifyErr, tc.msg)
			}
			if len(tc.trust.Attestations) > 0 && tc.verifyErr == nil && (v.Attestations == nil || len(v.Attestations.Verified) == 0) {
				t.Errorf("Verify(%s): no attestation in the verdict", tc.ref)
			}
		})
	}
}

// TestResolveOnce: a reference named by many objects (or targets) is asked of its registry once, and a digest
// verified under one trust is verified once.
func TestResolveOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := testimages.Start(t)
	r, err := images.New(images.Options{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ref := f.ProxyRef(testimages.KeyLegacy)
	refs := make([]string, 50)
	for i := range refs {
		refs[i] = ref
	}
	res := r.ResolveAll(ctx, refs)
	for _, x := range res {
		if x.Err != nil || x.Digest() != f.Digests[testimages.KeyLegacy] {
			t.Fatalf("ResolveAll: %s, %v", x.Digest(), x.Err)
		}
	}
	if n := f.ManifestRequests(testimages.KeyLegacy); n != 1 {
		t.Errorf("manifest requests for %d resolves of one reference = %d, want 1", len(refs), n)
	}
	trust := &images.Trust{ID: "key", Keys: loadKeys(t, f.Pub), Options: []sign.VerifyOption{sign.WithIgnoreTlog(true)}}
	for range 3 {
		if v := r.Verify(ctx, res[0], trust); v.Err != nil {
			t.Fatal(v.Err)
		}
	}
	after := f.ManifestRequests(testimages.KeyLegacy)
	if v := r.Verify(ctx, res[1], trust); v.Err != nil || f.ManifestRequests(testimages.KeyLegacy) != after {
		t.Errorf("a second Verify of the same digest and trust asked the registry again (%v)", v.Err)
	}
}

func TestNewRefusesNegativeConcurrency(t *testing.T) {
	t.Parallel()
	if _, err := images.New(images.Options{Concurrency: -1}); err == nil || !strings.Contains(err.Error(), "positive") {
		t.Errorf("New(-1) = %v, want a refusal", err)
	}
}
