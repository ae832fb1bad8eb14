package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// verifyOptions are the flags that verify an artifact, named as cosign and Flux name them.
type verifyOptions struct {
	keys                  []string
	identity              string
	identityRegexp        string
	issuer                string
	issuerRegexp          string
	fulcioRoot            string
	trustedRoot           string
	ignoreTlog, ignoreSCT bool
	attestations          []string
	github                sign.GitHubWorkflowClaims
}

func (o *verifyOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "cosign public key: a file, env://VAR, or a KMS URI (a build with -tags kms) (repeatable: any may match, as Flux takes every *.pub)")
	f.StringVar(&o.identity, "certificate-identity", "", "keyless: the signer's identity (e.g. https://github.com/ORG/REPO/.github/workflows/W.yaml@refs/heads/main)")
	f.StringVar(&o.identityRegexp, "certificate-identity-regexp", "", "keyless: a regular expression the signer's identity must match")
	f.StringVar(&o.issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer (e.g. https://token.actions.githubusercontent.com)")
	f.StringVar(&o.issuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: a regular expression the OIDC issuer must match")
	f.StringVar(&o.fulcioRoot, "fulcio-root", "", "PEM chain of a private Fulcio's CA (default: $SIGSTORE_ROOT_FILE, else public Sigstore)")
	f.StringVar(&o.trustedRoot, "trusted-root", "", "sigstore trusted_root.json of a private Sigstore")
	f.BoolVar(&o.ignoreTlog, "insecure-ignore-tlog", false, "keyless: do not require a Rekor entry (key signatures never need one)")
	f.BoolVar(&o.ignoreSCT, "insecure-ignore-sct", false, "keyless: do not require a certificate-transparency SCT")
	f.StringVar(&o.github.Repository, "certificate-github-workflow-repository", "", "keyless: the GitHub repository (owner/name) the signing workflow ran in")
	f.StringVar(&o.github.Ref, "certificate-github-workflow-ref", "", "keyless: the git ref the signing workflow ran on (e.g. refs/heads/main)")
	f.StringVar(&o.github.Trigger, "certificate-github-workflow-trigger", "", "keyless: the event that triggered the signing workflow (e.g. push)")
	f.StringVar(&o.github.SHA, "certificate-github-workflow-sha", "", "keyless: the commit the signing workflow built")
	f.StringVar(&o.github.Name, "certificate-github-workflow-name", "", "keyless: the signing workflow's name")
	f.StringArrayVar(&o.attestations, "attestation", nil, "also require a verified attestation of this type, by the same keys or identities: slsa, inventory, or a predicate type URI (repeatable)")
}

func (o *verifyOptions) keyless() bool {
	return o.identity != "" || o.identityRegexp != "" || o.issuer != "" || o.issuerRegexp != "" || o.github != (sign.GitHubWorkflowClaims{})
}

func (o *verifyOptions) requested() bool { return len(o.keys) > 0 || o.keyless() }

// verifiers loads the public keys (none when only keyless identities are given).
func (o *verifyOptions) verifiers(ctx context.Context) ([]signature.Verifier, error) {
	if len(o.keys) == 0 {
		return []signature.Verifier{}, nil
	}
	return sign.LoadVerifiers(ctx, o.keys...)
}

// options turns the keyless flags into verify options. Key signatures are checked without the log, as Flux does.
func (o *verifyOptions) options(env *Env) ([]sign.VerifyOption, error) {
	if !o.keyless() {
		if o.fulcioRoot != "" || o.trustedRoot != "" {
			return nil, usagef("--fulcio-root and --trusted-root need --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]")
		}
		return []sign.VerifyOption{sign.WithIgnoreTlog(true)}, nil
	}
	if (o.identity == "" && o.identityRegexp == "") || (o.issuer == "" && o.issuerRegexp == "") {
		return nil, usagef("keyless verification needs both --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp], as Flux's matchOIDCIdentity does")
	}
	opts := []sign.VerifyOption{
		sign.WithIdentities(sign.Identity{Subject: o.identity, SubjectRegexp: o.identityRegexp, Issuer: o.issuer, IssuerRegexp: o.issuerRegexp}),
		sign.WithIgnoreTlog(o.ignoreTlog), sign.WithIgnoreSCT(o.ignoreSCT), sign.WithGitHubWorkflowClaims(o.github),
	}
	roots, trusted, err := trustFiles(env, o.fulcioRoot, o.trustedRoot)
	if err != nil {
		return nil, err
	}
	if roots != nil {
		opts = append(opts, sign.WithRootCerts(roots))
	}
	if trusted != nil {
		opts = append(opts, sign.WithTrustedRoot(trusted))
	}
	return opts, nil
}

// checker is verification made ready once per command: keys loaded, keyless options parsed.
type checker struct {
	keys []signature.Verifier
	opts []sign.VerifyOption
	// attestations are the predicate types whose attestations must verify too.
	attestations []string
	// log, when set, receives verification warnings (say, a legacy signature that Flux would not look at).
	log *slog.Logger
}

// checker returns nil (and no error) when no verification was asked for.
func (o *verifyOptions) checker(ctx context.Context, env *Env) (*checker, error) {
	types, err := predicateTypes(o.attestations)
	if err != nil {
		return nil, err
	}
	if !o.requested() {
		if len(types) > 0 {
			return nil, usagef("--attestation needs --key, or --certificate-identity and --certificate-oidc-issuer: who must have signed it")
		}
		return nil, nil
	}
	keys, err := o.verifiers(ctx)
	if err != nil {
		return nil, keyError(err, o.keys...)
	}
	opts, err := o.options(env)
	if err != nil {
		return nil, err
	}
	return &checker{keys: keys, opts: opts, attestations: types}, nil
}

// predicateTypes turns --attestation values into predicate types: the short names slsa and inventory, or a
// predicate type URI as cosign's --type takes it.
func predicateTypes(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "slsa", "slsaprovenance1", "provenance":
			out = append(out, sign.PredicateSLSAProvenanceV1)
		case "inventory":
			out = append(out, sign.PredicateInventoryV1)
		default:
			if !strings.Contains(n, "://") {
				return nil, usagef("--attestation %q: use slsa, inventory, or a predicate type URI", n)
			}
			out = append(out, n)
		}
	}
	return slices.Compact(out), nil
}

