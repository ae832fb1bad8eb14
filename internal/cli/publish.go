package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/statepack/statepack"
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
func signatureFormat(v string) (sign.Format, error) { return statepack.SignatureFormat(v) }

// attestations says whether to attest, refusing --attest asked for explicitly without a signer.
func (o *signOptions) attestations(signing bool) (bool, error) {
	if !signing {
		if o.flags != nil && o.flags.Changed("attest") && o.attest {
			return false, usagef("--attest needs --key or --keyless: attestations are signed statements")
		}
		return false, nil
	}
	return o.attest, nil
}

// isKeyless says whether the flags ask for keyless signing.
func (o *signOptions) isKeyless() bool {
	return o.keyless || o.identityToken != "" || o.identityTokenFile != ""
}

// signer checks the signing flags and returns what loads the key or gets the keyless certificate (nil: unsigned),
// which publish runs while the tree renders: a bad key, password or token still fails before anything is pushed.
func (o *signOptions) signer(env *Env, log *slog.Logger) (func(context.Context) (*sign.Signer, error), error) {
	keyless := o.isKeyless()
	if _, err := signatureFormat(o.format); err != nil {
		return nil, err
	}
	tlogSet := o.flags != nil && o.flags.Changed("tlog-upload")
	switch {
	case o.key != "" && keyless:
		return nil, usagef("--key and keyless signing exclude each other: choose one")
	case keyless:
		return func(ctx context.Context) (*sign.Signer, error) {
			return o.keylessSigner(ctx, env, !tlogSet || o.tlogUpload)
		}, nil
	case o.key == "":
		if o.tlogUpload {
			return nil, usagef("--tlog-upload needs --key or --keyless: there is no signature to upload")
		}
		return nil, nil
	case o.tlogUpload:
		return nil, usagef("--tlog-upload is not supported yet for key signing: leave it off (Flux verifies key signatures without the log)")
	}
	return func(ctx context.Context) (*sign.Signer, error) {
		start := time.Now()
		s, err := loadSigningKey(ctx, env, o.key)
		if err == nil {
			log.Debug("loaded the signing key", "key", s.String(), "duration", since(start))
		}
		return s, err
	}, nil
}

// loadSigningKey loads a signing key: a cosign key decrypted with COSIGN_PASSWORD, or a KMS key, which needs none.
func loadSigningKey(ctx context.Context, env *Env, ref string) (*sign.Signer, error) {
	return loadKey(ctx, env, ref, env.getenv("COSIGN_PASSWORD"))
}

// loadKey loads a signing key: a cosign key (a file, or env://VAR read from env) decrypted with password, or a KMS
// key, which needs none.
func loadKey(ctx context.Context, env *Env, ref, pass string) (*sign.Signer, error) {
	var password []byte
	if !sign.IsKMSRef(ref) {
		password = []byte(pass)
	}
	keyGC.begin()
	s, err := sign.Keys{LookupEnv: env.lookupEnv}.LoadSigner(ctx, ref, password)
	keyGC.end()
	if err != nil {
		return nil, keyError(err, ref)
	}
	return s, nil
}

// keyGC keeps the garbage of decrypting cosign keys out of the renders beside them. Decrypting a key (scrypt) holds
// 64 MiB while trees render: with Go's default GC percent the heap's goal would be twice that, and the renders would
// grow into it (50 MiB more peak RSS on a signed 2,000-object publish). While any key decrypts, a low percent keeps
// the heap near what is live (the scrypt buffer holds no pointers: collections stay cheap); the last decryption to
// end collects and puts the percent back.
var keyGC lowGC

type lowGC struct {
	mu         sync.Mutex
	n, percent int
}

func (g *lowGC) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n++; g.n == 1 {
		g.percent = debug.SetGCPercent(20)
	}
}

func (g *lowGC) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n--; g.n == 0 {
		runtime.GC()
		debug.SetGCPercent(g.percent)
	}
}

// keyError classes a key that did not load: a mistake in how statepack was called (exit 2), except a KMS that could
// not be reached or refused, which is an I/O failure (exit 3).
func keyError(err error, refs ...string) error { return statepack.KeyError(err, refs...) }

// keylessSigner finds the OIDC token (flag, file, or GitHub Actions' own) and gets a Fulcio certificate. It never
// falls back to a browser flow: CI has no one to click.
func (o *signOptions) keylessSigner(ctx context.Context, env *Env, tlog bool) (*sign.Signer, error) {
	token, err := keylessToken(ctx, env, o.identityToken, o.identityTokenFile)
	if err != nil {
		return nil, err
	}
	opts, err := o.keylessOptions(env, tlog)
	if err != nil {
		return nil, err
	}
	return newKeylessSigner(ctx, token, opts...)
}

// keylessToken finds the OIDC token of keyless signing: the one given, else the file's, else GitHub Actions' own.
func keylessToken(ctx context.Context, env *Env, token, tokenFile string) (string, error) {
	switch {
	case token != "":
		return token, nil
	case tokenFile != "":
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return "", usagef("reading --identity-token-file: %w", err)
		}
		return strings.TrimSpace(string(data)), nil
	case env.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "":
		// The error names the token request already ("requesting the GitHub Actions OIDC token from …").
		return sign.GitHubActionsToken(ctx, env.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), env.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"), sign.DefaultAudience)
	}
	return "", usagef("keyless signing needs an OIDC token: in GitHub Actions grant the job `permissions: id-token: write`; elsewhere pass --identity-token-file")
}

