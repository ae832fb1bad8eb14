package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
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
	f.StringArrayVar(&o.attestations, "attestation", nil, "also require a verified attestation of this type, by the same keys or identities: slsa, inventory, vsa (the images' verification summary), or a predicate type URI (repeatable)")
}

// requested says whether any key or keyless identity was given.
func (o *verifyOptions) requested() bool {
	return len(o.keys) > 0 || (statepack.Policy{Identity: o.identity, IdentityRegexp: o.identityRegexp, Issuer: o.issuer,
		IssuerRegexp: o.issuerRegexp, GitHub: o.github}).Keyless()
}

// checker loads the keys and checks the flags: nil (and no error) when no verification was asked for.
func (o *verifyOptions) checker(ctx context.Context, env *Env) (*statepack.Verifier, error) {
	p, err := o.policy(env)
	if err != nil {
		return nil, err
	}
	return statepack.NewVerifier(ctx, p)
}

// policy is the flags as the library's verification policy; the Fulcio root defaults to SIGSTORE_ROOT_FILE, as
// cosign honours it.
func (o *verifyOptions) policy(env *Env) (statepack.Policy, error) {
	types, err := statepack.PredicateTypes(o.attestations)
	if err != nil {
		return statepack.Policy{}, err
	}
	p := statepack.Policy{Keys: o.keys, Identity: o.identity, IdentityRegexp: o.identityRegexp, Issuer: o.issuer,
		IssuerRegexp: o.issuerRegexp, GitHub: o.github, IgnoreTlog: o.ignoreTlog, IgnoreSCT: o.ignoreSCT, Attestations: types,
		LookupEnv: env.lookupEnv}
	if p.Keyless() {
		if p.FulcioRoots, p.TrustedRoot, err = trustFiles(env, o.fulcioRoot, o.trustedRoot); err != nil {
			return statepack.Policy{}, err
		}
	} else if o.fulcioRoot != "" || o.trustedRoot != "" {
		return statepack.Policy{}, usagef("--fulcio-root and --trusted-root need --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]")
	}
	return p, nil
}

// notOlderRef reads --not-older-than: a digest names content in REF's repository, anything else is a reference of
// its own.
func notOlderRef(ref publish.Ref, s string) (publish.Ref, error) {
	if d, err := digest.Parse(s); err == nil {
		ref.Tag, ref.Digest = "", d.String()
		return ref, nil
	}
	r, err := parseContentRef(s)
	if err != nil {
		return publish.Ref{}, usagef("--not-older-than %q: give a reference with a tag or a digest, or a digest (sha256:…) in %s: %w", s, ref.Name(), err)
	}
	return r, nil
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

type verifyResult struct {
	Ref      string `json:"ref"`
	Digest   string `json:"digest"`
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
	// Explanation names the case of a failure in Flux's terms (unsigned, wrong key, bundles by others, mixed).
	Explanation  string               `json:"explanation,omitempty"`
	Signatures   []signatureSummary   `json:"signatures,omitempty"`
	Attestations []attestationSummary `json:"attestations,omitempty"`
	// Consumers says which consumers take the artifact (--consumers).
	Consumers *statepack.ConsumerReport `json:"consumers,omitempty"`
	// NotOlderThan is the sequence comparison of --not-older-than, when it passed.
	NotOlderThan *statepack.SequenceCheck `json:"notOlderThan,omitempty"`
}

func newVerifyCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		reg       registryOptions
		ver       verifyOptions
		consumers bool
		notOlder  string
	)
	cmd := &cobra.Command{
		Use:   "verify REF --key cosign.pub [--attestation slsa|inventory]... [--consumers] [--not-older-than REF|DIGEST]",
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
			var than *publish.Ref
			if notOlder != "" {
				r, err := notOlderRef(ref, notOlder)
				if err != nil {
					return err
				}
				than = &r
			}
			check, err := ver.checker(cmd.Context(), env)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			ro, err := reg.readOptions(env, g.logger(env))
			if err != nil {
				return err
			}
			v, verr := statepack.Verify(ctx, ref, check, ro)
			if verr != nil && v.Failure == "" {
				return verr
			}
			res := verifyResult{Ref: v.Ref, Digest: v.Digest, Verified: verr == nil, Error: v.Failure, Explanation: v.Explanation}
			if verr == nil {
				res.Signatures = summarizeSignatures(v.Signatures)
				res.Attestations = summarizeAttestations(v.Attestations)
			}
			if verr == nil && than != nil {
				at := ref
				at.Digest = v.Digest
				sc, err := statepack.NotOlderThan(ctx, at, *than, check, ro)
				switch {
				case err == nil:
					res.NotOlderThan = &sc
				case errors.Is(err, statepack.ErrOlder), errors.Is(err, statepack.ErrNoSequence),
					errors.Is(err, sign.ErrVerification), errors.Is(err, sign.ErrNoSignature):
					// A rollback, or an age that cannot be shown: the verdict is no, and the report says why.
					res.Verified, res.Error, verr = false, err.Error(), err
				default:
					return err
				}
			}
			if consumers {
				// The digest Verify resolved: the report is about that content, even if the tag moves meanwhile.
				at := ref
				at.Digest = v.Digest
				rep, err := statepack.Consumers(ctx, at, check, ro)
				if err != nil {
					return err
				}
				res.Consumers = &rep
			}
			if g.json() {
				if err := writeJSON(env.Stdout, res); err != nil {
					return err
				}
			} else if verr == nil {
				fmt.Fprintf(env.Stdout, "%s: signature verified%s\n", res.Ref, formatNote(v.Signatures))
				for _, a := range res.Attestations {
					fmt.Fprintf(env.Stdout, "  attestation %s verified (%s): %s\n", a.PredicateType, a.SignedBy, a.Summary)
				}
				if sc := res.NotOlderThan; sc != nil {
					fmt.Fprintf(env.Stdout, "  not older than %s (sequence %d ≥ %d)\n", sc.ThanRef, sc.Sequence, sc.ThanSequence)
				}
			}
			if res.Consumers != nil && !g.json() {
				if err := writeConsumers(env.Stdout, res.Consumers); err != nil {
					return err
				}
			}
			if verr != nil && v.Explanation != "" && !g.json() {
				fmt.Fprintf(env.Stderr, "statepack: %s: %s\n", v.Ref, v.Explanation)
			}
			return verr
		},
	}
	reg.bind(cmd)
	ver.bind(cmd)
	cmd.Flags().StringVar(&notOlder, "not-older-than", "", "refuse (exit 1) the artifact when its sequence (the commit time statepack records) is lower than that of this artifact, a REF or a DIGEST in REF's repository, verified with the same keys: a tag moved back to older signed content")
	cmd.Flags().BoolVar(&consumers, "consumers", false, "also report which consumers take the artifact as it sits in this registry (Flux before and after 2.8, cosign v2 and v3, Kyverno, policy-controller, Argo CD), and why not; the exit code stays Flux ≥ 2.8's verdict")
	return cmd
}
