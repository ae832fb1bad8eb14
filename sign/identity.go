package sign

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	fulciocert "github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// Identity is who made a keyless signature, as its Fulcio certificate says: the certificate identity (its subject
// alternative name: a GitHub workflow URI such as
// https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main, an email address, a Kubernetes service
// account URI) and the OIDC issuer that vouched for it (https://token.actions.githubusercontent.com for GitHub
// Actions).
//
// Given to Verify (WithIdentities) it is what a keyless signature must match: set exactly one of Subject and
// SubjectRegexp, and exactly one of Issuer and IssuerRegexp, as cosign's --certificate-identity[-regexp] and
// --certificate-oidc-issuer[-regexp] and Flux's matchOIDCIdentity require. Exact values must be equal; regular
// expressions (Go RE2 syntax) are matched the way cosign and Flux match them, unanchored: a pattern matches when it
// matches any part of the value, so anchor it with ^ and $ to mean the whole value.
type Identity struct {
	Subject       string
	SubjectRegexp string
	Issuer        string
	IssuerRegexp  string
}

// String renders an expected identity as the messages of Verify name it.
func (id Identity) String() string {
	return id.subjectString() + " from OIDC issuer " + id.issuerString()
}

func (id Identity) subjectString() string {
	if id.SubjectRegexp != "" {
		return "regexp " + id.SubjectRegexp
	}
	return id.Subject
}

func (id Identity) issuerString() string {
	if id.IssuerRegexp != "" {
		return "regexp " + id.IssuerRegexp
	}
	return id.Issuer
}

// validate refuses an expected identity that cosign would not check as the caller means it.
func (id Identity) validate() error {
	switch {
	case id.Subject == "" && id.SubjectRegexp == "":
		return errors.New("expected identity without a certificate identity (set Subject or SubjectRegexp)")
	case id.Subject != "" && id.SubjectRegexp != "":
		return fmt.Errorf("expected identity %q has both an exact certificate identity and a regexp %q; give one", id.Subject, id.SubjectRegexp)
	case id.Issuer == "" && id.IssuerRegexp == "":
		return fmt.Errorf("expected identity %s without an OIDC issuer (set Issuer or IssuerRegexp)", id.subjectString())
	case id.Issuer != "" && id.IssuerRegexp != "":
		return fmt.Errorf("expected identity %s has both an exact OIDC issuer %q and a regexp %q; give one", id.subjectString(), id.Issuer, id.IssuerRegexp)
	}
	for _, re := range []struct{ what, expr string }{{"certificate identity", id.SubjectRegexp}, {"OIDC issuer", id.IssuerRegexp}} {
		if re.expr == "" {
			continue
		}
		if _, err := regexp.Compile(re.expr); err != nil {
			return fmt.Errorf("%s regexp %q: %w", re.what, re.expr, err)
		}
	}
	return nil
}

func (id Identity) cosign() cosign.Identity {
	return cosign.Identity{Subject: id.Subject, SubjectRegExp: id.SubjectRegexp, Issuer: id.Issuer, IssuerRegExp: id.IssuerRegexp}
}

// subjectMatches and issuerMatches repeat cosign's CheckCertificatePolicy, only to say which part of an identity a
// certificate fails; cosign's own check decides.
func (id Identity) subjectMatches(sans []string) bool {
	if id.SubjectRegexp != "" {
		re, err := regexp.Compile(id.SubjectRegexp)
		return err == nil && slices.ContainsFunc(sans, re.MatchString)
	}
	return slices.Contains(sans, id.Subject)
}

func (id Identity) issuerMatches(issuer string) bool {
	if id.IssuerRegexp != "" {
		re, err := regexp.Compile(id.IssuerRegexp)
		return err == nil && re.MatchString(issuer)
	}
	return issuer == id.Issuer
}

// certIdentity reads the identity a Fulcio certificate names.
func certIdentity(cert *x509.Certificate) (sans []string, issuer string) {
	return cryptoutils.GetSubjectAlternateNames(cert), (&cosign.CertExtensions{Cert: cert}).GetIssuer()
}

// identityMismatch says how cert fails the expected identities, naming what it holds and what was expected, or
// returns nil when one of them matches.
func identityMismatch(cert *x509.Certificate, expected []Identity) error {
	sans, issuer := certIdentity(cert)
	for _, id := range expected {
		if id.subjectMatches(sans) && id.issuerMatches(issuer) {
			return nil
		}
	}
	found := strings.Join(sans, ", ")
	if found == "" {
		found = "(none)"
	}
	if issuer == "" {
		issuer = "(none)"
	}
	if len(expected) == 1 {
		id := expected[0]
		var parts []string
		if !id.subjectMatches(sans) {
			parts = append(parts, fmt.Sprintf("certificate identity %s does not match %s", found, id.subjectString()))
		}
		if !id.issuerMatches(issuer) {
			parts = append(parts, fmt.Sprintf("certificate OIDC issuer %s does not match %s", issuer, id.issuerString()))
		}
		return errors.New(strings.Join(parts, "; "))
	}
	want := make([]string, len(expected))
	for i, id := range expected {
		want[i] = id.String()
	}
	return fmt.Errorf("certificate identity %s from OIDC issuer %s matches none of the %d expected identities: %s",
		found, issuer, len(expected), strings.Join(want, "; "))
}

// GitHubWorkflowClaims are what a keyless certificate from GitHub Actions must also say about the run that signed,
// as cosign's --certificate-github-workflow-{trigger,sha,name,repository,ref} check: Fulcio copies them from the
// token's event_name, sha, workflow, repository and ref claims. Empty fields are not checked.
type GitHubWorkflowClaims struct {
	Trigger, SHA, Name, Repository, Ref string
}

func (c GitHubWorkflowClaims) isZero() bool { return c == GitHubWorkflowClaims{} }

// mismatch says which claims cert does not carry as expected, or returns nil.
func (c GitHubWorkflowClaims) mismatch(cert *x509.Certificate) error {
	if c.isZero() {
		return nil
	}
	ext, err := fulciocert.ParseExtensions(cert.Extensions)
	if err != nil {
		return fmt.Errorf("reading its certificate's extensions: %w", err)
	}
	var bad []string
	check := func(name, want, got string) {
		if want != "" && want != got {
			bad = append(bad, fmt.Sprintf("%s %q where %q was expected", name, got, want))
		}
	}
	check("workflow trigger", c.Trigger, ext.GithubWorkflowTrigger)
	check("commit", c.SHA, ext.GithubWorkflowSHA)
	check("workflow name", c.Name, ext.GithubWorkflowName)
	check("repository", c.Repository, ext.GithubWorkflowRepository)
	check("ref", c.Ref, ext.GithubWorkflowRef)
	if len(bad) > 0 {
		return fmt.Errorf("its certificate names the GitHub Actions %s", strings.Join(bad, ", "))
	}
	return nil
}
