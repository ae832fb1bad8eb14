// Package redact writes URLs for messages and logs without what credentials ride on: user information, the query
// (signed URLs and tokens travel there) and the fragment. Registries (publish), chart repositories
// (internal/charts) and kustomize's chart repositories (build) print URLs the user gave and errors that quote
// them; all go through here, so that one rule decides what is shown.
package redact

import (
	"net/url"
	"regexp"
)

// URL writes raw without user information, fragment, and with the query replaced by REDACTED. What does not
// parse is not echoed: "(unparseable URL)".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return Parsed(u)
}

// Parsed is URL for a parsed URL; u is not changed.
func Parsed(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" || c.ForceQuery {
		c.RawQuery, c.ForceQuery = "REDACTED", false
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// urlPattern finds URLs in the text of errors from net/http, oras-go and the Helm SDK, which quote them in full.
var urlPattern = regexp.MustCompile("[a-zA-Z][a-zA-Z0-9+.-]*://[^\\s\"'<>`]+")

// Text redacts every URL in s, as URL does.
func Text(s string) string { return urlPattern.ReplaceAllStringFunc(s, URL) }
