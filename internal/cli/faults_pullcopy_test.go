package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// readTree reads every file under dir, by slash-separated relative name; nil when dir does not exist.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// plainRepo opens a repository of a test registry directly (no proxy, no statepack code).
func plainRepo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}

// completeManifest fetches the manifest desc names and every blob it references, checking their digests: nil when
// the content is all there.
func completeManifest(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) error {
	raw, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if _, err := content.FetchAll(ctx, repo, b); err != nil {
			return fmt.Errorf("blob %s of %s: %w", b.Digest, desc.Digest, err)
		}
	}
	return nil
}

// outcome counts what became of the runs of one command under faults.
type outcome struct {
	mu                           sync.Mutex
	attempted, succeeded, failed int
	failures                     []string
}

func (o *outcome) add(ok bool, msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempted++
	if ok {
		o.succeeded++
		return
	}
	o.failed++
	o.failures = append(o.failures, msg)
}

// TestPullAndCopyUnderRegistryFaults pulls (verifying signature and attestations first) and copies a signed
// artifact through a proxy that injects the mixed faults of the publish test, drops included. At least 95% of each
// must succeed, with complete, correct content (pull: the extracted files are the artifact's; copy: the destination
// holds the manifest, every blob, the signature and attestation tags, and the tag); a failure must be clean, exit 3,
// leaving no output directory behind (pull) and no tag on incomplete content (copy). Running it again converges.
//
// The bar comes from measurements: without step retries 5 of 16 pulls and 3 of 12 copies succeeded; with them and
// the transport's read-ahead of small answers, 16 of 16 and 12 of 12, run after run. With 20 runs each, 95% lets
// one run fail.
func TestPullAndCopyUnderRegistryFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs many pulls and copies")
	}
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	verifiers, err := sign.LoadVerifiers(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	digestRef := strings.TrimSpace(mustRun(t, 0, nil, "publish", demoTree, reg.Host+"/src/app:v1", "--key", key).stdout)
	digest := digestRef[strings.Index(digestRef, "@")+1:]
	want := readTree(t, pullOnce(t, reg.Host+"/src/app:v1", pub))
	if len(want) != 4 {
		t.Fatalf("a pull without faults extracted %d files, want 4: %v", len(want), slices.Collect(maps.Keys(want)))
	}
	proxy := faultproxy.Start(reg.Host, faultproxy.Mixed(200*time.Millisecond, true), 20261126)
	defer proxy.Close()

	t.Run("pull", func(t *testing.T) {
		const runs, workers = 20, 4
		var o outcome
		dirs := make([]string, runs)
		codes := make([]int, runs)
		faultproxy.InParallel(runs, workers, func(i int) {
			dirs[i] = filepath.Join(t.TempDir(), "out")
			r := run(t, nil, "", "pull", proxy.Host+"/src/app:v1", "-o", dirs[i], "--key", pub, "--plain-http",
				"--attestation", "slsa", "--attestation", "inventory")
			codes[i] = r.code
			o.add(r.code == 0, strings.TrimSpace(r.stderr))
			switch got := readTree(t, dirs[i]); {
			case r.code == 0 && !maps.Equal(got, want):
				t.Errorf("pull %d succeeded but extracted %d files that differ from the artifact's:\n%s", i, len(got), r)
			case r.code == 0:
			case r.code != 3 || strings.Contains(r.stderr, "panic"):
				t.Errorf("pull %d did not fail cleanly (want exit 3):\n%s", i, r)
			case len(got) > 0:
				t.Errorf("pull %d failed but left %d file(s) in %s: %v", i, len(got), dirs[i], slices.Sorted(maps.Keys(got)))
			}
		})
		for _, f := range o.failures {
			t.Logf("a pull failed cleanly: %s", f)
		}
		// Re-running a failed pull, now without faults, into the same directory converges.
		for i, code := range codes {
			if code != 0 {
				if got := readTree(t, pullOnce(t, reg.Host+"/src/app:v1", pub, dirs[i])); !maps.Equal(got, want) {
					t.Errorf("pull %d again extracted other files: %v", i, slices.Sorted(maps.Keys(got)))
				}
			}
		}
		t.Logf("verified pulls: %d attempted, %d succeeded, %d failed cleanly (faults so far: %s)", o.attempted, o.succeeded, o.failed, proxy.Counts())
		if o.succeeded*100 < o.attempted*95 {
			t.Errorf("%d of %d pulls succeeded under faults, want at least 95%%", o.succeeded, o.attempted)
		}
	})

	t.Run("copy", func(t *testing.T) {
		const runs, workers = 20, 4
		var o outcome
		codes := make([]int, runs)
		faultproxy.InParallel(runs, workers, func(i int) {
			dst := fmt.Sprintf("dst%d/app", i)
			r := run(t, nil, "", "copy", proxy.Host+"/src/app:v1", proxy.Host+"/"+dst, "--key", pub, "--plain-http")
			codes[i] = r.code
			o.add(r.code == 0, strings.TrimSpace(r.stderr))
			switch {
			case r.code == 0:
			case r.code != 3 || strings.Contains(r.stderr, "panic"):
				t.Errorf("copy %d did not fail cleanly (want exit 3):\n%s", i, r)
			}
			checkCopy(t, reg.Host, dst, digest, verifiers, r.code == 0)
		})
		for _, f := range o.failures {
			t.Logf("a copy failed cleanly: %s", f)
		}
		// Re-running a failed copy, now without faults, converges.
		for i, code := range codes {
			if code != 0 {
				dst := fmt.Sprintf("dst%d/app", i)
				mustRun(t, 0, nil, "copy", reg.Host+"/src/app:v1", reg.Host+"/"+dst, "--key", pub)
				checkCopy(t, reg.Host, dst, digest, verifiers, true)
			}
		}
		t.Logf("verified copies: %d attempted, %d succeeded, %d failed cleanly (faults so far: %s)", o.attempted, o.succeeded, o.failed, proxy.Counts())
		if o.succeeded*100 < o.attempted*95 {
			t.Errorf("%d of %d copies succeeded under faults, want at least 95%%", o.succeeded, o.attempted)
		}
	})
	// A bar met without the faults that step retries exist for would prove nothing.
	if c := proxy.Counts(); c.ByKind[faultproxy.Cut] == 0 || c.ByKind[faultproxy.Drop] == 0 || c.ByKind[faultproxy.Reset] == 0 {
		t.Errorf("the runs met no cut, drop or reset (%s): the mix is not being tested", c)
	}
	t.Logf("faults injected: %s", proxy.Counts())
}

