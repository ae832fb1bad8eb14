// Command statepack publishes a GitOps repository's desired state as a signed, reproducible OCI artifact.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/statepack/statepack/internal/cli"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal cancels the context: work in flight stops and nothing more is pushed. A second signal
		// gets Go's default handling and ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version})
	stop()
	os.Exit(code)
}
