package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/publish"
)

// imageFlags are the flags of the image pin stage, on validate and publish: pin, verify, and the trust policy for
// every image, named as cosign's verification flags with an image- prefix.
type imageFlags struct {
	pin, verify                                    bool
	keys                                           []string
	identity, identityRegexp, issuer, issuerRegexp string
	fulcioRoot, trustedRoot                        string
	ignoreTlog, ignoreSCT                          bool
	concurrency                                    int
	flags                                          *pflag.FlagSet
}

func (o *imageFlags) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	o.flags = f
	f.BoolVar(&o.pin, "pin-images", false, "resolve every image to its digest and (publish) write name:tag@sha256:… into the artifact; an image that does not resolve is an error")
	f.BoolVar(&o.verify, "verify-images", false, "verify every image's cosign signature with --image-key or --image-certificate-identity/--image-certificate-oidc-issuer (and the config's images.rules); an image that fails is an error")
	f.StringArrayVar(&o.keys, "image-key", nil, "cosign public key images may be signed with: a file, env://VAR or a KMS URI (repeatable: any may match; implies --verify-images)")
	f.StringVar(&o.identity, "image-certificate-identity", "", "keyless: the identity images must be signed by (implies --verify-images)")
	f.StringVar(&o.identityRegexp, "image-certificate-identity-regexp", "", "keyless: a regular expression the images' signer identity must match")
	f.StringVar(&o.issuer, "image-certificate-oidc-issuer", "", "keyless: the OIDC issuer of the images' signer")
	f.StringVar(&o.issuerRegexp, "image-certificate-oidc-issuer-regexp", "", "keyless: a regular expression the OIDC issuer of the images' signer must match")
	f.StringVar(&o.fulcioRoot, "image-fulcio-root", "", "PEM chain of the Fulcio CA image signatures chain to (default: $SIGSTORE_ROOT_FILE, else public Sigstore)")
	f.StringVar(&o.trustedRoot, "image-trusted-root", "", "sigstore trusted_root.json for image signatures (a private Sigstore)")
	f.BoolVar(&o.ignoreTlog, "image-insecure-ignore-tlog", false, "keyless image signatures: do not require a Rekor entry")
	f.BoolVar(&o.ignoreSCT, "image-insecure-ignore-sct", false, "keyless image signatures: do not require a certificate-transparency SCT")
	f.IntVar(&o.concurrency, "image-jobs", 8, "registry requests in flight at most while resolving and verifying images")
}

// keyless says whether a keyless identity was given.
func (o *imageFlags) keyless() bool {
	return o.identity != "" || o.identityRegexp != "" || o.issuer != "" || o.issuerRegexp != ""
}

// options are the flags (and a config's images section) as the library's image options; the zero value (nothing
// asked) when no flag and no config asks for images. Config rules come first, then one rule for every image from
// the flags. reg are the registry options without the publish target's static credentials.
func (o *imageFlags) options(ctx context.Context, env *Env, reg []publish.Option, cfg *statepack.ImagesConfig, log *slog.Logger) (statepack.ImageOptions, error) {
	verify := o.verify || len(o.keys) > 0 || o.keyless()
	var rules []statepack.ImageRule
	pin := o.pin
	if cfg != nil {
		rules, pin = append(rules, cfg.Rules...), pin || cfg.Pin
		verify = verify || len(cfg.Rules) > 0
	}
	if len(o.keys) > 0 || o.keyless() {
		r := statepack.ImageRule{Image: "*", Keys: o.keys}
		if o.keyless() {
			if (o.identity == "" && o.identityRegexp == "") || (o.issuer == "" && o.issuerRegexp == "") {
				return statepack.ImageOptions{}, usagef("keyless image verification needs both --image-certificate-identity[-regexp] and --image-certificate-oidc-issuer[-regexp]")
			}
			r.Identities = []statepack.ImageIdentity{{Identity: o.identity, IdentityRegexp: o.identityRegexp, Issuer: o.issuer, IssuerRegexp: o.issuerRegexp}}
		}
		rules = append(rules, r)
	}
	if o.concurrency < 1 {
		return statepack.ImageOptions{}, usagef("--image-jobs must be at least 1")
	}
	opts := statepack.ImageOptions{Resolve: pin, Pin: pin, Registry: reg, Concurrency: o.concurrency, Logger: log}
	if verify {
		if len(rules) == 0 {
			return statepack.ImageOptions{}, usagef("--verify-images needs --image-key, or --image-certificate-identity and --image-certificate-oidc-issuer, or images.rules in the config: who must have signed the images")
		}
		p := &statepack.ImagePolicy{Rules: rules, IgnoreTlog: o.ignoreTlog, IgnoreSCT: o.ignoreSCT, LookupEnv: env.lookupEnv}
		var err error
		if p.FulcioRoots, p.TrustedRoot, err = trustFiles(env, o.fulcioRoot, o.trustedRoot); err != nil {
			return statepack.ImageOptions{}, err
		}
		opts.Policy = p
	} else if o.fulcioRoot != "" || o.trustedRoot != "" || o.ignoreTlog || o.ignoreSCT {
		return statepack.ImageOptions{}, usagef("the --image-fulcio-root, --image-trusted-root and --image-insecure-* flags need --verify-images")
	}
	if !opts.Enabled() {
		return opts, nil
	}
	// One checker for the run: a fleet's targets share each image's resolution and verdict.
	c, err := statepack.NewImageChecker(ctx, opts)
	if err != nil {
		return statepack.ImageOptions{}, err
	}
	opts.Checker = c
	return opts, nil
}

// printImages writes the pin stage's summary, one line per image.
func printImages(w io.Writer, r *statepack.ImageReport) {
	if r == nil {
		return
	}
	for _, line := range r.Summary() {
		fmt.Fprintf(w, "image %s\n", line)
	}
}

// checkImages runs the pin stage on a loaded source, when the options ask for it, and adds its findings to the
// source's; nil when nothing was asked.
func checkImages(ctx context.Context, s *statepack.Source, o statepack.ImageOptions) (*statepack.ImageReport, error) {
	if !o.Enabled() || s.Findings.HasErrors() {
		return nil, nil
	}
	r, err := statepack.CheckImages(ctx, s, o)
	if err != nil {
		return nil, err
	}
	s.Findings = append(s.Findings, r.Findings...)
	s.Findings.Sort()
	return &r, nil
}
