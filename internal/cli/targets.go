package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
)

func init() { extraCommands = append(extraCommands, newTargetsCmd) }

// matrixEntry is one job of the GitHub Actions matrix targets -o json prints.
type matrixEntry struct {
	Target  string `json:"target"`
	Because string `json:"because,omitempty"`
}

func newTargetsCmd(env *Env, g *globalOptions) *cobra.Command {
	var config, since, helm, namesFile string
	var allIfUnknown bool
	var names, ignorePaths, globalInputs []string
	cmd := &cobra.Command{
		Use:   "targets --config statepack.yaml [--changed-since REF]",
		Short: "List a fleet's targets, or those a change since REF touches, for CI matrices",
		Long: "Prints the targets of a config, one name per line (a Tekton list), or with -o json a GitHub Actions matrix " +
			"({\"include\":[{\"target\":NAME,\"because\":PATH}]}, one line, for strategy.matrix). With --changed-since, only the " +
			"targets whose renders a change between the git revision REF and HEAD can touch: a changed file among what the " +
			"target's kustomizations reach, or the config file itself (every target); a file the target's ignore rules leave out " +
			"(.sourceignore, its ignorePaths, else the defaults', else --ignore-paths) touches none; the key files the config names touch the targets " +
			"they sign or verify images for, a file --global-inputs matches every target. Give it the --ignore-paths and --helm the publish gets. " +
			"statepack's own version is not in git: name the file that pins it (the CI workflow) in --global-inputs, or publish every target after upgrading statepack.",
		Args: argsUsage(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return usagef("--config is required: the fleet's statepack.yaml")
			}
			cfg, err := statepack.LoadConfig(config)
			if err != nil {
				return err
			}
			for _, p := range ignorePaths {
				if err := build.CheckIgnorePattern(p); err != nil {
					return usagef("--ignore-paths: %v", err)
				}
			}
			for _, p := range globalInputs {
				if err := build.CheckIgnorePattern(p); err != nil {
					return usagef("--global-inputs: %v", err)
				}
			}
			if err := (statepack.HelmOptions{Mode: helm}).Check(); err != nil {
				return usagef("--helm %q: use pin, hydrate or off", helm)
			}
			cfg.ApplyDefaults(statepack.Target{IgnorePaths: ignorePaths, Helm: helm}) // as publish --config takes them
			targets, err := cfg.Select(statepack.Selection{Names: names})
			if err != nil {
				return err
			}
			var entries []matrixEntry
			if since == "" {
				for _, t := range targets {
					entries = append(entries, matrixEntry{Target: t.Name})
				}
			} else {
				changed, err := cfg.ChangedTargets(targets, statepack.ChangeOptions{Since: since, GlobalInputs: globalInputs, AllIfUnknown: allIfUnknown})
				if err != nil {
					return err
				}
				for _, c := range changed {
					entries = append(entries, matrixEntry{Target: c.Name, Because: c.Because})
				}
			}
			if namesFile != "" {
				names := []string{}
				for _, e := range entries {
					names = append(names, e.Target)
				}
				data, err := json.Marshal(names)
				if err != nil {
					return err
				}
				if err := writeResultFiles(map[string]string{namesFile: string(data)}); err != nil {
					return err
				}
			}
			if g.json() {
				data, err := json.Marshal(map[string][]matrixEntry{"include": append([]matrixEntry{}, entries...)})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(env.Stdout, "%s\n", data)
				return err
			}
			for _, e := range entries {
				fmt.Fprintln(env.Stdout, e.Target)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "the fleet's config file (statepack.yaml)")
	f.StringVar(&since, "changed-since", "", "only the targets a change between this git revision (commit, branch, tag, HEAD~1) and HEAD touches")
	f.StringArrayVar(&names, "target", nil, "consider only this target (repeatable)")
	f.StringSliceVar(&ignorePaths, "ignore-paths", nil, "the --ignore-paths given to publish --config: gitignore patterns, anchored at each target's path, for the targets whose config sets none")
	f.StringSliceVar(&globalInputs, "global-inputs", nil, "gitignore patterns, anchored at the top of the git work tree, of files whose change touches every target: what neither a tree nor the config names, such as the workflow that pins statepack's version")
	f.BoolVar(&allIfUnknown, "all-if-unknown", false, "with --changed-since: when REF names no commit of the history (a new branch's all-zero \"before\", a commit a forced push removed), list every target instead of failing")
	f.StringVar(&namesFile, "names-file", "", "also write the targets' names to this file as a JSON array, without a newline (a Tekton array result, for a Pipeline's matrix)")
	f.StringVar(&helm, "helm", statepack.HelmPin, "the --helm given to publish --config: pin, hydrate or off, for the targets whose config sets none (with off, a change in a chart directory touches no target)")
	return cmd
}
