package statepack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// Consumer names a program that reads statepack artifacts and decides whether to take one: the verifiers and
// deployers ConsumerReport speaks for.
type Consumer string

// The consumers Consumers reports on, in the order it lists them. Each rule is written from the consumer's own code;
// the comment beside it in consumers.go names the file and the version it mirrors.
const (
	// ConsumerFlux is Flux 2.8 and later: source-controller v1.8+ verifying an OCIRepository with provider cosign.
	ConsumerFlux Consumer = "flux"
	// ConsumerFluxLegacy is Flux before 2.8: source-controller up to v1.7, which reads legacy signatures only.
	ConsumerFluxLegacy Consumer = "flux-before-2.8"
	// ConsumerCosignV2 is the cosign v2 command line (v2.6.5): `cosign verify`.
	ConsumerCosignV2 Consumer = "cosign-v2"
	// ConsumerCosignV3 is the cosign v3 command line: `cosign verify`.
	ConsumerCosignV3 Consumer = "cosign-v3"
	// ConsumerKyvernoCosign is Kyverno's verifyImages with type Cosign (the default).
	ConsumerKyvernoCosign Consumer = "kyverno-cosign"
	// ConsumerKyvernoBundle is Kyverno's verifyImages with type SigstoreBundle.
	ConsumerKyvernoBundle Consumer = "kyverno-sigstore-bundle"
	// ConsumerPolicyController is sigstore's policy-controller (a ClusterImagePolicy authority).
	ConsumerPolicyController Consumer = "policy-controller"
	// ConsumerArgoCD is Argo CD's repo server reading an OCI source (Argo CD 3.1+).
	ConsumerArgoCD Consumer = "argo-cd"
)

// Verdict is what a consumer decides about an artifact.
type Verdict string

const (
	// Accepted: the consumer verifies the artifact's signature with the keys or identities given and takes it.
	Accepted Verdict = "accepted"
	// AcceptedUnverified: the consumer takes the artifact without verifying any signature (Argo CD).
	AcceptedUnverified Verdict = "accepted, not verified"
	// Refused: the consumer does not take the artifact.
	Refused Verdict = "refused"
	// Unknown: the verdict depends on what statepack could not check (the reason says what).
	Unknown Verdict = "unknown"
)

// ConsumerVerdict is one consumer's decision about an artifact, and why.
type ConsumerVerdict struct {
	Consumer Consumer `json:"consumer"`
	// Name is the consumer as a reader knows it, with the versions the rule holds for.
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// Reason says why, in the consumer's terms: which signature it reads and what it found.
	Reason string `json:"reason"`
	// Requires is the configuration the verdict assumes the consumer has, beyond the keys or identities of the policy
	// (a flag, a policy field); "" when it needs none.
	Requires string `json:"requires,omitempty"`
	// Source names the consumer's code the rule mirrors: repository, file, version.
	Source string `json:"source"`
}

// ConsumerReport says, for an artifact as it sits in a registry (or an OCI layout), which consumers take it with the
// policy's keys or identities, and why the others do not.
type ConsumerReport struct {
	// Ref is the reference with the digest it resolved to.
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Referrers is how the target lists the artifact's referrers (its sigstore bundles among them); "" when the
	// listing failed, and ReferrersError says why.
	Referrers      publish.ReferrerListing `json:"referrers"`
	ReferrersError string                  `json:"referrersError,omitempty"`
	// Bundles is how many sigstore bundles refer to the artifact, as cosign finds them; LegacySignature says whether
	// a sha256-<hex>.sig tag holds legacy signatures of it.
	Bundles         int  `json:"bundles"`
	LegacySignature bool `json:"legacySignature"`
	// Consumers are the verdicts, in the order of the Consumer constants.
	Consumers []ConsumerVerdict `json:"consumers"`
}

