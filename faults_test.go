package statepack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// checkTags checks every tag run-0 … run-(n-1) of repoName, straight at the registry (no proxy): a tag that exists
// must point at a complete artifact (manifest, config, layer with every file) with a valid signature, and with
// valid attestations of every type in attestations. It returns how many tags exist and how many are broken.
func checkTags(t *testing.T, host, repoName string, n int, verifiers []signature.Verifier, attestations []string) (present, broken int) {
	t.Helper()
	ctx := context.Background()
	repo, err := remote.NewRepository(host + "/" + repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("run-%d", i)
		desc, err := repo.Resolve(ctx, tag)
		if err != nil {
			continue // no tag: a clean failure
		}
		present++
		if _, err := sign.Verify(ctx, repo, desc, verifiers); err != nil {
			broken++
			t.Errorf("tag %s points at %s, which is not signed: %v", tag, desc.Digest, err)
			continue
		}
		if len(attestations) > 0 {
			if _, err := sign.VerifyAttestations(ctx, repo, desc, verifiers, attestations); err != nil {
				broken++
				t.Errorf("tag %s points at %s, whose attestations do not verify: %v", tag, desc.Digest, err)
				continue
			}
		}
		if _, files := testregistry.FluxPull(t, host, repoName, tag); len(files) != 4 {
			broken++
			t.Errorf("tag %s points at an incomplete artifact (%d files)", tag, len(files))
		}
	}
	return present, broken
}

// TestPublishUnderRegistryFaults publishes signed and attested artifacts through a proxy that answers 15% of
// requests with 503, cuts 10% of responses mid-body, resets 3% of connections before answering, answers 1% with
// 429 and holds 3% for 200 ms (slow answers, far within the request timeout). At least 95% must succeed; a failure
// must be clean (an error, no panic); after any outcome, every tag must point at a complete, signed and attested
// artifact (or not exist); and a re-run converges.
func TestPublishUnderRegistryFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs many publishes")
	}
	t.Parallel()
	reg := testregistry.Start(t)
	// The per-request timeout is left at its default (2 minutes), so stalls here are slow answers that pass
	// through; TestPublishStepsUnderStalls drives the request-timeout path itself.
	proxy := faultproxy.Start(reg.Host, faultproxy.Mixed(200*time.Millisecond, false), 20261125)
	defer proxy.Close()
	signer, verifiers, _ := keySigner(t)
	ctx := context.Background()
	publishRun := func(host string, i int) (PublishResult, error) {
		ref, err := publish.ParseRef(fmt.Sprintf("%s/faults/app:run-%d", host, i))
		if err != nil {
			t.Fatal(err)
		}
		return Publish(ctx, demoTree, ref, PublishOptions{Signer: signer, Attest: true,
			Registry: []publish.Option{publish.WithPlainHTTP(true)},
			Package:  PackageOptions{Annotations: map[string]string{"run": fmt.Sprint(i)}}})
	}
	// Publishes run side by side: most of a publish under faults is backoff, and the registry serves many clients.
	const runs, workers = 40, 8
	results := make([]PublishResult, runs)
	errs := make([]error, runs)
	faultproxy.InParallel(runs, workers, func(i int) { results[i], errs[i] = publishRun(proxy.Host, i) })
	proxy.Close()

	var failed []int
	for i, err := range errs {
		if err != nil {
			failed = append(failed, i)
			t.Logf("run %d failed cleanly: %v", i, err)
		}
	}
	counts := proxy.Counts()
	t.Logf("faults injected: %s", counts)
	t.Logf("signed and attested publishes: %d attempted, %d succeeded, %d failed cleanly", runs, runs-len(failed), len(failed))
	if ok := runs - len(failed); ok*100 < runs*95 {
		t.Errorf("%d of %d publishes succeeded under faults, want at least 95%%", ok, runs)
	}
	if counts.ByKind[faultproxy.Reset] == 0 || counts.ByKind[faultproxy.Stall] == 0 {
		t.Errorf("the run met no reset or stall (%s): the mix is not being tested", counts)
	}

	present, broken := checkTags(t, reg.Host, "faults/app", runs, verifiers, AttestationTypes)
	t.Logf("tags: %d present, %d broken", present, broken)
	if present < runs-len(failed) {
		t.Errorf("%d tags present, but %d publishes succeeded", present, runs-len(failed))
	}

	// Re-running the failed publishes without faults converges.
	for _, i := range failed {
		if _, err := publishRun(reg.Host, i); err != nil {
			t.Errorf("run %d again, without faults: %v", i, err)
		}
	}
	// Re-running a publish that succeeded under faults gives the same digest.
	for i, err := range errs {
		if err != nil {
			continue
		}
		again, err := publishRun(reg.Host, i)
		if err != nil || again.Digest != results[i].Digest {
			t.Errorf("run %d again = %s, %v; want %s", i, again.Digest, err, results[i].Digest)
		}
		break
	}
}

