package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/ghactions"
	"github.com/statepack/statepack/internal/objdiff"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// actionInputs are the inputs of action.yml, in its order. action_test.go checks that the two agree.
var actionInputs = []string{
	"path", "ref", "tags", "config", "targets", "shard", "mode", "sign", "key", "key-password", "registry-username",
	"registry-password", "github-token", "kubernetes-version", "attest", "signature-format", "plain-http", "helm",
	"pin-images", "verify-images", "image-key", "image-certificate-identity", "image-certificate-identity-regexp",
	"image-certificate-oidc-issuer", "image-certificate-oidc-issuer-regexp",
	"substitute", "substitute-from", "substitute-strict", "ignore-paths", "load-restrictor", "allow", "external-namespace",
	"crd-dir", "strict", "builtin-crds", "chart-auth", "chart-cache", "offline", "annotation", "layer-media-type", "immutable-tags",
}

// actionOutputs are the outputs of action.yml, in its order.
var actionOutputs = []string{"digest", "ref", "tags", "objects", "summary-json"}

// actionSecretInputs are masked before anything is printed. The key input is masked too when it holds the key itself
// rather than naming a file or env://VAR.
var actionSecretInputs = []string{"registry-password", "key-password", "github-token"}

// Modes of the mode input.
const (
	modePublish  = "publish"
	modeValidate = "validate"
)

// Signing modes of the sign input.
const (
	signNone    = "none"
	signKey     = "key"
	signKeyless = "keyless"
)

func newActionCmd(env *Env, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "action",
		Short: "Run as the GitHub Action: read INPUT_* variables, validate or publish, set outputs and a job summary",
		Long: `action is the entry point of statepack's GitHub Action (action.yml). It reads the inputs from INPUT_*
variables as a Docker action receives them, masks every secret input, renders and validates "path", and — when
"ref" is set — publishes it through the same code as "statepack publish". With "config", it validates or publishes
every target of that statepack.yaml (or those named by "targets", or a "shard") as "statepack publish --config" does.

It sets the step outputs digest, ref, tags, objects and summary-json (GITHUB_OUTPUT), writes a job summary
(GITHUB_STEP_SUMMARY) that shows what changed since the tag's previous artifact, and turns findings into
annotations on the source files. Outside a runner, outputs and the summary are printed to stdout.`,
		Args: argsUsage(0, 0, "no arguments (inputs come from INPUT_* variables)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runAction(cmd.Context(), env, g) },
	}
}

// actionConfig is the action's inputs, checked and with defaults applied.
type actionConfig struct {
	path, ref         string
	tags              []string
	mode              string // publish or validate
	config            string // a statepack.yaml: its targets replace path, ref, tags and the signing inputs
	fleet             fleetOptions
	targets           []targetConfig // config's targets selected by the targets and shard inputs
	sign              string
	key               string // a file or env://VAR, as --key takes it
	keyFromInput      bool   // key holds the PEM itself: it goes through a private temporary file
	keyPassword       string
	username          string
	password          string
	kubernetesVersion string
	attest, plainHTTP bool
	// helm is the helm input: what is done with the tree's Helm releases (pin, hydrate, off).
	helm string
	// signatureFormat is the signature-format input: legacy, bundle or both; "" is legacy.
	signatureFormat string
	verbose         bool
	// images are the pin-images, verify-images and image-* inputs, as the flags of the same names.
	images imageFlags
	// src are the inputs named after the flags of every command that reads a tree (substitute, ignore-paths,
	// chart-auth, allow, …), as those flags; pkg are annotation and layer-media-type, and immutableTags the
	// immutable-tags input (nil when not given). With config, they are defaults for every target.
	src           sourceOptions
	pkg           packageOptions
	immutableTags *bool
}