// Verdict returns the verdict of consumer c in the report, and false when the report has none.
func (r ConsumerReport) Verdict(c Consumer) (ConsumerVerdict, bool) {
	i := slices.IndexFunc(r.Consumers, func(v ConsumerVerdict) bool { return v.Consumer == c })
	if i < 0 {
		return ConsumerVerdict{}, false
	}
	return r.Consumers[i], true
}

// Consumers resolves ref (give it a digest to judge exactly what Verify checked) and reports which consumers take the
// artifact as it sits in that registry or layout, checking signatures with v's keys or identities as each consumer
// would: Flux 2.8 and later, Flux before 2.8, the cosign v2 and v3 command lines, Kyverno (types Cosign and
// SigstoreBundle), sigstore's policy-controller and Argo CD. It reads what they read — the sigstore bundles among
// the referrers (through the registry's referrers API, else its referrers tag), the sha256-<hex>.sig tag, the
// manifest — and never fails because a consumer refuses: the refusal is a verdict. It fails when ref cannot be
// resolved or read, and with an ErrInvalidOption for a nil verifier. Attestations are not part of the verdicts.
//
// An OCI layout is read as it is: no consumer pulls from a layout, so its verdicts are those of a registry that
// lists the layout's referrers the way its index does, as after `statepack copy` to a registry with the referrers API.
func Consumers(ctx context.Context, ref publish.Ref, v *Verifier, o ReadOptions) (ConsumerReport, error) {
	log := logger(o.Logger)
	if v == nil {
		return ConsumerReport{}, invalidf("the consumer report needs --key (the cosign public key), or --certificate-identity and --certificate-oidc-issuer for keyless signatures")
	}
	t, desc, err := o.openResolved(ctx, ref)
	if err != nil {
		return ConsumerReport{}, err
	}
	ev := &consumerEvidence{v: v, desc: desc}
	if err := ev.read(ctx, t, log, o.StepAttempts); err != nil {
		return ConsumerReport{}, err
	}
	rep := ConsumerReport{Ref: ref.WithDigest(desc.Digest.String()), Digest: desc.Digest.String(), Referrers: ev.listing,
		Bundles: ev.bundles, LegacySignature: ev.hasSig}
	if ev.listErr != nil {
		rep.ReferrersError = ev.listErr.Error()
	}
	for _, rule := range consumerRules {
		cv := rule.judge(ev)
		cv.Consumer, cv.Name, cv.Source = rule.consumer, rule.name, rule.source
		rep.Consumers = append(rep.Consumers, cv)
	}
	return rep, nil
}

// consumerEvidence is what the consumers read about one artifact, read once.
type consumerEvidence struct {
	v        *Verifier
	desc     ocispec.Descriptor
	manifest ocispec.Manifest
	// listed are the referrers as the registry lists them (with the artifact types it reports); listErr says why
	// they could not be listed.
	listed  []ocispec.Descriptor
	listing publish.ReferrerListing
	listErr error
	// hasSig: a sha256-<hex>.sig tag exists. bundles: the sigstore bundles cosign finds, of any predicate type.
	hasSig  bool
	bundles int
	// strict is Verify's own verdict (bundles first, as Flux ≥ 2.8 and cosign decide); lenient lists every signature
	// that verifies, in either format (WithLegacyFallback); tlogLenient is lenient with the transparency log required,
	// for keyless verifiers that cannot ignore it. A nil Verification means that nothing verified; strictErr says
	// why Verify refused the artifact.
	strict, lenient, tlogLenient *sign.Verification
	strictErr                    error
	// tlogErr says why the check with the log required could not be made (its trusted material, say).
	tlogErr error
}

