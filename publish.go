package statepack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// PublishOptions say how a tree is published. The zero value publishes unsigned, with moving tags, in full.
type PublishOptions struct {
	// Load says how the tree is rendered and validated. Its Context and Logger are those of PublishOptions.
	Load LoadOptions
	// Source is the tree already loaded with Load; nil means Publish loads path. A caller that showed the findings
	// (or diffed the objects) before publishing passes it, so that the tree is rendered once.
	Source *Source
	// Package shapes the artifact.
	Package PackageOptions
	// Tags are pointed at the artifact, last, besides the tag of the reference (see Tags).
	Tags []string
	// Signer signs the artifact by digest before any tag is written; nil publishes unsigned (unless LoadSigner).
	Signer *sign.Signer
	// LoadSigner, when Signer is nil, gets the signer while the tree renders, so that decrypting a key (cosign's
	// scrypt: about 0.3 s and 64 MiB) or getting a keyless certificate adds no wall time of its own. Its error ends
	// the render and is the publish's error, before anything is pushed. An incremental publish calls it before the
	// render: the shortcut needs the key to recognise its own signatures.
	LoadSigner func(context.Context) (*sign.Signer, error)
	// Attest makes the signer attest the artifact too: SLSA provenance and statepack's inventory (AttestationTypes).
	Attest bool
	// SignatureFormat is how signatures and attestations are written; "" is sign.FormatLegacy.
	SignatureFormat sign.Format
	// ImmutableTags refuses to move a tag that already points at other content (ErrTagTaken).
	ImmutableTags bool
	// Incremental skips render and push when the artifact under the first tag was made from the same inputs (files
	// read, options, statepack version) and, when signing with a key, already carries this key's signature and
	// attestations in the format asked for; it is then only tagged again.
	Incremental bool
	// Registry are the options the target is opened with: credentials, TLS, timeouts, a transport. The logger and
	// the user agent are set by Publish.
	Registry []publish.Option
	// Images resolve, pin and verify the images the tree deploys before anything is pushed (the pin stage); an image
	// that fails is a finding and nothing is pushed. With a signer and Attest, a verified policy adds a SLSA
	// verification summary (PredicateVSA) to the attestations. Images turns the Incremental shortcut off: a tag
	// may have moved to another digest while the tree stayed as it was.
	Images ImageOptions
	// StepAttempts is how often an idempotent step (push by digest, sign, attest, tag) is tried; 0 means
	// DefaultStepAttempts, 1 turns step retries off.
	StepAttempts int
	// Context is what the run knows of its surroundings: the version, SOURCE_DATE_EPOCH, the CI platform.
	Context BuildContext
	// Logger receives the logs; nil means none.
	Logger *slog.Logger
}

