package relay

import "sync/atomic"

// RetryBudget caps the retries in flight to one provider, as Envoy's
// retry budgets do: at most RetryRatio of the requests in flight to it,
// and at least MinRetries at once, so that when a provider is in
// trouble the gateway's retries do not multiply its load.
type RetryBudget struct {
	inflight atomic.Int64
	retries  atomic.Int64
}

// The budget's shape (CONTRACT.md, "Resilience").
const (
	RetryRatio = 0.2
	MinRetries = 3
)

// start counts an attempt in flight; retry says whether it is a retry,
// and it reports false, counting nothing, when the budget has no room for
// another retry.
func (b *RetryBudget) start(retry bool) bool {
	if b == nil {
		return true
	}
	n := b.inflight.Add(1)
	if !retry {
		return true
	}
	limit := max(int64(float64(n)*RetryRatio), MinRetries)
	if b.retries.Add(1) > limit {
		b.retries.Add(-1)
		b.inflight.Add(-1)
		return false
	}
	return true
}

// end counts an attempt that start let through as finished.
func (b *RetryBudget) end(retry bool) {
	if b == nil {
		return
	}
	b.inflight.Add(-1)
	if retry {
		b.retries.Add(-1)
	}
}

// InFlight is the number of attempts in flight, and how many of them are
// retries.
func (b *RetryBudget) InFlight() (attempts, retries int64) {
	return b.inflight.Load(), b.retries.Load()
}
