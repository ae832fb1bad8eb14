package statepack

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/statepack/statepack/internal/images"
	"github.com/statepack/statepack/sign"
)

// ImagePolicy says who must have signed the container images a tree deploys: a list of rules by image pattern, the
// first that matches an image deciding. An image no rule matches fails. The flags of `statepack validate` and
// `publish` (--image-key, --image-certificate-identity…) make one rule for every image ("*"), placed after the rules
// of the fleet config.
type ImagePolicy struct {
	// Rules are tried in order; the first whose Image matches decides.
	Rules []ImageRule `json:"rules"`
	// FulcioRoots is the PEM chain of a private Fulcio's CA; TrustedRoot a sigstore trusted_root.json. nil: public
	// Sigstore, fetched through TUF when a keyless rule is checked.
	FulcioRoots, TrustedRoot []byte `json:"-"`
	// IgnoreTlog and IgnoreSCT accept keyless signatures without a Rekor entry or an SCT (a private Sigstore).
	IgnoreTlog, IgnoreSCT bool `json:"-"`
	// LookupEnv resolves "env://VAR" keys; nil refuses them.
	LookupEnv func(name string) (string, bool) `json:"-"`
}

// ImageRule is one rule of an ImagePolicy: images matching Image must carry a signature by one of Keys or
// Identities (any may match), in SignatureFormat, and verified attestations of every type in Attestations; or, with
// Skip, are not verified, for the reason given.
type ImageRule struct {
	// Image is a pattern matched against the image's repository ("docker.io/library/nginx", "ghcr.io/acme/web")
	// and against repository:tag: '*' matches any run of characters, '/' included, '?' one character, as in
	// Kyverno's imageReferences. "*" matches every image.
	Image string `json:"image"`
	// Keys are cosign public keys: files, env://VAR, or KMS URIs in a build with the kms tag.
	Keys []string `json:"keys,omitempty"`
	// Identities are keyless signers: each needs an identity and an issuer, exactly or by regular expression.
	Identities []ImageIdentity `json:"identities,omitempty"`
	// Attestations are predicate types (or the short names of ImagePredicateTypes) that must be attested by the
	// same keys or identities.
	Attestations []string `json:"attestations,omitempty"`
	// SignatureFormat is legacy (cosign's .sig tag), bundle (sigstore bundles as referrers) or any (the default).
	SignatureFormat string `json:"signatureFormat,omitempty"`
	// Skip exempts the images from verification; its reason is recorded in the verification summary.
	Skip *ImageSkip `json:"skip,omitempty"`
}

// ImageIdentity is a keyless signer, as cosign's --certificate-identity[-regexp] and
// --certificate-oidc-issuer[-regexp] name it.
type ImageIdentity struct {
	Identity       string `json:"identity,omitempty"`
	IdentityRegexp string `json:"identityRegexp,omitempty"`
	Issuer         string `json:"issuer,omitempty"`
	IssuerRegexp   string `json:"issuerRegexp,omitempty"`
}

// ImageSkip says why images are not verified.
type ImageSkip struct {
	Reason string `json:"reason"`
}

// ImagePredicateTypes are the short names an image rule's attestations (and `verify --attestation`) accept.
var ImagePredicateTypes = map[string]string{
	"slsa":       sign.PredicateSLSAProvenanceV1,
	"provenance": sign.PredicateSLSAProvenanceV1,
	"spdx":       "https://spdx.dev/Document",
	"cyclonedx":  "https://cyclonedx.org/bom",
	"vsa":        PredicateVSA,
}

// imagePattern is a compiled ImageRule.Image.
type imagePattern struct{ re *regexp.Regexp }

// patternChars are what an image pattern may hold: the characters of image references, and the wildcards.
var patternChars = regexp.MustCompile(`^[a-z0-9._\-/:@*?\[\]]+$`)

