package cli

import (
	"time"

	"github.com/statepack/statepack/internal/retrywait"
)

// The tests of this package retry against fault-injecting proxies thousands of times: at the product's waits
// (200 ms to 3 s per request retry, 100 ms doubling per step retry) a fault test measures sleeps, not retries.
// What is retried, how often, and what fails at once are unchanged; publish's own tests keep the real waits and
// prove them (Retry-After is honoured).
func init() { retrywait.Shorten(5 * time.Millisecond) }
