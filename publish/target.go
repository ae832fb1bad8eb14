package publish

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/statepack/statepack/internal/redact"
)

// maxManifestSize bounds the manifests FetchManifest reads; registries commonly refuse more than 4 MiB.
const maxManifestSize = 4 << 20

const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Blob is content with its descriptor.
type Blob struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// Artifact is one manifest and the blobs it references.
type Artifact struct {
	Manifest Blob
	Blobs    []Blob
}

// Target is an open OCI target: a repository in a registry, or a local OCI image layout. It is safe for
// concurrent use.
type Target struct {
	ref       Ref
	storage   oras.Target
	plainHTTP bool
}

// Open connects to the target ref names. For a layout, the directory is created when missing. For a registry,
// nothing is sent until the first operation; credentials come from WithCredentials, else the Docker config.
func Open(ctx context.Context, ref Ref, opts ...Option) (*Target, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("opening %s: %w", ref.Name(), err)
		}
	}
	if ref.IsLayout() {
		if o.existing {
			if _, err := os.Stat(filepath.Join(ref.Layout, ocispec.ImageLayoutFile)); err != nil {
				return nil, fmt.Errorf("opening the OCI layout %s: %w: it holds no %s", ref.Layout, ErrNotFound, ocispec.ImageLayoutFile)
			}
		}
		store, err := oci.NewWithContext(ctx, ref.Layout)
		if err != nil {
			return nil, fmt.Errorf("opening the OCI layout %s: %w", ref.Layout, err)
		}
		return &Target{ref: ref, storage: store}, nil
	}
	if ref.Registry == "" || ref.Repository == "" {
		return nil, fmt.Errorf("%w %q: it names neither a registry repository nor an OCI layout", ErrInvalidReference, ref.String())
	}
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidReference, ref.String(), err)
	}
	repo.PlainHTTP = ref.IsLoopback()
	if o.plainHTTP != nil {
		repo.PlainHTTP = *o.plainHTTP
	}
	cred, err := o.credentials(ref.Registry)
	if err != nil {
		return nil, err
	}
	repo.Client = &auth.Client{
		Client:     o.httpClient(ref.Registry),
		Header:     http.Header{"User-Agent": {o.userAgent}},
		Cache:      auth.NewCache(),
		Credential: cred,
	}
	return &Target{ref: ref, storage: repo, plainHTTP: repo.PlainHTTP}, nil
}

