package statepack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/images"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// ImageOptions say what happens to the container images a tree deploys, between render and package: the pin stage.
// The zero value leaves them alone (no network).
type ImageOptions struct {
	// Resolve resolves every image reference to the digest its registry serves (tags) or checks that it exists
	// (digests); a reference that does not resolve is a finding, and nothing is pushed. Pin and Policy imply it.
	Resolve bool
	// Pin rewrites every image reference in the artifact to name:tag@sha256:… (the tag kept for readers).
	Pin bool
	// Policy verifies every image's signature (and attestations) against its rules; nil verifies nothing.
	Policy *ImagePolicy
	// Registry are the options image repositories are opened with (TLS, timeouts, the Docker config). Leave out
	// static credentials meant for the publish target (publish.WithCredentials): they would be offered to every
	// image registry.
	Registry []publish.Option
	// Concurrency bounds the registry requests in flight; 0 means 8.
	Concurrency int
	// Checker is a checker made with NewImageChecker, shared between the targets of a fleet so that each image is
	// resolved and verified once per run; nil makes one for the call.
	Checker *ImageChecker
	// Logger receives the logs; nil means none.
	Logger *slog.Logger
}

// Enabled says whether the options ask for any network work on images.
func (o ImageOptions) Enabled() bool {
	return o.Resolve || o.Pin || o.Policy != nil || o.Checker != nil
}

// ImageChecker resolves and verifies images under one policy, each image once for its lifetime.
type ImageChecker struct {
	resolver     *images.Resolver
	rules        []compiledRule
	policyDigest string
	pin          bool
	log          *slog.Logger
}

// NewImageChecker checks the options and loads the policy's keys; a bad option is an ErrInvalidOption.
func NewImageChecker(ctx context.Context, o ImageOptions) (*ImageChecker, error) {
	if o.Checker != nil {
		return o.Checker, nil
	}
	r, err := images.New(images.Options{Registry: o.Registry, Concurrency: o.Concurrency})
	if err != nil {
		return nil, &invalidOption{err}
	}
	rules, digest, err := o.Policy.compile(ctx)
	if err != nil {
		return nil, err
	}
	return &ImageChecker{resolver: r, rules: rules, policyDigest: digest, pin: o.Pin, log: logger(o.Logger)}, nil
}

// ImageReport is what the pin stage found: each distinct image, and the findings of those that failed.
type ImageReport struct {
	// Images are the distinct references, sorted.
	Images []ImageResult `json:"images"`
	// PolicyDigest is the digest of the policy's canonical form ("" when no policy was given): what the
	// verification summary names.
	PolicyDigest string `json:"policyDigest,omitempty"`
	// Findings are the errors: an image that did not resolve or verify, once for each object that names it.
	Findings build.Findings `json:"findings,omitempty"`
}

// ImageResult is one image reference and what became of it.
type ImageResult struct {
	// Reference is the image as the objects name it.
	Reference string `json:"reference"`
	// Digest is the manifest (or index) digest it resolved to; "" when it did not.
	Digest string `json:"digest,omitempty"`
	// Pinned is the reference with its digest, as --pin-images writes it.
	Pinned string `json:"pinned,omitempty"`
	// Rule is the image pattern of the policy rule that decided; "" without a policy.
	Rule string `json:"rule,omitempty"`
	// Skipped is the reason of a rule that skips verification.
	Skipped string `json:"skipped,omitempty"`
	// Verified says what verified: "signature (legacy) by key sha256:…", "attestation https://spdx.dev/Document".
	Verified []string `json:"verified,omitempty"`
	// Error is why the image failed; "" when it passed.
	Error string `json:"error,omitempty"`
	// Objects name the objects that deploy the image.
	Objects []build.ObjectID `json:"objects"`

	evidence []vsaInput
}

// CheckImages resolves (and with a policy, verifies) every image the source's objects deploy. Failures come back as
// findings in the report; the error is for options that cannot work (ErrInvalidOption) and a context that ended.
func CheckImages(ctx context.Context, s *Source, o ImageOptions) (ImageReport, error) {
	c, err := NewImageChecker(ctx, o)
	if err != nil {
		return ImageReport{}, err
	}
	return c.check(ctx, s.deployed(), s.imageLine)
}

