// Package images is the network half of the pin stage for container images: it resolves the image references a
// desired state deploys to the digests their registries serve, and verifies their cosign signatures and
// attestations, each distinct reference once per run however many objects (or fleet targets) name it.
//
// It talks only to the registries the references name, through publish (the same credentials, TLS settings and
// retries as a publish), and verifies through sign (cosign's legacy format and sigstore bundles). It knows nothing
// of objects, files or trust rules: the pipeline library collects the references, chooses a Trust for each and
// turns the results into findings. It is not a promise: its API may change with the library's needs.
package images

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// DefaultConcurrency is how many registry requests a Resolver has in flight at most when Options leave it 0.
const DefaultConcurrency = 8

// ErrReference is returned (in Resolved.Err) for a reference that does not parse as an image reference.
var ErrReference = errors.New("invalid image reference")

// Ref is an image reference taken apart.
type Ref struct {
	// Image is the reference as written in the object.
	Image string
	// Repository is where the image lives, for publish.Open: registry and repository, normalised as Docker does
	// ("nginx" is index.docker.io/library/nginx). Its Tag and Digest are those written.
	Repository publish.Ref
	// Name is the repository as a user names it in a rule: "docker.io/library/nginx", "ghcr.io/acme/web".
	Name string
}

// ParseRef parses an image reference as the kubelet and Docker read it (go-containerregistry's parser):
// "nginx", "nginx:1.27", "ghcr.io/acme/web:1@sha256:…", "localhost:5000/app". A tag given with a digest is kept.
func ParseRef(image string) (Ref, error) {
	if strings.TrimSpace(image) != image || image == "" {
		return Ref{}, fmt.Errorf("%w %q: it is empty or has surrounding spaces", ErrReference, image)
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: %s", ErrReference, image, strings.TrimPrefix(err.Error(), "could not parse reference: "))
	}
	repo := ref.Context()
	r := Ref{Image: image, Repository: publish.Ref{Registry: repo.RegistryStr(), Repository: repo.RepositoryStr()}}
	r.Name = repo.RegistryStr() + "/" + repo.RepositoryStr()
	if r.Repository.Registry == name.DefaultRegistry {
		r.Name = "docker.io/" + repo.RepositoryStr()
	}
	switch ref := ref.(type) {
	case name.Digest:
		r.Repository.Digest = ref.DigestStr()
		// go-containerregistry drops the tag of name:tag@digest; the kubelet ignores it too, but readers keep it.
		before, _, _ := strings.Cut(image, "@")
		if i := strings.LastIndex(before, ":"); i > strings.LastIndex(before, "/") {
			r.Repository.Tag = before[i+1:]
		}
	case name.Tag:
		r.Repository.Tag = ref.TagStr()
	}
	return r, nil
}

// Resolved is what a Resolver found for one image reference.
type Resolved struct {
	Ref
	// Descriptor is the manifest (or index) the reference names: its media type, digest and size. Zero when Err is
	// set.
	Descriptor ocispec.Descriptor
	// Err says why the reference did not resolve: ErrReference, publish.ErrNotFound, publish.ErrUnauthorized, or a
	// network failure.
	Err error
}

// Digest is the resolved digest, "" when the reference did not resolve.
func (r Resolved) Digest() string { return r.Descriptor.Digest.String() }

// Pinned is the reference with its digest: "name:tag@sha256:…" (the tag kept for readers, as kbld and Kyverno's
// mutateDigest write it), or the reference as written when it already carries a digest or did not resolve.
func (r Resolved) Pinned() string {
	if r.Err != nil || r.Repository.Digest != "" || r.Descriptor.Digest == "" {
		return r.Image
	}
	return r.Image + "@" + r.Descriptor.Digest.String()
}

// Trust is what an image's signature must satisfy: one of Keys, or a keyless identity given in Options
// (sign.WithIdentities and the roots); every predicate type in Attestations attested by the same; signatures in
// Format ("" or "any": either format; sign.FormatLegacy or sign.FormatBundle: that one).
type Trust struct {
	// ID identifies the trust among those of a run: two images verified under the same ID and digest are verified
	// once.
	ID           string
	Keys         []signature.Verifier
	Options      []sign.VerifyOption
	Attestations []string
	Format       sign.Format
}

// Verdict is what verifying one image under one Trust found.
type Verdict struct {
	// Signatures are the signatures that verified; nil when Err is set.
	Signatures *sign.Verification
	// Attestations are the attestations that verified; nil when none were required or Err is set.
	Attestations *sign.AttestationVerification
	// Err says why the image is not trusted: it wraps sign.ErrNoSignature, sign.ErrNoAttestation or
	// sign.ErrVerification when the image is unsigned, unattested or signed by someone else, or is a registry error.
	Err error
}

// Options configure a Resolver. The zero value resolves anonymously (or with the Docker config's credentials, as
// publish.Open does by default) with DefaultConcurrency requests at most in flight.
type Options struct {
	// Registry are the options every image repository is opened with. Give none that carries a static credential
	// for another registry (publish.WithCredentials): it would be offered to every image registry.
	Registry []publish.Option
	// Concurrency bounds the registry operations in flight; 0 means DefaultConcurrency.
	Concurrency int
}

// Resolver resolves and verifies images, each distinct reference (and each digest under each Trust) once for its
// lifetime: share one between the targets of a fleet. It is safe for concurrent use.
type Resolver struct {
	opts []publish.Option
	sem  chan struct{}

	mu       sync.Mutex
	targets  map[string]*publish.Target
	resolved map[string]*once[Resolved]
	verdicts map[string]*once[Verdict]
}

