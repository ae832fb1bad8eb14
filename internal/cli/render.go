package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/ghactions"
)

func pathArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return "."
}

func newRenderCmd(env *Env, g *globalOptions) *cobra.Command {
	var src sourceOptions
	cmd := &cobra.Command{
		Use:   "render [PATH | FILE | -]",
		Short: "Print the rendered objects as a YAML stream (like `kustomize build`)",
		Args:  argsUsage(0, 1, "at most one PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := g.logger(env)
			s, err := loadSourceOrStream(cmd.Context(), env, log, pathArg(args), &src)
			if err != nil {
				return err
			}
			reportFindings(env.Stderr, &globalOptions{output: "text"}, s.Rendering.Findings)
			if err := failOnFindings(s.Rendering.Findings); err != nil {
				return err
			}
			if g.json() {
				items := make([]map[string]any, len(s.Rendering.Objects))
				for i, o := range s.Rendering.Objects {
					items[i] = o.Content
				}
				return writeJSON(env.Stdout, map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
			}
			var buf bytes.Buffer
			var commands []string
			for i, o := range s.Rendering.Objects {
				if i > 0 {
					buf.WriteString("---\n")
				}
				buf.Write(o.YAML)
				if env.rawStdout != nil && ghactions.Defuse(string(o.YAML)) != string(o.YAML) {
					commands = append(commands, o.ID.String())
				}
			}
			// The manifests are data, written as they are, like `kustomize build` writes them. On a GitHub Actions
			// runner, a line of them could be read as a workflow command; they are written only to a file then.
			if len(commands) > 0 && !isRegularFile(env.raw()) {
				return fmt.Errorf("%w: %s hold(s) lines the GitHub Actions runner would read as workflow commands, and stdout is not a file: "+
					"redirect render's output to a file (statepack render … > manifests.yaml)", build.ErrInvalidInput, strings.Join(commands, ", "))
			}
			_, err = env.raw().Write(buf.Bytes())
			return err
		},
	}
	src.bind(cmd)
	return cmd
}

// isRegularFile says whether w is a regular file (stdout redirected to one), as opposed to a pipe or a terminal.
func isRegularFile(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

// writeFileAtomic writes data to path through a temporary file and a rename, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".statepack-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
