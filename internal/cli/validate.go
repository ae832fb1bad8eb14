package cli

import (
	"cmp"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/ghactions"
)

func newValidateCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		src    sourceOptions
		fleet  fleetOptions
		img    imageFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "validate [PATH | FILE | -]",
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
				return fleetValidate(cmd.Context(), env, &fg, &fleet, &src, &img)
			}
			log := g.logger(env)
			// The image flags are checked (and their keys loaded) before the render.
			conn, err := (&registryOptions{}).connection(env)
			if err != nil {
				return err
			}
			imgOpts, err := img.options(cmd.Context(), env, conn, nil, log)
			if err != nil {
				return err
			}
			s, err := loadSourceOrStream(cmd.Context(), env, log, pathArg(args), &src)
			if err != nil {
				return err
			}
			images, err := checkImages(cmd.Context(), s, imgOpts)
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
				out := map[string]any{"path": s.Path, "objects": len(s.Rendering.Objects), "errors": errs, "warnings": warns,
					"findings": findings, "charts": chartsJSON(s)}
				if len(s.Allowed) > 0 {
					out["allowed"] = s.Allowed
				}
				if images != nil {
					out["images"] = images
				}
				if err := writeJSON(env.Stdout, out); err != nil {
					return err
				}
			} else {
				reportFindings(env.Stdout, &fg, s.Findings)
				printImages(env.Stdout, images)
				for _, a := range s.Allowed {
					fmt.Fprintf(env.Stdout, "allowed: %d finding(s) of %s: %s\n", a.Count, a.Rule, cmp.Or(a.Reason, "no reason given"))
				}
				fmt.Fprintf(env.Stdout, "%s: %d object(s)%s, %d error(s), %d warning(s)\n", s.Path, len(s.Rendering.Objects), chartsSummary(s), errs, warns)
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
	img.bind(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "result format: text, json or sarif (SARIF 2.1.0, for GitHub code scanning)")
	return cmd
}