func (o *options) credentials(registry string) (auth.CredentialFunc, error) {
	if o.username != "" {
		return auth.StaticCredential(registry, auth.Credential{Username: o.username, Password: o.password}), nil
	}
	var (
		store credentials.Store
		err   error
	)
	if o.dockerConfig != "" {
		store, err = credentials.NewStore(filepath.Join(o.dockerConfig, "config.json"), credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
		if _, homeErr := os.UserHomeDir(); err != nil && homeErr != nil {
			// No home directory, hence no Docker config: anonymous, as with a missing file.
			return auth.StaticCredential(registry, auth.EmptyCredential), nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials from the Docker config: %w", err)
	}
	return credentials.Credential(store), nil
}

// Ref returns the reference the target was opened with.
func (t *Target) Ref() Ref { return t.ref }

// Storage exposes the underlying oras-go target (a *remote.Repository or an *oci.Store), so that the sign package
// writes signature manifests next to the artifact through the same connection, credentials and retries.
func (t *Target) Storage() oras.Target { return t.storage }

// PushArtifact uploads every blob the target does not have yet, then the manifest by digest, and returns the
// manifest's descriptor. It never tags: tags come last, from the caller, once the artifact is complete and signed.
// Before anything is sent it refuses bytes that do not match their descriptor, a manifest descriptor whose media
// type is not a manifest's, and an image manifest that references a blob neither given nor already in the target.
// Pushing the same artifact again sends no blob and no manifest.
func (t *Target) PushArtifact(ctx context.Context, a Artifact) (ocispec.Descriptor, error) {
	if err := t.checkArtifact(ctx, a); err != nil {
		return ocispec.Descriptor{}, err
	}
	// A registry may answer "manifest blob unknown" while another client uploads the same blob at the same time
	// (distribution moves the blob into place under it); pushing the blobs again and retrying converges.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		for _, b := range a.Blobs {
			if err := t.pushOnce(ctx, b); err != nil {
				return ocispec.Descriptor{}, t.wrap(err, "pushing blob %s to %s", b.Descriptor.Digest, t.ref.Name())
			}
		}
		if err = t.pushOnce(ctx, a.Manifest); err == nil || !isBlobUnknown(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ocispec.Descriptor{}, t.wrap(ctx.Err(), "pushing manifest to %s", t.ref.Name())
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	if err != nil {
		return ocispec.Descriptor{}, t.wrap(err, "pushing manifest to %s", t.ref.Name())
	}
	return a.Manifest.Descriptor, nil
}

func (t *Target) checkArtifact(ctx context.Context, a Artifact) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("refusing to push to %s: %s", t.ref.Name(), fmt.Sprintf(format, args...))
	}
	given := make(map[digest.Digest]bool, len(a.Blobs))
	for _, b := range append([]Blob{a.Manifest}, a.Blobs...) {
		if err := b.Descriptor.Digest.Validate(); err != nil {
			return refuse("descriptor digest %q: %v", b.Descriptor.Digest, err)
		}
		if int64(len(b.Data)) != b.Descriptor.Size || b.Descriptor.Digest.Algorithm().FromBytes(b.Data) != b.Descriptor.Digest {
			return refuse("the bytes of %s do not match its descriptor (%d bytes, descriptor says %d)", b.Descriptor.Digest, len(b.Data), b.Descriptor.Size)
		}
		given[b.Descriptor.Digest] = true
	}
	switch a.Manifest.Descriptor.MediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		return nil // an index references manifests, which are pushed separately
	default:
		return refuse("the manifest's media type is %q, not an image manifest's", a.Manifest.Descriptor.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(a.Manifest.Data, &m); err != nil {
		return refuse("the manifest is not valid JSON: %v", err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if given[d.Digest] {
			continue
		}
		ok, err := t.storage.Exists(ctx, d)
		if err != nil {
			return t.wrap(err, "checking blob %s in %s", d.Digest, t.ref.Name())
		}
		if !ok {
			return refuse("the manifest references blob %s, which is neither in the artifact nor in the target", d.Digest)
		}
	}
	return nil
}

func isBlobUnknown(err error) bool {
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	for _, e := range er.Errors {
		if e.Code == errcode.ErrorCodeManifestBlobUnknown || e.Code == errcode.ErrorCodeBlobUnknown {
			return true
		}
	}
	return false
}

func (t *Target) pushOnce(ctx context.Context, b Blob) error {
	exists, err := t.storage.Exists(ctx, b.Descriptor)
	if err != nil || exists {
		return err
	}
	// A bytes.Reader lets oras-go and the retries rewind the body. A push whose answer was lost is confirmed by
	// asking whether the content is there.
	err = confirmPushed(ctx, t.storage, b.Descriptor, t.storage.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)))
	if errors.Is(err, errdef.ErrAlreadyExists) {
		return nil
	}
	return err
}

// Tag points each tag at desc, which must already be in the target. Tags are validated before any is written.
func (t *Target) Tag(ctx context.Context, desc ocispec.Descriptor, tags ...string) error {
	for _, tag := range tags {
		if !tagPattern.MatchString(tag) {
			return fmt.Errorf("tagging %s in %s: %w: tag %q is not valid (%s)", desc.Digest, t.ref.Name(), ErrInvalidReference, tag, tagRule)
		}
	}
	for _, tag := range tags {
		// A registry can briefly report a blob of the manifest unknown while another client commits an upload of
		// the same blob (distribution rewrites the repository's link file in place): the tag is tried again then.
		err := t.storage.Tag(ctx, desc, tag)
		for attempt := 1; err != nil && isBlobUnknown(err) && attempt <= 3; attempt++ {
			select {
			case <-ctx.Done():
				return t.wrap(ctx.Err(), "tagging %s as %s in %s", desc.Digest, tag, t.ref.Name())
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
			err = t.storage.Tag(ctx, desc, tag)
		}
		if err != nil {
			return t.wrap(err, "tagging %s as %s in %s", desc.Digest, tag, t.ref.Name())
		}
	}
	return nil
}

// Resolve returns the descriptor of the manifest a tag or digest names; ErrNotFound when there is none.
func (t *Target) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	desc, err := t.storage.Resolve(ctx, reference)
	if err != nil {
		return ocispec.Descriptor{}, t.wrap(err, "resolving %s in %s", reference, t.ref.Name())
	}
	return desc, nil
}

