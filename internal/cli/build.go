package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

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