// once is a result computed by the first caller and waited for by the others.
type once[T any] struct {
	done chan struct{}
	v    T
}

// New returns a Resolver.
func New(o Options) (*Resolver, error) {
	if o.Concurrency < 0 {
		return nil, fmt.Errorf("image concurrency %d: give a positive number, or 0 for %d", o.Concurrency, DefaultConcurrency)
	}
	n := o.Concurrency
	if n == 0 {
		n = DefaultConcurrency
	}
	return &Resolver{opts: slices.Clone(o.Registry), sem: make(chan struct{}, n), targets: map[string]*publish.Target{},
		resolved: map[string]*once[Resolved]{}, verdicts: map[string]*once[Verdict]{}}, nil
}

// memo returns the value of key in m, computing it with fn when this is the first call for key; later calls wait
// for the first. A caller whose ctx ends stops waiting (and gets ctx's error through fn's zero value in err).
func memo[T any](ctx context.Context, r *Resolver, m map[string]*once[T], key string, fn func() T, canceled func(error) T) T {
	r.mu.Lock()
	c, ok := m[key]
	if !ok {
		c = &once[T]{done: make(chan struct{})}
		m[key] = c
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-c.done:
			return c.v
		case <-ctx.Done():
			return canceled(ctx.Err())
		}
	}
	c.v = fn()
	close(c.done)
	return c.v
}

// acquire takes one of the concurrency slots, or fails when ctx ends first.
func (r *Resolver) acquire(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Resolver) release() { <-r.sem }

// target opens (once) the repository of ref, so that the requests to one repository share its token.
func (r *Resolver) target(ctx context.Context, ref Ref) (*publish.Target, error) {
	key := ref.Repository.Name()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[key]; ok {
		return t, nil
	}
	t, err := publish.Open(ctx, publish.Ref{Registry: ref.Repository.Registry, Repository: ref.Repository.Repository}, r.opts...)
	if err != nil {
		return nil, err
	}
	r.targets[key] = t
	return t, nil
}

// Resolve resolves one image reference: a tag to the digest of the manifest or index it names, a digest checked to
// exist. The result is remembered: the same reference is asked of its registry once.
func (r *Resolver) Resolve(ctx context.Context, image string) Resolved {
	return memo(ctx, r, r.resolved, image, func() Resolved { return r.resolve(ctx, image) },
		func(err error) Resolved { return Resolved{Ref: Ref{Image: image}, Err: err} })
}

func (r *Resolver) resolve(ctx context.Context, image string) Resolved {
	ref, err := ParseRef(image)
	if err != nil {
		return Resolved{Ref: Ref{Image: image}, Err: err}
	}
	res := Resolved{Ref: ref}
	if err := r.acquire(ctx); err != nil {
		res.Err = err
		return res
	}
	defer r.release()
	t, err := r.target(ctx, ref)
	if err != nil {
		res.Err = err
		return res
	}
	reference := ref.Repository.Digest
	if reference == "" {
		reference = ref.Repository.Tag
	}
	desc, err := t.Resolve(ctx, reference)
	if err != nil {
		res.Err = err
		return res
	}
	res.Descriptor = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	return res
}

// ResolveAll resolves every reference of images concurrently (within the Resolver's bound), and returns the results
// in the order of images.
func (r *Resolver) ResolveAll(ctx context.Context, images []string) []Resolved {
	out := make([]Resolved, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Go(func() { out[i] = r.Resolve(ctx, img) })
	}
	wg.Wait()
	return out
}

// Verify checks the signatures (and the attestations tr requires) of a resolved image, in its own repository, by
// its digest. The verdict is remembered per digest and Trust ID.
func (r *Resolver) Verify(ctx context.Context, img Resolved, tr *Trust) Verdict {
	if img.Err != nil {
		return Verdict{Err: img.Err}
	}
	key := img.Repository.Name() + "@" + img.Digest() + "\x00" + tr.ID
	return memo(ctx, r, r.verdicts, key, func() Verdict { return r.verify(ctx, img, tr) },
		func(err error) Verdict { return Verdict{Err: err} })
}

func (r *Resolver) verify(ctx context.Context, img Resolved, tr *Trust) Verdict {
	if err := r.acquire(ctx); err != nil {
		return Verdict{Err: err}
	}
	defer r.release()
	t, err := r.target(ctx, img.Ref)
	if err != nil {
		return Verdict{Err: err}
	}
	opts := slices.Clip(tr.Options)
	if tr.Format != sign.FormatBundle {
		// Legacy signatures count even when bundles by others refer to the image too: the rule asked for them.
		opts = append(opts, sign.WithLegacyFallback(true))
	}
	var v Verdict
	v.Signatures, v.Err = sign.Verify(ctx, t.Storage(), img.Descriptor, tr.Keys, opts...)
	if v.Err != nil {
		v.Signatures = nil
		return v
	}
	if tr.Format == sign.FormatLegacy || tr.Format == sign.FormatBundle {
		if !slices.ContainsFunc(v.Signatures.Verified, func(s sign.VerifiedSignature) bool { return s.Format == tr.Format }) {
			return Verdict{Err: fmt.Errorf("%w: a signature verifies, but none in the %s format the rule requires", sign.ErrVerification, tr.Format)}
		}
	}
	if len(tr.Attestations) > 0 {
		v.Attestations, v.Err = sign.VerifyAttestations(ctx, t.Storage(), img.Descriptor, tr.Keys, tr.Attestations, opts...)
		if v.Err != nil {
			v.Signatures, v.Attestations = nil, nil
		}
	}
	return v
}
