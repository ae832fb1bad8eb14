package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// signOptions are the flags that sign an artifact, named as cosign names them.
type signOptions struct {
	key               string
	keyless           bool
	identityToken     string
	identityTokenFile string
	fulcioURL         string
	rekorURL          string
	tlogUpload        bool
	fulcioRoot        string
	trustedRoot       string
	insecureSkipSCT   bool
	attest            bool
	format            string
	flags             *pflag.FlagSet
}

func (o *signOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.key, "key", "", "sign with this key: a cosign private key file or env://VAR (password from COSIGN_PASSWORD), or a KMS URI awskms://, gcpkms://, azurekms://, hashivault:// (a build with -tags kms)")
	f.BoolVar(&o.keyless, "keyless", false, "sign keyless: a Fulcio certificate for the OIDC identity of this job (GitHub Actions' own token, or --identity-token[-file])")
	f.StringVar(&o.identityToken, "identity-token", "", "OIDC token for keyless signing (implies --keyless; prefer --identity-token-file: arguments are visible to other processes)")
	f.StringVar(&o.identityTokenFile, "identity-token-file", "", "file holding the OIDC token for keyless signing, e.g. a Tekton projected service-account token (implies --keyless)")
	f.StringVar(&o.fulcioURL, "fulcio-url", sign.DefaultFulcioURL, "Fulcio for keyless signing")
	f.StringVar(&o.rekorURL, "rekor-url", sign.DefaultRekorURL, "Rekor transparency log")
	f.BoolVar(&o.tlogUpload, "tlog-upload", false, "upload the signature to Rekor (default: on for keyless, off for keys, as Flux verifies key signatures without the log)")
	f.StringVar(&o.fulcioRoot, "fulcio-root", "", "PEM chain of a private Fulcio's CA (default: $SIGSTORE_ROOT_FILE, else public Sigstore)")
	f.StringVar(&o.trustedRoot, "trusted-root", "", "sigstore trusted_root.json of a private Sigstore")
	f.BoolVar(&o.insecureSkipSCT, "insecure-skip-sct", false, "accept a Fulcio certificate without a certificate-transparency SCT (a private Fulcio without CT log)")
	f.StringVar(&o.format, "signature-format", string(sign.FormatLegacy), "where signatures and attestations go: legacy (cosign's .sig/.att tags, read by every verifier), bundle (sigstore bundles as OCI referrers, read by Flux ≥ 2.8 and cosign --new-bundle-format), or both")
	f.BoolVar(&o.attest, "attest", true, "when signing, also attest the artifact: SLSA provenance v1 and statepack's inventory, in the --signature-format; --attest=false turns them off")
}

// signatureFormat parses a --signature-format value (also the action's input and a config's sign.format); "" is
// legacy.
func signatureFormat(v string) (sign.Format, error) {
	switch f := sign.Format(v); f {
	case "", sign.FormatLegacy:
		return sign.FormatLegacy, nil
	case sign.FormatBundle, sign.FormatBoth:
		return f, nil
	default:
		return "", usagef("--signature-format %q: use legacy, bundle or both", v)
	}
}

// attestations says whether to attest, refusing --attest asked for explicitly without a signer.
func (o *signOptions) attestations(signer *sign.Signer) (bool, error) {
	if signer == nil {
		if o.flags != nil && o.flags.Changed("attest") && o.attest {
			return false, usagef("--attest needs --key or --keyless: attestations are signed statements")
		}
		return false, nil
	}
	return o.attest, nil
}

// signer loads the key or gets the keyless certificate before anything is pushed, so that a bad key, password or
// token fails early.
func (o *signOptions) signer(cmd *cobra.Command, env *Env) (*sign.Signer, error) {
	keyless := o.keyless || o.identityToken != "" || o.identityTokenFile != ""
	if _, err := signatureFormat(o.format); err != nil {
		return nil, err
	}
	tlogSet := o.flags != nil && o.flags.Changed("tlog-upload")
	switch {
	case o.key != "" && keyless:
		return nil, usagef("--key and keyless signing exclude each other: choose one")
	case keyless:
		return o.keylessSigner(cmd.Context(), env, !tlogSet || o.tlogUpload)
	case o.key == "":
		if o.tlogUpload {
			return nil, usagef("--tlog-upload needs --key or --keyless: there is no signature to upload")
		}
		return nil, nil
	case o.tlogUpload:
		return nil, usagef("--tlog-upload is not supported yet for key signing: leave it off (Flux verifies key signatures without the log)")
	}
	return loadSigningKey(cmd.Context(), env, o.key)
}

