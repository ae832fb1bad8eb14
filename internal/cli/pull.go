package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
)

func newPullCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		reg    registryOptions
		ver    verifyOptions
		outDir string
	)
	cmd := &cobra.Command{
		Use:   "pull REF -o DIR",
		Short: "Fetch an artifact (verifying it first when given --key) and extract its manifests into DIR",
		Args:  argsUsage(1, 1, "one REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseContentRef(args[0])
			if err != nil {
				return err
			}
			if outDir == "" {
				return usagef("pull needs -o DIR: where to extract the manifests")
			}
			check, err := ver.checker(cmd.Context(), env)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			ro, err := reg.readOptions(env, g.logger(env))
			if err != nil {
				return err
			}
			res, err := statepack.Pull(ctx, ref, outDir, check, ro)
			if err != nil {
				return err
			}
			if check == nil {
				fmt.Fprintf(env.Stderr, "statepack: %s was extracted without verification: pass --key, or --certificate-identity and --certificate-oidc-issuer, to verify it first\n", res.Ref)
			}
			if g.json() {
				return writeJSON(env.Stdout, map[string]any{"ref": res.Ref, "digest": res.Digest, "dir": outDir,
					"files": res.Files, "verified": res.Verified, "annotations": res.Annotations})
			}
			fmt.Fprintf(env.Stdout, "%s: %d file(s) extracted into %s\n", res.Ref, len(res.Files), outDir)
			return nil
		},
	}
	reg.bind(cmd)
	ver.bind(cmd)
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "directory to extract into (created; must be empty if it exists)")
	return cmd
}
