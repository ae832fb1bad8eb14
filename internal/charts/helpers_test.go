package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/helm"
)

// podinfoDir is the real chart of the shared corpus, beside the work trees.
const podinfoDir = "../../../shared/corpus/charts/podinfo"

// podinfoArchive packages the corpus's podinfo chart as `helm package` does (the SDK's chartutil.Save).
func podinfoArchive(t testing.TB) []byte {
	t.Helper()
	if _, err := os.Stat(filepath.Join(podinfoDir, "Chart.yaml")); err != nil {
		t.Skipf("the podinfo chart of the shared corpus is not at %s (it sits beside the work tree, in shared/corpus/charts): %v", podinfoDir, err)
	}
	ch, err := loader.Load(podinfoDir)
	if err != nil {
		t.Fatal(err)
	}
	return packageChart(t, ch)
}

// chartArchive packages a small chart of that name and version, one template, as `helm package` does.
func chartArchive(t testing.TB, name, version string) []byte {
	t.Helper()
	return packageChart(t, &chartv2.Chart{
		Metadata:  &chartv2.Metadata{APIVersion: chartv2.APIVersionV2, Name: name, Version: version},
		Templates: []*common.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n")}},
	})
}

func packageChart(t testing.TB, ch *chartv2.Chart) []byte {
	t.Helper()
	path, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// chartRepo is an HTTP chart repository on loopback: an index.yaml and the archives it lists, with a count of
// the requests each path got and the Authorization headers it saw.
type chartRepo struct {
	*httptest.Server
	mu       sync.Mutex
	archives map[string][]byte // by file name
	index    []byte
	hits     map[string]int
	auth     []string // Authorization headers received, in order
	user     string   // when set, basic auth with user:pass is required
	pass     string
}

type chartFile struct {
	name, version string
	data          []byte
	url           string // as the index lists it; default "<name>-<version>.tgz" (relative)
	noDigest      bool
}

func newChartRepo(t testing.TB, charts ...chartFile) *chartRepo {
	t.Helper()
	r := &chartRepo{archives: map[string][]byte{}, hits: map[string]int{}}
	r.Server = httptest.NewServer(r)
	t.Cleanup(r.Close)
	r.setCharts(t, charts...)
	return r
}

// setCharts replaces what the repository serves.
func (r *chartRepo) setCharts(t testing.TB, charts ...chartFile) {
	t.Helper()
	idx := repo.NewIndexFile()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.archives = map[string][]byte{}
	for _, c := range charts {
		file := c.name + "-" + c.version + ".tgz"
		r.archives[file] = c.data
		digest := sha(c.data)
		if c.noDigest {
			digest = ""
		}
		if err := idx.MustAdd(&chartv2.Metadata{APIVersion: "v2", Name: c.name, Version: c.version}, file, "", digest); err != nil {
			t.Fatal(err)
		}
		if c.url != "" {
			idx.Entries[c.name][len(idx.Entries[c.name])-1].URLs = []string{c.url}
		}
	}
	idx.SortEntries()
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	r.index = data
}

func (r *chartRepo) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits[req.URL.Path]++
	if h := req.Header.Get("Authorization"); h != "" {
		r.auth = append(r.auth, h)
	}
	if r.user != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	name := strings.TrimPrefix(req.URL.Path, "/charts/")
	switch {
	case name == "index.yaml":
		_, _ = w.Write(r.index)
	case r.archives[name] != nil:
		_, _ = w.Write(r.archives[name])
	default:
		http.NotFound(w, req)
	}
}

// url is the repository's URL: the index is at <url>/index.yaml.
func (r *chartRepo) url() string { return r.URL + "/charts" }

func (r *chartRepo) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func (r *chartRepo) authHeaders() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}

// pushChart pushes a chart archive to host/repository:tag as `helm push` does: Helm's config (Chart.yaml as JSON)
// and chart layer media types in an OCI image manifest. It returns the manifest digest.
func pushChart(t testing.TB, host, repository, tag string, archive []byte, cred *auth.Credential) string {
	t.Helper()
	ctx := context.Background()
	r, err := remote.NewRepository(host + "/" + repository)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	if cred != nil {
		r.Client = &auth.Client{Credential: auth.StaticCredential(host, *cred)}
	}
	ch, err := helm.LoadArchive(archive, helm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	config, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": ch.Name(), "version": ch.Version()})
	cfg := pushBlob(t, r, helmConfigMediaType, config)
	layer := pushBlob(t, r, helmChartLayerMediaType, archive)
	desc, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cfg, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}

func pushBlob(t testing.TB, r *remote.Repository, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := r.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return desc
}