// deployed are the objects the artifact deploys: its own, and what the releases it keeps (--helm=pin) render in
// the cluster, whose images are checked as the tree's are (pinning rewrites only the artifact's own).
func (s *Source) deployed() []build.Object {
	objs := s.Objects()
	for _, c := range s.Charts {
		if !c.Hydrated {
			objs = append(slices.Clone(objs), c.Objects...)
		}
	}
	return objs
}

// imageLine finds the line of the object's file, at or after the object's first line, that names image: where a
// finding about the image belongs (a pull request's annotation lands on it). 0 when the file cannot be read within
// the source root or does not name it (an image that kustomize's images transformer set).
func (s *Source) imageLine(file string, from int, image string) int {
	if file == "" || from <= 0 || s.Root == "" {
		return 0
	}
	p := filepath.Join(s.Root, filepath.FromSlash(file))
	if rel, err := filepath.Rel(s.Root, p); err != nil || strings.HasPrefix(rel, "..") {
		return 0
	}
	data, err := os.ReadFile(p)
	if err != nil || int64(len(data)) > build.DefaultMaxFileSize {
		return 0
	}
	for i, line := range strings.Split(string(data), "\n") {
		if i+1 >= from && strings.Contains(line, image) {
			return i + 1
		}
	}
	return 0
}

// imageUse is one object that names an image.
type imageUse struct {
	obj   *build.Object
	field string
}

// Check resolves and verifies the images of objs, each distinct reference once, concurrently. Findings are placed
// on the objects' first lines.
func (c *ImageChecker) Check(ctx context.Context, objs []build.Object) (ImageReport, error) {
	return c.check(ctx, objs, nil)
}