// FetchManifest fetches an image manifest, verifies its size and digest, and decodes it; it returns the raw bytes
// too. An index or any other kind of manifest is refused with ErrNotStatepackArtifact, a manifest over 4 MiB with
// ErrTooLarge.
func (t *Target) FetchManifest(ctx context.Context, desc ocispec.Descriptor) (ocispec.Manifest, []byte, error) {
	notArtifact := func(what string) error {
		return fmt.Errorf("fetching manifest %s: %w: it is %s, and a statepack artifact is one image manifest",
			t.ref.WithDigest(desc.Digest.String()), ErrNotStatepackArtifact, what)
	}
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest, "":
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		return ocispec.Manifest{}, nil, notArtifact("an image index (several manifests)")
	default:
		return ocispec.Manifest{}, nil, notArtifact(fmt.Sprintf("of media type %q", desc.MediaType))
	}
	if desc.Size > maxManifestSize || desc.Size < 0 {
		return ocispec.Manifest{}, nil, fmt.Errorf("fetching manifest %s: %w: %d bytes, the limit is %d",
			t.ref.WithDigest(desc.Digest.String()), ErrTooLarge, desc.Size, maxManifestSize)
	}
	raw, err := content.FetchAll(ctx, t.storage, desc)
	if err != nil {
		return ocispec.Manifest{}, nil, t.wrap(err, "fetching manifest %s from %s", desc.Digest, t.ref.Name())
	}
	var m struct {
		ocispec.Manifest
		Manifests json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Manifest{}, nil, fmt.Errorf("decoding manifest %s: %w", t.ref.WithDigest(desc.Digest.String()), err)
	}
	switch {
	case m.Manifests != nil:
		return ocispec.Manifest{}, nil, notArtifact("an image index (several manifests)")
	case m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != mediaTypeDockerManifest,
		m.MediaType != "" && desc.MediaType != "" && m.MediaType != desc.MediaType:
		return ocispec.Manifest{}, nil, notArtifact(fmt.Sprintf("of media type %q", m.MediaType))
	case m.SchemaVersion != 2:
		return ocispec.Manifest{}, nil, notArtifact(fmt.Sprintf("of schema version %d", m.SchemaVersion))
	}
	return m.Manifest, raw, nil
}

// FetchBlob opens a blob. Reading it to the end fails when the bytes do not match the descriptor's size or digest
// (Extract reads to the end). The caller closes it.
func (t *Target) FetchBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("fetching blob %q from %s: %w", desc.Digest, t.ref.Name(), err)
	}
	rc, err := t.storage.Fetch(ctx, desc)
	if err != nil {
		return nil, t.wrap(err, "fetching blob %s from %s", desc.Digest, t.ref.Name())
	}
	return &verifyingReader{rc: rc, vr: content.NewVerifyReader(rc, desc), t: t, desc: desc}, nil
}

type verifyingReader struct {
	rc   io.ReadCloser
	vr   *content.VerifyReader
	t    *Target
	desc ocispec.Descriptor
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.vr.Read(p)
	switch {
	case err == io.EOF:
		if verr := v.vr.Verify(); verr != nil {
			return n, fmt.Errorf("reading blob %s from %s: the content does not match its descriptor: %w", v.desc.Digest, v.t.ref.Name(), verr)
		}
	case err != nil:
		return n, v.t.wrap(err, "reading blob %s from %s", v.desc.Digest, v.t.ref.Name())
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

// targetError is an error with a redacted message; the chain underneath stays available to errors.Is and
// errors.As (the sentinel first, then the cause).
type targetError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *targetError) Error() string { return e.msg }
func (e *targetError) Unwrap() []error {
	if e.sentinel != nil {
		return []error{e.sentinel, e.cause}
	}
	return []error{e.cause}
}

// wrap says what was being done to which target, redacts URLs, and adds a hint for the failures users can fix.
func (t *Target) wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	cause := redact.Text(err.Error())
	e := &targetError{msg: what + ": " + cause, cause: err}
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		e.sentinel = ErrNotFound
		e.msg = what + ": not found" // oras-go's message only repeats the reference
	case isStatus(err, http.StatusNotFound):
		e.sentinel = ErrNotFound
	case isStatus(err, http.StatusUnauthorized), isStatus(err, http.StatusForbidden), errors.Is(err, auth.ErrBasicCredentialNotFound):
		e.sentinel = ErrUnauthorized
		e.msg += fmt.Sprintf(" (%s: run `docker login %s` or pass --username/--password-stdin)", ErrUnauthorized, t.ref.Registry)
	case t.ref.IsLayout():
	case strings.Contains(cause, "server gave HTTP response to HTTPS client"):
		e.msg += fmt.Sprintf(" (the registry speaks plain HTTP: pass --plain-http for %s)", t.ref.Registry)
	case isCertificateError(err):
		e.msg += fmt.Sprintf(" (for a registry with a self-signed certificate pass --insecure-registry %s)", t.ref.Registry)
	case errors.Is(err, syscall.ECONNREFUSED) && !t.plainHTTP && !t.ref.IsLoopback():
		e.msg += fmt.Sprintf(" (nothing answers HTTPS there: if %s serves plain HTTP pass --plain-http)", t.ref.Registry)
	case errors.Is(err, syscall.ECONNREFUSED):
		e.msg += fmt.Sprintf(" (is the registry at %s running?)", t.ref.Registry)
	}
	return e
}

func isStatus(err error, code int) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == code
}

func isCertificateError(err error) bool {
	var certErr *tls.CertificateVerificationError
	return errors.As(err, &certErr)
}