// ParseImagePattern compiles an image pattern (see ImageRule.Image); it refuses an empty pattern and characters
// that no image reference holds (upper case, spaces, regular-expression syntax), naming them.
func ParseImagePattern(p string) (imagePattern, error) {
	if p == "" {
		return imagePattern{}, fmt.Errorf("the image pattern is empty: write \"*\" for every image, or a repository such as ghcr.io/acme/*")
	}
	if !patternChars.MatchString(p) {
		bad := strings.Map(func(r rune) rune {
			if patternChars.MatchString(string(r)) {
				return -1
			}
			return r
		}, p)
		return imagePattern{}, fmt.Errorf("image pattern %q holds %q: patterns are image references in lower case with * and ? as wildcards", p, bad)
	}
	var b strings.Builder
	b.WriteString("^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return imagePattern{re: regexp.MustCompile(b.String())}, nil
}

// matches says whether the pattern matches the image: its repository, or repository:tag.
func (p imagePattern) matches(ref images.Ref) bool {
	if p.re.MatchString(ref.Name) {
		return true
	}
	return ref.Repository.Tag != "" && p.re.MatchString(ref.Name+":"+ref.Repository.Tag)
}

// compiledRule is a rule ready to check images: its pattern, its trust, its digest in the policy record.
type compiledRule struct {
	rule    ImageRule
	pattern imagePattern
	trust   *images.Trust
	// keys are the public keys' digests (sha256 of the DER), for the policy record.
	keys []string
}

// compile checks the policy and loads its keys; errors are ErrInvalidOption naming the rule.
func (p *ImagePolicy) compile(ctx context.Context) ([]compiledRule, string, error) {
	if p == nil {
		return nil, "", nil
	}
	if len(p.Rules) == 0 {
		return nil, "", invalidf("the image policy has no rules: give --image-key or --image-certificate-identity and --image-certificate-oidc-issuer, or rules in the config's images.rules")
	}
	out := make([]compiledRule, len(p.Rules))
	for i, r := range p.Rules {
		at := fmt.Sprintf("image rule %d (%s)", i+1, r.Image)
		pat, err := ParseImagePattern(r.Image)
		if err != nil {
			return nil, "", invalidf("%s: %w", at, err)
		}
		c := compiledRule{rule: r, pattern: pat}
		if r.Skip != nil {
			if strings.TrimSpace(r.Skip.Reason) == "" {
				return nil, "", invalidf("%s: skip needs a reason, recorded in the verification summary", at)
			}
			if len(r.Keys) > 0 || len(r.Identities) > 0 || len(r.Attestations) > 0 {
				return nil, "", invalidf("%s: a rule that skips verification names no keys, identities or attestations", at)
			}
			out[i] = c
			continue
		}
		if len(r.Keys) == 0 && len(r.Identities) == 0 {
			return nil, "", invalidf("%s: name keys or identities who must have signed, or skip with a reason", at)
		}
		tr := &images.Trust{ID: fmt.Sprint(i)}
		switch r.SignatureFormat {
		case "", "any":
		case string(sign.FormatLegacy), string(sign.FormatBundle):
			tr.Format = sign.Format(r.SignatureFormat)
		default:
			return nil, "", invalidf("%s: signatureFormat %q: use legacy, bundle or any", at, r.SignatureFormat)
		}
		if tr.Attestations, err = imagePredicateTypes(r.Attestations); err != nil {
			return nil, "", invalidf("%s: %w", at, err)
		}
		if len(r.Keys) > 0 {
			if tr.Keys, err = (sign.Keys{LookupEnv: p.LookupEnv}).LoadVerifiers(ctx, r.Keys...); err != nil {
				return nil, "", fmt.Errorf("%s: %w", at, KeyError(err, r.Keys...))
			}
			for _, k := range tr.Keys {
				c.keys = append(c.keys, keyDigest(k))
			}
		}
		tr.Options = []sign.VerifyOption{sign.WithIgnoreTlog(true)} // keys are checked without the log, as Flux does
		if len(r.Identities) > 0 {
			ids := make([]sign.Identity, len(r.Identities))
			for j, id := range r.Identities {
				if (id.Identity == "" && id.IdentityRegexp == "") || (id.Issuer == "" && id.IssuerRegexp == "") {
					return nil, "", invalidf("%s: a keyless identity needs an identity and an issuer (exact or regexp), as cosign's --certificate-identity and --certificate-oidc-issuer", at)
				}
				ids[j] = sign.Identity{Subject: id.Identity, SubjectRegexp: id.IdentityRegexp, Issuer: id.Issuer, IssuerRegexp: id.IssuerRegexp}
			}
			tr.Options = []sign.VerifyOption{sign.WithIdentities(ids...), sign.WithIgnoreTlog(p.IgnoreTlog), sign.WithIgnoreSCT(p.IgnoreSCT)}
			if p.FulcioRoots != nil {
				tr.Options = append(tr.Options, sign.WithRootCerts(p.FulcioRoots))
			}
			if p.TrustedRoot != nil {
				tr.Options = append(tr.Options, sign.WithTrustedRoot(p.TrustedRoot))
			}
		}
		c.trust = tr
		out[i] = c
	}
	digest, err := policyDigest(out, p)
	if err != nil {
		return nil, "", err
	}
	return out, digest, nil
}

// imagePredicateTypes turns short names into predicate types; URIs pass as they are.
func imagePredicateTypes(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		if pt, ok := ImagePredicateTypes[strings.ToLower(strings.TrimSpace(n))]; ok {
			out = append(out, pt)
			continue
		}
		if !strings.Contains(n, "://") {
			return nil, fmt.Errorf("attestation %q: use slsa, spdx, cyclonedx, or a predicate type URI", n)
		}
		out = append(out, n)
	}
	return slices.Compact(slices.Sorted(slices.Values(out))), nil
}