// loadSigningKey loads a signing key: a cosign key decrypted with COSIGN_PASSWORD, or a KMS key, which needs none.
func loadSigningKey(ctx context.Context, env *Env, ref string) (*sign.Signer, error) {
	var password []byte
	if !sign.IsKMSRef(ref) {
		password = []byte(env.getenv("COSIGN_PASSWORD"))
	}
	s, err := sign.LoadSigner(ctx, ref, password)
	if err != nil {
		return nil, keyError(err, ref)
	}
	return s, nil
}

// keyError classes a key that did not load: a mistake in how statepack was called (exit 2), except a KMS that could
// not be reached or refused, which is an I/O failure (exit 3).
func keyError(err error, refs ...string) error {
	if slices.ContainsFunc(refs, sign.IsKMSRef) && !errors.Is(err, sign.ErrUnsupported) {
		return err
	}
	return &usageError{err}
}

// keylessSigner finds the OIDC token (flag, file, or GitHub Actions' own) and gets a Fulcio certificate. It never
// falls back to a browser flow: CI has no one to click.
func (o *signOptions) keylessSigner(ctx context.Context, env *Env, tlog bool) (*sign.Signer, error) {
	token := o.identityToken
	switch {
	case token != "":
	case o.identityTokenFile != "":
		data, err := os.ReadFile(o.identityTokenFile)
		if err != nil {
			return nil, usagef("reading --identity-token-file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	case env.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "":
		t, err := sign.GitHubActionsToken(ctx, env.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), env.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"), sign.DefaultAudience)
		if err != nil {
			return nil, fmt.Errorf("getting GitHub Actions' OIDC token: %w", err)
		}
		token = t
	default:
		return nil, usagef("keyless signing needs an OIDC token: in GitHub Actions grant the job `permissions: id-token: write`; elsewhere pass --identity-token-file")
	}
	opts := []sign.KeylessOption{sign.WithFulcioURL(o.fulcioURL), sign.WithRekorURL(o.rekorURL), sign.WithTlogUpload(tlog),
		sign.WithInsecureSkipSCT(o.insecureSkipSCT)}
	roots, trusted, err := trustFiles(env, o.fulcioRoot, o.trustedRoot)
	if err != nil {
		return nil, err
	}
	if roots != nil {
		opts = append(opts, sign.WithFulcioRoots(roots))
	}
	if trusted != nil {
		opts = append(opts, sign.WithSigningTrustedRoot(trusted))
	}
	signer, err := sign.LoadKeylessSigner(ctx, token, opts...)
	if errors.Is(err, sign.ErrNoIdentityToken) {
		return nil, usagef("keyless signing: %w (in GitHub Actions grant the job `permissions: id-token: write`)", err)
	}
	return signer, err
}

// trustFiles reads a Fulcio root chain (the flag, else SIGSTORE_ROOT_FILE, as cosign honours it) and a trusted
// root file.
func trustFiles(env *Env, fulcioRoot, trustedRoot string) (roots, trusted []byte, err error) {
	if fulcioRoot == "" {
		fulcioRoot = env.getenv("SIGSTORE_ROOT_FILE")
	}
	if fulcioRoot != "" {
		if roots, err = os.ReadFile(fulcioRoot); err != nil {
			return nil, nil, usagef("reading the Fulcio root: %w", err)
		}
	}
	if trustedRoot != "" {
		if trusted, err = os.ReadFile(trustedRoot); err != nil {
			return nil, nil, usagef("reading --trusted-root: %w", err)
		}
	}
	return roots, trusted, nil
}

// publishResult is what publish prints with -o json.
type publishResult struct {
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
}

func newPublishCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		src         sourceOptions
		pkg         packageOptions
		reg         registryOptions
		sig         signOptions
		tags        []string
		immutable   bool
		incremental bool
		fleet       fleetOptions
		// digestFile and refFile receive "sha256:<hex>" and "<repository>@sha256:<hex>" (Tekton results).
		digestFile, refFile string
	)
	cmd := &cobra.Command{
		Use:   "publish [PATH] REF [--tag T]...",
		Short: "Render, validate, package, push and sign; print REPOSITORY@sha256:…",
		Long: `publish renders and validates PATH (default "."), packages it, and pushes it to REF: a registry repository
("host/repo[:tag]", an "oci://" prefix accepted) or a local OCI layout ("oci:DIR[:tag]").

Order: blobs, then the manifest by digest, then the signature by digest, then the tags. A tag never points at content
that is incomplete or unsigned, whichever step fails; running publish again converges.`,
		Args: argsUsage(0, 2, "[PATH] REF, or --config"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fleet.config != "" {
				for _, name := range []string{"tag", "key", "keyless", "identity-token", "identity-token-file", "digest-file",
					"ref-file", "annotation", "layer-media-type", "immutable-tags", "attest", "signature-format"} {
					if cmd.Flags().Changed(name) {
						return usagef("--%s does not combine with --config: set it in the config file (tags, sign {key, attest, format}, annotations, layerMediaType, immutableTags)", name)
					}
				}
				if len(args) > 0 {
					return usagef("with --config, PATH and REF come from the config file")
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
				defer cancel()
				return fleetPublish(ctx, env, g, &fleet, &src, &reg, incremental)
			}
			if len(args) == 0 {
				return usagef("publish takes [PATH] REF, or --config FILE")
			}
			path, refArg := ".", args[0]
			if len(args) == 2 {
				path, refArg = args[0], args[1]
			}
			ref, err := parseRef(refArg)
			if err != nil {
				return err
			}
			if err := pkg.check(); err != nil {
				return err
			}
			if ref.Digest != "" {
				return usagef("publish REF must not carry a digest: the digest is what publish computes")
			}
			allTags := tags
			if ref.Tag != "" {
				allTags = append([]string{ref.Tag}, tags...)
			}
			allTags = slices.Compact(slices.Sorted(slices.Values(allTags)))
			for _, t := range allTags {
				if err := publish.ValidateTag(t); err != nil {
					return usagef("--tag %q is not a valid tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", t)
				}
			}
			log := g.logger(env)
			// The key is loaded first, so that a bad key or password fails before the render and before any push.
			start := time.Now()
			signer, err := sig.signer(cmd, env)
			if err != nil {
				return err
			}
			if signer != nil {
				log.Debug("loaded the signing key", "key", signer.String(), "duration", since(start))
			}
			attest, err := sig.attestations(signer)
			if err != nil {
				return err
			}
			format, err := signatureFormat(sig.format)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			res, err := runPublish(ctx, env, log, &reg, publishJob{path: path, ref: ref, tags: allTags, src: &src, pkg: &pkg, signer: signer, attest: attest, format: format, immutable: immutable, incremental: incremental})
			reportFindings(env.Stderr, &globalOptions{output: "text"}, res.Findings)
			if err != nil {
				return err
			}
			if err := writeResultFiles(map[string]string{digestFile: res.Digest, refFile: res.Ref}); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(env.Stdout, res)
			}
			fmt.Fprintln(env.Stdout, res.Ref)
			return nil
		},
	}
	src.bind(cmd)
	pkg.bind(cmd)
	reg.bind(cmd)
	sig.bind(cmd)
	fleet.bind(cmd)
	cmd.Flags().BoolVar(&incremental, "incremental", false, "skip render and push when the artifact under REF's tag was made from the same inputs (files read, options, statepack version)")
	cmd.Flags().BoolVar(&immutable, "immutable-tags", false, "refuse to move a tag that already points at other content (release tags); by default tags move, as main should")
	cmd.Flags().StringArrayVarP(&tags, "tag", "t", nil, "also point this tag at the artifact (repeatable); tags are written last")
	cmd.Flags().StringVar(&digestFile, "digest-file", "", "write the manifest digest (sha256:…) to this file, without a newline (Tekton's IMAGE_DIGEST result)")
	cmd.Flags().StringVar(&refFile, "ref-file", "", "write REPOSITORY@sha256:… to this file, without a newline (the Tekton Task takes IMAGE_URL from it, without the digest)")
	return cmd
}

