package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// TestPublishUnderRegistryFaults publishes signed artifacts through a proxy that answers 15% of requests with 503
// and cuts 10% of responses mid-body. At least 95% must succeed; after any outcome, every tag must point at a
// complete, signed artifact (or not exist); and a re-run without faults converges.
func TestPublishUnderRegistryFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs many publishes")
	}
	reg := testregistry.Start(t)
	proxy := faultproxy.Start(reg.Host, faultproxy.Faults{Unavailable: 0.15, Cut: 0.10}, 20261125)
	defer proxy.Close()
	key, pub := keyPair(t, "")
	verifiers, err := sign.LoadVerifiers(context.Background(), pub)
	if err != nil {
		t.Fatal(err)
	}
	const runs = 20
	var failed []int
	for i := 0; i < runs; i++ {
		ref := fmt.Sprintf("%s/faults/app:run-%d", proxy.Host, i)
		r := run(t, nil, "", "publish", demoTree, ref, "--key", key, "--plain-http", "--annotation", fmt.Sprintf("run=%d", i))
		if r.code != 0 {
			failed = append(failed, i)
			if strings.Contains(r.stderr, "panic") {
				t.Errorf("run %d panicked:\n%s", i, r.stderr)
			}
		}
	}
	counts := proxy.Counts()
	t.Logf("faults: %d requests, %d answered 503, %d cut mid-body; publishes: %d attempted, %d succeeded, %d failed cleanly",
		counts.Requests, counts.Unavailable, counts.Cut, runs, runs-len(failed), len(failed))
	if ok := runs - len(failed); ok*100 < runs*95 {
		t.Errorf("%d of %d publishes succeeded under faults, want at least 95%%", ok, runs)
	}

	// Every tag that exists points at a complete artifact with a valid signature (checked directly, no proxy).
	ctx := context.Background()
	repo, err := remote.NewRepository(reg.Host + "/faults/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	broken := 0
	for i := 0; i < runs; i++ {
		desc, err := repo.Resolve(ctx, fmt.Sprintf("run-%d", i))
		if err != nil {
			continue // no tag: a clean failure
		}
		if _, err := sign.Verify(ctx, repo, desc, verifiers); err != nil {
			broken++
			t.Errorf("tag run-%d points at %s, which is not signed: %v", i, desc.Digest, err)
		}
		if _, files := fluxPull(t, reg.Host, "faults/app", fmt.Sprintf("run-%d", i)); len(files) != 4 {
			broken++
			t.Errorf("tag run-%d points at an incomplete artifact (%d files)", i, len(files))
		}
	}
	t.Logf("broken tags found: %d", broken)

	// Re-running the failed publishes without faults converges.
	for _, i := range failed {
		mustRun(t, 0, nil, "publish", demoTree, fmt.Sprintf("%s/faults/app:run-%d", reg.Host, i), "--key", key, "--annotation", fmt.Sprintf("run=%d", i))
		mustRun(t, 0, nil, "verify", fmt.Sprintf("%s/faults/app:run-%d", reg.Host, i), "--key", pub)
	}
}
