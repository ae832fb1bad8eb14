package publish

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/internal/testregistry"
)

var ctx = context.Background()

func isWrite(req string) bool {
	return strings.HasPrefix(req, "PUT ") || strings.HasPrefix(req, "POST ") || strings.HasPrefix(req, "PATCH ") || strings.HasPrefix(req, "DELETE ")
}

func TestPushResolveFetchAgainstRegistry(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	c := newCounter()
	tg := open(t, reg.Host+"/team/app", WithTransport(c))
	layer := tarGz(t, entry{name: "a.yaml", body: "a: 1\n"})
	a := testArtifact(t, layer)

	desc, err := tg.PushArtifact(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != a.Manifest.Descriptor.Digest || desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("PushArtifact() = %+v, want %+v", desc, a.Manifest.Descriptor)
	}
	if !slices.ContainsFunc(c.requests(), func(r string) bool { return r == "PUT /v2/team/app/manifests/"+desc.Digest.String() }) {
		t.Errorf("PushArtifact() did not put the manifest by digest: %q", c.requests())
	}
	if got := testregistry.Tags(t, reg.Host, "team/app"); len(got) != 0 {
		t.Fatalf("after PushArtifact() the repository has tags %q: PushArtifact must not tag", got)
	}

	c.reset()
	if again, err := tg.PushArtifact(ctx, a); err != nil || again.Digest != desc.Digest {
		t.Fatalf("PushArtifact() again = %v, %v", again, err)
	}
	for _, req := range c.requests() {
		if !strings.HasPrefix(req, "HEAD ") {
			t.Errorf("pushing the same artifact again sent %s; want existence checks only", req)
		}
	}

	if err := tg.Tag(ctx, desc, "v1", "latest"); err != nil {
		t.Fatal(err)
	}
	if got := testregistry.Tags(t, reg.Host, "team/app"); !slices.Equal(got, []string{"latest", "v1"}) {
		t.Errorf("tags after Tag(v1, latest) = %q", got)
	}
	for _, ref := range []string{"v1", "latest", desc.Digest.String()} {
		got, err := tg.Resolve(ctx, ref)
		if err != nil || got.Digest != desc.Digest || got.Size != desc.Size {
			t.Errorf("Resolve(%s) = %+v, %v; want %s", ref, got, err, desc.Digest)
		}
	}
	_, err = tg.Resolve(ctx, "nope")
	if want := "resolving nope in " + reg.Host + "/team/app: not found"; !errors.Is(err, ErrNotFound) || err.Error() != want {
		t.Errorf("Resolve(nope) = %v, want %q wrapping ErrNotFound", err, want)
	}

	m, raw, err := tg.FetchManifest(ctx, desc)
	if err != nil || !bytes.Equal(raw, a.Manifest.Data) || len(m.Layers) != 1 || m.Layers[0].Digest != a.Blobs[1].Descriptor.Digest {
		t.Fatalf("FetchManifest() = %+v, %v", m, err)
	}
	rc, err := tg.FetchBlob(ctx, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(data, layer) {
		t.Errorf("FetchBlob() = %d bytes, %v; want the layer", len(data), err)
	}
	missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("missing"), Size: 7}
	if _, err := tg.FetchBlob(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("FetchBlob(missing) = %v, want ErrNotFound", err)
	}
}

