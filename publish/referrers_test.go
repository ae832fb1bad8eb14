package publish

import (
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	gcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// TestReferrers lists an artifact's referrer where clients find it: through the referrers API of a registry that
// has one, through the referrers tag of one that has not, and in a layout's index; each says which it was, and
// reports the artifact type as that listing gives it. go-containerregistry's registry reports the config's media
// type, not the manifest's artifactType, through its API; the referrers tag oras-go writes carries the manifest's.
func TestReferrers(t *testing.T) {
	t.Parallel()
	memory := func(api bool) string {
		srv := httptest.NewServer(gcrregistry.New(gcrregistry.WithReferrersSupport(api), gcrregistry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://") + "/team/app"
	}
	for _, tc := range []struct {
		name, ref    string
		want         ReferrerListing
		artifactType string
	}{
		{"referrers API", memory(true), ReferrersAPI, "application/vnd.oci.image.config.v1+json"},
		{"no referrers API", memory(false), ReferrersTag, "application/spdx+json"},
		{"layout", "oci:" + filepath.Join(t.TempDir(), "layout"), LayoutIndex, "application/spdx+json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := open(t, tc.ref)
			art, ref := signedArtifact(t, tg)
			refs, how, err := tg.Referrers(ctx, art)
			if err != nil {
				t.Fatal(err)
			}
			if how != tc.want || len(refs) != 1 || refs[0].Digest != ref.Digest || refs[0].ArtifactType != tc.artifactType {
				t.Errorf("Referrers() = %+v, %q; want the referrer %s of artifact type %s, listed by %q", refs, how, ref.Digest, tc.artifactType, tc.want)
			}
			// A second listing on the same connection says the same.
			if _, again, err := tg.Referrers(ctx, art); err != nil || again != how {
				t.Errorf("Referrers() again = %q, %v; want %q", again, err, how)
			}
		})
	}
}
