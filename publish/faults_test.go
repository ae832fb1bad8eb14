package publish

import (
	"strings"
	"testing"

	"oras.land/oras-go/v2/content"

	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
)

func TestDroppedConnectionsAreRetried(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)

	t.Run("every attempt dropped", func(t *testing.T) {
		// The registry reads each request and closes the connection (FIN) without answering: net/http reports
		// io.EOF, which the transport must retry like a reset.
		proxy := faultproxy.Start(reg.Host, faultproxy.Faults{Drop: 1}, 1)
		defer proxy.Close()
		tg := open(t, proxy.Host+"/drop/app", WithPlainHTTP(true), WithMaxRetries(2))
		_, err := tg.Resolve(ctx, "v1")
		if err == nil || !strings.HasSuffix(err.Error(), ": EOF") {
			t.Errorf("Resolve() with every connection dropped = %v, want an error ending in EOF", err)
		}
		if got := proxy.Counts(); got.Requests != 3 || got.ByKind[faultproxy.Drop] != 3 {
			t.Errorf("the proxy saw %s; want 3 requests, all dropped (one try and 2 retries)", got)
		}
	})

	t.Run("a third of the connections dropped", func(t *testing.T) {
		proxy := faultproxy.Start(reg.Host, faultproxy.Faults{Drop: 0.3}, 2)
		defer proxy.Close()
		tg := open(t, proxy.Host+"/drop/app", WithPlainHTTP(true))
		a := testArtifact(t, []byte("dropped connections"))
		desc, err := tg.PushArtifact(ctx, a)
		if err != nil {
			t.Fatalf("PushArtifact() with dropped connections: %v", err)
		}
		if err := tg.Tag(ctx, desc, "v1"); err != nil {
			t.Fatalf("Tag() with dropped connections: %v", err)
		}
		if got, err := tg.Resolve(ctx, "v1"); err != nil || got.Digest != desc.Digest {
			t.Fatalf("Resolve(v1) with dropped connections = %v, %v; want %s", got.Digest, err, desc.Digest)
		}
		if _, _, err := tg.FetchManifest(ctx, desc); err != nil {
			t.Errorf("FetchManifest() with dropped connections: %v", err)
		}
		if got := proxy.Counts(); got.ByKind[faultproxy.Drop] == 0 {
			t.Errorf("the proxy dropped nothing (%s): the test tests nothing", got)
		}
	})
}

func TestLostUploadAnswers(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	host, lost := faultproxy.LoseUploadAnswers(t, reg.Host)
	direct := open(t, reg.Host+"/lost/src")

	t.Run("push", func(t *testing.T) {
		a := testArtifact(t, []byte("lost upload answers"))
		desc, err := open(t, host+"/lost/app", WithPlainHTTP(true)).PushArtifact(ctx, a)
		if err != nil {
			t.Fatalf("PushArtifact() when the registry's answers to uploads are lost: %v", err)
		}
		if got := lost(); got != 2 {
			t.Errorf("%d upload answers were lost, want 2 (the config and the layer)", got)
		}
		checkComplete(t, open(t, reg.Host+"/lost/app"), a, desc.Digest.String())
	})

	t.Run("copy", func(t *testing.T) {
		// From another registry (by name), so that the blobs are uploaded, not mounted, with bodies that cannot be
		// sent again: only the check that the blob arrived saves the copy.
		a := testArtifact(t, []byte("lost copy answers"))
		desc := pushTagged(t, direct, a)
		before := lost()
		dst := open(t, host+"/lost/copy", WithPlainHTTP(true))
		if _, err := Copy(ctx, direct, dst, desc); err != nil {
			t.Fatalf("Copy() when the registry's answers to uploads are lost: %v", err)
		}
		if got := lost() - before; got != 2 {
			t.Errorf("%d upload answers were lost, want 2 (the config and the layer)", got)
		}
		checkComplete(t, open(t, reg.Host+"/lost/copy"), a, desc.Digest.String())
	})
}

// checkComplete checks, straight at the registry, that the manifest and every blob of a are there.
func checkComplete(t *testing.T, tg *Target, a Artifact, reference string) {
	t.Helper()
	desc, err := tg.Resolve(ctx, reference)
	if err != nil {
		t.Fatalf("the manifest is missing: %v", err)
	}
	for _, b := range append([]Blob{a.Manifest}, a.Blobs...) {
		d := b.Descriptor
		if d.Digest == desc.Digest {
			d = desc
		}
		got, err := content.FetchAll(ctx, tg.storage, d)
		if err != nil || string(got) != string(b.Data) {
			t.Errorf("%s in the registry = %q, %v; want the pushed bytes", b.Descriptor.Digest, got, err)
		}
	}
}
