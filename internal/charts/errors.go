package charts

import "errors"

// Sentinel errors, for errors.Is. Errors from the network wrap publish.ErrUnauthorized (a repository or registry
// refused the credentials, or asked for some) and publish.ErrNotFound as well, so that a caller maps both kinds of
// repository the same way.
var (
	// ErrInvalidRequest is returned by Resolve for a Request that names no usable repository (a scheme other than
	// http, https or oci; credentials in the URL; no chart name for an HTTP repository) or whose version is
	// neither a version nor a semver constraint.
	ErrInvalidRequest = errors.New("invalid chart request")
	// ErrChartNotFound is returned by Resolve when an HTTP repository's index has no chart of the name asked for.
	ErrChartNotFound = errors.New("chart not found")
	// ErrNoVersion is returned by Resolve when no version of the chart satisfies the version asked for.
	ErrNoVersion = errors.New("no chart version matches")
	// ErrDigestMismatch is returned when bytes do not match the digest they were promised under: an archive
	// against its index entry, or a repository that now serves other bytes for a locked version.
	ErrDigestMismatch = errors.New("chart digest mismatch")
	// ErrOffline is returned in offline mode for a chart that is not in the lock or not in the cache.
	ErrOffline = errors.New("chart not available offline")
	// ErrNotAChart is returned for an OCI artifact that is not a Helm chart (config or layer media types), and for
	// an HTTP archive that does not load as the chart and version the index promised.
	ErrNotAChart = errors.New("not a Helm chart")
	// ErrInvalidIndex is returned for an index.yaml that does not parse as Helm parses it.
	ErrInvalidIndex = errors.New("invalid chart repository index")
	// ErrInvalidLock is returned by ReadLock and ParseLock for a lock file that does not parse or holds an entry
	// that cannot be trusted (a digest that is not sha256, a repository that is not a URL, an entry twice).
	ErrInvalidLock = errors.New("invalid lock file")
	// ErrTooLarge is returned when an index or an archive exceeds its size limit.
	ErrTooLarge = errors.New("exceeds the size limit")
)
