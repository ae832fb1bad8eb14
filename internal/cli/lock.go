package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
)

func newLockCmd(env *Env, g *globalOptions) *cobra.Command {
	var src sourceOptions
	cmd := &cobra.Command{
		Use:   "lock [PATH]",
		Short: "Pin every Helm chart the tree names to an exact version and digest, in PATH/" + statepack.LockFileName,
		Long: "lock resolves every chart reference of the tree (HelmRelease, OCIRepository, Argo CD Application) against its\n" +
			"repository, as publish would today, and writes the result to " + statepack.LockFileName + " beside the tree. Commit it:\n" +
			"render, validate and publish then use the locked version and digest of each chart, on any machine and day, and\n" +
			"refuse a repository that serves other bytes for it. Run lock again to take newer charts.",
		Args: argsUsage(0, 1, "at most one PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := g.logger(env)
			o, err := src.loadOptions(env, log)
			if err != nil {
				return err
			}
			res, err := statepack.Lock(cmd.Context(), pathArg(args), o)
			if res != nil && res.Source != nil {
				reportFindings(env.Stderr, &globalOptions{output: "text"}, res.Source.Findings)
				if ferr := failOnFindings(res.Source.Findings); ferr != nil {
					return ferr
				}
			}
			if err != nil {
				return err
			}
			switch {
			case len(res.Charts) == 0:
				fmt.Fprintf(env.Stdout, "%s names no chart from a repository: nothing to lock\n", pathArg(args))
			case res.Changed:
				fmt.Fprintf(env.Stdout, "wrote %s: %d chart(s)\n", res.Path, len(res.Charts))
			default:
				fmt.Fprintf(env.Stdout, "%s is up to date: %d chart(s)\n", res.Path, len(res.Charts))
			}
			for _, c := range res.Charts {
				fmt.Fprintf(env.Stdout, "  %s %s %s → %s %s\n", c.Repository, c.Name, orDash(c.Constraint), c.Version, c.Digest)
			}
			return nil
		},
	}
	src.bind(cmd)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "*"
	}
	return s
}
