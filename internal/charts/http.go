package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"

	"github.com/Masterminds/semver/v3"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/redact"
	"github.com/statepack/statepack/publish"
)

// ParseIndex parses an index.yaml as Helm does (JSON or strict YAML, entries that fail Helm's validation
// skipped, versions sorted newest first). name names the index in errors. Exported for the fuzz test and for a
// caller that has an index at hand.
func ParseIndex(name string, data []byte) (*repo.IndexFile, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrInvalidIndex, name)
	}
	idx := &repo.IndexFile{}
	var err error
	if json.Valid(data) {
		err = json.Unmarshal(data, idx)
	} else {
		err = yaml.UnmarshalStrict(data, idx)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidIndex, name, err)
	}
	if idx.APIVersion == "" {
		return nil, fmt.Errorf("%w: %s has no apiVersion: is it a Helm repository index?", ErrInvalidIndex, name)
	}
	for chart, versions := range idx.Entries {
		idx.Entries[chart] = slices.DeleteFunc(versions, func(v *repo.ChartVersion) bool {
			if v == nil || v.Metadata == nil {
				return true
			}
			if v.APIVersion == "" {
				v.APIVersion = "v1"
			}
			// Helm skips the entries its chart validation refuses (logging them only), except the duplicate
			// dependency alias that JFrog's indexes carry (helm/helm#12748); so do we.
			err := v.Validate()
			return err != nil && !strings.HasPrefix(err.Error(), "validation: more than one dependency with name or alias")
		})
	}
	idx.SortEntries()
	return idx, nil
}

// pickVersion chooses the version of a chart in an index as `helm pull --version` and Flux's HelmChart do,
// with errors that say what exists.
func pickVersion(idx *repo.IndexFile, name, constraint string) (*repo.ChartVersion, error) {
	versions, ok := idx.Entries[name]
	if !ok || len(versions) == 0 {
		return nil, fmt.Errorf("%w: the index has no chart %q%s", ErrChartNotFound, name, nearNames(idx, name))
	}
	if constraint != "" {
		if _, err := semver.NewConstraint(constraint); err != nil {
			return nil, fmt.Errorf("%w: version %q is neither a version nor a semver constraint: %v", ErrInvalidRequest, constraint, err)
		}
	}
	cv, err := idx.Get(name, constraint)
	if err != nil {
		vs := make([]string, len(versions))
		for i, v := range versions {
			vs[i] = v.Version
		}
		return nil, fmt.Errorf("%w %s: the index has %s", ErrNoVersion, describeConstraint(constraint), listVersions(vs))
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%w: the index entry for %s %s has no URL", ErrInvalidIndex, name, cv.Version)
	}
	return cv, nil
}

func describeConstraint(c string) string {
	if c == "" {
		return `"" (newest stable; pre-releases only match a constraint that names one, such as ">=1.0.0-0")`
	}
	return fmt.Sprintf("%q", c)
}

// listVersions names at most 10 versions, newest first, for an error.
func listVersions(vs []string) string {
	if len(vs) == 0 {
		return "no versions"
	}
	const most = 10
	if len(vs) <= most {
		return strings.Join(vs, ", ")
	}
	return fmt.Sprintf("%s and %d older", strings.Join(vs[:most], ", "), len(vs)-most)
}

// nearNames suggests the index's charts whose names contain the name asked for or are contained in it.
func nearNames(idx *repo.IndexFile, name string) string {
	var near []string
	for n := range idx.Entries {
		if n != "" && (strings.Contains(n, name) || strings.Contains(name, n) || strings.EqualFold(n, name)) {
			near = append(near, n)
		}
	}
	slices.Sort(near)
	if len(near) == 0 {
		return fmt.Sprintf(" (it has %d charts)", len(idx.Entries))
	}
	return fmt.Sprintf(" (did you mean %s?)", strings.Join(near[:min(len(near), 5)], ", "))
}

func (f *Fetcher) index(ctx context.Context, repository string) (*repo.IndexFile, error) {
	return f.shared.indexes.do(ctx, repository, func() (*repo.IndexFile, error) {
		u, err := url.Parse(repository + "/index.yaml")
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalidRequest, redact.URL(repository))
		}
		data, err := f.get(ctx, repository, u, maxIndexSize, "the repository index")
		if err != nil {
			return nil, err
		}
		return ParseIndex(redact.Parsed(u), data)
	})
}