// PublishResult is the outcome of Publish, also what `statepack publish -o json` prints.
type PublishResult struct {
	Ref        string   `json:"ref"`
	Repository string   `json:"repository"`
	Digest     string   `json:"digest"`
	Tags       []string `json:"tags"`
	MediaType  string   `json:"mediaType"`
	Size       int64    `json:"size"`
	Objects    int      `json:"objects"`
	Signed     bool     `json:"signed"`
	// Attestations lists the predicate types of the attestations made (or found, when unchanged).
	Attestations []string          `json:"attestations"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Findings     build.Findings    `json:"findings,omitempty"`
	// Unchanged is set when an incremental publish found the inputs as they were and pushed nothing new.
	Unchanged bool `json:"unchanged,omitempty"`
	// Warnings say what the publish may break for its consumers (also logged at warning level).
	Warnings []string `json:"warnings,omitempty"`
	// Images is what the pin stage found, when Images asked for it.
	Images *ImageReport `json:"images,omitempty"`
}

// Tags returns the tags of a publish or a copy: first (the reference's tag, "" for none) and extra, sorted, without
// duplicates, each checked to be a valid tag (an ErrInvalidOption names the first that is not).
func Tags(first string, extra ...string) ([]string, error) {
	all := slices.Clone(extra)
	if first != "" {
		all = append(all, first)
	}
	all = slices.Compact(slices.Sorted(slices.Values(all)))
	for _, t := range all {
		if err := publish.ValidateTag(t); err != nil {
			return nil, invalidf("%q is not a valid tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", t)
		}
	}
	return nonNil(all), nil
}

// Publish renders and validates the tree at path (or takes o.Source), packages it, and publishes it to ref in the
// order that never leaves a tag on incomplete or unsigned content: blobs, then the manifest by digest, then the
// signature and attestations by digest, then the tags. Running it again converges. The findings come back in the
// result even when the error (a *build.FindingsError) says they stopped the publish; nothing is pushed then.
func Publish(ctx context.Context, path string, ref publish.Ref, o PublishOptions) (PublishResult, error) {
	log := logger(o.Logger)
	o.Load.Context, o.Load.Logger = o.Context, o.Logger
	res := PublishResult{Repository: ref.Name(), Signed: o.Signer != nil, Attestations: []string{}}
	if ref.Digest != "" {
		return res, invalidf("publish REF must not carry a digest: the digest is what publish computes")
	}
	tags, err := Tags(ref.Tag, o.Tags...)
	if err != nil {
		return res, err
	}
	res.Tags = tags
	if err := o.Package.Check(); err != nil {
		return res, err
	}
	incremental := o.Incremental && !o.Images.Enabled()
	if o.Incremental && !incremental {
		log.Info("--incremental is off when images are resolved: a tag may point at another digest while the tree is unchanged")
	}
	if incremental && o.Signer == nil && o.LoadSigner != nil {
		if o.Signer, err = o.LoadSigner(ctx); err != nil {
			return res, err
		}
		res.Signed = o.Signer != nil
	}
	j := &publishJob{path: path, ref: ref, tags: tags, o: o, log: log}
	if incremental {
		j.o.Attest = o.Attest && o.Signer != nil
		done, err := j.publishIfChanged(ctx, &res)
		if err != nil || done {
			return res, interrupted(ctx, "incremental check", err)
		}
	}
	start := time.Now()
	s, signer, err := loadAlongsideSigner(ctx, path, o)
	if err != nil {
		return res, err
	}
	o.Signer, j.o.Signer = signer, signer
	j.o.Attest = o.Attest && signer != nil
	res.Signed = signer != nil
	res.Findings = s.Findings
	if err := s.FindingsError(); err != nil {
		return res, err
	}
	log.Debug("rendered and validated", "path", path, "objects", len(s.Rendering.Objects), "duration", since(start))
	settings := s.settings(o.Context.version(), o.Package)
	if o.Images.Enabled() {
		start = time.Now()
		o.Images.Logger = o.Logger
		report, err := CheckImages(ctx, s, o.Images)
		res.Images = &report
		if err != nil {
			return res, interrupted(ctx, "images", err)
		}
		log.Debug("images resolved", "images", len(report.Images), "duration", since(start))
		if len(report.Findings) > 0 {
			res.Findings = append(slices.Clone(res.Findings), report.Findings...)
			res.Findings.Sort()
			return res, &build.FindingsError{Findings: res.Findings}
		}
		if o.Images.Pin {
			if s, err = s.withObjects(report.pinned(s.Rendering.Objects)); err != nil {
				return res, err
			}
			for _, img := range report.Images {
				settings += "\npin=" + img.Pinned // a tag moved to another digest makes another artifact
			}
		}
	}
	start = time.Now()
	inputs, err := build.HashInputs(s.Rendering.Root, s.Rendering.Inputs)
	if err != nil {
		return res, err
	}
	b, err := s.Bundle(o.Context, o.Package, log, build.WithInputs(inputs, build.InputsDigest(inputs, settings)))
	if err != nil {
		return res, err
	}
	log.Debug("packaged", "layer", b.LayerDescriptor.Digest, "bytes", b.LayerDescriptor.Size, "duration", since(start))
	target, err := j.open(ctx)
	if err != nil {
		return res, interrupted(ctx, "open", err)
	}
	var preds []sign.Predicate
	if j.o.Attest {
		preds = predicates(o.Context, ref.Name(), tags, s, b, res.Images, o.Images.Pin)
	}
	desc, err := pushSignTag(ctx, log, target, b, o.Signer, preds, tags, pushOptions{immutable: o.ImmutableTags, attempts: o.StepAttempts,
		sign: []sign.SignOption{sign.WithFormat(o.SignatureFormat)}, warn: func(w string) { res.Warnings = append(res.Warnings, w) }})
	if err != nil {
		return res, err
	}
	for _, p := range preds {
		res.Attestations = append(res.Attestations, p.Type)
	}
	res.Ref, res.Digest = ref.WithDigest(desc.Digest.String()), desc.Digest.String()
	res.MediaType, res.Size, res.Objects, res.Annotations = desc.MediaType, desc.Size, len(b.Files), b.Annotations
	return res, nil
}

// loadAlongsideSigner is o.Source, or the tree at path loaded, and the signer: o.Signer, or what o.LoadSigner gets
// while the tree loads. A failure of the signer cancels the load and is the error returned, as it would have been had
// the signer been loaded first.
func loadAlongsideSigner(ctx context.Context, path string, o PublishOptions) (*Source, *sign.Signer, error) {
	load := func(ctx context.Context) (*Source, error) {
		if o.Source != nil {
			return o.Source, nil
		}
		s, err := Load(ctx, path, o.Load)
		return s, interrupted(ctx, "render", err)
	}
	if o.Signer != nil || o.LoadSigner == nil {
		s, err := load(ctx)
		return s, o.Signer, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var signer *sign.Signer
	var signErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if signer, signErr = o.LoadSigner(ctx); signErr != nil {
			cancel()
		}
	}()
	s, err := load(ctx)
	<-done
	if signErr != nil {
		return nil, nil, signErr
	}
	return s, signer, err
}

// publishJob is one Publish under way.
type publishJob struct {
	path string
	ref  publish.Ref
	tags []string
	o    PublishOptions
	log  *slog.Logger
}

func (j *publishJob) open(ctx context.Context, extra ...publish.Option) (*publish.Target, error) {
	return openTarget(ctx, j.ref, j.o.Context, j.log, j.o.Registry, extra...)
}

// openTarget opens ref with the caller's registry options, after statepack's logger and user agent.
func openTarget(ctx context.Context, ref publish.Ref, bc BuildContext, log *slog.Logger, registry []publish.Option, extra ...publish.Option) (*publish.Target, error) {
	opts := append([]publish.Option{publish.WithLogger(log), publish.WithUserAgent(bc.userAgent())}, registry...)
	return publish.Open(ctx, ref, append(opts, extra...)...)
}

// publishIfChanged is the incremental shortcut: when the artifact under the job's first tag records the same
// inputs digest as the tree has now, it makes sure that artifact is signed and tagged, and reports it unchanged
// (done). Any doubt (no tag yet, no recorded inputs, an input gone) means a full publish.
func (j *publishJob) publishIfChanged(ctx context.Context, res *PublishResult) (done bool, err error) {
	o, log := j.o, j.log
	if len(j.tags) == 0 || o.Load.AllowRemote {
		return false, nil // remote bases are inputs statepack cannot hash
	}
	var ownKey signature.Verifier
	if o.Signer != nil {
		v, ok := o.Signer.Verifier()
		if !ok {
			return false, nil // a keyless signer's key is new each run: nothing to recognise its earlier work by
		}
		ownKey = v
	}
	tag := j.tags[0]
	if j.ref.Tag != "" {
		tag = j.ref.Tag
	}
	s, err := Locate(j.path, o.Load)
	if err != nil {
		return false, err
	}
	t, err := j.open(ctx)
	if err != nil {
		return false, err
	}
	desc, err := t.Resolve(ctx, tag)
	if errors.Is(err, publish.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, _, err := t.FetchManifest(ctx, desc)
	if err != nil {
		return false, err
	}
	recorded := m.Annotations[build.AnnotationInputs]
	if recorded == "" {
		return false, nil
	}
	rc, err := t.FetchBlob(ctx, m.Config)
	if err != nil {
		return false, err
	}
	config, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	rc.Close()
	if err != nil {
		return false, err
	}
	prev, err := build.ConfigInputs(config)
	if err != nil || len(prev) == 0 {
		return false, nil
	}
	paths := make([]string, len(prev))
	for i, in := range prev {
		paths[i] = in.Path
	}
	realRoot, err := filepath.EvalSymlinks(s.Root)
	if err != nil {
		return false, err
	}
	now, err := build.HashInputs(realRoot, paths)
	if err != nil {
		return false, nil
	}
	if build.InputsDigest(now, s.settings(o.Context.version(), o.Package)) != recorded {
		log.Debug("inputs changed since the published artifact", "tag", tag, "digest", desc.Digest)
		return false, nil
	}
	// The annotation and the config can be copied onto other content by anyone who can push: when signing, skip
	// only if this key already signed this digest, which only this publish could have done.
	if ownKey != nil {
		// Whether this key signed in the format asked for, whatever else refers to the artifact: the fallback keeps
		// another key's bundle from hiding this key's legacy signature.
		v, err := sign.Verify(ctx, t.Storage(), desc, []signature.Verifier{ownKey}, sign.WithIgnoreTlog(true), sign.WithLegacyFallback(true))
		if err != nil || !formatsCovered(o.SignatureFormat, v.Verified, func(s sign.VerifiedSignature) sign.Format { return s.Format }) {
			log.Info("inputs unchanged, but the artifact under the tag is not signed with this key in the format asked for: publishing in full", "tag", tag, "format", o.SignatureFormat)
			return false, nil
		}
		if o.Attest {
			for _, pt := range AttestationTypes {
				a, err := sign.VerifyAttestations(ctx, t.Storage(), desc, []signature.Verifier{ownKey}, []string{pt}, sign.WithLegacyFallback(true))
				if err != nil || !formatsCovered(o.SignatureFormat, a.Verified, func(v sign.VerifiedAttestation) sign.Format { return v.Format }) {
					log.Info("inputs unchanged, but the artifact under the tag lacks this key's attestations in the format asked for: publishing in full", "tag", tag, "predicateType", pt)
					return false, nil
				}
			}
			res.Attestations = slices.Clone(AttestationTypes)
		}
	}
	log.Info("unchanged: the inputs are those of the published artifact", "ref", j.ref.WithDigest(desc.Digest.String()))
	if o.ImmutableTags {
		if err := checkImmutable(ctx, t, desc, j.tags); err != nil {
			return false, err
		}
	}
	if err := t.Tag(ctx, desc, j.tags...); err != nil {
		return false, err
	}
	res.Ref, res.Digest, res.MediaType, res.Size = j.ref.WithDigest(desc.Digest.String()), desc.Digest.String(), desc.MediaType, desc.Size
	res.Annotations, res.Unchanged = m.Annotations, true
	return true, nil
}

// formatsCovered says whether what verified includes every format that format asks for: legacy, bundle, or both.
func formatsCovered[T any](format sign.Format, verified []T, formatOf func(T) sign.Format) bool {
	want := []sign.Format{sign.FormatLegacy}
	switch format {
	case sign.FormatBundle:
		want = []sign.Format{sign.FormatBundle}
	case sign.FormatBoth:
		want = []sign.Format{sign.FormatLegacy, sign.FormatBundle}
	}
	for _, w := range want {
		if !slices.ContainsFunc(verified, func(v T) bool { return formatOf(v) == w }) {
			return false
		}
	}
	return true
}

// pushOptions are the knobs of pushSignTag.
type pushOptions struct {
	immutable bool
	attempts  int
	sign      []sign.SignOption
	// warn receives what the publish may break for consumers, besides the log; nil: the log only.
	warn func(string)
}

// pushSignTag is the publish order: blobs and manifest by digest, then the signature and attestations, then the
// tags.
func pushSignTag(ctx context.Context, log *slog.Logger, t *publish.Target, b *build.Bundle, signer *sign.Signer, preds []sign.Predicate, tags []string, po pushOptions) (ocispec.Descriptor, error) {
	if po.immutable {
		if err := checkImmutable(ctx, t, b.ManifestDescriptor, tags); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	start := time.Now()
	var desc ocispec.Descriptor
	err := retryStep(ctx, log, po.attempts, "push", func() (err error) {
		desc, err = t.PushArtifact(ctx, publish.Artifact{
			Manifest: publish.Blob{Descriptor: b.ManifestDescriptor, Data: b.Manifest},
			Blobs: []publish.Blob{
				{Descriptor: b.ConfigDescriptor, Data: b.Config},
				{Descriptor: b.LayerDescriptor, Data: b.Layer},
			},
		})
		return err
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	log.Debug("pushed", "digest", desc.Digest, "duration", since(start))
	if signer != nil {
		// The signature and the attestations live under different tags: they are written side by side, which
		// halves what signing adds to a publish on a registry where each write is a few round trips.
		start = time.Now()
		// sign reports at info level what it writes; publish says it once, at the end. Its warnings (a referrers
		// index the registry would not delete) are worth reading.
		opts := append(slices.Clip(po.sign), sign.WithLogger(atLeast(log, slog.LevelWarn)))
		var wg sync.WaitGroup
		var signErr, attestErr error
		wg.Go(func() {
			signErr = retryStep(ctx, log, po.attempts, "sign", func() error {
				_, err := signer.Sign(ctx, t.Storage(), desc, t.Ref().Name(), opts...)
				return err
			})
		})
		if len(preds) > 0 {
			wg.Go(func() {
				attestErr = retryStep(ctx, log, po.attempts, "attest", func() error {
					_, err := signer.Attest(ctx, t.Storage(), desc, t.Ref().Name(), preds, opts...)
					return err
				})
			})
		}
		wg.Wait()
		if signErr != nil {
			return ocispec.Descriptor{}, fmt.Errorf("signing %s: %w (no tag was written)", t.Ref().WithDigest(desc.Digest.String()), signErr)
		}
		if attestErr != nil {
			return ocispec.Descriptor{}, fmt.Errorf("attesting %s: %w (no tag was written)", t.Ref().WithDigest(desc.Digest.String()), attestErr)
		}
		log.Debug("signed", "signer", signer.String(), "attestations", len(preds), "duration", since(start))
		start = time.Now()
		warnBundleOnly(ctx, log, t, desc, signer, po.warn)
		log.Debug("checked what Flux reads of the signatures", "duration", since(start))
	}
	if len(tags) > 0 {
		start = time.Now()
		if po.immutable {
			// Again, just before tagging: another publish may have taken a tag meanwhile. Registries offer no
			// compare-and-swap on tags, so a race in the last milliseconds remains possible.
			if err := checkImmutable(ctx, t, desc, tags); err != nil {
				return ocispec.Descriptor{}, err
			}
		}
		if err := retryStep(ctx, log, po.attempts, "tag", func() error { return t.Tag(ctx, desc, tags...) }); err != nil {
			return ocispec.Descriptor{}, err
		}
		log.Debug("tagged", "tags", len(tags), "duration", since(start))
	}
	return desc, nil
}

// warnBundleOnly warns, before the tags are written, when the artifact carries sigstore bundles (ours or another
// key's) while a legacy signature by another key verifies none of them: Flux 2.8 and later read only the bundles
// when there are any, so clusters that trust the artifact through that legacy signature refuse it from now on. It
// never fails the publish: what it cannot read, it does not judge.
func warnBundleOnly(ctx context.Context, log *slog.Logger, t *publish.Target, desc ocispec.Descriptor, signer *sign.Signer, warn func(string)) {
	own, ok := signer.Verifier()
	if !ok {
		return // a keyless signer's key is new each run: any legacy signature is by another key anyway, judged below
	}
	risk, err := sign.BundleOnlyRisk(ctx, t.Storage(), desc, []signature.Verifier{own}, sign.WithIgnoreTlog(true))
	if err != nil || !risk.AtRisk() {
		return
	}
	var whose []string
	if len(risk.Keys) > 0 {
		whose = append(whose, "this key's")
	}
	if len(risk.Unverified) > 0 {
		whose = append(whose, fmt.Sprintf("%d by other keys", len(risk.Unverified)))
	}
	msg := fmt.Sprintf("bundles present: %s carries %d sigstore bundle(s), and legacy signatures (%s) that no bundle matches: "+
		"legacy signatures are not read by Flux ≥ 2.8 when there are bundles, so clusters that trust this artifact through "+
		"them refuse it from now on; sign it as a bundle with those keys too (--signature-format bundle or both)",
		t.Ref().WithDigest(desc.Digest.String()), risk.Bundles, strings.Join(whose, ", "))
	log.Warn(msg)
	if warn != nil {
		warn(msg)
	}
}

// checkImmutable refuses to move any of tags that already points at content other than desc. A tag on the same
// content is fine: publishing the same tree again converges.
func checkImmutable(ctx context.Context, t *publish.Target, desc ocispec.Descriptor, tags []string) error {
	for _, tag := range tags {
		cur, err := t.Resolve(ctx, tag)
		if errors.Is(err, publish.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if cur.Digest != desc.Digest {
			return fmt.Errorf("%w: %s:%s is %s, this tree is %s; --immutable-tags never moves a tag (publish under a new tag, or drop the flag for moving tags like main)",
				ErrTagTaken, t.Ref().Name(), tag, cur.Digest, desc.Digest)
		}
	}
	return nil
}

// atLeast is log without the records below level, unless log is at debug level.
func atLeast(log *slog.Logger, level slog.Level) *slog.Logger {
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(minLevel{log.Handler(), level})
}

// minLevel is a handler that drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