func TestTag(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	for _, ref := range []string{reg.Host + "/team/app", "oci:" + filepath.Join(t.TempDir(), "layout")} {
		t.Run(strings.SplitN(ref, ":", 2)[0], func(t *testing.T) {
			tg := open(t, ref)
			desc, err := tg.PushArtifact(ctx, testArtifact(t, []byte("tagging")))
			if err != nil {
				t.Fatal(err)
			}
			err = tg.Tag(ctx, desc, "good", "bad tag")
			if !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), `tag "bad tag" is not valid`) {
				t.Errorf("Tag(good, bad tag) = %v, want ErrInvalidReference", err)
			}
			if _, err := tg.Resolve(ctx, "good"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Tag() wrote a tag before refusing an invalid one: Resolve(good) = %v", err)
			}
			absent := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("absent"), Size: 6}
			if err := tg.Tag(ctx, absent, "v1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Tag(absent manifest) = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestPushRefusesBadArtifacts(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	good := testArtifact(t, []byte("layer bytes"))
	tests := []struct {
		name    string
		mutate  func(a *Artifact)
		wantMsg string
	}{
		{"blob bytes differ", func(a *Artifact) { a.Blobs[1].Data = []byte("other bytes") },
			"the bytes of " + good.Blobs[1].Descriptor.Digest.String() + " do not match its descriptor"},
		{"blob size differs", func(a *Artifact) { a.Blobs[1].Descriptor.Size++ }, "do not match its descriptor (11 bytes, descriptor says 12)"},
		{"manifest bytes differ", func(a *Artifact) { a.Manifest.Data = append(slices.Clone(a.Manifest.Data), ' ') }, "do not match its descriptor"},
		{"invalid digest", func(a *Artifact) { a.Blobs[0].Descriptor.Digest = "sha256:nope" }, `descriptor digest "sha256:nope"`},
		{"manifest media type", func(a *Artifact) { a.Manifest.Descriptor.MediaType = ocispec.MediaTypeImageLayerGzip }, "not an image manifest's"},
		{"missing blob", func(a *Artifact) { a.Blobs = a.Blobs[:1] }, "references blob " + good.Blobs[1].Descriptor.Digest.String() + ", which is neither in the artifact nor in the target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCounter()
			tg := open(t, reg.Host+"/team/app", WithTransport(c))
			a := testArtifact(t, []byte("layer bytes"))
			tc.mutate(&a)
			_, err := tg.PushArtifact(ctx, a)
			if err == nil || !strings.HasPrefix(err.Error(), "refusing to push to "+reg.Host+"/team/app: ") || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("PushArtifact() = %v, want a refusal containing %q", err, tc.wantMsg)
			}
			if slices.ContainsFunc(c.requests(), isWrite) {
				t.Errorf("PushArtifact() sent %q before refusing", c.requests())
			}
		})
	}
	if repos := catalog(t, reg.Host); len(repos) != 0 {
		t.Errorf("the registry holds %q after refused pushes", repos)
	}
}

// TestPushRetries is not parallel: Retry-After is checked against the wall clock, and the other tests' load would
// only blur it.
func TestPushRetries(t *testing.T) {
	reg := testregistry.Start(t)
	failFirst := func(n int, status int, header http.Header) func(http.ResponseWriter, *http.Request, int) bool {
		return func(w http.ResponseWriter, r *http.Request, i int) bool {
			if i > n {
				return false
			}
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			return true
		}
	}
	// failEachOnce fails the first attempt of every distinct request, so that each upload, the manifest and the
	// tag have to be sent again, body and all.
	var mu sync.Mutex
	failed := map[string]bool{}
	failEachOnce := func(w http.ResponseWriter, r *http.Request, _ int) bool {
		mu.Lock()
		defer mu.Unlock()
		key := r.Method + " " + r.URL.Path
		if failed[key] {
			return false
		}
		failed[key] = true
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	for _, tc := range []struct {
		name      string
		intercept func(http.ResponseWriter, *http.Request, int) bool
	}{
		{"503 on the first requests", failFirst(2, http.StatusServiceUnavailable, nil)},
		{"429 with Retry-After: 0", failFirst(2, http.StatusTooManyRequests, http.Header{"Retry-After": {"0"}})},
		{"502", failFirst(1, http.StatusBadGateway, nil)},
		{"every request fails once", failEachOnce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := proxy(t, reg.Host, tc.intercept)
			tg := open(t, host+"/retry/app", WithPlainHTTP(true))
			desc, err := tg.PushArtifact(ctx, testArtifact(t, []byte("retry "+tc.name)))
			if err != nil {
				t.Fatalf("PushArtifact() through a flaky registry: %v", err)
			}
			if err := tg.Tag(ctx, desc, "v1"); err != nil {
				t.Fatalf("Tag() through a flaky registry: %v", err)
			}
			if got, err := open(t, reg.Host+"/retry/app").Resolve(ctx, "v1"); err != nil || got.Digest != desc.Digest {
				t.Errorf("the registry has v1 = %v, %v; want %s", got.Digest, err, desc.Digest)
			}
		})
	}
	if len(failed) < 5 {
		t.Errorf("only %d distinct requests were failed once: %v", len(failed), failed)
	}

	t.Run("Retry-After is honoured", func(t *testing.T) {
		host := proxy(t, reg.Host, failFirst(1, http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}))
		tg := open(t, host+"/retry/app", WithPlainHTTP(true))
		start := time.Now()
		if _, err := tg.Resolve(ctx, "v1"); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Errorf("Resolve() retried after %s, before the 1 s the registry asked for", took)
		}
	})

	t.Run("permanent 500 fails after its retries", func(t *testing.T) {
		var attempts int
		host := proxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request, i int) bool {
			attempts = i
			w.WriteHeader(http.StatusInternalServerError)
			return true
		})
		tg := open(t, host+"/retry/app", WithPlainHTTP(true), WithMaxRetries(2))
		a := testArtifact(t, []byte("never"))
		// The deadline only keeps retries that never end from hanging the test; the error then differs.
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := tg.PushArtifact(ctx, a)
		want := fmt.Sprintf(`pushing blob %s to %s/retry/app: HEAD "http://%s/v2/retry/app/blobs/%s": response status code 500: Internal Server Error`,
			a.Blobs[0].Descriptor.Digest, host, host, a.Blobs[0].Descriptor.Digest)
		if err == nil || err.Error() != want {
			t.Errorf("PushArtifact() = %v\nwant %s", err, want)
		}
		if attempts != 3 {
			t.Errorf("the registry saw %d attempts, want 3 (one try and 2 retries)", attempts)
		}
	})
}

