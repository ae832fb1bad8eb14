// Package testcharts serves Helm charts to tests the way real repositories do: packaged as `helm package`
// packages them (the SDK's chartutil.Save), listed in an index.yaml the SDK writes and served over loopback HTTP,
// or pushed to an OCI registry as `helm push` pushes them. For tests only.
package testcharts

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
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

// Helm's OCI media types, as `helm push` writes them.
const (
	ConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	LayerMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// Package packages the chart directory dir as `helm package` does and returns the archive's bytes.
func Package(t testing.TB, dir string) []byte {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("loading the chart %s: %v", dir, err)
	}
	return save(t, ch)
}

// Archive packages a small chart of that name and version, one ConfigMap template, as `helm package` does.
func Archive(t testing.TB, name, version string) []byte {
	t.Helper()
	return save(t, &chartv2.Chart{
		Metadata:  &chartv2.Metadata{APIVersion: chartv2.APIVersionV2, Name: name, Version: version},
		Templates: []*common.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n")}},
	})
}

func save(t testing.TB, ch *chartv2.Chart) []byte {
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

// Chart is one archive a Repo serves.
type Chart struct {
	Name, Version string
	Data          []byte
	// URL is the entry's URL as the index lists it; default "<name>-<version>.tgz" (relative).
	URL string
	// NoDigest leaves the entry's digest out of the index.
	NoDigest bool
}

// Repo is an HTTP chart repository on loopback: an index.yaml at URL()+"/index.yaml" and the archives it lists,
// counting the requests each path gets and keeping the Authorization headers it saw.
type Repo struct {
	*httptest.Server
	mu         sync.Mutex
	archives   map[string][]byte
	index      []byte
	hits       map[string]int
	auth       []string
	user, pass string
}

// NewRepo starts a repository serving charts; it stops when the test ends.
func NewRepo(t testing.TB, charts ...Chart) *Repo {
	t.Helper()
	r := &Repo{hits: map[string]int{}}
	r.Server = httptest.NewServer(r)
	t.Cleanup(r.Close)
	r.Set(t, charts...)
	return r
}

// Set replaces what the repository serves.
func (r *Repo) Set(t testing.TB, charts ...Chart) {
	t.Helper()
	idx := repo.NewIndexFile()
	archives := map[string][]byte{}
	for _, c := range charts {
		file := c.Name + "-" + c.Version + ".tgz"
		archives[file] = c.Data
		sum := digest.FromBytes(c.Data).Encoded()
		if c.NoDigest {
			sum = ""
		}
		if err := idx.MustAdd(&chartv2.Metadata{APIVersion: "v2", Name: c.Name, Version: c.Version}, file, "", sum); err != nil {
			t.Fatal(err)
		}
		if c.URL != "" {
			idx.Entries[c.Name][len(idx.Entries[c.Name])-1].URLs = []string{c.URL}
		}
	}
	idx.SortEntries()
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.archives, r.index = archives, data
}

// Tamper serves data for the archive file without changing the index: a repository whose bytes no longer match
// the digest it lists.
func (r *Repo) Tamper(file string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.archives[file] = data
}

// RequireAuth makes every request need basic auth with these credentials.
func (r *Repo) RequireAuth(user, pass string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.pass = user, pass
}

// URL is the repository's URL, as a HelmRepository's spec.url names it.
func (r *Repo) URL() string { return r.Server.URL + "/charts" }

// Hits counts the requests for a path ("/charts/index.yaml").
func (r *Repo) Hits(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

// AuthHeaders are the Authorization headers received, in order.
func (r *Repo) AuthHeaders() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}

func (r *Repo) ServeHTTP(w http.ResponseWriter, req *http.Request) {
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

// Push pushes a chart archive to host/repository:tag over plain HTTP as `helm push` does — Helm's config (the
// chart's name and version as JSON) and chart layer media types in an OCI image manifest — and returns the
// manifest's digest. cred may be nil.
func Push(t testing.TB, host, repository, tag string, archive []byte, cred *auth.Credential) string {
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
	push := func(mediaType string, data []byte) ocispec.Descriptor {
		desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if err := r.Push(ctx, desc, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		return desc
	}
	cfg := push(ConfigMediaType, config)
	layer := push(LayerMediaType, archive)
	desc, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cfg, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}