// actionSummary is the summary-json output and the data of the job summary.
//
// With the config input, it describes the whole run (totals, and digest, ref and tags only when one target was
// selected), and Targets describes each target with the same fields.
type actionSummary struct {
	Mode string `json:"mode"` // "validate" or "publish"
	// Name is the target's name in the config file (targets of a config only).
	Name string `json:"name,omitempty"`
	// Status is what became of the tree: published, unchanged (published again, same digest as before), validated
	// or failed.
	Status            string            `json:"status,omitempty"`
	Config            string            `json:"config,omitempty"` // the config input
	Path              string            `json:"path,omitempty"`
	Target            string            `json:"target,omitempty"` // the ref input, or the target's ref
	Ref               string            `json:"ref,omitempty"`
	Repository        string            `json:"repository,omitempty"`
	Digest            string            `json:"digest,omitempty"`
	Tags              []string          `json:"tags"`
	Signing           string            `json:"signing,omitempty"`
	SignedWith        string            `json:"signedWith,omitempty"`
	Attestations      []string          `json:"attestations"`
	Objects           int               `json:"objects"`
	Kinds             map[string]int    `json:"kinds"`
	Images            []string          `json:"images"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	Errors            int               `json:"errors"`
	Warnings          int               `json:"warnings"`
	Findings          build.Findings    `json:"findings"`
	FindingsOmitted   int               `json:"findingsOmitted,omitempty"`
	KubernetesVersion string            `json:"kubernetesVersion,omitempty"`
	// Changes is what publishing changed, object by object, against the artifact the tag named before.
	Changes *actionChanges `json:"changes,omitempty"`
	Failure string         `json:"failure,omitempty"`
	// Targets are the config's targets selected, in name order.
	Targets []actionSummary `json:"targets,omitempty"`

	validated bool // the tree was rendered: the counts and findings mean something
}

// Statuses of a tree in the summary.
const (
	statusPublished = "published"
	statusUnchanged = "unchanged"
	statusValidated = "validated"
	statusFailed    = "failed"
)

// maxSummaryFindings bounds the findings in summary-json and the job summary: a step output holds at most 1 MiB.
const maxSummaryFindings = 100

func runAction(ctx context.Context, env *Env, g *globalOptions) error {
	gh := ghactions.New(env.raw(), env.getenv)
	// Secrets are masked before anything else is printed, even before the inputs are checked.
	for _, name := range actionSecretInputs {
		gh.Mask(gh.Input(name))
	}
	if k := gh.Input("key"); keyIsMaterial(k) {
		gh.Mask(k)
	}
	gh.Mask(env.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")) // the runner masks it too; this is for logs outside it
	// Logs go to stdout with the workflow commands: the runner reads stdout and stderr through separate pipes, and
	// a log section must stay between its ::group:: and ::endgroup:: lines.
	out := gh.Out()
	defer out.Flush()
	a := &actionRun{env: *env, gh: gh, g: g}
	a.env.Stdout, a.env.Stderr = out, out
	if !gh.InGitHubActions() {
		fmt.Fprintln(out, "statepack action: GITHUB_ACTIONS is not true: outputs and the job summary go to stdout unless GITHUB_OUTPUT and GITHUB_STEP_SUMMARY are set")
	}
	err := a.run(ctx)
	if err == nil {
		return nil
	}
	var reported *reportedError
	if !errors.As(err, &reported) {
		gh.Annotate(ghactions.Annotation{Level: ghactions.LevelError, Title: "statepack", Message: err.Error()})
		a.summary.Failure, a.summary.Status = err.Error(), statusFailed
		// Best effort: a later step with if: failure() can read what happened. Errors here add nothing to err.
		_ = a.writeOutputs()
		_ = a.writeSummary()
	}
	return &reportedError{err}
}

// actionRun is one run of the action.
type actionRun struct {
	env     Env // stdout and stderr masked
	gh      *ghactions.Runner
	g       *globalOptions
	cfg     actionConfig
	summary actionSummary
	source  *source // the tree rendered and validated, which publish diffs with the tag's previous artifact
	// images are the image options validate resolved and verified with; publish reuses its checker, so that each
	// image is asked of its registry once.
	images statepack.ImageOptions
}

func (a *actionRun) run(ctx context.Context) error {
	if err := a.readInputs(); err != nil {
		return err
	}
	a.summary.Mode, a.summary.KubernetesVersion = a.cfg.mode, a.cfg.kubernetesVersion
	a.summary.Tags, a.summary.Attestations = []string{}, []string{}
	if a.cfg.config != "" {
		return a.runConfig(ctx)
	}
	a.summary.Path, a.summary.Target, a.summary.Signing = a.cfg.path, a.cfg.ref, a.cfg.sign
	a.logInputs()

	if err := a.validate(ctx); err != nil {
		return err
	}
	if a.summary.Errors > 0 {
		a.summary.Status = statusFailed
		_ = a.writeOutputs() // the findings are the error to report
		_ = a.writeSummary()
		return &reportedError{fmt.Errorf("%w: %d error(s), %d warning(s)", build.ErrInvalidInput, a.summary.Errors, a.summary.Warnings)}
	}
	a.summary.Status = statusValidated
	if a.cfg.mode == modePublish {
		if err := a.publish(ctx); err != nil {
			return err
		}
	}
	if err := a.writeOutputs(); err != nil {
		return err
	}
	return a.writeSummary()
}

// readInputs reads and checks the inputs. It prints nothing: secrets are masked by then, but errors come back to
// runAction, which reports them.
func (a *actionRun) readInputs() error {
	gh, c := a.gh, &a.cfg
	c.path = orDefault(gh.Input("path"), ".")
	c.ref = gh.Input("ref")
	c.tags = splitList(gh.Input("tags"))
	c.config = gh.Input("config")
	if err := a.readSourceInputs(); err != nil {
		return err
	}
	if err := a.readConfigInputs(); err != nil {
		return err
	}
	c.kubernetesVersion = strings.TrimPrefix(gh.Input("kubernetes-version"), "v")
	if c.kubernetesVersion != "" && !kubeVersionPattern.MatchString(c.kubernetesVersion) {
		return usagef("input kubernetes-version: %q is not a Kubernetes version such as 1.33 or 1.33.2", gh.Input("kubernetes-version"))
	}
	var err error
	if c.attest, err = gh.BoolInput("attest", true); err != nil {
		return &usageError{err}
	}
	c.signatureFormat = strings.ToLower(gh.Input("signature-format"))
	if _, err := signatureFormat(c.signatureFormat); err != nil {
		return usagef("input signature-format: %q is not one of legacy, bundle, both", gh.Input("signature-format"))
	}
	if c.plainHTTP, err = gh.BoolInput("plain-http", false); err != nil {
		return &usageError{err}
	}
	c.helm = strings.ToLower(orDefault(gh.Input("helm"), statepack.HelmPin))
	if err := (statepack.HelmOptions{Mode: c.helm}).Check(); err != nil {
		return usagef("input helm: %q is not one of pin, hydrate, off", gh.Input("helm"))
	}
	c.verbose = a.g.verbose || a.env.getenv("RUNNER_DEBUG") == "1"
	if err := a.readImageInputs(); err != nil {
		return err
	}
	if len(c.tags) > 0 && c.ref == "" {
		return usagef("input tags is set but ref is not: set ref to the repository to publish to")
	}
	c.mode = strings.ToLower(gh.Input("mode"))
	switch c.mode {
	case "":
		c.mode = modeValidate
		if c.ref != "" || c.config != "" {
			c.mode = modePublish
		}
	case modePublish:
		if c.ref == "" && c.config == "" {
			return usagef("input mode: publish needs ref (where to publish) or config (a statepack.yaml naming the targets)")
		}
	case modeValidate:
	default:
		return usagef("input mode: %q is not one of publish, validate", gh.Input("mode"))
	}
	c.keyPassword = gh.Input("key-password")
	if c.keyPassword == "" {
		c.keyPassword = a.env.getenv("COSIGN_PASSWORD")
		gh.Mask(c.keyPassword) // as secret as the input, though it came from the environment
	}
	if c.config != "" {
		// Each target signs with the key its config names, or keyless (sign: keyless) when it names none.
		if c.mode != modePublish {
			return nil
		}
		if c.sign == signKeyless && !a.idTokenAvailable() {
			return usagef("sign: keyless needs GitHub's OIDC token, which this job does not get: grant it with `permissions: id-token: write` on the job (a reusable workflow needs its caller to grant it too), or remove sign to sign with the keys the config names")
		}
		if c.signatureFormat != "" {
			return usagef("input signature-format does not combine with config: set sign.format in the config file")
		}
		return a.readCredentials()
	}

	// Signing. The default follows what the job can do: keyless when it may request an OIDC token, else none; a key
	// input means key signing.
	c.key = gh.Input("key")
	c.sign = strings.ToLower(gh.Input("sign"))
	switch {
	case c.sign != "":
	case c.key != "":
		c.sign = signKey
	case a.idTokenAvailable():
		c.sign = signKeyless
	default:
		c.sign = signNone
	}
	switch c.sign {
	case signNone:
		if c.key != "" {
			return usagef("input key is set but sign is none: remove the key or set sign: key")
		}
	case signKey:
		if c.key == "" {
			return usagef("sign: key needs the key input: a cosign private key (the PEM itself, from a secret), a file, or env://VAR")
		}
		c.keyFromInput = keyIsMaterial(c.key)
		if sign.IsKMSRef(c.key) && gh.Input("key-password") != "" {
			gh.Annotate(ghactions.Annotation{Level: ghactions.LevelWarning, Title: "statepack",
				Message: "input key-password is ignored: the key is in a KMS, which needs no password"})
		}
	case signKeyless:
		if c.key != "" {
			return usagef("input key is set but sign is keyless: remove the key or set sign: key")
		}
	default:
		return usagef("input sign: %q is not one of none, key, keyless", gh.Input("sign"))
	}
	if c.mode != modePublish {
		return nil // validation only: signing and credentials do not matter
	}
	if c.sign == signKeyless {
		if !a.idTokenAvailable() {
			return usagef("sign: keyless needs GitHub's OIDC token, which this job does not get: grant it with `permissions: id-token: write` on the job (a reusable workflow needs its caller to grant it too), or set sign: key or sign: none")
		}
	}
	return a.readCredentials()
}

// readImageInputs reads the image inputs: pin-images, verify-images, image-key (one a line or comma-separated:
// files relative to the workspace, or env://VAR) and the keyless identity and issuer, exactly or by regexp.
func (a *actionRun) readImageInputs() error {
	gh, im := a.gh, &a.cfg.images
	var err error
	if im.pin, err = gh.BoolInput("pin-images", false); err != nil {
		return &usageError{err}
	}
	if im.verify, err = gh.BoolInput("verify-images", false); err != nil {
		return &usageError{err}
	}
	im.keys = splitList(gh.Input("image-key"))
	im.identity, im.identityRegexp = gh.Input("image-certificate-identity"), gh.Input("image-certificate-identity-regexp")
	im.issuer, im.issuerRegexp = gh.Input("image-certificate-oidc-issuer"), gh.Input("image-certificate-oidc-issuer-regexp")
	im.concurrency = 8
	if a.cfg.config != "" && (im.pin || im.verify || len(im.keys) > 0 || im.keyless()) {
		return usagef("the image inputs do not combine with config: set images in the config file")
	}
	return nil
}

// checkImages runs the image pin stage on the tree validate rendered, when the inputs ask for it: its findings join
// the tree's, and so become annotations on the lines that name the images.
func (a *actionRun) checkImages(ctx context.Context, s *source, log *slog.Logger) error {
	conn, err := (&registryOptions{}).connection(&a.env)
	if err != nil {
		return err
	}
	if a.cfg.plainHTTP {
		conn = append(conn, publish.WithPlainHTTP(true))
	}
	if a.images, err = a.cfg.images.options(ctx, &a.env, conn, nil, log); err != nil {
		return err
	}
	report, err := checkImages(ctx, s, a.images)
	if report != nil {
		printImages(a.env.Stderr, report)
	}
	return err
}

// readCredentials picks the registry credentials: the inputs, else for ghcr.io the workflow's token and actor. With
// config, they serve every target, and the workflow's token is used only when every target is on ghcr.io: it must not
// reach another registry.
func (a *actionRun) readCredentials() error {
	gh, c := a.gh, &a.cfg
	var refs []publish.Ref
	if c.config == "" {
		ref, err := publish.ParseRef(c.ref)
		if err != nil {
			return fmt.Errorf("input ref: %w", err)
		}
		if ref.Digest != "" {
			return usagef("input ref must not carry a digest: the digest is what publish computes")
		}
		refs = append(refs, ref)
	}
	for _, t := range c.targets {
		ref, err := publish.ParseRef(t.Ref)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.Name, err)
		}
		refs = append(refs, ref)
	}
	ghcr := len(refs) > 0 && !slices.ContainsFunc(refs, func(r publish.Ref) bool { return !strings.EqualFold(r.Registry, "ghcr.io") })
	layout := len(refs) > 0 && !slices.ContainsFunc(refs, func(r publish.Ref) bool { return !r.IsLayout() })
	c.username, c.password = gh.Input("registry-username"), gh.Input("registry-password")
	if c.password == "" && ghcr {
		c.password = orDefault(gh.Input("github-token"), a.env.getenv("GITHUB_TOKEN"))
		if c.password != "" {
			gh.Mask(c.password)
		}
	}
	if c.password != "" && c.username == "" && ghcr {
		c.username = a.env.getenv("GITHUB_ACTOR")
	}
	switch {
	case layout && (c.username != "" || c.password != ""):
		return usagef("registry-username and registry-password do not apply to an oci: layout reference")
	case c.password != "" && c.username == "":
		return usagef("input registry-password needs registry-username")
	case c.username != "" && c.password == "":
		return usagef("input registry-username needs registry-password (for ghcr.io, the workflow's token is used when github-token is left at its default)")
	case strings.ContainsAny(c.password, "\r\n"):
		return usagef("input registry-password holds a line break: give the token alone")
	}
	return nil
}

var kubeVersionPattern = regexp.MustCompile(`^1\.[0-9]{1,3}(\.[0-9]{1,3})?$`)

func (a *actionRun) idTokenAvailable() bool {
	return a.env.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "" && a.env.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN") != ""
}

// keyIsMaterial tells a key given inline (PEM) from one named by a file path or env://VAR.
func keyIsMaterial(key string) bool {
	return strings.Contains(key, "-----BEGIN") || strings.ContainsAny(key, "\r\n")
}

// splitList splits a list input written one item a line or comma-separated.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// logInputs prints the effective inputs, secrets only as "set", in a folded section.
func (a *actionRun) logInputs() {
	c, w := a.cfg, a.env.Stderr
	a.gh.Group("statepack " + a.env.Version + ": inputs")
	set := func(v string) string {
		if v == "" {
			return "(not set)"
		}
		return "(set)"
	}
	fmt.Fprintf(w, "path: %s\nref: %s\ntags: %s\nsign: %s\n", c.path, orDefault(c.ref, "(not set: validate only)"),
		orDefault(strings.Join(c.tags, ", "), "(none)"), c.sign)
	key := c.key
	if c.keyFromInput {
		key = "(the key itself, from the input)"
	}
	fmt.Fprintf(w, "key: %s\nkey-password: %s\nregistry-username: %s\nregistry-password: %s\ngithub-token: %s\n",
		orDefault(key, "(not set)"), set(c.keyPassword), orDefault(orDefault(c.username, a.gh.Input("registry-username")), "(not set)"),
		set(orDefault(c.password, a.gh.Input("registry-password"))), set(a.gh.Input("github-token")))
	fmt.Fprintf(w, "kubernetes-version: %s\nattest: %t\nsignature-format: %s\nplain-http: %t\nhelm: %s\n", orDefault(c.kubernetesVersion, "(not set)"), c.attest, orDefault(c.signatureFormat, "legacy"), c.plainHTTP, c.helm)
	a.gh.EndGroup()
}

// sourceOptions are the source flags of `statepack publish` at their defaults, with the kubernetes-version input:
// the tree is rendered, validated and described (the inputs digest) as the command would.
func (a *actionRun) sourceOptions() *sourceOptions {
	src := a.cfg.src
	src.maxFileSize, src.kubernetesVersion, src.helm = build.DefaultMaxFileSize, statepack.DefaultKubernetesVersion, a.cfg.helm
	if a.cfg.kubernetesVersion != "" {
		src.kubernetesVersion = a.cfg.kubernetesVersion
	}
	return &src
}

// validate renders and validates the tree, and annotates the findings on their source files.
func (a *actionRun) validate(ctx context.Context) error {
	a.gh.Group("Render and validate " + a.cfg.path)
	log := (&globalOptions{verbose: a.cfg.verbose}).logger(&a.env)
	s, err := loadSource(ctx, &a.env, log, a.cfg.path, a.sourceOptions())
	if err != nil {
		a.gh.EndGroup()
		return err
	}
	a.source = s
	if err := a.checkImages(ctx, s, log); err != nil {
		a.gh.EndGroup()
		return err
	}
	reportFindings(a.env.Stderr, &globalOptions{output: "text"}, s.Findings)
	errs, warns := s.Findings.Count()
	fmt.Fprintf(a.env.Stderr, "%s: %d object(s), %d error(s), %d warning(s)\n", a.cfg.path, len(s.Rendering.Objects), errs, warns)
	a.gh.EndGroup()

	a.summary.describe(s)
	for _, f := range s.Findings {
		a.gh.Annotate(a.annotation(s.Root, f))
	}
	return nil
}

// describe fills the summary's counts, kinds, images and findings (at most maxSummaryFindings) from a rendered tree.
func (s *actionSummary) describe(src *source) {
	s.validated = true
	s.Objects = len(src.Rendering.Objects)
	s.Kinds = countKinds(src.Rendering.Objects)
	s.Images = deployedImages(src.Rendering.Objects)
	s.Errors, s.Warnings = src.Findings.Count()
	s.Findings = src.Findings
	if s.Findings == nil {
		s.Findings = build.Findings{}
	}
	if n := len(s.Findings); n > maxSummaryFindings {
		s.Findings, s.FindingsOmitted = s.Findings[:maxSummaryFindings], n-maxSummaryFindings
	}
}

// annotation places a finding on its file, relative to the workspace (the repository root in a runner); root is
// the source root the finding's file is relative to.
func (a *actionRun) annotation(root string, f build.Finding) ghactions.Annotation {
	return findingAnnotation(&a.env, root, f)
}

// findingAnnotation is a finding as a GitHub workflow-command annotation on its source file.
func findingAnnotation(env *Env, root string, f build.Finding) ghactions.Annotation {
	level := ghactions.LevelWarning
	if f.Severity == build.SeverityError {
		level = ghactions.LevelError
	}
	msg := f.Message
	if f.Object != nil {
		msg = f.Object.String() + ": " + msg
	}
	an := ghactions.Annotation{Level: level, Title: "statepack: " + f.Rule, Message: msg}
	if f.File != "" {
		an.File, an.Line, an.Column = workspacePath(env, root, f.File), f.Line, f.Column
	}
	return an
}

// workspacePath turns a finding's file (slash-separated, relative to the source root) into a path relative to
// GITHUB_WORKSPACE (else the working directory), which is what annotations need.
func workspacePath(env *Env, root, file string) string {
	abs := filepath.Join(root, filepath.FromSlash(file))
	base := env.getenv("GITHUB_WORKSPACE")
	if base == "" {
		base, _ = os.Getwd()
	}
	if rel, err := filepath.Rel(base, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return file
}

// actionTimeout bounds a publish, as --timeout's default bounds `statepack publish`.
const actionTimeout = 10 * time.Minute

// publishBase are the library's options of `statepack publish` at their defaults, with the inputs: the source
// options, the registry with the plain-http input and the registry credentials (given as values: never in an
// argument list, never through stdin), and the build context.
func (a *actionRun) publishBase(log *slog.Logger) (statepack.PublishOptions, error) {
	c := a.cfg
	lo, err := a.sourceOptions().loadOptions(&a.env, log)
	if err != nil {
		return statepack.PublishOptions{}, err
	}
	regOpts, err := (&registryOptions{}).options(&a.env)
	if err != nil {
		return statepack.PublishOptions{}, err
	}
	if c.plainHTTP {
		regOpts = append(regOpts, publish.WithPlainHTTP(true))
	}
	if c.password != "" {
		regOpts = append(regOpts, publish.WithCredentials(c.username, c.password))
	}
	bc, err := buildContext(&a.env)
	if err != nil {
		return statepack.PublishOptions{}, err
	}
	po, err := c.pkg.values()
	if err != nil {
		return statepack.PublishOptions{}, err
	}
	immutable := c.immutableTags != nil && *c.immutableTags
	return statepack.PublishOptions{Load: lo, Package: po, ImmutableTags: immutable, Registry: regOpts, Context: bc, Logger: log}, nil
}

// publish publishes the tree validate rendered, as `statepack publish` does. Before it, the objects are compared
// with the artifact the tag names, for the summary's "Changes since" section.
func (a *actionRun) publish(ctx context.Context) error {
	c := a.cfg
	ref, err := publish.ParseRef(c.ref)
	if err != nil {
		return fmt.Errorf("input ref: %w", err)
	}
	if ref.Digest != "" {
		return usagef("input ref must not carry a digest: the digest is what publish computes")
	}
	tags, err := statepack.Tags(ref.Tag, c.tags...)
	if err != nil {
		return usagef("input tags: %w", err)
	}
	log := (&globalOptions{verbose: c.verbose}).logger(&a.env)
	base, err := a.publishBase(log)
	if err != nil {
		return err
	}

	a.gh.Group("Publish to " + c.ref)
	defer a.gh.EndGroup()
	var signer *sign.Signer
	switch c.sign {
	case signKey:
		key := c.key
		if c.keyFromInput {
			file, cleanup, err := privateKeyFile(c.key)
			if err != nil {
				return err
			}
			defer cleanup()
			key = file
		}
		if signer, err = loadKey(ctx, &a.env, key, c.keyPassword); err != nil {
			return err
		}
	case signKeyless:
		if signer, err = a.keylessSigner(ctx); err != nil {
			return err
		}
	}
	if signer != nil {
		a.summary.SignedWith = c.sign + ": " + signer.String()
		if c.keyFromInput {
			a.summary.SignedWith = "key from the key input"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	format, err := signatureFormat(c.signatureFormat)
	if err != nil {
		return err
	}
	// The tree validate rendered is the one published: one render per run.
	o := base
	o.Source, o.Tags, o.Signer, o.Attest, o.SignatureFormat = a.source, tags, signer, c.attest && signer != nil, format
	o.Images = a.images
	a.summary.Changes = statepack.ChangesSince(ctx, ref, tags, a.source, statepack.ReadOptions{Registry: o.Registry, Context: o.Context, Logger: o.Logger})
	res, err := statepack.Publish(ctx, c.path, ref, o)
	if err != nil {
		return reported(err)
	}
	fmt.Fprintln(a.env.Stdout, res.Ref)
	for _, w := range res.Warnings {
		a.gh.Annotate(ghactions.Annotation{Level: ghactions.LevelWarning, Title: "statepack", Message: w})
	}
	a.summary.published(res)
	return nil
}

// published records a publish's result in the summary.
func (s *actionSummary) published(res publishResult) {
	s.Ref, s.Repository, s.Digest = res.Ref, res.Repository, res.Digest
	s.Tags, s.Annotations, s.Attestations = nonNil(res.Tags), res.Annotations, nonNil(res.Attestations)
	s.Status = statusPublished
	if s.Changes != nil && s.Changes.Previous == res.Digest {
		s.Status = statusUnchanged
	}
}

// actionChanges is what a publish changed, as the summary shows it.
type actionChanges = statepack.Changes

// keylessSigner gets the job's OIDC token from GitHub and a Fulcio certificate for it, as `statepack publish
// --keyless` does with its flags at their defaults: public Sigstore, the signature recorded in Rekor.
func (a *actionRun) keylessSigner(ctx context.Context) (*sign.Signer, error) {
	token, err := keylessToken(ctx, &a.env, "", "")
	if err != nil {
		return nil, err
	}
	a.gh.Mask(token)
	defaults := signOptions{fulcioURL: sign.DefaultFulcioURL, rekorURL: sign.DefaultRekorURL}
	opts, err := defaults.keylessOptions(&a.env, true)
	if err != nil {
		return nil, err
	}
	return newKeylessSigner(ctx, token, append(opts, actionKeylessOptions...)...)
}

// actionKeylessOptions point the action's keyless signing at another Sigstore than the public one: tests set them.
var actionKeylessOptions []sign.KeylessOption

// privateKeyFile writes a key given inline to a file only this user can read, for --key; cleanup removes it.
func privateKeyFile(pem string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "statepack-key-")
	if err != nil {
		return "", nil, fmt.Errorf("writing the key input to a temporary file: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	file := filepath.Join(dir, "cosign.key")
	if err := os.WriteFile(file, []byte(strings.TrimSpace(pem)+"\n"), 0o600); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("writing the key input to a temporary file: %w", err)
	}
	return file, cleanup, nil
}

// writeOutputs sets the step outputs that are known. With config, objects is the total of the targets, and digest,
// ref and tags are set only when one target was selected and published: which of several would they name?
func (a *actionRun) writeOutputs() error {
	s := a.redacted(a.summary)
	js, err := json.Marshal(s)
	if err != nil {
		return err
	}
	var outputs [][2]string
	if s.validated {
		outputs = append(outputs, [2]string{"objects", fmt.Sprint(s.Objects)})
	}
	if s.Digest != "" {
		outputs = append(outputs, [2]string{"digest", s.Digest}, [2]string{"ref", s.Ref},
			[2]string{"tags", strings.Join(s.Tags, ",")})
	}
	outputs = append(outputs, [2]string{"summary-json", string(js)})
	var errs []error
	for _, o := range outputs {
		errs = append(errs, a.gh.SetOutput(o[0], o[1]))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w (a Docker action must run as root to write GITHUB_OUTPUT)", err)
	}
	return nil
}

func (a *actionRun) writeSummary() error {
	if err := a.gh.AddStepSummary(renderSummary(a.redacted(a.summary))); err != nil {
		return fmt.Errorf("%w (a Docker action must run as root to write GITHUB_STEP_SUMMARY)", err)
	}
	return nil
}

// summaryChangesLimit bounds the "Changes since" section of one tree, and summaryLimit the whole job summary, which
// GitHub caps at 1 MiB a step.
const (
	summaryChangesLimit = 60_000
	summaryLimit        = 800_000
)

// renderSummary is the job summary: what a reviewer wants to see about the run.
func renderSummary(s actionSummary) string {
	if s.Config != "" {
		return renderConfigSummary(s)
	}
	var b strings.Builder
	var title string
	switch {
	case s.Failure != "":
		title = "❌ statepack failed"
	case s.Errors > 0:
		title = "❌ statepack: validation failed"
	case s.Mode == modePublish:
		title = "✅ statepack published " + mdCode(s.Target)
	default:
		title = "✅ statepack validated " + mdCode(s.Path)
	}
	fmt.Fprintf(&b, "### %s\n\n", title)
	if s.Failure != "" {
		fmt.Fprintf(&b, "> %s\n\n", mdText(s.Failure))
	}
	if !s.validated {
		return b.String()
	}
	writeTreeSummary(&b, s, "####", summaryChangesLimit)
	return b.String()
}

// writeTreeSummary writes what the summary says about one tree: a table, what changed, objects by kind, images and
// findings, under headings of level h. The "Changes since" section takes at most changesLimit bytes.
func writeTreeSummary(b *strings.Builder, s actionSummary, h string, changesLimit int) {
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, v) }
	row("Path", mdCode(s.Path))
	if s.Target != "" {
		row("Target", mdCode(s.Target))
	}
	if s.Digest != "" {
		row("Ref", mdCode(s.Ref))
		row("Digest", mdCode(s.Digest))
		tags := make([]string, len(s.Tags))
		for i, t := range s.Tags {
			tags[i] = mdCode(t)
		}
		row("Tags", orDefault(strings.Join(tags, ", "), "none (by digest only)"))
	}
	if s.Mode == modePublish {
		signing := "none: the artifact is not signed"
		switch {
		case s.SignedWith != "":
			signing = mdText(s.SignedWith)
		case s.Signing != signNone && s.Signing != "":
			signing = mdText(s.Signing) + " (not done)"
		}
		row("Signing", signing)
		row("Attestations", orDefault(strings.Join(s.Attestations, ", "), "none"))
	}
	if rev := s.Annotations[build.AnnotationRevision]; rev != "" {
		row("Revision", mdCode(rev))
	}
	if src := s.Annotations[build.AnnotationSource]; src != "" {
		row("Source", mdCode(src))
	}
	if s.KubernetesVersion != "" {
		row("Kubernetes version", mdCode(s.KubernetesVersion)+" (built-in kinds validated against its schema)")
	}
	row("Objects", fmt.Sprint(s.Objects))

	if s.Changes != nil {
		writeChanges(b, s.Changes, h, changesLimit)
	}
	if len(s.Kinds) > 0 {
		fmt.Fprintf(b, "\n%s Objects by kind\n\n| Kind | Count |\n|---|---:|\n", h)
		for _, k := range slices.Sorted(maps.Keys(s.Kinds)) {
			fmt.Fprintf(b, "| %s | %d |\n", mdText(k), s.Kinds[k])
		}
	}
	if len(s.Images) > 0 {
		fmt.Fprintf(b, "\n%s Images deployed (%d)\n\n", h, len(s.Images))
		for _, img := range s.Images {
			fmt.Fprintf(b, "- %s\n", mdCode(img))
		}
	}
	fmt.Fprintf(b, "\n%s Validation: %d error(s), %d warning(s)\n\n", h, s.Errors, s.Warnings)
	if len(s.Findings) > 0 {
		b.WriteString("| Severity | File | Object | Rule | Message |\n|---|---|---|---|---|\n")
		for _, f := range s.Findings {
			pos := ""
			if f.File != "" {
				pos = f.File
				if f.Line > 0 {
					pos += fmt.Sprintf(":%d", f.Line)
				}
				pos = mdCode(pos)
			}
			obj := ""
			if f.Object != nil {
				obj = mdCode(f.Object.String())
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", f.Severity, pos, obj, mdCode(f.Rule), mdText(f.Message))
		}
		if s.FindingsOmitted > 0 {
			fmt.Fprintf(b, "\n%d more finding(s) are in the step log.\n", s.FindingsOmitted)
		}
	} else {
		b.WriteString("No findings.\n")
	}
	b.WriteString("\n")
}