// publishJob is one tree to publish to one reference.
type publishJob struct {
	path   string
	ref    publish.Ref
	tags   []string // validated, sorted, without duplicates
	src    *sourceOptions
	pkg    *packageOptions
	signer *sign.Signer // nil: unsigned
	// attest makes the signer attest the artifact too (provenance and inventory).
	attest bool
	// format is how signatures and attestations are written.
	format sign.Format
	// source is the tree already rendered and validated with src; nil: runPublish renders path.
	source *source
	// immutable refuses to move an existing tag onto other content.
	immutable bool
	// incremental skips render and push when the artifact under the first tag was made from the same inputs.
	incremental bool
}

// runPublish renders, validates, packages, pushes, signs and tags one tree. The findings come back in the result
// even when the error says they stopped the publish.
func runPublish(ctx context.Context, env *Env, log *slog.Logger, reg *registryOptions, job publishJob) (publishResult, error) {
	res := publishResult{Repository: job.ref.Name(), Tags: nonNil(job.tags), Signed: job.signer != nil, Attestations: []string{}}
	job.attest = job.attest && job.signer != nil
	if job.incremental {
		done, err := publishIfChanged(ctx, env, log, reg, job, &res)
		if err != nil || done {
			return res, err
		}
	}
	start := time.Now()
	s := job.source
	if s == nil {
		var err error
		if s, err = loadSource(ctx, env, log, job.path, job.src); err != nil {
			return res, err
		}
	}
	res.Findings = s.findings
	if err := failOnFindings(s.findings); err != nil {
		return res, err
	}
	log.Debug("rendered and validated", "path", job.path, "objects", len(s.rendering.Objects), "duration", since(start))
	start = time.Now()
	inputs, err := build.HashInputs(s.rendering.Root, s.rendering.Inputs)
	if err != nil {
		return res, err
	}
	b, err := s.bundle(env, log, job.pkg, build.WithInputs(inputs, build.InputsDigest(inputs, s.settings(env, job.src, job.pkg))))
	if err != nil {
		return res, err
	}
	log.Debug("packaged", "layer", b.LayerDescriptor.Digest, "bytes", b.LayerDescriptor.Size, "duration", since(start))
	target, err := reg.open(ctx, env, log, job.ref, "statepack/"+env.Version)
	if err != nil {
		return res, err
	}
	var preds []sign.Predicate
	if job.attest {
		preds = predicates(env, job, s, b)
	}
	desc, err := pushSignTag(ctx, log, target, b, job.signer, preds, job.tags, job.immutable, sign.WithFormat(job.format))
	if err != nil {
		return res, err
	}
	for _, p := range preds {
		res.Attestations = append(res.Attestations, p.Type)
	}
	res.Ref, res.Digest = job.ref.WithDigest(desc.Digest.String()), desc.Digest.String()
	res.MediaType, res.Size, res.Objects, res.Annotations = desc.MediaType, desc.Size, len(b.Files), b.Annotations
	return res, nil
}

