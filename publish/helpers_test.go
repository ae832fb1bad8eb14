package publish

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/internal/faultproxy"
)

// blobOf describes data.
func blobOf(mediaType string, data []byte) Blob {
	return Blob{Descriptor: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, Data: data}
}

// testArtifact builds an image manifest shaped like statepack's: a Flux config and one gzip'd tar layer.
func testArtifact(t testing.TB, layer []byte) Artifact {
	t.Helper()
	cfg := blobOf("application/vnd.cncf.flux.config.v1+json", []byte("{}"))
	l := blobOf(ocispec.MediaTypeImageLayerGzip, layer)
	m, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg.Descriptor, Layers: []ocispec.Descriptor{l.Descriptor}})
	if err != nil {
		t.Fatal(err)
	}
	return Artifact{Manifest: blobOf(ocispec.MediaTypeImageManifest, m), Blobs: []Blob{cfg, l}}
}

// entry is one member of a test archive.
type entry struct {
	name     string
	typ      byte
	body     string
	size     int64 // when set, the entry holds this many zero bytes instead of body
	linkname string
}

// tarGz builds a gzip'd tar the way a hostile or careless producer might.
func tarGz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	writeTar(t, zw, entries...)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTar(t testing.TB, w io.Writer, entries ...entry) {
	t.Helper()
	tw := tar.NewWriter(w)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		var body io.Reader = strings.NewReader(e.body)
		size := int64(len(e.body))
		if e.size > 0 {
			body, size = io.LimitReader(zeros{}, e.size), e.size
		}
		if typ != tar.TypeReg {
			body, size = strings.NewReader(""), 0
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Size: size, Mode: 0o600, Linkname: e.linkname}
		if typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: typ, PAXRecords: map[string]string{"comment": e.name}}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// counter is a transport that records the requests it carries, as "METHOD PATH".
type counter struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func newCounter() *counter { return &counter{base: http.DefaultTransport} }

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.seen = append(c.seen, req.Method+" "+req.URL.Path)
	c.mu.Unlock()
	return c.base.RoundTrip(req)
}

func (c *counter) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

func (c *counter) reset() {
	c.mu.Lock()
	c.seen = nil
	c.mu.Unlock()
}

func open(t testing.TB, ref string, opts ...Option) *Target {
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

// proxy is a reverse proxy in front of the real registry that lets a test decide, per request, to answer itself.
// intercept returns true when it has written the response.
func proxy(t *testing.T, registryHost string, intercept func(w http.ResponseWriter, r *http.Request, n int) bool) (host string) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	host, stop := faultproxy.Intercept(registryHost, func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		return intercept != nil && intercept(w, r, i)
	})
	t.Cleanup(stop)
	return host
}

// catalog lists the repositories in the real registry.
func catalog(t *testing.T, host string) []string {
	t.Helper()
	resp, err := http.Get("http://" + host + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ Repositories []string }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Repositories
}
