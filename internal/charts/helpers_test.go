package charts

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack/internal/testcharts"
)

// podinfoDir is the real chart of the shared corpus, beside the work trees.
const podinfoDir = "../../../shared/corpus/charts/podinfo"

// podinfoArchive packages the corpus's podinfo chart as `helm package` does.
func podinfoArchive(t testing.TB) []byte {
	t.Helper()
	if _, err := os.Stat(filepath.Join(podinfoDir, "Chart.yaml")); err != nil {
		t.Skipf("the podinfo chart of the shared corpus is not at %s (it sits beside the work tree, in shared/corpus/charts): %v", podinfoDir, err)
	}
	return testcharts.Package(t, podinfoDir)
}

func sha(data []byte) string { return digest.FromBytes(data).Encoded() }

// pushBlob pushes one blob, for the tests that build a manifest Helm would not push.
func pushBlob(t testing.TB, r *remote.Repository, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := r.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return desc
}