// TestPublishStepsUnderStalls drives publish's push, sign and tag steps (the code behind `statepack publish`)
// with a 400 ms per-request timeout through a proxy where 5% of requests stall until the client gives up, on top
// of the other faults: a stalled request must be abandoned and retried, never hang, and no tag may point at
// incomplete content.
func TestPublishStepsUnderStalls(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs many publishes")
	}
	reg := testregistry.Start(t)
	faults := faultproxy.Mixed(faultproxy.Forever, true)
	faults.Stall = 0.05
	proxy := faultproxy.Start(reg.Host, faults, 7)
	defer proxy.Close()
	signer, verifiers, _ := keySigner(t)
	ctx := context.Background()
	rendering, err := build.Render(ctx, demoTree, build.WithRoot("testdata/demo"))
	if err != nil || rendering.Findings.HasErrors() {
		t.Fatalf("rendering the demo tree: %v %v", err, rendering.Findings)
	}
	log := slog.New(slog.DiscardHandler)
	const runs, workers = 12, 4
	var mu sync.Mutex
	failed := 0
	faultproxy.InParallel(runs, workers, func(i int) {
		b, err := build.Package(rendering.Objects, build.WithAnnotations(map[string]string{"run": fmt.Sprint(i)}))
		if err != nil {
			t.Error(err)
			return
		}
		target, err := publish.Open(ctx, publish.Ref{Registry: proxy.Host, Repository: "stalls/app"},
			publish.WithPlainHTTP(true), publish.WithRequestTimeout(400*time.Millisecond))
		if err != nil {
			t.Error(err)
			return
		}
		runCtx, cancel := context.WithTimeout(ctx, time.Minute) // the test's own guard: far beyond what retries need
		defer cancel()
		if _, err = pushSignTag(runCtx, log, target, b, signer, nil, []string{fmt.Sprintf("run-%d", i)}, pushOptions{}); err != nil {
			mu.Lock()
			failed++
			mu.Unlock()
			t.Logf("run %d failed: %v", i, err)
			if runCtx.Err() != nil {
				t.Errorf("run %d hung until the test's own deadline: the request timeout did not end a stall", i)
			}
		}
	})
	proxy.Close()
	counts := proxy.Counts()
	t.Logf("faults injected: %s", counts)
	t.Logf("signed publishes with a 400ms request timeout: %d attempted, %d succeeded, %d failed cleanly", runs, runs-failed, failed)
	if counts.ByKind[faultproxy.Stall] == 0 {
		t.Errorf("no request stalled (%s): the request timeout is not being tested", counts)
	}
	if ok := runs - failed; ok*100 < runs*90 {
		t.Errorf("%d of %d publishes succeeded under stalls, want at least 90%%", ok, runs)
	}
	present, broken := checkTags(t, reg.Host, "stalls/app", runs, verifiers, nil)
	t.Logf("tags: %d present, %d broken", present, broken)
}

// TestATimeoutNamesTheStepItEnded: a run whose deadline passes while the registry stalls says which step it
// interrupted, not only "context deadline exceeded" (issue #15), and leaves no tag.
func TestATimeoutNamesTheStepItEnded(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	proxy := faultproxy.Start(reg.Host, faultproxy.Faults{Stall: 1, StallFor: faultproxy.Forever}, 1)
	defer proxy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Publish(ctx, demoTree, mustRef(t, proxy.Host+"/stalled/app:main"), PublishOptions{Registry: []publish.Option{publish.WithPlainHTTP(true)}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "it ended the push step") {
		t.Errorf("Publish() against a stalled registry = %v, want the deadline naming the push step", err)
	}
	if tags := testregistry.Tags(t, reg.Host, "stalled/app"); len(tags) > 0 {
		t.Errorf("a publish its deadline ended left tags %q", tags)
	}
}
