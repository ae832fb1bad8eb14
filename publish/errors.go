package publish

import "errors"

// Sentinel errors. Every error this package returns says what was being done and to what; these let a caller
// decide what to do about it (an exit code, a retry) with errors.Is. The underlying cause (oras-go's errdef and
// errcode errors, context.Canceled, …) stays in the chain too.
var (
	// ErrInvalidReference is returned by ParseRef, and by Open for a Ref that names neither a registry nor a layout.
	// It is the caller's mistake: the CLI maps it to a usage error.
	ErrInvalidReference = errors.New("invalid reference")

	// ErrNotFound is returned by Target.Resolve, Target.FetchManifest, Target.FetchBlob and Target.Tag when the tag,
	// digest or content is absent from the target.
	ErrNotFound = errors.New("not found")

	// ErrUnauthorized is returned by Target methods when the registry asks for credentials that were not given or
	// refuses the ones that were (HTTP 401 or 403). The message carries a hint to log in.
	ErrUnauthorized = errors.New("unauthorized")

	// ErrNotStatepackArtifact is returned by Target.FetchManifest when the content is not a single image manifest
	// (an index, a manifest list, anything else): a statepack artifact is exactly one image manifest.
	ErrNotStatepackArtifact = errors.New("not a statepack artifact")

	// ErrUnsafeArchive is returned by Extract for an entry that could write outside the directory (absolute path,
	// "..", a symbolic link on the way) or that is not a regular file or directory (links, devices, pipes), and
	// for an entry that appears twice.
	ErrUnsafeArchive = errors.New("unsafe archive entry")

	// ErrTooLarge is returned by Extract when an archive exceeds Limits, and by Target.FetchManifest for a
	// manifest larger than it accepts.
	ErrTooLarge = errors.New("exceeds the size limit")
)