func (f *Fetcher) resolveHTTP(ctx context.Context, k key) (Pin, error) {
	idx, err := f.index(ctx, k.repository)
	if err != nil {
		return Pin{}, err
	}
	cv, err := pickVersion(idx, k.name, k.version)
	if err != nil {
		return Pin{}, err
	}
	// Helm's rule: a relative chart URL is relative to the repository URL (where index.yaml is).
	abs, err := repo.ResolveReferenceURL(k.repository, cv.URLs[0])
	if err != nil {
		return Pin{}, fmt.Errorf("%w: the index entry for %s %s has a bad URL: %v", ErrInvalidIndex, k.name, cv.Version, redact.URL(cv.URLs[0]))
	}
	u, err := url.Parse(abs)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Pin{}, fmt.Errorf("%w: the index entry for %s %s points at %s, which is not an http(s) URL", ErrInvalidIndex, k.name, cv.Version, redact.URL(abs))
	}
	// The pin (hence the lock file, committed to git) keeps neither user information nor a query, where tokens
	// travel; this run downloads from the URL as the index gives it.
	u.User = nil
	source := u.String()
	shown := *u
	shown.RawQuery, shown.ForceQuery, shown.Fragment, shown.RawFragment = "", false, "", ""
	p := Pin{Repository: k.repository, Name: k.name, Version: cv.Version, URL: shown.String()}
	want := ""
	if cv.Digest != "" {
		want = "sha256:" + strings.ToLower(cv.Digest)
		if _, ok := f.cached(want); ok {
			p.Digest = want
			return p, nil
		}
	}
	data, err := f.download(ctx, p.Repository, source)
	if err != nil {
		return Pin{}, err
	}
	got := digestOf(data)
	if want != "" && got != want {
		return Pin{}, fmt.Errorf("%w: the archive %s is %s, but the index says %s", ErrDigestMismatch, redact.Parsed(u), got, want)
	}
	ch, err := helm.LoadArchive(data, f.o.Limits)
	if err != nil {
		return Pin{}, fmt.Errorf("%w: the archive %s: %w", ErrNotAChart, redact.Parsed(u), err)
	}
	if ch.Name() != k.name || ch.Version() != cv.Version {
		return Pin{}, fmt.Errorf("%w: the archive %s holds chart %s %s, but the index lists it as %s %s", ErrNotAChart, redact.Parsed(u), ch.Name(), ch.Version(), k.name, cv.Version)
	}
	f.store(data)
	p.Digest = got
	return p, nil
}

func (f *Fetcher) fetchHTTP(ctx context.Context, p Pin) ([]byte, error) {
	if data, ok := f.cached(p.Digest); ok {
		return data, nil
	}
	if f.o.Offline {
		return nil, f.notCached(p)
	}
	data, err := f.download(ctx, p.Repository, p.URL)
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s@%s: %w", p.Name, p.Version, err)
	}
	if got := digestOf(data); got != p.Digest {
		return nil, mismatch(p, got)
	}
	f.store(data)
	return data, nil
}

// download fetches a chart archive of a repository once per URL.
func (f *Fetcher) download(ctx context.Context, repository, source string) ([]byte, error) {
	return f.shared.downloads.do(ctx, source, func() ([]byte, error) {
		u, err := url.Parse(source)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
			return nil, fmt.Errorf("%w: the chart URL %s is not an http(s) URL without credentials", ErrInvalidRequest, redact.URL(source))
		}
		return f.get(ctx, normalizeRepository(repository), u, f.maxArchive(), "the chart archive")
	})
}

// get fetches u, with the repository's credentials when u is on the repository's scheme, host and port.
func (f *Fetcher) get(ctx context.Context, repository string, u *url.URL, limit int64, what string) ([]byte, error) {
	shown := redact.Parsed(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s %s: %w", what, shown, err)
	}
	req.Header.Set("User-Agent", "statepack")
	sent := false
	if ru, err := url.Parse(repository); err == nil && f.o.HTTPAuth != nil && ru.Scheme == u.Scheme && ru.Host == u.Host {
		if user, pass, ok := f.o.HTTPAuth(repository); ok {
			req.SetBasicAuth(user, pass)
			sent = true
		}
	}
	f.log.Debug("chart repository request", "url", shown, "credentials", sent)
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		hint := ""
		if errors.Is(err, syscall.ECONNREFUSED) {
			hint = fmt.Sprintf(" (is the chart repository at %s running?)", u.Host)
		}
		return nil, fmt.Errorf("fetching %s %s: the repository is unreachable: %s%s", what, shown, redact.Text(err.Error()), hint)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		hint := fmt.Sprintf("the repository needs credentials: give a user name and password for %s", redact.URL(repository))
		if sent {
			hint = fmt.Sprintf("the credentials given for %s were refused: check the user name and password", redact.URL(repository))
		}
		return nil, fmt.Errorf("fetching %s %s: %w (%s): %s", what, shown, publish.ErrUnauthorized, resp.Status, hint)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("fetching %s %s: %w (%s)", what, shown, publish.ErrNotFound, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetching %s %s: the repository answered %s", what, shown, resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("fetching %s %s: %w: %d bytes, the limit is %d", what, shown, ErrTooLarge, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s %s: %s", what, shown, redact.Text(err.Error()))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("fetching %s %s: %w: more than %d bytes", what, shown, ErrTooLarge, limit)
	}
	return data, nil
}
