// Package statepack is statepack's pipeline as a library: the product's verbs — Load (render and validate), Publish,
// Pull, Verify, Copy, Diff, and fleets of targets (Config, RunTargets) — as Go functions that take plain values.
// The statepack command line, the GitHub Action and the Tekton Task are thin callers of this package, and so can be
// any Go program: a Tekton custom task, a controller, a test harness.
//
// It composes the packages that do the work — build (render, validate, package), publish (registries and OCI
// layouts) and sign (cosign signatures and attestations) — and owns the rules that hold across them:
//
//   - nothing half-published: blobs, then the manifest by digest, then signatures and attestations by digest, and
//     tags last, so that a tag never points at content that is incomplete or unsigned, whatever step fails;
//   - immutable tags on request, step retries for the idempotent steps, and the incremental shortcut;
//   - the inputs digest, the git annotations and the SLSA provenance of a publish;
//   - pulls that extract all of an artifact or nothing, and promotions (Copy) that verify at both ends and tag last.
//
// It reads no environment variable and no clock: what CI says about the run (GitHub Actions, Tekton, the branch of
// a detached checkout, SOURCE_DATE_EPOCH) comes in as a BuildContext value, credentials and keys as options. It
// prints nothing: logs go to the *slog.Logger a caller gives (none by default), results come back as values.
//
// It is not for parsing flags or formatting output (the CLI in internal/cli does that), nor for talking to a
// registry or a signer below the level of an artifact (use publish and sign directly).
package statepack
