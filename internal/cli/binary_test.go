package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TestMain removes the statepack binary that statepackBinary built, once every test and benchmark has ended.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// The binary statepackBinary built, in binDir; binErr when the build failed.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// statepackBinary builds the command once per test process, as `make build` builds it (CGO_ENABLED=0, -trimpath,
// stripped), for the tests and benchmarks that need a real process: signals, exit codes of main, the time to the
// first request. A stripped build links in about half the time of a default one; every caller shares it, and
// TestMain removes it at the end.
func statepackBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "statepack-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "statepack")
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binPath, "./cmd/statepack")
		build.Dir = filepath.Join("..", "..")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("building statepack: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}