// keyDigest names a public key by the sha256 of its DER encoding, so that the policy's digest does not depend on
// where the key file lies.
func keyDigest(v signature.Verifier) string {
	pub, err := v.PublicKey()
	if err != nil {
		return "unknown"
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// policyRecord is the canonical form of a policy that its digest is taken of: the rules with keys by digest, and
// the digests of the trust roots.
type policyRecord struct {
	Rules       []ruleRecord `json:"rules"`
	FulcioRoots string       `json:"fulcioRoots,omitempty"`
	TrustedRoot string       `json:"trustedRoot,omitempty"`
	IgnoreTlog  bool         `json:"ignoreTlog,omitempty"`
	IgnoreSCT   bool         `json:"ignoreSCT,omitempty"`
}

type ruleRecord struct {
	Image           string          `json:"image"`
	Keys            []string        `json:"keys,omitempty"`
	Identities      []ImageIdentity `json:"identities,omitempty"`
	Attestations    []string        `json:"attestations,omitempty"`
	SignatureFormat string          `json:"signatureFormat,omitempty"`
	Skip            string          `json:"skip,omitempty"`
}

// policyDigest is the sha256 of the policy's canonical JSON: the same rules and keys give the same digest on every
// machine, whatever the key files are called.
func policyDigest(rules []compiledRule, p *ImagePolicy) (string, error) {
	rec := policyRecord{IgnoreTlog: p.IgnoreTlog, IgnoreSCT: p.IgnoreSCT}
	if p.FulcioRoots != nil {
		rec.FulcioRoots = sha256Hex(p.FulcioRoots)
	}
	if p.TrustedRoot != nil {
		rec.TrustedRoot = sha256Hex(p.TrustedRoot)
	}
	for _, c := range rules {
		r := ruleRecord{Image: c.rule.Image, Keys: c.keys, Identities: c.rule.Identities}
		if c.trust != nil {
			r.Attestations, r.SignatureFormat = c.trust.Attestations, string(c.trust.Format)
		}
		if c.rule.Skip != nil {
			r.Skip = c.rule.Skip.Reason
		}
		rec.Rules = append(rec.Rules, r)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	return sha256Hex(b), nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
