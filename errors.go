package statepack

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors from this package say what was being done and to what; these let a caller decide what to
// do about them (an exit code, a retry) with errors.Is. The sentinels of build, publish and sign stay in the chain
// too: build.ErrInvalidInput for a tree with findings, publish.ErrNotFound, sign.ErrVerification, ….
var (
	// ErrInvalidOption is returned for options that cannot be right whatever the tree or the registry holds: a tag
	// that is not a tag, an annotation that is not KEY=VALUE, a path that is not a directory. It is the caller's
	// mistake: the CLI maps it to a usage error (exit 2).
	ErrInvalidOption = errors.New("invalid option")

	// ErrTagTaken is returned by Publish with ImmutableTags when a tag already points at other content.
	ErrTagTaken = errors.New("tag already points at other content")

	// ErrOlder is returned by NotOlderThan when the artifact's sequence is lower than the reference artifact's: the
	// tag was moved back to older, validly signed content.
	ErrOlder = errors.New("older than the reference artifact")

	// ErrNoSequence is returned by NotOlderThan when an artifact carries no sequence annotation (it was published
	// outside a git work tree, or before statepack wrote one), so its age cannot be compared.
	ErrNoSequence = errors.New("no sequence annotation")
)

// invalidOption is an ErrInvalidOption with its own message; the cause, when there is one, stays in the chain.
type invalidOption struct{ err error }

func (e *invalidOption) Error() string   { return e.err.Error() }
func (e *invalidOption) Unwrap() []error { return []error{ErrInvalidOption, e.err} }

// invalidf returns an ErrInvalidOption whose message is formatted as fmt.Errorf formats it (%w keeps a cause).
func invalidf(format string, args ...any) error {
	return &invalidOption{fmt.Errorf(format, args...)}
}
