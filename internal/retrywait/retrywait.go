// Package retrywait holds the waits between tries of a registry request (publish's transport) and of a library
// step (the pipeline library's step retries). They are variables for one reason: so that the tests of the
// packages above publish can make them tiny with Shorten, and a fault-injection test then spends its time on
// retries rather than on sleeps. Nothing but tests sets them; the values here are the product's defaults.
package retrywait

import "time"

var (
	// RequestMin and RequestMax bound the wait before a registry request is tried again: an exponential backoff
	// from 250 ms (oras' retry.DefaultBackoff: doubling, ±10 % jitter), or the registry's Retry-After, clamped to
	// [RequestMin, RequestMax].
	RequestMin = 200 * time.Millisecond
	RequestMax = 3 * time.Second

	// Step is the wait before the second try of an idempotent library step (a push by digest, a signature, a tag,
	// a fetch); it doubles before each further try.
	Step = 100 * time.Millisecond
)

// Shorten caps every wait at d. It is for tests only, called before any test runs (from TestMain or an init
// function of a _test.go file), since the waits are read without synchronisation. A registry's Retry-After is then
// capped at d too: tests of Retry-After keep the defaults.
func Shorten(d time.Duration) {
	RequestMin = min(RequestMin, d)
	RequestMax = min(RequestMax, d)
	Step = min(Step, d)
}
