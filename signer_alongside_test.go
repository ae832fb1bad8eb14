package statepack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// TestPublishLoadSignerAlongsideRender: a signer got by LoadSigner while the tree renders publishes what a signer
// loaded first publishes (the same digest, a signature and both attestations that verify, the same result), an
// incremental publish with it still recognises its own work, and a signer that fails stops the publish with its own
// error before anything reaches the registry, even when the render failed too.
func TestPublishLoadSignerAlongsideRender(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	signer, verifiers, key := keySigner(t)
	ctx := t.Context()
	var loads atomic.Int32
	loadKey := func(ctx context.Context) (*sign.Signer, error) {
		loads.Add(1)
		return sign.LoadSigner(ctx, key, nil)
	}
	_, badErr := sign.LoadSigner(ctx, key, []byte("wrong password"))
	if badErr == nil {
		t.Fatal("LoadSigner with a wrong password succeeded")
	}
	badKey := func(context.Context) (*sign.Signer, error) { return nil, badErr }
	publishTo := func(repo string, path string, o PublishOptions) (PublishResult, error) {
		t.Helper()
		o.Attest = true
		o.Registry = []publish.Option{publish.WithPlainHTTP(true)}
		return Publish(ctx, path, mustRef(t, reg.Host+"/"+repo+":v1"), o)
	}
	// pushed says whether anything of repo reached the registry: a blob upload, a manifest or a tag.
	pushed := func(repo string) bool {
		_, err := os.Stat(filepath.Join(reg.Dir, "docker", "registry", "v2", "repositories", repo))
		return err == nil
	}

	first, err := publishTo("alongside/first", demoTree, PublishOptions{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	got, err := publishTo("alongside/loaded", demoTree, PublishOptions{LoadSigner: loadKey})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != first.Digest || !got.Signed || !slices.Equal(got.Attestations, first.Attestations) {
		t.Errorf("Publish with LoadSigner = %s signed=%v attestations %v, want %s signed=true attestations %v (as with Signer)",
			got.Digest, got.Signed, got.Attestations, first.Digest, first.Attestations)
	}
	target, err := publish.Open(ctx, mustRef(t, reg.Host+"/alongside/loaded"), publish.WithPlainHTTP(true))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := target.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Verify(ctx, target.Storage(), desc, verifiers); err != nil {
		t.Errorf("the signature made with LoadSigner does not verify: %v", err)
	}
	if _, err := sign.VerifyAttestations(ctx, target.Storage(), desc, verifiers, AttestationTypes); err != nil {
		t.Errorf("the attestations made with LoadSigner do not verify: %v", err)
	}

	again, err := publishTo("alongside/loaded", demoTree, PublishOptions{LoadSigner: loadKey, Incremental: true})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Unchanged || !again.Signed || again.Digest != first.Digest {
		t.Errorf("incremental Publish with LoadSigner: unchanged=%v signed=%v digest %s, want unchanged and signed %s", again.Unchanged, again.Signed, again.Digest, first.Digest)
	}
	if n := loads.Load(); n != 2 {
		t.Errorf("LoadSigner was called %d times over two publishes, want 2", n)
	}

	for _, tc := range []struct{ name, repo, path string }{
		{"clean tree", "alongside/badkey", demoTree},
		{"tree with findings", "alongside/badboth", "testdata/bad/duplicate-object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := publishTo(tc.repo, tc.path, PublishOptions{LoadSigner: badKey})
			if !errors.Is(err, badErr) {
				t.Errorf("Publish with a failing LoadSigner = %v, want the signer's error %v", err, badErr)
			}
			var fe *build.FindingsError
			if errors.As(err, &fe) || res.Signed || res.Digest != "" {
				t.Errorf("Publish with a failing LoadSigner returned findings error %v, signed=%v, digest %q: the signer's error comes first", fe != nil, res.Signed, res.Digest)
			}
			if pushed(tc.repo) {
				t.Errorf("Publish with a failing LoadSigner wrote to %s", tc.repo)
			}
		})
	}
}
