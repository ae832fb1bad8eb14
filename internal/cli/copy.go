package cli

import (
	"context"
	"fmt"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/statepack/statepack/publish"
)

func init() { extraCommands = append(extraCommands, newCopyCmd) }

// copyResult is what copy prints with -o json.
type copyResult struct {
	Ref           string   `json:"ref"`
	Repository    string   `json:"repository"`
	Digest        string   `json:"digest"`
	Source        string   `json:"source"`
	Tags          []string `json:"tags"`
	SignatureTags []string `json:"signatureTags"`
	Referrers     []string `json:"referrers"`
	Verified      bool     `json:"verified"`
}

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
			allTags := slices.Clone(tags)
			switch {
			case dstRef.Tag != "":
				allTags = append(allTags, dstRef.Tag)
			case dstRef.Digest == "" && srcRef.Tag != "":
				allTags = append(allTags, srcRef.Tag)
			}
			allTags = slices.Compact(slices.Sorted(slices.Values(allTags)))
			for _, t := range allTags {
				if err := publish.ValidateTag(t); err != nil {
					return usagef("--tag %q is not a valid tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", t)
				}
			}
			check, err := ver.checker(cmd.Context(), env)
			if err != nil {
				return err
			}
			envFor, err := reg.envPerTarget(env)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), reg.timeout)
			defer cancel()
			log := g.logger(env)
			ua := "statepack/" + env.Version
			src, err := reg.open(ctx, envFor(), log, srcRef, ua, publish.WithExistingLayout())
			if err != nil {
				return err
			}
			// Every step of a copy is by digest, and idempotent: each is retried on its own after a transient
			// failure (retryRead), and a copy that fails converges when run again.
			var desc ocispec.Descriptor
			if err := retryRead(ctx, log, "resolve", func() (err error) { desc, err = resolve(ctx, src, srcRef); return err }); err != nil {
				return err
			}
			full := srcRef.WithDigest(desc.Digest.String())
			if dstRef.Digest != "" && dstRef.Digest != desc.Digest.String() {
				return usagef("DST names %s, but SRC is %s: leave the digest out of DST, or give the same one", dstRef.Digest, desc.Digest)
			}
			if check != nil {
				// Before DST is even opened: a layout would be created by opening it, and nothing may be written.
				if _, err := check.verifyWithRetry(ctx, log, src, desc); err != nil {
					return fmt.Errorf("verifying %s before copying: %w (nothing was copied)", full, err)
				}
				log.Info("signature verified at the source", "ref", full)
			}
			dst, err := reg.open(ctx, envFor(), log, dstRef, ua)
			if err != nil {
				return err
			}
			start := time.Now()
			var res *publish.CopyResult
			err = retryRead(ctx, log, "copy", func() (err error) {
				res, err = publish.Copy(ctx, src, dst, desc, publish.WithOverwriteSignatures(force))
				return err
			})
			if err != nil && retryable(err) && !permanent(err) {
				// What arrived stays: running the copy again sends only the rest.
				return fmt.Errorf("%w (no tag was written: run the copy again to resume)", err)
			}
			if err != nil {
				return err
			}
			dstFull := dstRef.WithDigest(desc.Digest.String())
			log.Debug("copied", "ref", dstFull, "signatureTags", res.SignatureTags, "referrers", len(res.Referrers), "duration", since(start))
			if len(res.SignatureTags) == 0 && len(res.Referrers) == 0 {
				log.Info("the source holds no signature of the artifact: copied it unsigned", "ref", full)
			}
			if check != nil {
				if _, err := check.verifyWithRetry(ctx, log, dst, desc); err != nil {
					return fmt.Errorf("verifying %s after copying: %w (no tag was written)", dstFull, err)
				}
			}
			if len(allTags) > 0 {
				if err := retryRead(ctx, log, "tag", func() error { return dst.Tag(ctx, desc, allTags...) }); err != nil {
					return err
				}
			}
			if g.json() {
				referrers := []string{}
				for _, r := range res.Referrers {
					referrers = append(referrers, r.Digest.String())
				}
				return writeJSON(env.Stdout, copyResult{Ref: dstFull, Repository: dstRef.Name(), Digest: desc.Digest.String(),
					Source: full, Tags: nonNil(allTags), SignatureTags: nonNil(res.SignatureTags), Referrers: referrers,
					Verified: check != nil})
			}
			fmt.Fprintln(env.Stdout, dstFull)
			return nil
		},
	}
	reg.bind(cmd)
	ver.bind(cmd)
	cmd.Flags().StringArrayVarP(&tags, "tag", "t", nil, "also point this tag at the artifact in DST (repeatable); tags are written last")
	cmd.Flags().BoolVar(&force, "force", false, "replace DST's signature tags even when they hold signatures SRC's lack")
	return cmd
}