// writeChanges writes the "Changes since <tag>" section: the counts, then a collapsed diff per object that differs,
// as many as fit in limit bytes.
func writeChanges(b *strings.Builder, c *actionChanges, h string, limit int) {
	fmt.Fprintf(b, "\n%s Changes since %s\n\n", h, mdCode(c.Since))
	switch {
	case c.Error != "":
		fmt.Fprintf(b, "Not known: the artifact %s named before could not be read (%s).\n", mdCode(c.Since), mdText(c.Error))
		return
	case c.FirstPublish:
		fmt.Fprintf(b, "First publish: the tag %s did not exist yet, so every object is new.\n", mdCode(c.Since))
		return
	case c.Report == nil || c.Report.Equal():
		fmt.Fprintf(b, "No changes: the objects are those of %s (%s), %d in all.\n", mdCode(c.Since), mdCode(c.Previous), c.Unchanged)
		return
	}
	fmt.Fprintf(b, "From %s: **%s**.\n\n", mdCode(c.Previous), diffSummary(c.Report))
	entries := orderedEntries(c.Report)
	var details strings.Builder
	n := writeDiffDetails(&details, entries, limit, nil)
	b.WriteString(details.String())
	if n < len(entries) {
		fmt.Fprintf(b, "_%d of %d diffs shown: the rest would not fit in the summary; `statepack diff` shows them all._\n", n, len(entries))
	}
}

