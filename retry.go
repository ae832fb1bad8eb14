package statepack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/statepack/statepack/internal/retrywait"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// DefaultStepAttempts is how often an idempotent step (a push by digest, a signature, a tag, a fetch) is tried
// when the options say 0.
const DefaultStepAttempts = 4

// retryStep runs one idempotent step (push by digest, sign, tag) again when it failed in a way a second try can
// fix: a connection cut mid-response, an upload session the registry lost. Each request is already retried by the
// transport; this covers what happens after a response has begun. Errors that another try cannot fix (bad
// credentials, bad input, a taken tag, a cancelled run) return at once. attempts < 1 means DefaultStepAttempts.
func retryStep(ctx context.Context, log *slog.Logger, attempts int, step string, fn func() error) error {
	if attempts < 1 {
		attempts = DefaultStepAttempts
	}
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil || !retryable(err) || ctx.Err() != nil {
			return interrupted(ctx, step, err)
		}
		if i == attempts-1 {
			break
		}
		log.Debug("retrying a step", "step", step, "attempt", i+2, "error", err)
		select {
		case <-ctx.Done():
			return interrupted(ctx, step, err)
		case <-time.After(time.Duration(1<<i) * retrywait.Step):
		}
	}
	return err
}

// interrupted names the step a run's deadline (or cancellation) ended, so that "context deadline exceeded" never
// comes alone: which step was running says what to look at (a stalled registry, a slow render).
func interrupted(ctx context.Context, step string, err error) error {
	if err == nil || ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (it ended the %s step)", err, step)
}

// retryable says whether another try of a step could succeed.
func retryable(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, publish.ErrUnauthorized), errors.Is(err, publish.ErrInvalidReference),
		errors.Is(err, publish.ErrNotStatepackArtifact), errors.Is(err, ErrTagTaken),
		errors.Is(err, sign.ErrVerification), errors.Is(err, sign.ErrUnsupported):
		return false
	}
	return true
}

// retryRead runs one idempotent step of pull, verify or copy (a resolve, a verification, a fetch, a copy by digest,
// a tag) through retryStep. A step fails at once, without a retry, with an answer that another try would only
// repeat (see permanent).
func retryRead(ctx context.Context, log *slog.Logger, attempts int, step string, fn func() error) error {
	var final error
	err := retryStep(ctx, log, attempts, step, func() error {
		err := fn()
		if err != nil && permanent(err) {
			final = err
			return nil // stops retryStep; final is the outcome
		}
		return err
	})
	if final != nil {
		return final
	}
	return err
}

// permanent reports the errors of reads that a retry would only repeat, beyond those retryStep never retries:
// content that is not there or not signed, an archive Extract refuses, content that does not match its digest, a
// destination that is not empty, signatures a copy would drop, the caller's mistakes, and any answer of the
// registry in 4xx but 408 and 429.
func permanent(err error) bool {
	var er *errcode.ErrorResponse
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		// The local file system refused (not a directory, no permission, a full disk): another try repeats it.
		return true
	case errors.Is(err, publish.ErrNotFound), errors.Is(err, sign.ErrNoSignature),
		errors.Is(err, publish.ErrUnsafeArchive), errors.Is(err, publish.ErrTooLarge),
		errors.Is(err, publish.ErrSignatureConflict), errors.Is(err, content.ErrMismatchedDigest),
		errors.Is(err, fs.ErrExist), errors.Is(err, ErrInvalidOption):
		return true
	case errors.As(err, &er):
		return er.StatusCode >= 400 && er.StatusCode < 500 && er.StatusCode != 408 && er.StatusCode != 429
	}
	return false
}
