package limits

import (
	"sync/atomic"
	"time"
)

// Breaker defaults: after breakerFailures store calls in a row fail, the
// store is not called for breakerOpenFor; then one call (a probe) may
// try, and its success closes the breaker. Without it, every request to a
// dead or hung Redis would wait its whole timeout, and goroutines would
// pile up behind it.
const (
	breakerFailures = 5
	breakerOpenFor  = time.Second
)

// breaker is a circuit breaker over the store's calls. A closed breaker
// costs one atomic load per call and writes nothing while calls succeed,
// so the requests of every CPU do not contend on it.
type breaker struct {
	now      func() time.Time
	failures atomic.Int32
	// openUntil is when an open breaker lets a probe through, in Unix
	// nanoseconds; zero when closed.
	openUntil atomic.Int64
	// probing is set while the one probe of an open breaker runs.
	probing atomic.Bool
	// openedAt is when the breaker last opened, for /status.
	openedAt atomic.Int64
}

func newBreaker(now func() time.Time) *breaker {
	if now == nil {
		now = time.Now
	}
	return &breaker{now: now}
}

// allow reports whether a call may go to the store now: always when
// closed; when open, one probe at a time once breakerOpenFor has passed.
// probe is set for that probe. Every allowed call reports its outcome
// with done.
func (b *breaker) allow() (ok, probe bool) {
	until := b.openUntil.Load()
	if until == 0 {
		return true, false
	}
	if b.now().UnixNano() < until || !b.probing.CompareAndSwap(false, true) {
		return false, false
	}
	return true, true
}

// done records the outcome of an allowed call.
func (b *breaker) done(probe, ok bool) {
	if probe {
		b.probing.Store(false)
	}
	if ok {
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		if b.openUntil.Load() != 0 {
			b.openUntil.Store(0)
		}
		return
	}
	n := b.failures.Add(1)
	if probe || n >= breakerFailures {
		now := b.now()
		if b.openUntil.Load() == 0 {
			b.openedAt.Store(now.UnixNano())
		}
		b.openUntil.Store(now.Add(breakerOpenFor).UnixNano())
	}
}

// open reports whether the breaker is open, and since when.
func (b *breaker) open() (bool, time.Time) {
	if b.openUntil.Load() == 0 {
		return false, time.Time{}
	}
	return true, time.Unix(0, b.openedAt.Load())
}