// redacted masks secrets in every text of a summary before it is encoded as JSON (summary-json) or escaped for
// Markdown and HTML (the job summary): either would turn a secret holding a quote, a backslash, "_", "*", "&" or "<"
// into text the masker no longer recognises. The diffs of the changes are masked too. The summary given is left as
// it is.
func (a *actionRun) redacted(s actionSummary) actionSummary {
	targets := s.Targets
	s.Targets = nil
	var out actionSummary
	if err := redactJSON(s, &out, a.gh.Redact); err != nil {
		// Not expected: the summary is plain data. Leave out every text rather than risk a secret in it.
		out = actionSummary{Mode: s.Mode, Name: s.Name, Status: s.Status, Tags: []string{}, Attestations: []string{},
			Failure: "the summary could not be masked: " + err.Error()}
	}
	out.validated = s.validated
	if s.Changes != nil && out.Changes != nil && s.Changes.Report != nil {
		rep := *s.Changes.Report
		rep.Entries = slices.Clone(rep.Entries)
		for i, e := range rep.Entries {
			rep.Entries[i].Diff = a.gh.Redact(e.Diff)
			rep.Entries[i].ID = objdiff.ID{Group: a.gh.Redact(e.ID.Group), Kind: a.gh.Redact(e.ID.Kind),
				Namespace: a.gh.Redact(e.ID.Namespace), Name: a.gh.Redact(e.ID.Name)}
		}
		out.Changes.Report = &rep
	}
	for _, t := range targets {
		out.Targets = append(out.Targets, a.redacted(t))
	}
	return out
}