// check is Check, with lineOf (when not nil) placing each finding on the line that names the image.
func (c *ImageChecker) check(ctx context.Context, objs []build.Object, lineOf func(file string, from int, image string) int) (ImageReport, error) {
	uses := map[string][]imageUse{}
	for i := range objs {
		for _, u := range build.ImageUses(objs[i]) {
			uses[u.Image] = append(uses[u.Image], imageUse{obj: &objs[i], field: u.Field})
		}
	}
	refs := slices.Sorted(maps.Keys(uses))
	resolved := c.resolver.ResolveAll(ctx, refs)
	report := ImageReport{Images: make([]ImageResult, len(refs)), PolicyDigest: c.policyDigest}
	var wg sync.WaitGroup
	for i, res := range resolved {
		wg.Go(func() { report.Images[i] = c.judge(ctx, res) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return report, err
	}
	for i, ref := range refs {
		r := &report.Images[i]
		for _, u := range uses[ref] {
			id := u.obj.FindingID()
			if !slices.Contains(r.Objects, id) {
				r.Objects = append(r.Objects, id)
			}
			if r.Error != "" {
				line := u.obj.Source.Line
				if lineOf != nil {
					if l := lineOf(u.obj.Source.File, line, ref); l > 0 {
						line = l
					}
				}
				report.Findings = append(report.Findings, build.Finding{Severity: build.SeverityError, Rule: imageRule(resolved[i]),
					File: u.obj.Source.File, Line: line, Object: &id, Field: u.field,
					Message: fmt.Sprintf("image %q (%s): %s", ref, u.field, r.Error)})
			}
		}
	}
	report.Findings.Sort()
	c.log.Debug("images checked", "images", len(refs), "failed", len(report.Findings))
	return report, nil
}

// imageRule is the finding rule of an image that failed.
func imageRule(res images.Resolved) string {
	if res.Err != nil {
		return "image/unresolved"
	}
	return "image/unverified"
}

// judge decides one resolved image: the rule that matches it, and its verdict.
func (c *ImageChecker) judge(ctx context.Context, res images.Resolved) ImageResult {
	out := ImageResult{Reference: res.Image, Digest: res.Digest()}
	if res.Err != nil {
		out.Error = unresolvedReason(res)
		return out
	}
	out.Pinned = res.Pinned()
	if c.rules == nil {
		return out
	}
	i := slices.IndexFunc(c.rules, func(r compiledRule) bool { return r.pattern.matches(res.Ref) })
	if i < 0 {
		out.Error = fmt.Sprintf("no rule of the image policy matches %s: add a rule for it (or one for \"*\")", res.Name)
		return out
	}
	rule := c.rules[i]
	out.Rule = rule.rule.Image
	if rule.rule.Skip != nil {
		out.Skipped = rule.rule.Skip.Reason
		return out
	}
	v := c.resolver.Verify(ctx, res, rule.trust)
	if v.Err != nil {
		out.Error = unverifiedReason(res, rule, v.Err)
		return out
	}
	for _, s := range v.Signatures.Verified {
		out.Verified = append(out.Verified, fmt.Sprintf("signature (%s) by %s", s.Format, signerOf(rule, s.KeyIndex, s.Identity)))
		out.evidence = append(out.evidence, vsaInput{URI: res.Repository.Name() + "@" + string(s.Layer), Digest: digestMap(string(s.Layer))})
	}
	if v.Attestations != nil {
		for _, a := range v.Attestations.Verified {
			out.Verified = append(out.Verified, fmt.Sprintf("attestation %s (%s) by %s", a.Statement.PredicateType, a.Format, signerOf(rule, a.KeyIndex, a.Identity)))
			out.evidence = append(out.evidence, vsaInput{URI: res.Repository.Name() + "@" + string(a.Layer), Digest: digestMap(string(a.Layer))})
		}
	}
	out.Verified = slices.Compact(out.Verified)
	return out
}

// signerOf names who made a signature that verified: a key by its digest, or a keyless identity.
func signerOf(rule compiledRule, keyIndex int, id sign.Identity) string {
	if keyIndex >= 0 && keyIndex < len(rule.keys) {
		return "key " + rule.keys[keyIndex]
	}
	return fmt.Sprintf("%s (issuer %s)", id.Subject, id.Issuer)
}

// unresolvedReason says why an image did not resolve, and what to do.
func unresolvedReason(res images.Resolved) string {
	switch {
	case errors.Is(res.Err, images.ErrReference):
		return fmt.Sprintf("is not an image reference: %v", res.Err)
	case errors.Is(res.Err, publish.ErrNotFound):
		return fmt.Sprintf("does not resolve: %v: push the image, or fix the reference", res.Err)
	default:
		return fmt.Sprintf("does not resolve: %v", res.Err)
	}
}

// unverifiedReason says why an image did not verify under its rule: unsigned, unattested, or signed by someone else.
func unverifiedReason(res images.Resolved, rule compiledRule, err error) string {
	at := fmt.Sprintf(" (rule %q)", rule.rule.Image)
	switch {
	case errors.Is(err, sign.ErrNoAttestation):
		return fmt.Sprintf("%s is missing a required attestation%s: %v", res.Digest(), at, err)
	case errors.Is(err, sign.ErrNoSignature):
		return fmt.Sprintf("is unsigned: no cosign signature (a .sig tag or a sigstore bundle) refers to %s%s", res.Digest(), at)
	case errors.Is(err, sign.ErrVerification):
		return fmt.Sprintf("is not signed by a trusted key or identity%s: %v", at, err)
	default:
		return fmt.Sprintf("could not be verified%s: %v", at, err)
	}
}

// pinned returns objs with every image rewritten to its pinned reference, as the report resolved them; objs is left
// as it was.
func (r ImageReport) pinned(objs []build.Object) ([]build.Object, error) {
	pins := map[string]string{}
	for _, img := range r.Images {
		if img.Pinned != "" {
			pins[img.Reference] = img.Pinned
		}
	}
	out := slices.Clone(objs)
	for i := range out {
		o, _, err := build.ReplaceImages(out[i], func(ref string) string {
			if p, ok := pins[ref]; ok {
				return p
			}
			return ref
		})
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}

// digests maps each image reference to the digest it resolved to, for the inventory.
func (r ImageReport) digests() map[string]string {
	m := map[string]string{}
	for _, img := range r.Images {
		if img.Digest != "" {
			m[img.Reference] = img.Digest
			m[img.Pinned] = img.Digest
		}
	}
	return m
}

// Summary is one line per image: its reference, its digest, and what verified or why it was skipped.
func (r ImageReport) Summary() []string {
	var out []string
	for _, img := range r.Images {
		line := img.Reference
		if img.Digest != "" && img.Pinned != img.Reference {
			line += " → " + img.Digest
		}
		switch {
		case img.Error != "":
			line += ": FAILED"
		case img.Skipped != "":
			line += ": skipped (" + img.Skipped + ")"
		case len(img.Verified) > 0:
			line += ": " + strings.Join(img.Verified, "; ")
		}
		out = append(out, line)
	}
	return out
}
