package publish

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/internal/testregistry"
)

// testArtifact builds a small image manifest with a config and one layer.
func testArtifact(t *testing.T, layer string) Artifact {
	t.Helper()
	blob := func(mt string, data []byte) Blob {
		return Blob{Descriptor: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}, Data: data}
	}
	cfg := blob("application/vnd.cncf.flux.config.v1+json", []byte("{}"))
	l := blob(ocispec.MediaTypeImageLayerGzip, []byte(layer))
	m, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg.Descriptor, Layers: []ocispec.Descriptor{l.Descriptor}})
	if err != nil {
		t.Fatal(err)
	}
	return Artifact{Manifest: blob(ocispec.MediaTypeImageManifest, m), Blobs: []Blob{cfg, l}}
}

// counter counts the requests that change the registry.
type counter struct {
	base   http.RoundTripper
	writes atomic.Int32
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut || req.Method == http.MethodPost || req.Method == http.MethodPatch {
		c.writes.Add(1)
	}
	return c.base.RoundTrip(req)
}

func open(t *testing.T, ref string, opts ...Option) *Target {
	t.Helper()
	r, err := ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := Open(context.Background(), r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestPushResolveFetchAgainstRegistry(t *testing.T) {
	reg := testregistry.Start(t)
	ctx := context.Background()
	c := &counter{base: http.DefaultTransport}
	tg := open(t, reg.Host+"/team/app", WithTransport(c))
	a := testArtifact(t, "layer bytes")

	desc, err := tg.PushArtifact(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != a.Manifest.Descriptor.Digest {
		t.Fatalf("PushArtifact() = %s, want %s", desc.Digest, a.Manifest.Descriptor.Digest)
	}
	if _, err := tg.Resolve(ctx, "v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve(v1) before Tag = %v, want ErrNotFound: PushArtifact must not tag", err)
	}
	firstWrites := c.writes.Load()
	if _, err := tg.PushArtifact(ctx, a); err != nil {
		t.Fatal(err)
	}
	if again := c.writes.Load() - firstWrites; again != 0 {
		t.Errorf("pushing the same artifact again made %d write requests, want 0", again)
	}
	if err := tg.Tag(ctx, desc, "v1", "latest"); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"v1", "latest", desc.Digest.String()} {
		got, err := tg.Resolve(ctx, ref)
		if err != nil || got.Digest != desc.Digest {
			t.Errorf("Resolve(%s) = %v, %v; want %s", ref, got.Digest, err, desc.Digest)
		}
	}
	m, raw, err := tg.FetchManifest(ctx, desc)
	if err != nil || string(raw) != string(a.Manifest.Data) || len(m.Layers) != 1 {
		t.Fatalf("FetchManifest() = %+v, %v", m, err)
	}
	rc, err := tg.FetchBlob(ctx, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "layer bytes" {
		t.Errorf("FetchBlob() = %q, %v", data, err)
	}
}

func TestPushRefusesMismatchedBytes(t *testing.T) {
	reg := testregistry.Start(t)
	tg := open(t, reg.Host+"/team/app")
	a := testArtifact(t, "layer bytes")
	a.Blobs[1].Data = []byte("other bytes")
	_, err := tg.PushArtifact(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), "do not match its descriptor") {
		t.Fatalf("PushArtifact() = %v, want a refusal", err)
	}
	resp, err := http.Get("http://" + reg.Host + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "team/app") {
		t.Errorf("the registry holds team/app after a refused push: %s", body)
	}
}

// flaky is a reverse proxy in front of the registry that fails the first n requests with the given status.
func flaky(t *testing.T, host string, n int32, status int, header http.Header) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	target, _ := url.Parse("http://" + host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n || n < 0 {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestPushRetries(t *testing.T) {
	reg := testregistry.Start(t)
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
	}{
		{"503", http.StatusServiceUnavailable, nil},
		{"429 with Retry-After", http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}},
		{"502", http.StatusBadGateway, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := flaky(t, reg.Host, 3, tc.status, tc.header)
			tg := open(t, strings.TrimPrefix(srv.URL, "http://")+"/retry/app", WithPlainHTTP(true))
			desc, err := tg.PushArtifact(context.Background(), testArtifact(t, "retry "+tc.name))
			if err != nil {
				t.Fatalf("PushArtifact() through a registry that failed 3 requests: %v", err)
			}
			if err := tg.Tag(context.Background(), desc, "v1"); err != nil {
				t.Fatal(err)
			}
			if seen.Load() <= 3 {
				t.Errorf("the proxy saw %d requests, want more than the 3 it failed", seen.Load())
			}
		})
	}
	t.Run("permanent 500 fails in bounded time", func(t *testing.T) {
		srv, seen := flaky(t, reg.Host, -1, http.StatusInternalServerError, nil)
		tg := open(t, strings.TrimPrefix(srv.URL, "http://")+"/retry/app", WithPlainHTTP(true), WithMaxRetries(2))
		start := time.Now()
		_, err := tg.PushArtifact(context.Background(), testArtifact(t, "never"))
		if err == nil {
			t.Fatal("PushArtifact() succeeded against a registry that always fails")
		}
		if seen.Load() != 3 {
			t.Errorf("the proxy saw %d requests, want 3 (one try and 2 retries)", seen.Load())
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("failing took %s", d)
		}
	})
}