// publishIfChanged is the incremental shortcut: when the artifact under the job's first tag records the same
// inputs digest as the tree has now, it makes sure that artifact is signed and tagged, and reports it unchanged
// (done). Any doubt (no tag yet, no recorded inputs, an input gone) means a full publish.
func publishIfChanged(ctx context.Context, env *Env, log *slog.Logger, reg *registryOptions, job publishJob, res *publishResult) (done bool, err error) {
	if len(job.tags) == 0 || job.src.allowRemote {
		return false, nil // remote bases are inputs statepack cannot hash
	}
	var ownKey signature.Verifier
	if job.signer != nil {
		v, ok := job.signer.Verifier()
		if !ok {
			return false, nil // a keyless signer's key is new each run: nothing to recognise its earlier work by
		}
		ownKey = v
	}
	tag := job.tags[0]
	if job.ref.Tag != "" {
		tag = job.ref.Tag
	}
	s, err := locateSource(env, log, job.path, job.src)
	if err != nil {
		return false, err
	}
	t, err := reg.open(ctx, env, log, job.ref, "statepack/"+env.Version)
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
	realRoot, err := filepath.EvalSymlinks(s.root)
	if err != nil {
		return false, err
	}
	now, err := build.HashInputs(realRoot, paths)
	if err != nil {
		return false, nil
	}
	if build.InputsDigest(now, s.settings(env, job.src, job.pkg)) != recorded {
		log.Debug("inputs changed since the published artifact", "tag", tag, "digest", desc.Digest)
		return false, nil
	}
	// The annotation and the config can be copied onto other content by anyone who can push: when signing, skip
	// only if this key already signed this digest, which only this publish could have done.
	if ownKey != nil {
		v, err := sign.Verify(ctx, t.Storage(), desc, []signature.Verifier{ownKey}, sign.WithIgnoreTlog(true))
		if err != nil || !formatsCovered(job.format, v.Verified, func(s sign.VerifiedSignature) sign.Format { return s.Format }) {
			log.Info("inputs unchanged, but the artifact under the tag is not signed with this key in the format asked for: publishing in full", "tag", tag, "format", job.format)
			return false, nil
		}
		if job.attest {
			for _, pt := range attestationTypes {
				a, err := sign.VerifyAttestations(ctx, t.Storage(), desc, []signature.Verifier{ownKey}, []string{pt})
				if err != nil || !formatsCovered(job.format, a.Verified, func(v sign.VerifiedAttestation) sign.Format { return v.Format }) {
					log.Info("inputs unchanged, but the artifact under the tag lacks this key's attestations in the format asked for: publishing in full", "tag", tag, "predicateType", pt)
					return false, nil
				}
			}
			res.Attestations = attestationTypes
		}
	}
	log.Info("unchanged: the inputs are those of the published artifact", "ref", job.ref.WithDigest(desc.Digest.String()))
	if job.immutable {
		if err := checkImmutable(ctx, t, desc, job.tags); err != nil {
			return false, err
		}
	}
	if err := t.Tag(ctx, desc, job.tags...); err != nil {
		return false, err
	}
	res.Ref, res.Digest, res.MediaType, res.Size = job.ref.WithDigest(desc.Digest.String()), desc.Digest.String(), desc.MediaType, desc.Size
	res.Annotations, res.Unchanged = m.Annotations, true
	return true, nil
}

