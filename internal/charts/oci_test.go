package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/statepack/statepack/internal/helm"
	"github.com/statepack/statepack/internal/testcharts"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/publish"
)

// anonymous keeps a test's registry access off the developer's Docker config.
func anonymous(t *testing.T) []publish.Option {
	return []publish.Option{publish.WithDockerConfig(t.TempDir()), publish.WithMaxRetries(0)}
}

// TestOCICharts pushes charts into a real registry as `helm push` does and resolves them as Helm (an OCI
// HelmRepository) and as Flux's OCIRepository (chartRef) would.
func TestOCICharts(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ctx := context.Background()
	archives := map[string][]byte{}
	digests := map[string]string{}
	for _, tag := range []string{"1.0.0", "1.1.0", "1.1.1_build.5", "2.0.0-rc.1", "v3.0.0"} {
		archives[tag] = testcharts.Archive(t, "demo", strings.ReplaceAll(tag, "_", "+"))
		digests[tag] = testcharts.Push(t, reg.Host, "charts/demo", tag, archives[tag], nil)
	}
	podinfo := testcharts.Archive(t, "podinfo", "6.14.1")
	podinfoDigest := testcharts.Push(t, reg.Host, "flux/podinfo", "v6.14.1", podinfo, nil)
	if err := tagAlso(reg.Host, "flux/podinfo", "v6.14.1", "latest"); err != nil {
		t.Fatal(err)
	}
	notAChart := pushNotAChart(t, reg.Host, "flux/app", "1.0.0")
	repository := "oci://" + reg.Host + "/charts"

	for _, tc := range []struct {
		name             string
		req              Request
		wantTag, version string
		err              error
		msg              string
	}{
		{name: "helm: newest stable, _ read as +", req: Request{Repository: repository, Name: "demo"}, wantTag: "1.1.1_build.5", version: "1.1.1+build.5"},
		{name: "helm: tilde", req: Request{Repository: repository, Name: "demo", Version: "~1.0"}, wantTag: "1.0.0", version: "1.0.0"},
		{name: "helm: pre-release by constraint", req: Request{Repository: repository, Name: "demo", Version: ">=2.0.0-0"}, wantTag: "2.0.0-rc.1", version: "2.0.0-rc.1"},
		{name: "helm: v-prefixed tags are not versions", req: Request{Repository: repository, Name: "demo", Version: "3.x"}, err: ErrNoVersion,
			msg: `resolving chart "demo" 3.x from ` + repository + `: no chart version matches "3.x": the repository has 2.0.0-rc.1, 1.1.1_build.5, 1.1.0, 1.0.0`},
		{name: "helm: exact version with +", req: Request{Repository: repository, Name: "demo", Version: "1.1.1+build.5"}, wantTag: "1.1.1_build.5", version: "1.1.1+build.5"},
		{name: "helm: exact tag with _", req: Request{Repository: repository, Name: "demo", Version: "1.1.1_build.5"}, wantTag: "1.1.1_build.5", version: "1.1.1+build.5"},
		{name: "ocirepository: semver over lenient tags", req: Request{Repository: "oci://" + reg.Host + "/flux/podinfo", Version: "6.x"}, wantTag: "flux v6.14.1", version: "v6.14.1"},
		{name: "ocirepository: a tag", req: Request{Repository: "oci://" + reg.Host + "/flux/podinfo", Version: "latest"}, wantTag: "flux v6.14.1", version: "latest"},
		{name: "ocirepository: a digest", req: Request{Repository: "oci://" + reg.Host + "/flux/podinfo", Version: podinfoDigest}, wantTag: "flux v6.14.1", version: "6.14.1"},
		{name: "not a chart", req: Request{Repository: "oci://" + reg.Host + "/flux/app", Version: "1.0.0"}, err: ErrNotAChart,
			msg: `resolving chart 1.0.0 from oci://` + reg.Host + `/flux/app: not a Helm chart: oci://` + reg.Host + `/flux/app@` + notAChart + ` has config media type "application/vnd.cncf.flux.config.v1+json", not Helm's "application/vnd.cncf.helm.config.v1+json": is it a chart pushed with ` + "`helm push`?"},
		{name: "no such chart", req: Request{Repository: repository, Name: "nothing"}, err: publish.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFetcher(t, Options{Registry: anonymous(t)})
			p, err := f.Resolve(ctx, tc.req)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Resolve(%+v) = %v, want %v", tc.req, err, tc.err)
				}
				if tc.msg != "" && err.Error() != tc.msg {
					t.Errorf("Resolve error:\n got %s\nwant %s", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantDigest, wantArchive, path := digests[tc.wantTag], archives[tc.wantTag], "/charts/demo"
			if strings.HasPrefix(tc.wantTag, "flux ") {
				wantDigest, wantArchive, path = podinfoDigest, podinfo, "/flux/podinfo"
			}
			want := Pin{Repository: tc.req.Repository, Name: tc.req.Name, Version: tc.version, Digest: wantDigest, URL: "oci://" + reg.Host + path + "@" + wantDigest}
			if p != want {
				t.Errorf("Resolve(%+v) =\n %+v\nwant %+v", tc.req, p, want)
			}
			data, err := f.Fetch(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, wantArchive) {
				t.Errorf("Fetch returned other bytes than the pushed chart")
			}
			if _, err := helm.LoadArchive(data, helm.Limits{}); err != nil {
				t.Errorf("the fetched chart does not load: %v", err)
			}
		})
	}
}

