package publish

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

// TestTags lists a repository's tags sorted, in a registry and in a layout; a repository the registry does not
// know is ErrNotFound (the pin stage names the chart that is missing).
func TestTags(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	for _, ref := range []string{reg.Host + "/team/tags", "oci:" + filepath.Join(t.TempDir(), "layout")} {
		t.Run(strings.SplitN(ref, ":", 2)[0], func(t *testing.T) {
			tg := open(t, ref)
			desc, err := tg.PushArtifact(ctx, testArtifact(t, []byte("tags")))
			if err != nil {
				t.Fatal(err)
			}
			if err := tg.Tag(ctx, desc, "v2", "1.0.0_build.1", "latest"); err != nil {
				t.Fatal(err)
			}
			got, err := tg.Tags(ctx)
			if want := []string{"1.0.0_build.1", "latest", "v2"}; err != nil || !slices.Equal(got, want) {
				t.Errorf("Tags() = %q, %v; want %q", got, err, want)
			}
		})
	}
	if _, err := open(t, reg.Host+"/team/nothing").Tags(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tags(unknown repository) = %v, want ErrNotFound", err)
	}
}
