package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack"
)

func init() { extraCommands = append(extraCommands, newCopyCmd) }

// copyResult is what copy prints with -o json.
type copyResult = statepack.CopyResult

func newCopyCmd(env *Env, g *globalOptions) *cobra.Command {
	var (
		reg   registryOptions
		ver   verifyOptions
		tags  []string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "copy SRC DST [--tag T]... [--key cosign.pub]",
		Short: "Copy an artifact by digest with its signatures, attestations and referrers (promotion); print DST@sha256:…",
		Long: `copy copies the artifact SRC names to DST, by digest, with what belongs to it: the blobs and the manifest, then
cosign's signature, attestation and SBOM tags (sha256-<hex>.sig, .att, .sbom), then its OCI referrers, and the tags
last. Signatures stay valid, as they sign the digest. SRC and DST are registry repositories ("host/repo[:tag]") or
local OCI layouts ("oci:DIR[:tag]"), so that an artifact crosses an air gap as a directory: copy REF oci:DIR on one
side, copy oci:DIR REF on the other.

SRC names a tag or a digest. DST's tag, else SRC's tag, is pointed at the artifact, and so is every --tag; write
DST@sha256:… (the digest SRC resolves to) to copy without tags. With --key, the signature is verified at SRC before
anything is written, and again at DST before the tags are. Content already at DST is not sent again: copy can be
re-run. Signatures someone added at DST are never dropped: copy fails instead, unless --force.`,
		Args: argsUsage(2, 2, "SRC DST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcRef, err := parseContentRef(args[0])
			if err != nil {
				return err
			}
			dstRef, err := parseRef(args[1])
			if err != nil {
				return err
			}
			first := dstRef.Tag
			if first == "" && dstRef.Digest == "" {
				first = srcRef.Tag
			}
			if _, err := statepack.Tags(first, tags...); err != nil {
				return usagef("--tag %w", err)
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
			res, err := statepack.Copy(ctx, srcRef, dstRef, check, statepack.CopyOptions{ReadOptions: ro, Tags: tags, Force: force})
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(env.Stdout, res)
			}
			fmt.Fprintln(env.Stdout, res.Ref)
			return nil
		},
	}
	reg.bind(cmd)
	ver.bind(cmd)
	cmd.Flags().StringArrayVarP(&tags, "tag", "t", nil, "also point this tag at the artifact in DST (repeatable); tags are written last")
	cmd.Flags().BoolVar(&force, "force", false, "replace DST's signature tags even when they hold signatures SRC's lack")
	return cmd
}