// TestOCIOfflineFromTheCache: a locked OCI chart is fetched offline from the cache, which holds the manifest (the
// link from the pinned digest to the layer) and the layer.
func TestOCIOfflineFromTheCache(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ctx := context.Background()
	archive := testcharts.Archive(t, "demo", "1.0.0")
	testcharts.Push(t, reg.Host, "charts/demo", "1.0.0", archive, nil)
	cacheDir := t.TempDir()
	online := newFetcher(t, Options{CacheDir: cacheDir, Registry: anonymous(t)})
	req := Request{Repository: "oci://" + reg.Host + "/charts", Name: "demo", Version: "1.x"}
	p, err := online.Resolve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := online.Fetch(ctx, p); err != nil {
		t.Fatal(err)
	}
	lock, err := ParseLock("statepack.lock", online.Lock().Marshal())
	if err != nil {
		t.Fatal(err)
	}
	// Offline, with the registry unusable: a registry option that would fail any request proves nothing is sent.
	offline := newFetcher(t, Options{Offline: true, Lock: lock, CacheDir: cacheDir, Registry: []publish.Option{publish.WithTransport(refuse{t})}})
	p2, err := offline.Resolve(ctx, req)
	if err != nil || p2 != p {
		t.Fatalf("offline Resolve = %+v, %v; want %+v", p2, err, p)
	}
	data, err := offline.Fetch(ctx, p2)
	if err != nil || !bytes.Equal(data, archive) {
		t.Fatalf("offline Fetch = %d bytes, %v", len(data), err)
	}
}

// TestOCIUnauthorized: a registry that wants credentials is named with the fix, and the password given is never
// repeated; publish's credentials make it work.
func TestOCIUnauthorized(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t, testregistry.WithBasicAuth("pusher", "pa55word"))
	ctx := context.Background()
	testcharts.Push(t, reg.Host, "charts/demo", "1.0.0", testcharts.Archive(t, "demo", "1.0.0"), &auth.Credential{Username: "pusher", Password: "pa55word"})
	req := Request{Repository: "oci://" + reg.Host + "/charts", Name: "demo"}

	_, err := newFetcher(t, Options{Registry: anonymous(t)}).Resolve(ctx, req)
	if !errors.Is(err, publish.ErrUnauthorized) || !strings.Contains(err.Error(), "run `docker login "+reg.Host+"`") {
		t.Fatalf("Resolve without credentials = %v, want %v with the fix", err, publish.ErrUnauthorized)
	}
	_, err = newFetcher(t, Options{Registry: append(anonymous(t), publish.WithCredentials("pusher", "wr0ngpa55"))}).Resolve(ctx, req)
	if !errors.Is(err, publish.ErrUnauthorized) || strings.Contains(err.Error(), "wr0ngpa55") {
		t.Fatalf("Resolve with wrong credentials = %v, want %v without the password", err, publish.ErrUnauthorized)
	}
	f := newFetcher(t, Options{Registry: append(anonymous(t), publish.WithCredentials("pusher", "pa55word"))})
	p, err := f.Resolve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// refuse is a transport that fails the test on any request.
type refuse struct{ t *testing.T }

func (r refuse) RoundTrip(req *http.Request) (*http.Response, error) {
	r.t.Errorf("an offline fetcher sent %s %s", req.Method, req.URL)
	return nil, errors.New("offline")
}

func tagAlso(host, repository, from, to string) error {
	ctx := context.Background()
	r, err := remote.NewRepository(host + "/" + repository)
	if err != nil {
		return err
	}
	r.PlainHTTP = true
	desc, err := r.Resolve(ctx, from)
	if err != nil {
		return err
	}
	return r.Tag(ctx, desc, to)
}

// pushNotAChart pushes a Flux artifact (Flux's config media type): an OCIRepository pointing at it is no chart.
func pushNotAChart(t *testing.T, host, repository, tag string) string {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + repository)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	cfg := pushBlob(t, r, "application/vnd.cncf.flux.config.v1+json", []byte("{}"))
	layer := pushBlob(t, r, "application/vnd.cncf.flux.content.v1.tar+gzip", testcharts.Archive(t, "app", "1.0.0"))
	desc, err := oras.PackManifest(context.Background(), r, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cfg, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(context.Background(), desc, tag); err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}

// counting is a transport that counts requests by method and path.
type counting struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.seen[req.Method+" "+req.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// TestOCIConcurrentResolveAndFetch: many goroutines asking for one OCI chart cause one tag listing, one manifest
// and one layer download.
func TestOCIConcurrentResolveAndFetch(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	archive := testcharts.Archive(t, "demo", "1.0.0")
	testcharts.Push(t, reg.Host, "charts/demo", "1.0.0", archive, nil)
	c := &counting{seen: map[string]int{}}
	f := newFetcher(t, Options{Registry: append(anonymous(t), publish.WithTransport(c))})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			p, err := f.Resolve(context.Background(), Request{Repository: "oci://" + reg.Host + "/charts", Name: "demo", Version: "1.x", Declared: fmt.Sprint(i)})
			if err != nil {
				t.Error(err)
				return
			}
			if data, err := f.Fetch(context.Background(), p); err != nil || !bytes.Equal(data, archive) {
				t.Errorf("Fetch = %d bytes, %v", len(data), err)
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for path, n := range c.seen {
		if n > 1 && !strings.HasSuffix(path, "/v2/") {
			t.Errorf("%s was requested %d times, want once", path, n)
		}
	}
	if c.seen["GET /v2/charts/demo/tags/list"] != 1 {
		t.Errorf("the tags were listed %d times, want once (requests: %v)", c.seen["GET /v2/charts/demo/tags/list"], c.seen)
	}
}
