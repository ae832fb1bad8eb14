package cli

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// TestConcurrentPublishesToOneTag races publishes of different content, and of the same content, to one tag. The
// tag must end on one complete, signed artifact; the same content must be idempotent.
func TestConcurrentPublishesToOneTag(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	verifiers, err := sign.LoadVerifiers(context.Background(), pub)
	if err != nil {
		t.Fatal(err)
	}
	trees := []string{demoTree, "../../testdata/plain", demoTree, "../../testdata/plain"}
	results := make([]result, len(trees))
	var wg sync.WaitGroup
	for i, tree := range trees {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(t, nil, "", "publish", tree, reg.Host+"/race/app:main", "--key", key)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("publish %d: %s", i, r)
		}
	}
	if results[0].stdout != results[2].stdout || results[1].stdout != results[3].stdout {
		t.Errorf("the same content gave different digests: %q %q / %q %q", results[0].stdout, results[2].stdout, results[1].stdout, results[3].stdout)
	}
	repo, err := remote.NewRepository(reg.Host + "/race/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	desc, err := repo.Resolve(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Host + "/race/app@" + desc.Digest.String() + "\n"; got != results[0].stdout && got != results[1].stdout {
		t.Errorf("main points at %s, which none of the publishes made", desc.Digest)
	}
	if _, err := sign.Verify(context.Background(), repo, desc, verifiers); err != nil {
		t.Errorf("main points at %s, which is not signed: %v", desc.Digest, err)
	}
}

// TestStalledRegistryNeverHangs points publish at a registry that never answers: --timeout ends it with exit 3,
// and SIGINT ends it at once; neither leaves a tag.
func TestStalledRegistryNeverHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := statepackBinary(t)
	reg := testregistry.Start(t)
	proxy := faultproxy.Start(reg.Host, faultproxy.Faults{Stall: 1, StallFor: 10 * time.Minute}, 1)
	defer proxy.Close()
	ref := proxy.Host + "/stall/app:main"

	t.Run("timeout", func(t *testing.T) {
		cmd := exec.Command(bin, "publish", demoTree, ref, "--plain-http", "--timeout", "2s")
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(string(out), "deadline exceeded") {
			t.Fatalf("publish against a stalled registry: exit %d (%v)\n%s\nwant exit 3 after the timeout", code, err, out)
		}
	})
	t.Run("SIGINT", func(t *testing.T) {
		stalled := proxy.Counts().ByKind[faultproxy.Stall] // the timeout case's
		cmd := exec.Command(bin, "publish", demoTree, ref, "--plain-http")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitForStall(t, proxy, stalled, &out)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("publish did not end after SIGINT:\n%s", out.String())
		}
		if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(out.String(), "interrupt signal received") {
			t.Errorf("publish after SIGINT: exit %d\n%s\nwant a failure that says it was cancelled", code, out.String())
		}
	})
	if tags := repositories(t, reg.Host); len(tags) > 0 {
		repo, _ := remote.NewRepository(reg.Host + "/stall/app")
		repo.PlainHTTP = true
		if _, err := repo.Resolve(context.Background(), "main"); err == nil {
			t.Errorf("an interrupted publish left the tag main")
		}
	}
}

// waitForStall returns once the proxy holds a request beyond the stalled ones it had seen before (the command
// rendered and began to publish), so that a signal sent then interrupts a stalled request; it fails the test if none
// comes within a minute.
func waitForStall(t *testing.T, proxy *faultproxy.Proxy, before int64, out fmt.Stringer) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); proxy.Counts().ByKind[faultproxy.Stall] <= before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no request reached the stalled registry within a minute:\n%s", out)
		}
	}
}