// pullOnce pulls ref without faults into dir (a new directory when none is given), verifying it with pub, and
// returns the directory.
func pullOnce(t *testing.T, ref, pub string, dir ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	if len(dir) > 0 {
		out = dir[0]
	}
	mustRun(t, 0, nil, "pull", ref, "-o", out, "--key", pub)
	return out
}

// checkCopy checks a copy's destination straight at the registry: after a success (or whenever the tag exists),
// v1 must name digest, with the manifest, every blob, a verifying signature and verifying attestations; after a
// failure, a signature or attestation tag that exists must name a complete manifest.
func checkCopy(t *testing.T, host, dst, digest string, verifiers []signature.Verifier, succeeded bool) {
	t.Helper()
	ctx := context.Background()
	repo := plainRepo(t, host, dst)
	desc, err := repo.Resolve(ctx, "v1")
	switch {
	case err != nil && succeeded:
		t.Errorf("%s: copy succeeded but the tag v1 is missing: %v", dst, err)
		return
	case err != nil:
		for _, suffix := range []string{".sig", ".att"} {
			tag := strings.Replace(digest, ":", "-", 1) + suffix
			if sdesc, err := repo.Resolve(ctx, tag); err == nil {
				if err := completeManifest(ctx, repo, sdesc); err != nil {
					t.Errorf("%s: a failed copy left %s on incomplete content: %v", dst, tag, err)
				}
			}
		}
		return
	}
	if desc.Digest.String() != digest {
		t.Errorf("%s:v1 = %s, want %s", dst, desc.Digest, digest)
	}
	if err := completeManifest(ctx, repo, desc); err != nil {
		t.Errorf("%s:v1 points at incomplete content: %v", dst, err)
	}
	if _, err := sign.Verify(ctx, repo, desc, verifiers); err != nil {
		t.Errorf("%s:v1 is not signed at the destination: %v", dst, err)
	}
	if _, err := sign.VerifyAttestations(ctx, repo, desc, verifiers, statepack.AttestationTypes); err != nil {
		t.Errorf("%s:v1 lacks its attestations at the destination: %v", dst, err)
	}
}

