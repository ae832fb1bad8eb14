package statepack

import (
	"context"
	"fmt"
	"time"

	"github.com/statepack/statepack/publish"
)

// CopyOptions say how an artifact is promoted.
type CopyOptions struct {
	ReadOptions
	// Tags are pointed at the artifact in the destination, last, besides the destination's tag (else the source's
	// tag, when the destination names no digest).
	Tags []string
	// Force replaces the destination's signature tags even when they hold signatures the source's lack.
	Force bool
}

// CopyResult is the outcome of Copy, also what `statepack copy -o json` prints.
type CopyResult struct {
	Ref           string   `json:"ref"`
	Repository    string   `json:"repository"`
	Digest        string   `json:"digest"`
	Source        string   `json:"source"`
	Tags          []string `json:"tags"`
	SignatureTags []string `json:"signatureTags"`
	Referrers     []string `json:"referrers"`
	Verified      bool     `json:"verified"`
}

// Copy promotes the artifact src names (a tag or a digest) to dst, by digest, with what belongs to it, in the order
// that never leaves a tag on content that is incomplete or unverified: with a verifier, the signature is verified
// at the source before anything is written (the destination is not even opened); then the blobs and the manifest,
// cosign's signature, attestation and SBOM tags and the OCI referrers are copied; with a verifier, the signature is
// verified again at the destination; and the tags are written last. Every step is by digest and idempotent: each
// is retried on its own after a transient failure, and a copy that fails converges when run again.
func Copy(ctx context.Context, src, dst publish.Ref, v *Verifier, o CopyOptions) (CopyResult, error) {
	log := logger(o.Logger)
	first := dst.Tag
	if first == "" && dst.Digest == "" {
		first = src.Tag
	}
	tags, err := Tags(first, o.Tags...)
	if err != nil {
		return CopyResult{}, err
	}
	from, desc, err := o.openResolved(ctx, src)
	if err != nil {
		return CopyResult{}, err
	}
	full := src.WithDigest(desc.Digest.String())
	if dst.Digest != "" && dst.Digest != desc.Digest.String() {
		return CopyResult{}, invalidf("DST names %s, but SRC is %s: leave the digest out of DST, or give the same one", dst.Digest, desc.Digest)
	}
	if v != nil {
		// Before the destination is even opened: a layout would be created by opening it, and nothing may be written.
		if err := v.checkWithRetry(ctx, log, o.StepAttempts, from, desc); err != nil {
			return CopyResult{}, fmt.Errorf("verifying %s before copying: %w (nothing was copied)", full, err)
		}
		log.Info("signature verified at the source", "ref", full)
	}
	to, err := openTarget(ctx, dst, o.Context, log, o.Registry)
	if err != nil {
		return CopyResult{}, err
	}
	start := time.Now()
	var copied *publish.CopyResult
	err = retryRead(ctx, log, o.StepAttempts, "copy", func() (err error) {
		copied, err = publish.Copy(ctx, from, to, desc, publish.WithOverwriteSignatures(o.Force))
		return err
	})
	if err != nil && retryable(err) && !permanent(err) {
		// What arrived stays: running the copy again sends only the rest.
		return CopyResult{}, fmt.Errorf("%w (no tag was written: run the copy again to resume)", err)
	}
	if err != nil {
		return CopyResult{}, err
	}
	dstFull := dst.WithDigest(desc.Digest.String())
	log.Debug("copied", "ref", dstFull, "signatureTags", copied.SignatureTags, "referrers", len(copied.Referrers), "duration", since(start))
	if len(copied.SignatureTags) == 0 && len(copied.Referrers) == 0 {
		log.Info("the source holds no signature of the artifact: copied it unsigned", "ref", full)
	}
	if v != nil {
		if err := v.checkWithRetry(ctx, log, o.StepAttempts, to, desc); err != nil {
			return CopyResult{}, fmt.Errorf("verifying %s after copying: %w (no tag was written)", dstFull, err)
		}
	}
	if len(tags) > 0 {
		if err := retryRead(ctx, log, o.StepAttempts, "tag", func() error { return to.Tag(ctx, desc, tags...) }); err != nil {
			return CopyResult{}, err
		}
	}
	referrers := []string{}
	for _, r := range copied.Referrers {
		referrers = append(referrers, r.Digest.String())
	}
	return CopyResult{Ref: dstFull, Repository: dst.Name(), Digest: desc.Digest.String(), Source: full, Tags: tags,
		SignatureTags: nonNil(copied.SignatureTags), Referrers: referrers, Verified: v != nil}, nil
}
