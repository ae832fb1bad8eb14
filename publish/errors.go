package publish

import "errors"

var (
	// ErrInvalidReference is returned by ParseRef for a reference it cannot use; the CLI maps it to a usage error.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrNotFound is returned by Target.Resolve when the tag or digest is absent.
	ErrNotFound = errors.New("not found")
	// ErrUnsafeArchive is returned by Extract for an entry that could write outside the directory or is not a
	// regular file.
	ErrUnsafeArchive = errors.New("unsafe archive entry")
	// ErrTooLarge is returned by Extract and Target.FetchManifest when content exceeds a limit.
	ErrTooLarge = errors.New("content exceeds the size limit")
	// ErrUnauthorized is returned by Target methods when the registry refuses the credentials (401/403).
	ErrUnauthorized = errors.New("registry refused the credentials")
)