// read gathers the evidence. Only reading failures are errors; a signature that does not verify is evidence.
func (ev *consumerEvidence) read(ctx context.Context, t *publish.Target, log *slog.Logger, attempts int) error {
	if err := retryRead(ctx, log, attempts, "fetch", func() (err error) {
		ev.manifest, _, err = t.FetchManifest(ctx, ev.desc)
		return err
	}); err != nil {
		return err
	}
	if err := retryRead(ctx, log, attempts, "fetch", func() (err error) {
		ev.listed, ev.listing, err = t.Referrers(ctx, ev.desc)
		return err
	}); err != nil {
		if ctx.Err() != nil {
			return err
		}
		// Flux and cosign read the legacy signatures when the referrers cannot be listed, and so does the report.
		ev.listErr = err
	}
	if err := retryRead(ctx, log, attempts, "resolve", func() error {
		_, err := t.Resolve(ctx, sign.SignatureTag(ev.desc.Digest))
		ev.hasSig = err == nil
		if errors.Is(err, publish.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	store := t.Storage()
	verify := func(opts []sign.VerifyOption, ver **sign.Verification, verr *error) error {
		return retryRead(ctx, log, attempts, "verify", func() error {
			res, err := sign.Verify(ctx, store, ev.desc, ev.v.keys, opts...)
			if err != nil && !errors.Is(err, sign.ErrNoSignature) && !errors.Is(err, sign.ErrVerification) {
				return err
			}
			*ver, *verr = res, err
			return nil
		})
	}
	var ignored error
	if err := verify(slices.Clip(ev.v.opts), &ev.strict, &ev.strictErr); err != nil {
		return err
	}
	lenient := append(slices.Clip(ev.v.opts), sign.WithLegacyFallback(true))
	if err := verify(lenient, &ev.lenient, &ignored); err != nil {
		return err
	}
	ev.tlogLenient = ev.lenient
	if ev.v.keyless {
		// Offline, with only a Fulcio root, the log's keys cannot be had: that leaves this verdict open, not the report.
		if err := verify(append(slices.Clip(lenient), sign.WithIgnoreTlog(false)), &ev.tlogLenient, &ignored); err != nil {
			if ctx.Err() != nil {
				return err
			}
			ev.tlogLenient, ev.tlogErr = nil, err
		}
	}
	return retryRead(ctx, log, attempts, "verify", func() error {
		risk, err := sign.BundleOnlyRisk(ctx, store, ev.desc, ev.v.keys, ev.v.opts...)
		if err != nil {
			return err
		}
		ev.bundles = risk.Bundles
		return nil
	})
}

// consumerRule is one consumer and how it decides.
type consumerRule struct {
	consumer Consumer
	name     string
	source   string
	judge    func(ev *consumerEvidence) ConsumerVerdict
}

// consumerRules are the consumers in the order the report lists them.
var consumerRules = []consumerRule{
	{
		consumer: ConsumerFlux,
		name:     "Flux ≥ 2.8 (source-controller v1.8+)",
		// fluxcd/source-controller internal/oci/cosign/cosign.go, CosignVerifier.Verify (read at commit 0be0d822: the
		// code fluxcd/source-controller#1961 brought in for v1.8.0, Flux 2.8): cosign.GetBundles lists the referrers
		// (go-containerregistry's remote.Referrers: the referrers API, else the referrers tag); when it finds any
		// bundle, cosign.VerifyImageAttestations with NewBundleFormat verifies the bundles alone, otherwise
		// cosign.VerifyImageSignatures reads the .sig tag. Keys come from the Secret, checked with IgnoreTlog (the
		// "oversight" its comment names); keyless checks use public Sigstore's trusted root. sign.Verify applies the
		// same rule.
		source: "fluxcd/source-controller internal/oci/cosign/cosign.go (v1.8.0, #1961)",
		judge: func(ev *consumerEvidence) ConsumerVerdict {
			return ev.bundlesFirst(ev.fluxRequires())
		},
	},
	{
		consumer: ConsumerFluxLegacy,
		name:     "Flux < 2.8 (source-controller ≤ v1.7)",
		// fluxcd/source-controller internal/oci/cosign/cosign.go before #1961 (v1.7.x): CosignVerifier.Verify called
		// cosign.VerifyImageSignatures only, which reads the sha256-<hex>.sig tag and never a bundle. Not confirmed
		// against a v1.7 copy of the file (none could be read): taken from #1961, whose description says that before
		// it bundle signatures did not verify, and from the v1.8 code's fallback branch, which is that call.
		source: "fluxcd/source-controller internal/oci/cosign/cosign.go (before v1.8.0: VerifyImageSignatures only)",
		judge: func(ev *consumerEvidence) ConsumerVerdict {
			return ev.legacyOnly(ev.lenient, false, ev.fluxRequires())
		},
	},
	{
		consumer: ConsumerCosignV2,
		name:     "cosign v2 CLI (v2.6.5)",
		// sigstore/cosign v2.6.5 cmd/cosign/cli/verify/verify.go, VerifyCommand.Exec: unless --new-bundle-format is
		// given, it calls cosign.GetBundles and, when that finds any bundle without error, sets NewBundleFormat and
		// verifies the bundles alone (VerifyImageAttestations); otherwise VerifyImageSignatures reads the .sig.
		// With bundles it also demands a trusted root ("trusted root is required when using new bundle format"),
		// which a key verification offline gets from --trusted-root.
		source: "sigstore/cosign cmd/cosign/cli/verify/verify.go (v2.6.5)",
		judge: func(ev *consumerEvidence) ConsumerVerdict {
			req := ev.cosignRequires()
			if len(ev.v.keys) > 0 && ev.bundles > 0 {
				req += "; --trusted-root FILE, as it wants a trusted root to read bundles even with a key"
			}
			return ev.bundlesFirst(req)
		},
	},
	{
		consumer: ConsumerCosignV3,
		name:     "cosign v3 CLI",
		// sigstore/cosign v3 (module github.com/sigstore/cosign/v3) cmd/cosign/cli/verify/verify.go,
		// VerifyCommand.Exec, with cmd/cosign/cli/options/verify.go: --new-bundle-format defaults to true, and when
		// cosign.GetBundles finds no bundle (or fails) it is turned off and VerifyImageSignatures reads the .sig.
		// The same rule as v2.6.5, from the other side. Read on the v3 main branch, not at a release tag.
		source: "sigstore/cosign cmd/cosign/cli/verify/verify.go (v3, main branch)",
		judge: func(ev *consumerEvidence) ConsumerVerdict {
			return ev.bundlesFirst(ev.cosignRequires())
		},
	},
	{
		consumer: ConsumerKyvernoCosign,
		name:     "Kyverno verifyImages type Cosign",
		// kyverno/kyverno pkg/image/verifiers/cpol/cosign/cosign.go (commit cc292a93; cosign v3 library),
		// verifier.VerifySignature and buildCosignOptions: cosign.VerifyImageSignatures without NewBundleFormat,
		// which reads the .sig tag only (cosignOCI11 looks for legacy-format signatures among the referrers, not
		// bundles). IgnoreTlog is the attestor's rekor.ignoreTlog, false by default, for keys too.
		source: "kyverno/kyverno pkg/image/verifiers/cpol/cosign/cosign.go (cosign v3 library)",
		judge: func(ev *consumerEvidence) ConsumerVerdict {
			req := "a keyless attestor with the identity's subject and issuer"
			if len(ev.v.keys) > 0 {
				req = "a key attestor with rekor.ignoreTlog: true, as statepack's key signatures carry no transparency-log entry"
			}
			return ev.legacyOnly(ev.lenient, false, req)
		},
	},
	{
		consumer: ConsumerKyvernoBundle,
		name:     "Kyverno verifyImages type SigstoreBundle",
		// kyverno/kyverno pkg/image/verifiers/cpol/cosign/sigstore.go (commit 027e89ca), fetchBundles, buildPolicy,
		// getTrustedRoot, and cosign.go VerifySignature's SigstoreBundle branch: go-containerregistry's
		// remote.Referrers (the referrers API, else the referrers tag), at most 50 referrers, keeping only those
		// whose listed artifactType starts with application/vnd.dev.sigstore.bundle (kyverno#16664: cosign 3's
		// referrers tag lists none so); each kept bundle is verified with sigstore-go against the trusted root from
		// TUF alone — no public key can be given — and one that verifies admits the image.
		source: "kyverno/kyverno pkg/image/verifiers/cpol/cosign/sigstore.go",
		judge:  (*consumerEvidence).kyvernoBundle,
	},
	{
		consumer: ConsumerPolicyController,
		name:     "sigstore policy-controller (admits Pods, not artifacts)",
		// sigstore/policy-controller pkg/webhook/validator.go (commit 92d362c7), ValidatePolicySignaturesForAuthority
		// and checkOptsFromAuthority, and pkg/webhook/validation.go validSignatures: cosign.VerifyImageSignatures,
		// the .sig tag. An authority with signatureFormat: bundle must be keyless, and its signature check still
		// calls VerifyImageSignatures with NewBundleFormat, which cosign v2.6.5 refuses ("bundle support for image
		// signatures is not yet implemented", pkg/cosign/verify.go): bundles count only for attestation
		// authorities. Key authorities skip the log when no ctlog is set; keyless ones verify the log entry offline
		// with Rekor's keys and cannot ignore it.
		source: "sigstore/policy-controller pkg/webhook/validator.go, validation.go",
		judge: func(ev *consumerEvidence) ConsumerVerdict {
			req := "a ClusterImagePolicy keyless authority with the identity; it requires the transparency-log entry"
			if len(ev.v.keys) > 0 {
				req = "a ClusterImagePolicy key authority (without ctlog, no log entry is required)"
			}
			if ev.tlogErr != nil {
				return ConsumerVerdict{Verdict: Unknown, Requires: req,
					Reason: "it requires the transparency-log entry, and checking it failed: " + ev.tlogErr.Error()}
			}
			return ev.legacyOnly(ev.tlogLenient, ev.v.keyless, req)
		},
	},
	{
		consumer: ConsumerArgoCD,
		name:     "Argo CD (3.1+, OCI source)",
		// argoproj/argo-cd util/oci/client.go (commit cee096d1), nativeOCIClient.Extract: "expected only a single oci
		// layer" unless the manifest has exactly one layer, and its media type must be in the repo server's
		// allow-list, whose default cmd/argocd-repo-server/commands/argocd_repo_server.go sets (--oci-layer-media-types,
		// ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES). Nothing in it reads a signature (argo-cd#22609).
		source: "argoproj/argo-cd util/oci/client.go, cmd/argocd-repo-server/commands/argocd_repo_server.go",
		judge:  (*consumerEvidence).argoCD,
	},
}

// argoCDLayerTypes is the Argo CD repo server's default allow-list of layer media types.
var argoCDLayerTypes = []string{ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, "application/vnd.cncf.helm.chart.content.v1.tar+gzip"}

func (ev *consumerEvidence) fluxRequires() string {
	if ev.v.keyless {
		return "spec.verify.provider: cosign with matchOIDCIdentity (checked against public Sigstore's trusted root)"
	}
	return "spec.verify.provider: cosign with secretRef holding the public key(s) (checked without the transparency log)"
}

func (ev *consumerEvidence) cosignRequires() string {
	if len(ev.v.keys) > 0 {
		return "cosign verify --key … --insecure-ignore-tlog, as statepack's key signatures carry no transparency-log entry"
	}
	return "cosign verify --certificate-identity … --certificate-oidc-issuer …"
}

// signer names who made a signature that verified: the key as the policy gave it, or the certificate's identity.
func (ev *consumerEvidence) signer(s sign.VerifiedSignature) string {
	if s.KeyIndex >= 0 && s.KeyIndex < len(ev.v.keyNames) {
		return "key " + ev.v.keyNames[s.KeyIndex]
	}
	if s.KeyIndex >= 0 {
		return fmt.Sprintf("key %d", s.KeyIndex)
	}
	return "identity " + s.Identity.Subject
}

// first returns the first signature of format f among those that verified.
func first(ver *sign.Verification, f sign.Format) (sign.VerifiedSignature, bool) {
	if ver == nil {
		return sign.VerifiedSignature{}, false
	}
	i := slices.IndexFunc(ver.Verified, func(s sign.VerifiedSignature) bool { return s.Format == f })
	if i < 0 {
		return sign.VerifiedSignature{}, false
	}
	return ver.Verified[i], true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// bundlesFirst is the verdict of Flux ≥ 2.8 and `cosign verify`: the bundles alone when any refers to the artifact,
// else the .sig. It is Verify's own (ev.strict).
func (ev *consumerEvidence) bundlesFirst(requires string) ConsumerVerdict {
	cv := ConsumerVerdict{Requires: requires}
	legacy, legacyOK := first(ev.lenient, sign.FormatLegacy)
	if ev.strictErr == nil {
		cv.Verdict = Accepted
		switch b, ok := first(ev.strict, sign.FormatBundle); {
		case ok:
			cv.Reason = "it reads the sigstore bundles, and one verifies (" + ev.signer(b) + ")"
		case ev.bundles == 0:
			cv.Reason = "no sigstore bundle refers to it, so it reads the .sig, which verifies (" + ev.signer(legacy) + ")"
		default:
			cv.Reason = "it reads the sigstore bundles, and an attestation bundle verifies, which it takes as a signature"
		}
		return cv
	}
	cv.Verdict = Refused
	switch {
	case errors.Is(ev.strictErr, sign.ErrNoSignature):
		cv.Reason = "unsigned: no sigstore bundle refers to it and it has no .sig tag"
	case ev.bundles > 0 && legacyOK:
		cv.Reason = plural(ev.bundles, "sigstore bundle refers", "sigstore bundles refer") + " to it and none verifies with the keys or identities given; " +
			"with bundles present it does not read the .sig, which does verify (" + ev.signer(legacy) + ")"
	case ev.bundles > 0:
		cv.Reason = plural(ev.bundles, "sigstore bundle refers", "sigstore bundles refer") + " to it and none verifies with the keys or identities given"
	default:
		cv.Reason = "it reads the .sig (no sigstore bundle refers to it), and no signature there verifies with the keys or identities given"
	}
	return cv
}

// legacyOnly is the verdict of a consumer that reads cosign's legacy signatures (the .sig tag) and never a bundle;
// ver is the verification to judge by (every signature that verifies, in either format), made with the log required
// when tlogRequired.
func (ev *consumerEvidence) legacyOnly(ver *sign.Verification, tlogRequired bool, requires string) ConsumerVerdict {
	cv := ConsumerVerdict{Requires: requires}
	if legacy, ok := first(ver, sign.FormatLegacy); ok {
		cv.Verdict, cv.Reason = Accepted, "the .sig verifies ("+ev.signer(legacy)+")"
		if ev.bundles > 0 {
			cv.Reason += "; it does not read the " + plural(ev.bundles, "sigstore bundle", "sigstore bundles")
		}
		return cv
	}
	cv.Verdict = Refused
	switch {
	case !ev.hasSig && ev.bundles > 0:
		cv.Reason = "no .sig tag: it reads cosign's legacy signatures only, and the artifact has only " + plural(ev.bundles, "sigstore bundle", "sigstore bundles")
	case !ev.hasSig:
		cv.Reason = "unsigned: it has no .sig tag"
	case tlogRequired && func() bool { _, ok := first(ev.lenient, sign.FormatLegacy); return ok }():
		cv.Reason = "the .sig verifies only with the transparency log ignored, and it requires the log entry"
	default:
		cv.Reason = "the .sig does not verify with the keys or identities given"
	}
	return cv
}

// bundleArtifactTypePrefix is what Kyverno's fetchBundles wants a listed referrer's artifactType to start with.
const bundleArtifactTypePrefix = "application/vnd.dev.sigstore.bundle"

// kyvernoReferrerLimit is fetchBundles' attestationlimit: more listed referrers fail the lookup.
const kyvernoReferrerLimit = 50

// kyvernoBundle is the verdict of Kyverno's SigstoreBundle verifier (see its rule).
func (ev *consumerEvidence) kyvernoBundle() ConsumerVerdict {
	cv := ConsumerVerdict{}
	if ev.v.keyless {
		cv.Requires = "a keyless attestor with the identity's subject and issuer; its trusted root comes from TUF (public Sigstore, or a mirror serving yours)"
	}
	found, discovery := ev.kyvernoFinds()
	if len(ev.v.keys) > 0 && !ev.v.keyless {
		cv.Verdict = Refused
		cv.Reason = "it verifies bundles against Sigstore's trusted root alone and takes no public key; " + discovery
		return cv
	}
	if len(found) == 0 {
		cv.Verdict, cv.Reason = Refused, discovery
		return cv
	}
	if ev.lenient != nil {
		for _, s := range ev.lenient.Verified {
			if s.Format == sign.FormatBundle && s.KeyIndex < 0 && slices.Contains(found, s.Manifest.Digest) {
				cv.Verdict, cv.Reason = Accepted, discovery+", and one verifies ("+ev.signer(s)+")"
				return cv
			}
		}
	}
	cv.Verdict, cv.Reason = Refused, discovery+", and none verifies with the identities given"
	return cv
}

// kyvernoFinds returns the referrers Kyverno's fetchBundles keeps, and says what it finds in the report's words.
func (ev *consumerEvidence) kyvernoFinds() ([]digest.Digest, string) {
	switch {
	case ev.listErr != nil:
		return nil, "it cannot list the referrers: " + ev.listErr.Error()
	case len(ev.listed) > kyvernoReferrerLimit:
		return nil, fmt.Sprintf("%d referrers are listed, more than the %d it reads", len(ev.listed), kyvernoReferrerLimit)
	}
	var found []digest.Digest
	var others []string
	for _, d := range ev.listed {
		if strings.HasPrefix(d.ArtifactType, bundleArtifactTypePrefix) {
			found = append(found, d.Digest)
		} else {
			others = append(others, fmt.Sprintf("%q", d.ArtifactType))
		}
	}
	switch {
	case len(found) > 0:
		return found, "it finds " + plural(len(found), "bundle", "bundles") + " through the " + string(ev.listing)
	case ev.bundles == 0:
		return nil, "no sigstore bundle refers to it"
	default:
		return nil, "it finds no bundle: the " + string(ev.listing) + " lists the referrers with artifact type " +
			strings.Join(slices.Compact(slices.Sorted(slices.Values(others))), ", ") + ", and it keeps only " + bundleArtifactTypePrefix + "…"
	}
}

// argoCD is the verdict of Argo CD's repo server (see its rule).
func (ev *consumerEvidence) argoCD() ConsumerVerdict {
	layers := ev.manifest.Layers
	if len(layers) != 1 {
		return ConsumerVerdict{Verdict: Refused, Reason: fmt.Sprintf("it extracts exactly one layer, and the manifest has %d", len(layers))}
	}
	mt := layers[0].MediaType
	if !slices.Contains(argoCDLayerTypes, mt) {
		return ConsumerVerdict{Verdict: Refused,
			Reason:   "its layer type " + mt + " is not in the repo server's default allow-list (" + strings.Join(argoCDLayerTypes, ", ") + ")",
			Requires: "add " + mt + " to reposerver.oci.layer.media.types (ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES), or publish with --layer-media-type " + build.LayerMediaType}
	}
	return ConsumerVerdict{Verdict: AcceptedUnverified,
		Reason: "one layer of type " + mt + ", in its default allow-list; it verifies no signature (argo-cd#22609): " +
			"let it read only a repository that statepack copy --key fills"}
}
