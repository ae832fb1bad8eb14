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
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/yaml"
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
}

// Repo is an HTTP chart repository on loopback: an index.yaml at URL()+"/index.yaml" and the archives it lists
// (relative URLs, with digests), counting the requests each path gets.
type Repo struct {
	*httptest.Server
	mu       sync.Mutex
	archives map[string][]byte
	index    []byte
	hits     map[string]int
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
		if err := idx.MustAdd(&chartv2.Metadata{APIVersion: "v2", Name: c.Name, Version: c.Version}, file, "", digest.FromBytes(c.Data).Encoded()); err != nil {
			t.Fatal(err)
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

// URL is the repository's URL, as a HelmRepository's spec.url names it.
func (r *Repo) URL() string { return r.Server.URL + "/charts" }

// Hits counts the requests for a path ("/charts/index.yaml").
func (r *Repo) Hits(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func (r *Repo) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits[req.URL.Path]++
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
func Push(t testing.TB, host, repository, tag string, archive []byte, name, version string, cred *auth.Credential) string {
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
	config, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
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