// keylessOptions are the flags as the options of a keyless signer: which Fulcio and Rekor, whether to upload to the
// log, and the trust roots of a private Sigstore.
func (o *signOptions) keylessOptions(env *Env, tlog bool) ([]sign.KeylessOption, error) {
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
	return opts, nil
}

// newKeylessSigner gets a Fulcio certificate for token: the one way the command and the action sign keyless.
func newKeylessSigner(ctx context.Context, token string, opts ...sign.KeylessOption) (*sign.Signer, error) {
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
type publishResult = statepack.PublishResult

func newPublishCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		src         sourceOptions
		pkg         packageOptions
		reg         registryOptions
		sig         signOptions
		img         imageFlags
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
				if len(args) > 0 {
					return usagef("with --config, PATH and REF come from the config file")
				}
				d, err := configDefaults(cmd, tags, &pkg, &sig, immutable)
				if err != nil {
					return err
				}
				fleet.defaults = d
				ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
				defer cancel()
				// The signing flags checked as for one tree; a keyless signer signs the targets that name no key.
				loadSigner, err := sig.signer(env, g.logger(env))
				if err != nil {
					return err
				}
				if !sig.isKeyless() {
					loadSigner = nil // a --key is the targets' default key, loaded by its name
				}
				return fleetPublish(ctx, env, g, &fleet, &src, &reg, &img, incremental, resultFiles{digest: digestFile, ref: refFile}, loadSigner)
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
			po, err := pkg.values()
			if err != nil {
				return err
			}
			if ref.Digest != "" {
				return usagef("publish REF must not carry a digest: the digest is what publish computes")
			}
			allTags, err := statepack.Tags(ref.Tag, tags...)
			if err != nil {
				return usagef("--tag %w", err)
			}
			log := g.logger(env)
			lo, err := src.loadOptions(env, log)
			if err != nil {
				return err
			}
			bc, err := buildContext(env)
			if err != nil {
				return err
			}
			regOpts, err := reg.options(env)
			if err != nil {
				return err
			}
			conn, err := reg.connection(env)
			if err != nil {
				return err
			}
			imgOpts, err := img.options(cmd.Context(), env, conn, nil, log)
			if err != nil {
				return err
			}
			// The key is loaded while the tree renders (statepack.PublishOptions.LoadSigner): a bad key or password
			// still fails before any push.
			loadSigner, err := sig.signer(env, log)
			if err != nil {
				return err
			}
			attest, err := sig.attestations(loadSigner != nil)
			if err != nil {
				return err
			}
			format, err := signatureFormat(sig.format)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			res, err := statepack.Publish(ctx, path, ref, statepack.PublishOptions{Load: lo, Package: po, Tags: allTags,
				LoadSigner: loadSigner, Attest: attest, SignatureFormat: format, ImmutableTags: immutable, Incremental: incremental,
				Registry: regOpts, Images: imgOpts, Context: bc, Logger: log})
			reportFindings(env.Stderr, &globalOptions{output: "text"}, res.Findings)
			if !g.json() {
				printImages(env.Stderr, res.Images)
			}
			if err != nil {
				return reported(err)
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
	img.bind(cmd)
	fleet.bind(cmd)
	cmd.Flags().BoolVar(&incremental, "incremental", false, "skip render and push when the artifact under REF's tag was made from the same inputs (files read, options, statepack version)")
	cmd.Flags().BoolVar(&immutable, "immutable-tags", false, "refuse to move a tag that already points at other content (release tags); by default tags move, as main should")
	cmd.Flags().StringArrayVarP(&tags, "tag", "t", nil, "also point this tag at the artifact (repeatable); tags are written last")
	cmd.Flags().StringVar(&digestFile, "digest-file", "", "write the manifest digest (sha256:…) to this file, without a newline (Tekton's IMAGE_DIGEST result); with --config, of its one selected target")
	cmd.Flags().StringVar(&refFile, "ref-file", "", "write REPOSITORY@sha256:… to this file, without a newline (the Tekton Task takes IMAGE_URL from it, without the digest); with --config, of its one selected target")
	return cmd
}

// configDefaults are the flags given beside --config, as the defaults of every target that does not set its own.
func configDefaults(cmd *cobra.Command, tags []string, pkg *packageOptions, sig *signOptions, immutable bool) (statepack.Target, error) {
	var d statepack.Target
	changed := cmd.Flags().Changed
	for _, t := range tags {
		if err := publish.ValidateTag(t); err != nil {
			return d, usagef("--tag %q is not a valid tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", t)
		}
	}
	d.Tags = tags
	if changed("layer-media-type") {
		d.LayerMediaType = pkg.layerMediaType
	}
	po, err := pkg.values()
	if err != nil {
		return d, err
	}
	d.Annotations = po.Annotations
	if changed("immutable-tags") {
		d.ImmutableTags = &immutable
	}
	if changed("key") || changed("signature-format") || changed("attest") || sig.isKeyless() {
		// Keyless, the key stays "": the targets that name none sign with Signers.Unnamed.
		d.Sign = &statepack.SignConfig{Key: sig.key, Format: sig.format}
		if _, err := signatureFormat(sig.format); err != nil {
			return d, err
		}
		if changed("attest") {
			attest := sig.attest
			d.Sign.Attest = &attest
		}
	}
	return d, nil
}

// reported turns the library's error for a tree with findings, which the command printed, into one that Run does
// not print again; other errors pass unchanged.
func reported(err error) error {
	var fe *build.FindingsError
	if errors.As(err, &fe) {
		return failOnFindings(fe.Findings)
	}
	return err
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
