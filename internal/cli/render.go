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
		Use:   "render [PATH]",
		Short: "Print the rendered objects as a YAML stream (like `kustomize build`)",
		Args:  argsUsage(0, 1, "at most one PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := g.logger(env)
			s, err := loadSource(cmd.Context(), env, log, pathArg(args), &src)
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

func newValidateCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		src    sourceOptions
		fleet  fleetOptions
		output string
	)
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Render and validate; exit 1 with findings",
		Args:  argsUsage(0, 1, "at most one PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// validate has its own -o, which shadows the global one, so that it can take sarif as well.
			format := output
			if g.format != "" && !cmd.Flags().Changed("output") {
				format = g.format
			}
			if format != "text" && format != "json" && format != "sarif" {
				return usagef("--output must be text or json (validate also takes sarif), got %q", format)
			}
			fg := *g
			fg.output, fg.format = format, ""
			if fleet.config != "" {
				if len(args) > 0 {
					return usagef("with --config, the paths come from the config file")
				}
				if format == "sarif" {
					return usagef("-o sarif reports one tree: run validate on each path of the config file")
				}
				return fleetValidate(cmd.Context(), env, &fg, &fleet, &src)
			}
			log := g.logger(env)
			s, err := loadSource(cmd.Context(), env, log, pathArg(args), &src)
			if err != nil {
				return err
			}
			errs, warns := s.Findings.Count()
			if format == "sarif" {
				if err := writeSARIF(env.Stdout, env.Version, s.Findings, repoRelative(s), kustomizationFile(s)); err != nil {
					return err
				}
				return failOnFindings(s.Findings)
			}
			if fg.json() {
				findings := s.Findings
				if findings == nil {
					findings = build.Findings{}
				}
				if err := writeJSON(env.Stdout, map[string]any{"path": s.Path, "objects": len(s.Rendering.Objects),
					"errors": errs, "warnings": warns, "findings": findings}); err != nil {
					return err
				}
			} else {
				reportFindings(env.Stdout, &fg, s.Findings)
				fmt.Fprintf(env.Stdout, "%s: %d object(s), %d error(s), %d warning(s)\n", s.Path, len(s.Rendering.Objects), errs, warns)
				if env.getenv("GITHUB_ACTIONS") == "true" {
					// In a workflow step, the findings also become annotations on the pull request's files.
					gh := ghactions.New(env.raw(), env.getenv)
					for _, f := range s.Findings {
						gh.Annotate(findingAnnotation(env, s.Root, f))
					}
				}
			}
			return failOnFindings(s.Findings)
		},
	}
	src.bind(cmd)
	fleet.bind(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "result format: text, json or sarif (SARIF 2.1.0, for GitHub code scanning)")
	return cmd
}

func newBuildCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		src     sourceOptions
		pkg     packageOptions
		fleet   fleetOptions
		outFile string
	)
	cmd := &cobra.Command{
		Use:   "build [PATH] -o FILE",
		Short: "Render, validate and package; write the layer (tar+gzip) and print its digest",
		Args:  argsUsage(0, 1, "at most one PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if outFile == "" {
				return usagef("build needs -o FILE: where to write the layer (tar+gzip); with --config, -o DIR")
			}
			if fleet.config != "" {
				if len(args) > 0 {
					return usagef("with --config, the paths come from the config file")
				}
				return fleetBuild(cmd.Context(), env, g, &fleet, &src, outFile)
			}
			po, err := pkg.values()
			if err != nil {
				return err
			}
			log := g.logger(env)
			s, err := loadSource(cmd.Context(), env, log, pathArg(args), &src)
			if err != nil {
				return err
			}
			reportFindings(env.Stderr, &globalOptions{output: "text"}, s.Findings)
			if err := failOnFindings(s.Findings); err != nil {
				return err
			}
			bc, err := buildContext(env)
			if err != nil {
				return err
			}
			b, err := s.Bundle(bc, po, log)
			if err != nil {
				return err
			}
			if err := writeFileAtomic(outFile, b.Layer); err != nil {
				return fmt.Errorf("writing the layer: %w", err)
			}
			if g.json() {
				return writeJSON(env.Stdout, map[string]any{
					"file": outFile, "digest": b.LayerDescriptor.Digest, "size": b.LayerDescriptor.Size,
					"mediaType": b.LayerDescriptor.MediaType, "manifestDigest": b.ManifestDescriptor.Digest,
					"objects": len(b.Files), "files": b.Files, "annotations": b.Annotations,
				})
			}
			fmt.Fprintln(env.Stdout, b.LayerDescriptor.Digest)
			return nil
		},
	}
	src.bind(cmd)
	pkg.bind(cmd)
	fleet.bind(cmd)
	cmd.Flags().StringVarP(&outFile, "output", "o", "", "file to write the layer (tar+gzip) to (required); the result format is --format")
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