// TestRequestTimeout is not parallel: it drives 300 ms request timeouts, which a loaded machine could trip on
// answers that are merely slow.
func TestRequestTimeout(t *testing.T) {
	reg := testregistry.Start(t)
	layer := []byte("abcdefgh")
	desc, err := open(t, reg.Host+"/slow/app").PushArtifact(ctx, testArtifact(t, layer))
	if err != nil {
		t.Fatal(err)
	}
	blobGet := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
	}
	layerDesc := testArtifact(t, layer).Blobs[1].Descriptor

	t.Run("a stall before the response is abandoned and retried", func(t *testing.T) {
		host := proxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request, i int) bool {
			if i == 1 {
				<-r.Context().Done()
				return true
			}
			return false
		})
		tg := open(t, host+"/slow/app", WithPlainHTTP(true), WithRequestTimeout(300*time.Millisecond))
		// The deadline only keeps a broken timeout from hanging the test.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if got, err := tg.Resolve(ctx, desc.Digest.String()); err != nil || got.Digest != desc.Digest {
			t.Errorf("Resolve() after a stalled attempt = %v, %v", got.Digest, err)
		}
	})

	t.Run("a stall in a small body fails the attempt", func(t *testing.T) {
		host := proxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request, _ int) bool {
			if !blobGet(r) {
				return false
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(layer)))
			w.WriteHeader(http.StatusOK)
			w.Write(layer[:4])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		})
		// Without retries the stall surfaces: a small body is read whole before FetchBlob returns.
		tg := open(t, host+"/slow/app", WithPlainHTTP(true), WithRequestTimeout(300*time.Millisecond), WithMaxRetries(0))
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := tg.FetchBlob(ctx, layerDesc)
		if err == nil || !strings.Contains(err.Error(), "the registry made no progress for 300ms") {
			t.Errorf("FetchBlob() of a stalled small blob = %v, want a request timeout", err)
		}
	})

	t.Run("a small body cut or stalled midway is fetched again", func(t *testing.T) {
		var mu sync.Mutex
		gets := 0
		host := proxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request, _ int) bool {
			if !blobGet(r) {
				return false
			}
			mu.Lock()
			gets++
			n := gets
			mu.Unlock()
			if n > 2 {
				return false
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(layer)))
			w.WriteHeader(http.StatusOK)
			w.Write(layer[:4])
			w.(http.Flusher).Flush()
			if n == 1 {
				<-r.Context().Done() // a stall
				return true
			}
			conn, _, err := w.(http.Hijacker).Hijack() // a cut: the connection reset mid-body
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
			return true
		})
		tg := open(t, host+"/slow/app", WithPlainHTTP(true), WithRequestTimeout(300*time.Millisecond))
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rc, err := tg.FetchBlob(ctx, layerDesc)
		if err != nil {
			t.Fatalf("FetchBlob() after a stalled and a cut answer = %v", err)
		}
		defer rc.Close()
		if data, err := io.ReadAll(rc); err != nil || !bytes.Equal(data, layer) {
			t.Errorf("reading a blob fetched after a stalled and a cut answer = %q, %v; want %q", data, err, layer)
		}
		mu.Lock()
		defer mu.Unlock()
		if gets != 3 {
			t.Errorf("the blob was fetched %d times, want 3 (a stall, a cut, a success)", gets)
		}
	})

	t.Run("a stall in a large body fails the read", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), maxReadAhead+1)
		if _, err := open(t, reg.Host+"/slow/app").PushArtifact(ctx, testArtifact(t, big)); err != nil {
			t.Fatal(err)
		}
		bigDesc := testArtifact(t, big).Blobs[1].Descriptor
		host := proxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request, _ int) bool {
			if !blobGet(r) {
				return false
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.WriteHeader(http.StatusOK)
			w.Write(big[:4])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		})
		// A large body streams: FetchBlob returns at once, and the read that stalls fails.
		tg := open(t, host+"/slow/app", WithPlainHTTP(true), WithRequestTimeout(300*time.Millisecond), WithMaxRetries(0))
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rc, err := tg.FetchBlob(ctx, bigDesc)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		if err == nil || !strings.Contains(err.Error(), "the registry made no progress for 300ms") {
			t.Errorf("reading a stalled large blob = %v, want a request timeout", err)
		}
	})

	t.Run("a slow but steady body is not cut off", func(t *testing.T) {
		host := proxy(t, reg.Host, func(w http.ResponseWriter, r *http.Request, _ int) bool {
			if !blobGet(r) {
				return false
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(layer)))
			w.WriteHeader(http.StatusOK)
			for _, b := range layer {
				time.Sleep(120 * time.Millisecond)
				w.Write([]byte{b})
				w.(http.Flusher).Flush()
			}
			return true
		})
		// 8 bytes at 120ms each: the whole body takes longer than the timeout, no gap does.
		tg := open(t, host+"/slow/app", WithPlainHTTP(true), WithRequestTimeout(600*time.Millisecond), WithMaxRetries(0))
		rc, err := tg.FetchBlob(ctx, layerDesc)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if data, err := io.ReadAll(rc); err != nil || !bytes.Equal(data, layer) {
			t.Errorf("reading a blob that takes 960ms at 120ms a byte = %q, %v", data, err)
		}
	})
}