// redactJSON copies in into out through JSON, applying redact to every string (keys included) as it was before
// encoding, where a secret is still spelt as it was masked.
func redactJSON(in, out any, redact func(string) string) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return redact(v)
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			m := make(map[string]any, len(v))
			for k, e := range v {
				m[redact(k)] = walk(e)
			}
			return m
		}
		return v
	}
	if data, err = json.Marshal(walk(v)); err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// mdCode writes s as inline code that survives a Markdown table: HTML-escaped, pipes as entities.
func mdCode(s string) string {
	return "<code>" + oneLine(strings.ReplaceAll(htmlEscape(s), "|", "&#124;")) + "</code>"
}

// oneLine keeps a table cell on its line: line breaks and other control characters become U+FFFD, visibly, so that
// a value from the tree (an object name, an image reference) cannot end the table and start headings or links.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return '\ufffd'
		}
		return r
	}, s)
}

// mdText writes s as plain text in a Markdown table cell: no markup, no HTML, on one line.
func mdText(s string) string {
	s = htmlEscape(s)
	s = strings.NewReplacer("|", "&#124;", "\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]",
		"\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return s
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// deployedImages lists the container images the objects run, sorted and without repeats (build.Images of each).
func deployedImages(objs []build.Object) []string {
	var images []string
	for _, o := range objs {
		images = append(images, build.Images(o)...)
	}
	slices.Sort(images)
	return slices.Compact(images)
}
