// Package cli is statepack's command line: cobra commands, flag binding, reading the environment, and formatting
// results (text, JSON). Each command parses its flags, calls into build, publish and sign, and prints the result.
// It is the only package that reads the environment or the clock.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/ghactions"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// Exit codes of the contract in design.md.
const (
	ExitOK       = 0
	ExitFindings = 1 // findings in the tree, or a verification failure
	ExitUsage    = 2 // bad flags or arguments
	ExitFailure  = 3 // registry or I/O failure
)

// Env is what a command may take from its surroundings. Tests give their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads an environment variable; nil means os.Getenv.
	Getenv func(string) string
	// Version is statepack's version, as stamped at build time.
	Version string

	// rawStdout is Stdout as given, when Run wrapped Stdout to defuse workflow commands (on a GitHub Actions
	// runner): the writer of the runner's own commands, and of render's manifests, which are data.
	rawStdout io.Writer
}

// lookupEnv is getenv as os.LookupEnv answers: a variable set to "" counts as unset.
func (e *Env) lookupEnv(k string) (string, bool) {
	v := e.getenv(k)
	return v, v != ""
}

// raw is the process's stdout as given: for workflow commands statepack means, and for data (render's manifests).
func (e *Env) raw() io.Writer {
	if e.rawStdout != nil {
		return e.rawStdout
	}
	return e.Stdout
}

func (e *Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

// Run executes the command line args (without the program name) and returns the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Version == "" {
		env.Version = buildVersion()
	}
	if env.getenv("GITHUB_ACTIONS") == "true" {
		// The runner reads workflow commands on stdout and stderr. Nothing from the tree or an input may start a
		// line there: every line statepack prints is defused, but for the runner's own commands (written to the raw
		// stdout by internal/ghactions) and render's manifests.
		stdout, stderr := ghactions.Guard(env.Stdout), ghactions.Guard(env.Stderr)
		defer stdout.Flush()
		defer stderr.Flush()
		env.rawStdout, env.Stdout, env.Stderr = env.Stdout, stdout, stderr
	}
	root := newRoot(&env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	var reported *reportedError
	if !errors.As(err, &reported) {
		fmt.Fprintf(env.Stderr, "statepack: error: %s\n", err)
	}
	if code == ExitUsage && !errors.As(err, &reported) {
		fmt.Fprintf(env.Stderr, "Run 'statepack %s --help' for usage.\n", commandName(root, args))
	}
	return code
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func commandName(root *cobra.Command, args []string) string {
	if c, _, err := root.Find(args); err == nil && c != root {
		return c.Name()
	}
	return ""
}

// usageError marks errors in how statepack was called.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// reportedError is an error whose details the command already printed (findings, a verification report); Run only
// sets the exit code.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, publish.ErrInvalidReference), errors.Is(err, statepack.ErrInvalidOption):
		return ExitUsage
	case errors.Is(err, build.ErrInvalidInput), errors.Is(err, sign.ErrNoSignature),
		errors.Is(err, sign.ErrVerification), errors.Is(err, publish.ErrUnsafeArchive),
		errors.Is(err, publish.ErrNotStatepackArtifact), errors.Is(err, statepack.ErrTagTaken),
		errors.Is(err, statepack.ErrOlder), errors.Is(err, statepack.ErrNoSequence):
		return ExitFindings
	}
	return ExitFailure
}

// globalOptions are the flags every command takes.
//
// The contract uses -o for two things: the result format (-o json) on most commands, and the destination on build
// (-o FILE) and pull (-o DIR). Those two define their own -o, which shadows the global one, and take the format
// from --format, which every command accepts.
type globalOptions struct {
	output  string
	format  string
	verbose bool
}

func (g *globalOptions) json() bool {
	if g.format != "" {
		return g.format == "json"
	}
	return g.output == "json"
}

func newRoot(env *Env) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "statepack",
		Short: "Publish a GitOps repository's desired state as a signed, reproducible OCI artifact",
		Long: `statepack renders Kubernetes manifests (kustomize or plain YAML), validates them offline, packages them
reproducibly, pushes them to an OCI registry or a local OCI layout, and signs and attests them with cosign. Flux's
OCIRepository verifies the signature before it deploys (statepack verify reaches Flux's verdict); Argo CD verifies
nothing, so give it bundles through a promotion gate: statepack copy --key into the only repository it reads.`,
		Version:           env.Version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			global := cmd.Flags().Lookup("output") == cmd.Root().PersistentFlags().Lookup("output")
			if global && g.output != "text" && g.output != "json" {
				return usagef("--output must be text or json, got %q", g.output)
			}
			if g.format != "" && g.format != "text" && g.format != "json" {
				return usagef("--format must be text or json, got %q", g.format)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "text", "result format: text or json (on build and pull, -o is the destination: use --format)")
	root.PersistentFlags().StringVar(&g.format, "format", "", "result format: text or json (same as -o where -o is a format)")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log debug details to stderr")
	root.AddCommand(
		newRenderCmd(env, g),
		newValidateCmd(env, g),
		newBuildCmd(env, g),
		newPublishCmd(env, g),
		newLockCmd(env, g),
		newVerifyCmd(env, g),
		newPullCmd(env, g),
		newGenerateKeyPairCmd(env, g),
		newActionCmd(env, g),
	)
	for _, newCmd := range extraCommands {
		root.AddCommand(newCmd(env, g))
	}
	return root
}

// extraCommands lets a command living in its own file register itself from an init function, so that adding a
// command does not mean editing this list.
var extraCommands []func(*Env, *globalOptions) *cobra.Command

// logger writes logs to stderr, never to stdout, so results compose in pipes.
func (g *globalOptions) logger(env *Env) *slog.Logger {
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // CI logs carry their own timestamps
			}
			return a
		}}))
}

// argsUsage checks positional arguments and turns cobra's messages into usage errors.
func argsUsage(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usagef("%s takes %s, got %d argument(s): %s", cmd.Name(), what, len(args), strings.Join(args, " "))
		}
		return nil
	}
}
