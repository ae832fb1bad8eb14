package statepack

import (
	"context"
	"fmt"
	"strconv"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
)

// SequenceCheck is what NotOlderThan compared: each artifact by reference, digest and sequence (the
// build.AnnotationSequence of its manifest).
type SequenceCheck struct {
	Ref      string `json:"ref"`
	Digest   string `json:"digest"`
	Sequence int64  `json:"sequence"`
	// Than is the reference artifact.
	ThanRef      string `json:"thanRef"`
	ThanDigest   string `json:"thanDigest"`
	ThanSequence int64  `json:"thanSequence"`
}

// NotOlderThan refuses a rollback by tag. Signatures bind digests, not tags: whoever can push can point a tag back
// at an older artifact that is validly signed, and Flux applies it. NotOlderThan resolves ref and than (a tag or a
// digest each), verifies both with v as Verify does, and compares the sequences their manifests carry (the commit
// time statepack records, see build.AnnotationSequence): it fails with an error wrapping ErrOlder when ref's is
// lower than than's, and with one wrapping ErrNoSequence when either manifest lacks it. Both sequences are read
// from the manifests fetched by the digests that verified. An artifact is not older than itself, nor than another
// made from the same commit.
func NotOlderThan(ctx context.Context, ref, than publish.Ref, v *Verifier, o ReadOptions) (SequenceCheck, error) {
	if v == nil {
		return SequenceCheck{}, invalidf("--not-older-than needs --key (the cosign public key), or --certificate-identity and --certificate-oidc-issuer: the sequence counts only in a verified artifact")
	}
	var res SequenceCheck
	var err error
	if res.Ref, res.Digest, res.Sequence, err = verifiedSequence(ctx, ref, v, o); err != nil {
		return res, err
	}
	if res.ThanRef, res.ThanDigest, res.ThanSequence, err = verifiedSequence(ctx, than, v, o); err != nil {
		return res, err
	}
	if res.Sequence < res.ThanSequence {
		return res, fmt.Errorf("%s (sequence %d, committed %s) is %w %s (sequence %d, committed %s): the tag was moved back to older content; "+
			"publish the newer commit again, or point the tag at the newer digest",
			res.Ref, res.Sequence, unixUTC(res.Sequence), ErrOlder, res.ThanRef, res.ThanSequence, unixUTC(res.ThanSequence))
	}
	return res, nil
}

// verifiedSequence resolves ref, verifies its signatures with v and returns the sequence its manifest carries.
func verifiedSequence(ctx context.Context, ref publish.Ref, v *Verifier, o ReadOptions) (string, string, int64, error) {
	log := logger(o.Logger)
	t, desc, err := o.openResolved(ctx, ref)
	if err != nil {
		return "", "", 0, err
	}
	at := ref.WithDigest(desc.Digest.String())
	if err := v.checkWithRetry(ctx, log, o.StepAttempts, t, desc); err != nil {
		return at, desc.Digest.String(), 0, fmt.Errorf("verifying %s: %w", at, err)
	}
	var m ocispec.Manifest
	if err := retryRead(ctx, log, o.StepAttempts, "fetch", func() (err error) { m, _, err = t.FetchManifest(ctx, desc); return err }); err != nil {
		return at, desc.Digest.String(), 0, err
	}
	raw, ok := m.Annotations[build.AnnotationSequence]
	if !ok {
		return at, desc.Digest.String(), 0, fmt.Errorf("%s carries %w (%s): it was published outside a git work tree, or by a statepack without it, and its age cannot be compared",
			at, ErrNoSequence, build.AnnotationSequence)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return at, desc.Digest.String(), 0, fmt.Errorf("%s carries %w: its %s is %q, not a non-negative integer", at, ErrNoSequence, build.AnnotationSequence, raw)
	}
	return at, desc.Digest.String(), n, nil
}

// unixUTC renders a sequence as the commit time it is.
func unixUTC(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }
