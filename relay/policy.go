package relay

import (
	"math/rand/v2"
	"time"
)

// Policy is how a request that fails before the first byte of its answer
// is tried again.
type Policy struct {
	// MaxAttempts is the most upstream attempts of one request, over all
	// keys and fallbacks.
	MaxAttempts int
	// Backoff is the first wait before a new pass over the routes; each
	// further pass doubles it, with jitter.
	Backoff time.Duration
	// MaxWait is the longest one request waits, in all, between its
	// attempts.
	MaxWait time.Duration
	// MaxDuration bounds the time until the answer's first byte: no
	// attempt starts after it, and an attempt still waiting then is cut.
	// A stream that has begun is never cut by it. 0: no bound.
	MaxDuration time.Duration
}

// backoff is the wait after the n-th pass over the chain failed: Backoff
// doubled for each pass, between half and one and a half times that.
func (p Policy) backoff(n int) time.Duration {
	d := p.MaxWait
	if shift := n - 1; shift < 20 && p.Backoff<<shift < d {
		d = p.Backoff << shift
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d+1)
}