func TestAuth(t *testing.T) {
	const user, password = "alice", "pa55word-xyz"
	reg := testregistry.Start(t, testregistry.WithBasicAuth(user, password))
	ref := reg.Host + "/private/app"
	a := testArtifact(t, []byte("private"))

	t.Run("anonymous", func(t *testing.T) {
		_, err := open(t, ref, WithDockerConfig(t.TempDir())).PushArtifact(ctx, a)
		want := fmt.Sprintf(`pushing blob %s to %s: HEAD "http://%s/v2/private/app/blobs/%s": basic credential not found (unauthorized: run `+"`docker login %s`"+` or pass --username/--password-stdin)`,
			a.Blobs[0].Descriptor.Digest, ref, reg.Host, a.Blobs[0].Descriptor.Digest, reg.Host)
		if !errors.Is(err, ErrUnauthorized) || err.Error() != want {
			t.Fatalf("anonymous push = %v\nwant %s", err, want)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := open(t, ref, WithCredentials(user, "wrong-pa55")).PushArtifact(ctx, a)
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "docker login "+reg.Host) {
			t.Fatalf("push with a wrong password = %v, want ErrUnauthorized with a login hint", err)
		}
		if strings.Contains(err.Error(), "wrong-pa55") || strings.Contains(err.Error(), user) {
			t.Errorf("the error shows credentials: %v", err)
		}
	})
	t.Run("WithCredentials", func(t *testing.T) {
		if _, err := open(t, ref, WithCredentials(user, password)).PushArtifact(ctx, a); err != nil {
			t.Fatalf("push with credentials: %v", err)
		}
	})

	auths := t.TempDir()
	writeFile(t, filepath.Join(auths, "config.json"), `{"auths":{"`+reg.Host+`":{"auth":"YWxpY2U6cGE1NXdvcmQteHl6"}}}`)
	// A credential helper as `docker login` configures one: an executable docker-credential-NAME on PATH that
	// answers "get" with the secret for the server named on stdin.
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "docker-credential-statepacktest"), `#!/bin/sh
read server
[ "$1" = get ] && [ "$server" = "`+reg.Host+`" ] || exit 1
printf '{"ServerURL":"%s","Username":"alice","Secret":"pa55word-xyz"}' "$server"
`)
	if err := os.Chmod(filepath.Join(bin, "docker-credential-statepacktest"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	credsStore := t.TempDir()
	writeFile(t, filepath.Join(credsStore, "config.json"), `{"credsStore":"statepacktest"}`)
	credHelpers := t.TempDir()
	writeFile(t, filepath.Join(credHelpers, "config.json"), `{"credHelpers":{"`+reg.Host+`":"statepacktest"}}`)

	for name, dir := range map[string]string{"auths": auths, "credsStore": credsStore, "credHelpers": credHelpers} {
		t.Run("Docker config "+name, func(t *testing.T) {
			tg := open(t, ref, WithDockerConfig(dir))
			if _, err := tg.Resolve(ctx, a.Manifest.Descriptor.Digest.String()); err != nil {
				t.Fatalf("Resolve() with the Docker config: %v", err)
			}
			if err := tg.Tag(ctx, a.Manifest.Descriptor, name); err != nil {
				t.Fatalf("Tag() with the Docker config: %v", err)
			}
		})
	}
	t.Run("DOCKER_CONFIG by default", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", auths)
		if _, err := open(t, ref).Resolve(ctx, a.Manifest.Descriptor.Digest.String()); err != nil {
			t.Fatalf("Resolve() with $DOCKER_CONFIG: %v", err)
		}
	})
	t.Run("malformed Docker config", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "config.json"), `{"auths":`)
		r, _ := ParseRef(ref)
		if _, err := Open(ctx, r, WithDockerConfig(dir)); err == nil || !strings.Contains(err.Error(), "reading registry credentials from the Docker config") {
			t.Errorf("Open() with a malformed config = %v, want an error", err)
		}
	})
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLogNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	const password = "pa55word-xyz"
	reg := testregistry.Start(t, testregistry.WithBasicAuth("alice", password))
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tg := open(t, reg.Host+"/private/app", WithCredentials("alice", password), WithLogger(log))
	if _, err := tg.PushArtifact(ctx, testArtifact(t, []byte("logged"))); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"method=PUT", "status=201", "status=401", "url=http://" + reg.Host + "/v2/private/app/blobs/uploads/", "?REDACTED"} {
		if !strings.Contains(out, want) {
			t.Errorf("the debug log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{password, "YWxpY2U6cGE1NXdvcmQteHl6", "Authorization", "Basic ", "_state=", "digest=sha256"} {
		if strings.Contains(out, secret) {
			t.Errorf("the debug log shows %q:\n%s", secret, out)
		}
	}
}

func TestTransportHints(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	target, _ := url.Parse("http://" + reg.Host)
	// An HTTPS front for the registry with httptest's self-signed certificate; X-Forwarded-Proto makes the
	// registry write https upload locations.
	tlsSrv := httptest.NewUnstartedServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}})
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	tlsHost := strings.TrimPrefix(tlsSrv.URL, "https://")
	a := testArtifact(t, []byte("tls"))

	t.Run("HTTPS to a plain HTTP registry", func(t *testing.T) {
		_, err := open(t, reg.Host+"/team/app", WithPlainHTTP(false)).PushArtifact(ctx, a)
		if err == nil || !strings.HasSuffix(err.Error(), "(the registry speaks plain HTTP: pass --plain-http for "+reg.Host+")") {
			t.Errorf("PushArtifact() = %v, want a --plain-http hint", err)
		}
	})
	t.Run("self-signed certificate", func(t *testing.T) {
		_, err := open(t, tlsHost+"/team/app", WithPlainHTTP(false)).PushArtifact(ctx, a)
		if err == nil || !strings.HasSuffix(err.Error(), "(for a registry with a self-signed certificate pass --insecure-registry "+tlsHost+")") {
			t.Errorf("PushArtifact() = %v, want an --insecure-registry hint", err)
		}
	})
	t.Run("insecure for another registry only", func(t *testing.T) {
		_, err := open(t, tlsHost+"/team/app", WithPlainHTTP(false), WithInsecureRegistries("127.0.0.1:1", "other.example.com")).PushArtifact(ctx, a)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("PushArtifact() = %v, want a certificate error", err)
		}
	})
	t.Run("insecure for this registry", func(t *testing.T) {
		if _, err := open(t, tlsHost+"/team/app", WithPlainHTTP(false), WithInsecureRegistries(tlsHost)).PushArtifact(ctx, a); err != nil {
			t.Errorf("PushArtifact() to an insecure registry: %v", err)
		}
	})
	t.Run("loopback defaults to plain HTTP", func(t *testing.T) {
		if _, err := open(t, reg.Host+"/team/app").PushArtifact(ctx, a); err != nil {
			t.Errorf("PushArtifact() to a loopback registry: %v", err)
		}
	})

	// A remote host (resolved here to a closed local port) defaults to HTTPS; nothing answering suggests --plain-http.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	dialClosed := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, closed)
	}}
	t.Run("connection refused on HTTPS", func(t *testing.T) {
		_, err := open(t, "registry.example.com/team/app", WithTransport(dialClosed)).Resolve(ctx, "v1")
		if err == nil || !strings.HasPrefix(err.Error(), `resolving v1 in registry.example.com/team/app: Head "https://registry.example.com/v2/team/app/manifests/v1": dial tcp `) ||
			!strings.HasSuffix(err.Error(), "(nothing answers HTTPS there: if registry.example.com serves plain HTTP pass --plain-http)") {
			t.Errorf("Resolve() = %v, want a --plain-http hint", err)
		}
	})
	t.Run("connection refused on loopback", func(t *testing.T) {
		_, err := open(t, closed+"/team/app").Resolve(ctx, "v1")
		if err == nil || !strings.HasSuffix(err.Error(), "(is the registry at "+closed+" running?)") {
			t.Errorf("Resolve() = %v, want a hint that the registry is not running", err)
		}
	})
}