// verify checks desc's signatures in t, and its attestations when asked.
func (c *checker) verify(ctx context.Context, t oras.ReadOnlyTarget, desc ocispec.Descriptor) (*sign.Verification, error) {
	v, _, err := c.verifyAll(ctx, t, desc)
	return v, err
}

// verifyAll checks desc's signatures in t, then the attestations asked for; the attestation result is nil when
// none were asked for.
func (c *checker) verifyAll(ctx context.Context, t oras.ReadOnlyTarget, desc ocispec.Descriptor) (*sign.Verification, *sign.AttestationVerification, error) {
	opts := c.opts
	if c.log != nil {
		opts = append(slices.Clip(opts), sign.WithVerifyLogger(atLeast(c.log, slog.LevelWarn)))
	}
	v, err := sign.Verify(ctx, t, desc, c.keys, opts...)
	if err != nil || len(c.attestations) == 0 {
		return v, nil, err
	}
	a, err := sign.VerifyAttestations(ctx, t, desc, c.keys, c.attestations, opts...)
	if err != nil {
		return v, nil, err
	}
	return v, a, nil
}

// formatNote names the sigstore bundle format when that is what verified; the legacy format goes unsaid.
func formatNote(v *sign.Verification) string {
	for _, s := range v.Verified {
		if s.Format == sign.FormatBundle {
			return " (sigstore bundle)"
		}
	}
	return ""
}

// parseContentRef parses a REF that must name content: a tag or a digest.
func parseContentRef(s string) (publish.Ref, error) {
	ref, err := publish.ParseRef(s)
	if err != nil {
		return publish.Ref{}, err
	}
	if ref.Tag == "" && ref.Digest == "" {
		return publish.Ref{}, usagef("%s names no tag or digest: add :TAG or @sha256:…", s)
	}
	return ref, nil
}