// TestLostUploadAnswers publishes (push, signature, attestations) and copies to another registry through proxies
// that lose the answer to every first upload PUT: each push must find its blob in place and carry on.
func TestLostUploadAnswers(t *testing.T) {
	t.Parallel()
	regA, regB := testregistry.Start(t), testregistry.Start(t)
	hostA, lostA := faultproxy.LoseUploadAnswers(t, regA.Host)
	hostB, lostB := faultproxy.LoseUploadAnswers(t, regB.Host)
	key, pub := keyPair(t, "")

	mustRun(t, 0, nil, "publish", demoTree, hostA+"/lost/app:v1", "--key", key)
	// The config and the layer, then a layer and a config for the signature and for each attestation (the
	// empty config they share may be there already).
	if got := lostA(); got < 4 {
		t.Errorf("%d upload answers were lost during publish, want at least 4: the test tests too little", got)
	}
	mustRun(t, 0, nil, "verify", regA.Host+"/lost/app:v1", "--key", pub, "--attestation", "slsa", "--attestation", "inventory")

	mustRun(t, 0, nil, "copy", regA.Host+"/lost/app:v1", hostB+"/lost/app", "--key", pub)
	if got := lostB(); got < 4 {
		t.Errorf("%d upload answers were lost during copy, want at least 4: the test tests too little", got)
	}
	mustRun(t, 0, nil, "verify", regB.Host+"/lost/app:v1", "--key", pub, "--attestation", "slsa", "--attestation", "inventory")
	if files := readTree(t, pullOnce(t, regB.Host+"/lost/app:v1", pub)); len(files) != 4 {
		t.Errorf("a pull of the copy extracted %d files, want 4", len(files))
	}
}

// TestRequestTimeoutFlag pulls and copies through a proxy that holds a third of the requests until the client gives
// up: --request-timeout abandons each stalled attempt and retries it, well within --timeout, which would otherwise
// end the command. A duration that is not positive is a usage error.
func TestRequestTimeoutFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection")
	}
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	digestRef := strings.TrimSpace(mustRun(t, 0, nil, "publish", demoTree, reg.Host+"/src/app:v1", "--key", key).stdout)
	verifiers, err := sign.LoadVerifiers(context.Background(), pub)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(reg.Host, faultproxy.Faults{Stall: 0.3, StallFor: faultproxy.Forever}, 3)
	defer proxy.Close()

	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, 0, nil, "pull", proxy.Host+"/src/app:v1", "-o", out, "--key", pub, "--request-timeout", "300ms", "--timeout", "2m")
	if files := readTree(t, out); len(files) != 4 {
		t.Errorf("pull extracted %d files, want 4", len(files))
	}
	mustRun(t, 0, nil, "copy", proxy.Host+"/src/app:v1", proxy.Host+"/dst/app", "--key", pub, "--request-timeout", "300ms", "--timeout", "2m")
	checkCopy(t, reg.Host, "dst/app", digestRef[strings.Index(digestRef, "@")+1:], verifiers, true)
	if got := proxy.Counts().ByKind[faultproxy.Stall]; got == 0 {
		t.Errorf("no request stalled (%s): the flag is not being tested", proxy.Counts())
	}

	for _, d := range []string{"0s", "-1s"} {
		r := mustRun(t, 2, nil, "pull", proxy.Host+"/src/app:v1", "-o", filepath.Join(t.TempDir(), "x"), "--request-timeout="+d)
		if want := "--request-timeout " + d + ": give a positive duration, such as 30s or 2m"; !strings.Contains(r.stderr, want) {
			t.Errorf("pull --request-timeout %s: stderr = %q, want it to say %q", d, r.stderr, want)
		}
	}
}