func TestOCILayout(t *testing.T) {
	t.Parallel()
	layer := tarGz(t, entry{name: "a.yaml", body: "a: 1\n"})
	var dirs []string
	var digests []digest.Digest
	for range 2 {
		dir := filepath.Join(t.TempDir(), "layout")
		tg := open(t, "oci:"+dir)
		desc, err := tg.PushArtifact(ctx, testArtifact(t, layer))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.Resolve(ctx, "v1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(v1) before Tag = %v, want ErrNotFound", err)
		}
		if err := tg.Tag(ctx, desc, "v1"); err != nil {
			t.Fatal(err)
		}
		if got, err := tg.Resolve(ctx, "v1"); err != nil || got.Digest != desc.Digest {
			t.Fatalf("Resolve(v1) = %v, %v", got, err)
		}
		dirs, digests = append(dirs, dir), append(digests, desc.Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("the same artifact has digests %s and %s", digests[0], digests[1])
	}
	if a, b := tree(t, dirs[0]), tree(t, dirs[1]); !slices.Equal(a, b) {
		t.Errorf("two layouts of the same artifact differ:\n%s\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}

	tg := open(t, "oci:"+dirs[0])
	desc, _ := tg.Resolve(ctx, "v1")
	m, _, err := tg.FetchManifest(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	rc, err := tg.FetchBlob(ctx, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	files, err := Extract(rc, out, Limits{})
	rc.Close()
	if err != nil || !slices.Equal(files, []string{"a.yaml"}) {
		t.Fatalf("Extract(FetchBlob()) = %q, %v", files, err)
	}
}

// tree lists every file under dir with a digest of its bytes.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+digest.FromBytes(data).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFetchVerifiesContent(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "layout")
	tg := open(t, "oci:"+dir)
	// Two gzip streams of the same tar that differ only in the header's modification time: the same length, both
	// valid, different digests. Extract would happily unpack either; only the digest tells them apart.
	var honest, forged bytes.Buffer
	for _, c := range []struct {
		buf   *bytes.Buffer
		mtime time.Time
	}{{&honest, time.Time{}}, {&forged, time.Unix(1e9, 0)}} {
		zw := gzip.NewWriter(c.buf)
		zw.ModTime = c.mtime
		writeTar(t, zw, entry{name: "a.yaml", body: "a: 1\n"})
		zw.Close()
	}
	a := testArtifact(t, honest.Bytes())
	desc, err := tg.PushArtifact(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := tg.FetchManifest(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	blobPath := filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Encoded())
	os.Remove(blobPath)
	writeFile(t, blobPath, forged.String())

	rc, err := tg.FetchBlob(ctx, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil || !strings.Contains(err.Error(), "the content does not match its descriptor: mismatched digest") {
		t.Errorf("reading a tampered blob = %v, want a digest mismatch", err)
	}

	rc, _ = tg.FetchBlob(ctx, m.Layers[0])
	parent := t.TempDir()
	_, err = Extract(rc, filepath.Join(parent, "out"), Limits{})
	rc.Close()
	if err == nil || !strings.Contains(err.Error(), "mismatched digest") {
		t.Errorf("Extract(tampered blob) = %v, want a digest mismatch", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("Extract() of a tampered blob left %v behind", entries)
	}
}

func TestFetchManifestRefuses(t *testing.T) {
	t.Parallel()
	tg := open(t, "oci:"+filepath.Join(t.TempDir(), "layout"))
	art := testArtifact(t, []byte("x"))
	if _, err := tg.PushArtifact(ctx, art); err != nil {
		t.Fatal(err)
	}
	index, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{art.Manifest.Descriptor}})
	// The same index bytes, once declared as what they are and once disguised as an image manifest.
	declared := blobOf(ocispec.MediaTypeImageIndex, index).Descriptor
	disguised := blobOf(ocispec.MediaTypeImageManifest, index).Descriptor
	if err := tg.Storage().Push(ctx, declared, bytes.NewReader(index)); err != nil {
		t.Fatal(err)
	}
	for name, desc := range map[string]ocispec.Descriptor{"declared index": declared, "disguised index": disguised} {
		_, _, err := tg.FetchManifest(ctx, desc)
		want := "it is an image index (several manifests), and a statepack artifact is one image manifest"
		if !errors.Is(err, ErrNotStatepackArtifact) || !strings.Contains(err.Error(), want) {
			t.Errorf("FetchManifest(%s) = %v, want ErrNotStatepackArtifact", name, err)
		}
	}
	huge := art.Manifest.Descriptor
	huge.Size = 5 << 20
	if _, _, err := tg.FetchManifest(ctx, huge); !errors.Is(err, ErrTooLarge) {
		t.Errorf("FetchManifest(5 MiB) = %v, want ErrTooLarge", err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	r, _ := ParseRef("localhost:5000/a")
	for name, opt := range map[string]Option{
		"empty password":   WithCredentials("alice", ""),
		"zero timeout":     WithRequestTimeout(0),
		"negative retries": WithMaxRetries(-1),
		"nil transport":    WithTransport(nil),
		"nil logger":       WithLogger(nil),
		"empty user agent": WithUserAgent(""),
		"empty insecure":   WithInsecureRegistries(""),
		"empty config dir": WithDockerConfig(""),
	} {
		if _, err := Open(ctx, r, opt); err == nil {
			t.Errorf("Open(%s) succeeded", name)
		}
	}
	if _, err := Open(ctx, Ref{}); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("Open(Ref{}) = %v, want ErrInvalidReference", err)
	}
	dir := filepath.Join(t.TempDir(), "new", "layout")
	if _, err := Open(ctx, Ref{Layout: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		t.Errorf("Open(oci:DIR) did not create the layout: %v", err)
	}
}

func TestUserAgent(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	var mu sync.Mutex
	var agents []string
	host := proxy(t, reg.Host, func(_ http.ResponseWriter, r *http.Request, _ int) bool {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		return false
	})
	if _, err := open(t, host+"/ua/app", WithUserAgent("statepack/test")).Resolve(ctx, "v1"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if len(agents) == 0 || slices.ContainsFunc(agents, func(a string) bool { return a != "statepack/test" }) {
		t.Errorf("User-Agent headers = %q, want statepack/test", agents)
	}
}

func TestConcurrentPushesOfOneArtifact(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	a := testArtifact(t, []byte("concurrent"))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			tg := open(t, reg.Host+"/team/app")
			desc, err := tg.PushArtifact(ctx, a)
			if err == nil {
				err = tg.Tag(ctx, desc, "main")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent push: %v", err)
		}
	}
}