// resolve finds the manifest REF names: by digest when it has one, else by tag.
func resolve(ctx context.Context, t *publish.Target, ref publish.Ref) (ocispec.Descriptor, error) {
	reference := ref.Digest
	if reference == "" {
		reference = ref.Tag
	}
	return t.Resolve(ctx, reference)
}

// openExisting opens a target that commands only read from (a missing layout is an error, not created) and
// resolves REF in it.
func (o *registryOptions) openExisting(ctx context.Context, env *Env, log *slog.Logger, ref publish.Ref) (*publish.Target, ocispec.Descriptor, error) {
	t, err := o.open(ctx, env, log, ref, "statepack/"+env.Version, publish.WithExistingLayout())
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	desc, err := resolve(ctx, t, ref)
	return t, desc, err
}

type verifyResult struct {
	Ref          string               `json:"ref"`
	Digest       string               `json:"digest"`
	Verified     bool                 `json:"verified"`
	Error        string               `json:"error,omitempty"`
	Signatures   []signatureSummary   `json:"signatures,omitempty"`
	Attestations []attestationSummary `json:"attestations,omitempty"`
}

func newVerifyCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		reg registryOptions
		ver verifyOptions
	)
	cmd := &cobra.Command{
		Use:   "verify REF --key cosign.pub [--attestation slsa|inventory]...",
		Short: "Check the artifact's signature (and attestations) the way an in-cluster agent (Flux) would",
		Args:  argsUsage(1, 1, "one REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseContentRef(args[0])
			if err != nil {
				return err
			}
			if !ver.requested() {
				return usagef("verify needs --key (the cosign public key), or --certificate-identity and --certificate-oidc-issuer for keyless signatures")
			}
			check, err := ver.checker(cmd.Context(), env)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			log := g.logger(env)
			check.log = log
			t, desc, err := reg.openExisting(ctx, env, log, ref)
			if err != nil {
				return err
			}
			res := verifyResult{Ref: ref.WithDigest(desc.Digest.String()), Digest: desc.Digest.String()}
			var v *sign.Verification
			var atts *sign.AttestationVerification
			verr := retryRead(ctx, log, "verify", func() (err error) {
				v, atts, err = check.verifyAll(ctx, t.Storage(), desc)
				return err
			})
			if verr != nil && !errors.Is(verr, sign.ErrNoSignature) && !errors.Is(verr, sign.ErrVerification) {
				return verr
			}
			res.Verified = verr == nil
			if verr != nil {
				res.Error = verr.Error()
			} else {
				res.Signatures = summarizeSignatures(v)
				res.Attestations = summarizeAttestations(atts)
			}
			if g.json() {
				if err := writeJSON(env.Stdout, res); err != nil {
					return err
				}
			} else if verr == nil {
				fmt.Fprintf(env.Stdout, "%s: signature verified%s\n", res.Ref, formatNote(v))
				for _, a := range res.Attestations {
					fmt.Fprintf(env.Stdout, "  attestation %s verified (%s): %s\n", a.PredicateType, a.SignedBy, a.Summary)
				}
			}
			if verr != nil {
				if ref.Tag != "" && ref.Digest == "" && errors.Is(verr, sign.ErrNoSignature) && !errors.Is(verr, sign.ErrNoAttestation) {
					verr = fmt.Errorf("%w (tag %q points at %s: if the tag was moved, the new content is unsigned)", verr, ref.Tag, desc.Digest)
				}
				return fmt.Errorf("verifying %s: %w", res.Ref, verr)
			}
			return nil
		},
	}
	reg.bind(cmd)
	ver.bind(cmd)
	return cmd
}

func newPullCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		reg    registryOptions
		ver    verifyOptions
		outDir string
	)
	cmd := &cobra.Command{
		Use:   "pull REF -o DIR",
		Short: "Fetch an artifact (verifying it first when given --key) and extract its manifests into DIR",
		Args:  argsUsage(1, 1, "one REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseContentRef(args[0])
			if err != nil {
				return err
			}
			if outDir == "" {
				return usagef("pull needs -o DIR: where to extract the manifests")
			}
			check, err := ver.checker(cmd.Context(), env)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			log := g.logger(env)
			// Every step reads by digest, so each is retried on its own after a transient failure (retryRead).
			t, err := reg.open(ctx, env, log, ref, "statepack/"+env.Version, publish.WithExistingLayout())
			if err != nil {
				return err
			}
			var desc ocispec.Descriptor
			if err := retryRead(ctx, log, "resolve", func() (err error) { desc, err = resolve(ctx, t, ref); return err }); err != nil {
				return err
			}
			full := ref.WithDigest(desc.Digest.String())
			if check != nil {
				check.log = log
				if _, err := check.verifyWithRetry(ctx, log, t, desc); err != nil {
					return fmt.Errorf("verifying %s before pulling: %w (nothing was extracted)", full, err)
				}
				log.Info("signature verified", "ref", full, "attestations", len(check.attestations))
			}
			var m ocispec.Manifest
			if err := retryRead(ctx, log, "fetch manifest", func() (err error) { m, _, err = t.FetchManifest(ctx, desc); return err }); err != nil {
				return err
			}
			layer, err := contentLayer(m, full)
			if err != nil {
				return err
			}
			files, err := pullLayer(ctx, log, t, layer, outDir)
			if err != nil {
				return fmt.Errorf("extracting %s into %s: %w (nothing was extracted)", full, outDir, err)
			}
			if g.json() {
				return writeJSON(env.Stdout, map[string]any{"ref": full, "digest": desc.Digest, "dir": outDir,
					"files": files, "verified": check != nil, "annotations": m.Annotations})
			}
			fmt.Fprintf(env.Stdout, "%s: %d file(s) extracted into %s\n", full, len(files), outDir)
			return nil
		},
	}
	reg.bind(cmd)
	ver.bind(cmd)
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "directory to extract into (created; must be empty if it exists)")
	return cmd
}

// contentLayer picks the layer Flux would take: layers[0], which must be a gzip'd tar.
func contentLayer(m ocispec.Manifest, ref string) (ocispec.Descriptor, error) {
	if len(m.Layers) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("%s has no layers: it is not a statepack artifact", ref)
	}
	l := m.Layers[0]
	switch l.MediaType {
	case build.LayerMediaType, build.FluxLayerMediaType:
		return l, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s: layer 0 has media type %q, not a gzip'd tar of manifests (%s or %s)",
		ref, l.MediaType, build.LayerMediaType, build.FluxLayerMediaType)
}

func newGenerateKeyPairCmd(env *Env, g *globalOptions) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "generate-key-pair",
		Short: "Write a cosign key pair (PREFIX.key encrypted with COSIGN_PASSWORD, PREFIX.pub)",
		Args:  argsUsage(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			priv, pub, err := sign.GenerateKeyPair([]byte(env.getenv("COSIGN_PASSWORD")))
			if err != nil {
				return err
			}
			keyFile, pubFile := prefix+".key", prefix+".pub"
			for _, f := range []string{keyFile, pubFile} {
				if _, err := os.Lstat(f); err == nil {
					return usagef("%s exists: statepack does not overwrite keys; remove it or choose --output-key-prefix", f)
				}
			}
			if err := writeNew(keyFile, priv, 0o600); err != nil {
				return err
			}
			if err := writeNew(pubFile, pub, 0o644); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(env.Stdout, map[string]string{"privateKey": keyFile, "publicKey": pubFile})
			}
			fmt.Fprintf(env.Stdout, "Private key written to %s\nPublic key written to %s\n", keyFile, pubFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "output-key-prefix", "cosign", "file name prefix of the key pair")
	return cmd
}

// writeNew creates a file that must not exist yet, so that a symlink planted at the path cannot redirect a private
// key elsewhere.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
