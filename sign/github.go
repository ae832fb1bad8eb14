package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultAudience is the audience Sigstore's Fulcio requires of an identity token.
const DefaultAudience = "sigstore"

// GitHubActionsToken asks GitHub Actions for an OIDC identity token for audience ("" means DefaultAudience), the
// documented way: GET requestURL with &audience=<audience> added, the header "Authorization: bearer
// <requestToken>", and the token read from the JSON answer's "value". requestURL and requestToken are the values
// of the job's ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, which the caller reads: GitHub sets
// them only for a job with the permission id-token: write, and when either is empty the error wraps
// ErrNoIdentityToken and says so.
//
// Neither requestToken nor the token returned ever appears in an error; the URL appears without its query.
func GitHubActionsToken(ctx context.Context, requestURL, requestToken, audience string) (string, error) {
	requestURL, requestToken = strings.TrimSpace(requestURL), strings.TrimSpace(requestToken)
	if requestURL == "" || requestToken == "" {
		return "", fmt.Errorf("%w from GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not both set; grant the job the permission id-token: write (and, for a reusable workflow, have the caller grant it)", ErrNoIdentityToken)
	}
	if audience == "" {
		audience = DefaultAudience
	}
	u, err := url.Parse(requestURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("requesting the GitHub Actions OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
	}
	where := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	tok, err := fetchGitHubToken(ctx, u.String(), requestToken)
	if err != nil {
		return "", fmt.Errorf("requesting the GitHub Actions OIDC token from %s: %w", where, redactToken(err, requestToken))
	}
	return tok, nil
}

func fetchGitHubToken(ctx context.Context, u, requestToken string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+requestToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := (&http.Client{Timeout: serviceTimeout}).Do(req)
	if err != nil {
		// A *url.Error repeats the URL, query included; say what failed without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			return "", ue.Err
		}
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxServiceResponse))
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// GitHub's error answers are short JSON messages; they are not echoed, since a misbehaving endpoint could
		// repeat a credential in them.
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = " (an expired or wrong ACTIONS_ID_TOKEN_REQUEST_TOKEN?)"
		}
		return "", fmt.Errorf("answered %s%s", resp.Status, hint)
	}
	var answer struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return "", errors.New("the answer is not the JSON object {\"value\": <token>} GitHub documents")
	}
	if strings.TrimSpace(answer.Value) == "" {
		return "", errors.New("the answer holds no token (empty \"value\")")
	}
	return strings.TrimSpace(answer.Value), nil
}