func TestAuth(t *testing.T) {
	reg := testregistry.Start(t, testregistry.WithBasicAuth("alice", "pa55word-xyz"))
	ctx := context.Background()
	a := testArtifact(t, "private")

	_, err := open(t, reg.Host+"/private/app", WithDockerConfig(t.TempDir())).PushArtifact(ctx, a)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "docker login "+reg.Host) {
		t.Fatalf("anonymous push = %v, want ErrUnauthorized with a login hint", err)
	}
	_, err = open(t, reg.Host+"/private/app", WithCredentials("alice", "wrong-pa55")).PushArtifact(ctx, a)
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "wrong-pa55") {
		t.Fatalf("push with a wrong password = %v, want ErrUnauthorized without the password", err)
	}
	if _, err := open(t, reg.Host+"/private/app", WithCredentials("alice", "pa55word-xyz")).PushArtifact(ctx, a); err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	cfg := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"`+reg.Host+`":{"auth":"YWxpY2U6cGE1NXdvcmQteHl6"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, reg.Host+"/private/app", WithDockerConfig(cfg)).Resolve(ctx, a.Manifest.Descriptor.Digest.String()); err != nil {
		t.Fatalf("resolve with the Docker config: %v", err)
	}
}

func TestOCILayoutIsReproducible(t *testing.T) {
	ctx := context.Background()
	var dirs []string
	for i := 0; i < 2; i++ {
		dir := filepath.Join(t.TempDir(), "layout")
		tg := open(t, "oci:"+dir)
		desc, err := tg.PushArtifact(ctx, testArtifact(t, "same"))
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Tag(ctx, desc, "v1"); err != nil {
			t.Fatal(err)
		}
		if got, err := tg.Resolve(ctx, "v1"); err != nil || got.Digest != desc.Digest {
			t.Fatalf("Resolve(v1) = %v, %v", got, err)
		}
		dirs = append(dirs, dir)
	}
	for _, name := range []string{"index.json", "oci-layout"} {
		a, _ := os.ReadFile(filepath.Join(dirs[0], name))
		b, _ := os.ReadFile(filepath.Join(dirs[1], name))
		if string(a) != string(b) || len(a) == 0 {
			t.Errorf("%s differs between two layouts of the same artifact:\n%s\n%s", name, a, b)
		}
	}
}

func TestConcurrentPushesOfOneArtifact(t *testing.T) {
	reg := testregistry.Start(t)
	a := testArtifact(t, "concurrent")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg := open(t, reg.Host+"/team/app")
			desc, err := tg.PushArtifact(context.Background(), a)
			if err == nil {
				err = tg.Tag(context.Background(), desc, "main")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent push: %v", err)
		}
	}
}
