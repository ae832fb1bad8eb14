package charts

import (
	"errors"
	"regexp"
	"testing"
)

// TestPickTag: Helm's reading of chart tags and Flux's OCIRepository's, side by side on the same tags.
func TestPickTag(t *testing.T) {
	t.Parallel()
	tags := []string{"1.0.0", "1.1.0_build.2", "1.2.0-rc.1", "v1.3.0", "v2.0.0-rc.1", "latest", "1.4.0-arm64"}
	for _, tc := range []struct {
		name, constraint, filter string
		helm                     bool
		tag, version             string
		err                      error
	}{
		{name: "helm newest stable skips v tags", helm: true, tag: "1.1.0_build.2", version: "1.1.0+build.2"},
		{name: "flux newest stable takes v tags", tag: "v1.3.0", version: "v1.3.0"},
		{name: "flux pre-release by constraint", constraint: ">=2.0.0-0", tag: "v2.0.0-rc.1", version: "v2.0.0-rc.1"},
		{name: "flux tag", constraint: "latest", tag: "latest", version: "latest"},
		{name: "flux semverFilter", constraint: ">=1.0.0-0", filter: "-arm64$", tag: "1.4.0-arm64", version: "1.4.0-arm64"},
		{name: "flux semverFilter leaves nothing", constraint: "1.x", filter: "^0\\.", err: ErrNoVersion},
		{name: "helm sees no tag that is not a version", constraint: "latest", helm: true, err: ErrInvalidRequest},
		{name: "not a constraint", constraint: "one point oh", err: ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var filter *regexp.Regexp
			if tc.filter != "" {
				filter = regexp.MustCompile(tc.filter)
			}
			tag, version, err := pickTag(tags, tc.constraint, tc.helm, filter)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("pickTag(%q) = %v, want %v", tc.constraint, err, tc.err)
				}
				return
			}
			if err != nil || tag != tc.tag || version != tc.version {
				t.Errorf("pickTag(%q, helm=%v, filter %q) = %q, %q, %v; want %q, %q", tc.constraint, tc.helm, tc.filter, tag, version, err, tc.tag, tc.version)
			}
		})
	}
}

// TestSemverFilterIsPartOfTheRequest: two OCIRepositories that differ only by their filter are two lock entries,
// and the filter survives the lock file; a bad filter or one on an HTTP repository is refused.
func TestSemverFilterIsPartOfTheRequest(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + sha([]byte("x"))
	repo := "oci://r.example.com/flux/app"
	pins := map[Request]Pin{
		{Repository: repo, Version: "1.x"}:                        {Repository: repo, Version: "1.0.0", Digest: digest, URL: repo + "@" + digest},
		{Repository: repo, Version: "1.x", SemverFilter: "-arm$"}: {Repository: repo, Version: "1.0.0-arm", Digest: digest, URL: repo + "@" + digest},
	}
	lock, err := ParseLock(LockFileName, NewLock(pins).Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for r, want := range pins {
		if got, ok := lock.Lookup(r); !ok || got != want {
			t.Errorf("Lookup(%+v) = %+v, %v; want %+v", r, got, ok, want)
		}
	}
	for _, r := range []Request{
		{Repository: repo, Version: "1.x", SemverFilter: "("},
		{Repository: "https://charts.example.com", Name: "app", SemverFilter: ".*"},
	} {
		if _, err := newFetcher(t, Options{}).Resolve(t.Context(), r); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Resolve(%+v) = %v, want %v", r, err, ErrInvalidRequest)
		}
	}
}
