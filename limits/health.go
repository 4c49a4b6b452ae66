package limits

import (
	"context"
	"time"
)

// HealthReporter is implemented by stores that can tell whether they
// work: /status shows the answer, and metrics count from it. Health must
// be cheap (no call to a server): it reports what the store last saw.
type HealthReporter interface {
	Health() StoreHealth
}

// StoreHealth is a store's health. It holds no secret: never a URL,
// password or key; errors name the failure and the server's address at
// most.
type StoreHealth struct {
	// Type is the store: "memory" or "redis".
	Type string `json:"type"`
	// State is StoreHealthy, StoreConnecting (never connected yet),
	// StoreUnavailable (its last call failed) or StoreCircuitOpen
	// (calls are not even tried for now, after repeated failures).
	State string `json:"state"`
	// Since is when State began, to the second; nil when unknown.
	Since *time.Time `json:"since,omitempty"`
	// Error is the last failure, when State is not healthy.
	Error string `json:"error,omitempty"`
	// Warning is a standing problem of the server's configuration (such
	// as a maxmemory-policy that may evict spend), or empty.
	Warning string `json:"warning,omitempty"`
	// Errors counts failed store calls since the store was created
	// (calls not tried because the circuit was open included).
	Errors uint64 `json:"errors_total"`
	// UncountedAdmissions counts requests admitted without counting
	// (on_error open) since the store was created.
	UncountedAdmissions uint64 `json:"uncounted_admissions_total"`
}

// Health implements HealthReporter: memory always works.
func (s *MemoryStore) Health() StoreHealth {
	return StoreHealth{Type: "memory", State: StoreHealthy}
}

// UsageReader is implemented by stores that can report a key's counters
// now, for the admin API (`GET /llm_gateway/keys/{id}`) and for tests.
// It changes nothing (a Redis store reads with a read-only script).
type UsageReader interface {
	Usage(ctx context.Context, k *Key) (KeyUsage, error)
}

// KeyUsage is a snapshot of one key's counters, as every instance sharing
// the store sees them.
type KeyUsage struct {
	// Spent is the settled spend in USD; Reserved what requests in
	// flight have reserved.
	Spent, Reserved float64
	// InFlight is the number of admitted requests not yet settled
	// (with a Redis store: live leases, every instance's).
	InFlight int64
	// Expired counts leases that expired without being settled (their
	// gateway died) and have not been reaped yet; their reservations
	// are still in Reserved. Always 0 in memory.
	Expired int64
	// Requests and Tokens are the key's rpm and tpm buckets now; a zero
	// Limit means the key has no such limit.
	Requests, Tokens RateInfo
	// SessionStart is when the last session window opened (zero:
	// never); SessionUsed the tokens settled in it and SessionReserved
	// those reserved by requests in flight. The window may have closed.
	SessionStart                 time.Time
	SessionUsed, SessionReserved int64
}

// BudgetRemaining is what k's budget has left after spend and
// reservations (negative when overspent), or 0 when k has no budget.
func (u KeyUsage) BudgetRemaining(k *Key) float64 {
	if k.Policy.Budget <= 0 {
		return 0
	}
	return k.Policy.Budget - u.Spent - u.Reserved
}

// SessionOpen reports whether k's session window is open at now.
func (u KeyUsage) SessionOpen(k *Key, now time.Time) bool {
	q := k.Policy.Session
	return q != nil && !u.SessionStart.IsZero() && now.Before(u.SessionStart.Add(time.Duration(q.Window)))
}

// Usage implements UsageReader.
func (s *MemoryStore) Usage(_ context.Context, k *Key) (KeyUsage, error) {
	p := &k.Policy
	st := s.state.key(k.ID)
	now := s.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	u := KeyUsage{
		Spent:           st.spent,
		Reserved:        st.reserved,
		InFlight:        st.inflight,
		SessionStart:    st.sessionStart,
		SessionUsed:     st.sessionUsed,
		SessionReserved: st.sessionReserved,
	}
	if p.RPM > 0 {
		u.Requests = rateInfo(st.rpm.levelAt(now, p.RPM), p.RPM)
	}
	if p.TPM > 0 {
		u.Tokens = rateInfo(st.tpm.levelAt(now, p.TPM), p.TPM)
	}
	return u, nil
}

// Interface guards
var (
	_ HealthReporter = (*MemoryStore)(nil)
	_ UsageReader    = (*MemoryStore)(nil)
)