// atLeast is log without the records below level, unless log is at debug level (-v).
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

// attestationTypes are the predicate types a signed publish attests, in the order it writes them.
var attestationTypes = []string{sign.PredicateSLSAProvenanceV1, sign.PredicateInventoryV1}

// pushSignTag is the publish order: blobs and manifest by digest, then the signature and attestations, then the
// tags.
func pushSignTag(ctx context.Context, log *slog.Logger, t *publish.Target, b *build.Bundle, signer *sign.Signer, preds []sign.Predicate, tags []string, immutable bool, opts ...sign.SignOption) (ocispec.Descriptor, error) {
	if immutable {
		if err := checkImmutable(ctx, t, b.ManifestDescriptor, tags); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	start := time.Now()
	var desc ocispec.Descriptor
	err := retryStep(ctx, log, "push", func() (err error) {
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
		opts := append(slices.Clip(opts), sign.WithLogger(atLeast(log, slog.LevelWarn)))
		var wg sync.WaitGroup
		var signErr, attestErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			signErr = retryStep(ctx, log, "sign", func() error {
				_, err := signer.Sign(ctx, t.Storage(), desc, t.Ref().Name(), opts...)
				return err
			})
		}()
		if len(preds) > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				attestErr = retryStep(ctx, log, "attest", func() error {
					_, err := signer.Attest(ctx, t.Storage(), desc, t.Ref().Name(), preds, opts...)
					return err
				})
			}()
		}
		wg.Wait()
		if signErr != nil {
			return ocispec.Descriptor{}, fmt.Errorf("signing %s: %w (no tag was written)", t.Ref().WithDigest(desc.Digest.String()), signErr)
		}
		if attestErr != nil {
			return ocispec.Descriptor{}, fmt.Errorf("attesting %s: %w (no tag was written)", t.Ref().WithDigest(desc.Digest.String()), attestErr)
		}
		log.Debug("signed", "signer", signer.String(), "attestations", len(preds), "duration", since(start))
	}
	if len(tags) > 0 {
		if immutable {
			// Again, just before tagging: another publish may have taken a tag meanwhile. Registries offer no
			// compare-and-swap on tags, so a race in the last milliseconds remains possible.
			if err := checkImmutable(ctx, t, desc, tags); err != nil {
				return ocispec.Descriptor{}, err
			}
		}
		if err := retryStep(ctx, log, "tag", func() error { return t.Tag(ctx, desc, tags...) }); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	return desc, nil
}

// retryStep runs one idempotent publish step (push by digest, sign, tag) again when it failed in a way a second try
// can fix: a connection cut mid-response, an upload session the registry lost. Each request is already retried by
// the transport; this covers what happens after a response has begun. Errors that another try cannot fix (bad
// credentials, bad input, a taken tag, a cancelled run) return at once.
func retryStep(ctx context.Context, log *slog.Logger, step string, fn func() error) error {
	const attempts = 4
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		log.Debug("retrying a publish step", "step", step, "attempt", i+2, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(1<<i) * 100 * time.Millisecond):
		}
	}
	return err
}

func retryable(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, publish.ErrUnauthorized), errors.Is(err, publish.ErrInvalidReference),
		errors.Is(err, publish.ErrNotStatepackArtifact), errors.Is(err, errTagTaken),
		errors.Is(err, sign.ErrVerification), errors.Is(err, sign.ErrUnsupported):
		return false
	}
	return true
}

// errTagTaken is returned when --immutable-tags finds a tag on other content.
var errTagTaken = errors.New("tag already points at other content")

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
				errTagTaken, t.Ref().Name(), tag, cur.Digest, desc.Digest)
		}
	}
	return nil
}

// writeResultFiles writes each value to its file (files named "" are skipped), without a trailing newline, as
// Tekton results expect.
func writeResultFiles(files map[string]string) error {
	for path, value := range files {
		if path == "" {
			continue
		}
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("writing the result file %s: %w", path, err)
		}
	}
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
