package cli

import (
	"bufio"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/publish"
)

// registryOptions are the flags of every command that talks to a registry.
type registryOptions struct {
	plainHTTP bool
	// password is read from stdin once, on the first open, and shared by every target of the run.
	passwordOnce  sync.Once
	password      string
	passwordErr   error
	insecure      []string
	username      string
	passwordStdin bool
	timeout       time.Duration
	// requestTimeout is passed on only when --request-timeout is given: the library states the default.
	requestTimeout time.Duration
	dockerConfig   string
	flags          *pflag.FlagSet
}

func (o *registryOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	o.flags = f
	f.BoolVar(&o.plainHTTP, "plain-http", false, "speak plain HTTP to the registry (default: only for loopback registries; --plain-http=false forces HTTPS)")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "skip TLS verification for this registry host[:port] (repeatable)")
	f.StringVar(&o.username, "username", "", "registry user name (default: from the Docker config and credential helpers)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the registry password or token from stdin")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on the whole operation after this long")
	f.DurationVar(&o.requestTimeout, "request-timeout", publish.DefaultRequestTimeout, "abandon a registry request that makes no progress for this long, and retry it")
	f.StringVar(&o.dockerConfig, "docker-config", "", "directory holding config.json (default: $DOCKER_CONFIG or ~/.docker)")
}

// options are the flags as the library's registry options: credentials (the password read from stdin once, on the
// first call, and shared by every target of the run), TLS, timeouts and where the Docker config is.
func (o *registryOptions) options(env *Env) ([]publish.Option, error) {
	opts, err := o.connection(env)
	if err != nil {
		return nil, err
	}
	if o.passwordStdin {
		if o.username == "" {
			return nil, usagef("--password-stdin needs --username")
		}
		o.passwordOnce.Do(func() { o.password, o.passwordErr = readSecretLine(env) })
		if o.passwordErr != nil {
			return nil, o.passwordErr
		}
		opts = append(opts, publish.WithCredentials(o.username, o.password))
	} else if o.username != "" {
		return nil, usagef("--username needs --password-stdin: statepack never takes a password on the command line")
	}
	return opts, nil
}

// connection are the flags as registry options without the static credentials of --username/--password-stdin: how
// image registries are reached, which must never be offered the publish target's password. The Docker config (and
// its credential helpers) still answers for each registry by its own name.
func (o *registryOptions) connection(env *Env) ([]publish.Option, error) {
	var opts []publish.Option
	// --plain-http given, true or false: --plain-http=false forces HTTPS on loopback too.
	if o.flags != nil && o.flags.Changed("plain-http") {
		opts = append(opts, publish.WithPlainHTTP(o.plainHTTP))
	}
	if o.flags != nil && o.flags.Changed("request-timeout") {
		if o.requestTimeout <= 0 {
			return nil, usagef("--request-timeout %s: give a positive duration, such as 30s or 2m", o.requestTimeout)
		}
		opts = append(opts, publish.WithRequestTimeout(o.requestTimeout))
	}
	if len(o.insecure) > 0 {
		opts = append(opts, publish.WithInsecureRegistries(o.insecure...))
	}
	if o.dockerConfig != "" {
		opts = append(opts, publish.WithDockerConfig(o.dockerConfig))
	} else if dc := env.getenv("DOCKER_CONFIG"); dc != "" {
		opts = append(opts, publish.WithDockerConfig(dc))
	} else if home := env.getenv("HOME"); home != "" {
		opts = append(opts, publish.WithDockerConfig(filepath.Join(home, ".docker")))
	} else {
		// No HOME and no DOCKER_CONFIG: no stored credentials, rather than whatever the process environment says.
		opts = append(opts, publish.WithDockerConfig(filepath.Join(os.TempDir(), "statepack-no-docker-config")))
	}
	return opts, nil
}

// readOptions are the library's options for commands that read artifacts, with the registry flags.
func (o *registryOptions) readOptions(env *Env, log *slog.Logger) (statepack.ReadOptions, error) {
	reg, err := o.options(env)
	if err != nil {
		return statepack.ReadOptions{}, err
	}
	return statepack.ReadOptions{Registry: reg, Context: statepack.BuildContext{Version: env.Version}, Logger: log}, nil
}

// readSecretLine reads one line from stdin; the value is never logged.
func readSecretLine(env *Env) (string, error) {
	if env.Stdin == nil {
		return "", usagef("--password-stdin: stdin is not available")
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil {
			return "", usagef("--password-stdin: nothing on stdin: pipe the password in, e.g. `echo \"$TOKEN\" | statepack … --password-stdin`")
		}
		return "", usagef("--password-stdin: the first line of stdin is empty")
	}
	return line, nil
}

func parseRef(s string) (publish.Ref, error) { return publish.ParseRef(s) }

// parseContentRef parses a REF that must name content: a tag or a digest.
func parseContentRef(s string) (publish.Ref, error) { return statepack.ContentRef(s) }
