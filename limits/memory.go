package limits

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
}

// memPool holds the memory stores' state, keyed by state file, so that it
// outlives a config reload: the new config's store finds the counters,
// in-flight requests and spend of the old one, and the state is destructed
// (and its spend written) only when no config uses it any more.
var memPool = caddy.NewUsagePool()

// MemoryStore keeps counters in this process's memory (`store memory`,
// the default). Counters, in-flight requests and spend survive config
// reloads; spend and session windows also survive restarts, through the
// state file. Rate buckets and in-flight counts start afresh after a
// restart.
//
// Two gateways (for example on two sites) with the same state file share
// their state, so a key configured on both has one set of limits.
type MemoryStore struct {
	// Where spend and session windows are kept across restarts.
	// Placeholders such as {env.X} are resolved. Default:
	// `llm_gateway/spend.json` in Caddy's data directory.
	StateFile string `json:"state_file,omitempty"`

	now     func() time.Time
	state   *memState
	poolKey string
	records *storageRecords
}

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.llm_gateway.stores.memory",
		New: func() caddy.Module { return new(MemoryStore) },
	}
}

// NewMemoryStore returns a store that persists nothing, reading the time
// from now (time.Now when nil), for tests and benchmarks.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, state: newMemState("")}
}

// Provision finds the state of the store's state file in the pool, or
// loads it from the file. A state file that cannot be read is an error:
// starting at zero would silently forget what every key has spent.
func (s *MemoryStore) Provision(ctx caddy.Context) error {
	if s.now == nil {
		s.now = time.Now
	}
	path := caddy.NewReplacer().ReplaceKnown(s.StateFile, "")
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "llm_gateway", "spend.json")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("state_file %s: %w", path, err)
	}
	key := "memory:" + abs
	v, loaded, err := memPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return openMemState(abs)
	})
	if err != nil {
		return err
	}
	s.poolKey = key
	s.state = v.(*memState)
	s.records = newStorageRecords(caddyStorage(ctx), nil)
	if !loaded {
		ctx.Logger().Info("limits state loaded", zap.String("state_file", abs), zap.Int("keys", s.state.len()))
	}
	return nil
}

// Cleanup releases the store's reference to its state; the last one
// destructs it, which writes the spend one last time.
func (s *MemoryStore) Cleanup() error {
	if s.poolKey == "" {
		return nil
	}
	_, err := memPool.Delete(s.poolKey)
	s.poolKey = ""
	return err
}

// budgetSlack forgives float rounding when spend exactly meets a budget
// (a billionth of a dollar).
const budgetSlack = 1e-9

// tokenSlack forgives float rounding in a refilled bucket.
const tokenSlack = 1e-9

var errNilKey = errors.New("limits: no key")

// Admit implements Store. It checks, in order: the budget (waiting would
// not help), the session quota, then rpm, tpm and concurrency, reporting
// of those the one with the longest wait. Only when every limit passes
// does it take one request from the rpm bucket, est.Tokens from the tpm
// bucket and the session, a concurrency slot, and est.Cost from the
// budget, all under the key's lock, so two requests never both take the
// last of anything.
func (s *MemoryStore) Admit(_ context.Context, k *Key, id string, est Estimate) (Admission, error) {
	if k == nil {
		return Admission{}, errNilKey
	}
	est = Estimate{Tokens: max(est.Tokens, 0), Cost: nonNegative(est.Cost)}
	a := Admission{key: k, id: id, est: est}
	p := &k.Policy
	st := s.state.key(k.ID)
	// Reading the clock costs as much as the rest of Admit on some
	// virtual machines: only the limits that count time read it.
	var now time.Time
	if p.RPM > 0 || p.TPM > 0 || p.Session != nil {
		now = s.now()
	}

	st.mu.Lock()
	defer st.mu.Unlock()

	var rpmLevel, tpmLevel float64
	if p.RPM > 0 {
		rpmLevel = st.rpm.levelAt(now, p.RPM)
		a.Requests = rateInfo(rpmLevel, p.RPM)
	}
	if p.TPM > 0 {
		tpmLevel = st.tpm.levelAt(now, p.TPM)
		a.Tokens = rateInfo(tpmLevel, p.TPM)
	}

	if p.Budget > 0 {
		committed := st.spent + st.reserved
		if est.Cost > p.Budget || committed+est.Cost > p.Budget+budgetSlack {
			a.why, a.never = refusedBudget, est.Cost > p.Budget
			a.limit, a.used, a.remaining = p.Budget, committed, p.Budget-committed
			return a, nil
		}
	}

	var sessionStart time.Time
	if q := p.Session; q != nil {
		window := time.Duration(q.Window)
		sessionStart = st.sessionStart
		used := st.sessionUsed + st.sessionReserved
		if sessionStart.IsZero() || !now.Before(sessionStart.Add(window)) {
			// The window opens with this request, if it is admitted.
			sessionStart, used = now, 0
		}
		if est.Tokens > q.Tokens || used+est.Tokens > q.Tokens {
			a.why, a.never = refusedSession, est.Tokens > q.Tokens
			a.limit, a.used, a.remaining = float64(q.Tokens), float64(used), float64(q.Tokens-used)
			a.resetAt = sessionStart.Add(window)
			a.wait = a.resetAt.Sub(now)
			return a, nil
		}
	}

	if p.TPM > 0 && est.Tokens > p.TPM {
		a.why, a.never = refusedTPM, true
		a.limit, a.remaining = float64(p.TPM), tpmLevel
		a.wait = until(tpmLevel, float64(p.TPM), p.TPM)
		return a, nil
	}
	if p.RPM > 0 && rpmLevel+tokenSlack < 1 {
		a.why, a.wait = refusedRPM, until(rpmLevel, 1, p.RPM)
		a.limit, a.remaining = float64(p.RPM), rpmLevel
	}
	if p.TPM > 0 && tpmLevel+tokenSlack < float64(est.Tokens) {
		if w := until(tpmLevel, float64(est.Tokens), p.TPM); a.why == notRefused || w > a.wait {
			a.why, a.wait = refusedTPM, w
			a.limit, a.remaining = float64(p.TPM), tpmLevel
		}
	}
	if p.Concurrency > 0 && st.inflight >= p.Concurrency && a.why == notRefused {
		a.why = refusedConcurrency
		a.limit, a.remaining = float64(p.Concurrency), float64(p.Concurrency-st.inflight)
	}
	if a.why != notRefused {
		a.remaining = math.Floor(a.remaining)
		return a, nil
	}

	// Every limit passed: count the request against all of them.
	if p.RPM > 0 {
		st.rpm.set(now, rpmLevel-1)
		a.Requests = rateInfo(rpmLevel-1, p.RPM)
	}
	if p.TPM > 0 {
		st.tpm.set(now, tpmLevel-float64(est.Tokens))
		a.Tokens = rateInfo(tpmLevel-float64(est.Tokens), p.TPM)
		a.tpm = true
	}
	if p.Session != nil {
		if !sessionStart.Equal(st.sessionStart) {
			st.sessionStart, st.sessionUsed, st.sessionReserved = sessionStart, 0, 0
			s.state.markDirty()
		}
		st.sessionReserved += est.Tokens
		a.sessionStart = sessionStart
	}
	st.inflight++
	a.slot = true
	st.reserved += est.Cost
	a.Admitted = true
	return a, nil
}

// Settle implements Store. It releases the slot, gives back the cost
// reservation and records used.Cost as spent, and replaces the estimate in
// the tpm bucket and the session with used.Tokens: a refund when the
// request used less, a debt when it used more (the bucket goes no lower
// than that debt). A session window that closed while the request ran is
// left alone; the request's tokens counted in the window it was admitted
// in. Settling a refused or already settled admission does nothing.
func (s *MemoryStore) Settle(_ context.Context, k *Key, a *Admission, used Usage) error {
	if a == nil || !a.Admitted || a.settled {
		return nil
	}
	if k == nil {
		k = a.key
	}
	a.settled = true
	used = Usage{Tokens: max(used.Tokens, 0), Cost: nonNegative(used.Cost)}
	p := &k.Policy
	st := s.state.key(k.ID)
	var now time.Time
	if p.TPM > 0 || (p.Session != nil && a.sessionStart.IsZero()) {
		now = s.now()
	}

	st.mu.Lock()
	defer st.mu.Unlock()

	if a.slot {
		st.inflight--
	}
	st.reserved -= a.est.Cost
	if st.inflight <= 0 {
		// Only in-flight requests hold reservations: with none left,
		// zero the sum exactly rather than keep its rounding residue.
		st.inflight, st.reserved = 0, 0
	}
	st.spent += used.Cost
	dirty := used.Cost != 0

	if p.TPM > 0 {
		level := st.tpm.levelAt(now, p.TPM)
		if a.tpm {
			level += float64(a.est.Tokens)
		}
		level -= float64(used.Tokens)
		st.tpm.set(now, min(level, float64(p.TPM)))
	}

	switch {
	case !a.sessionStart.IsZero() && a.sessionStart.Equal(st.sessionStart):
		st.sessionReserved = max(st.sessionReserved-a.est.Tokens, 0)
		st.sessionUsed += used.Tokens
		dirty = true
	case a.sessionStart.IsZero() && p.Session != nil && !st.sessionStart.IsZero() &&
		now.Before(st.sessionStart.Add(time.Duration(p.Session.Window))):
		// A reload gave the key a session quota while the request
		// ran: its tokens count in the open window.
		st.sessionUsed += used.Tokens
		dirty = true
	}
	if dirty {
		s.state.markDirty()
	}
	return nil
}

// KeyStats is a snapshot of one key's counters in a MemoryStore.
type KeyStats struct {
	// InFlight is the number of admitted requests not yet settled.
	InFlight int64
	// Spent is the settled spend in USD; Reserved what in-flight
	// requests have reserved.
	Spent, Reserved float64
	// SessionStart is when the last session window opened (zero:
	// never); SessionUsed the tokens settled in it and SessionReserved
	// those reserved by requests in flight. The window may have closed.
	SessionStart                 time.Time
	SessionUsed, SessionReserved int64
}

// Stats returns a snapshot of k's counters, for status pages and tests.
func (s *MemoryStore) Stats(k *Key) KeyStats {
	st := s.state.key(k.ID)
	st.mu.Lock()
	defer st.mu.Unlock()
	return KeyStats{
		InFlight:        st.inflight,
		Spent:           st.spent,
		Reserved:        st.reserved,
		SessionStart:    st.sessionStart,
		SessionUsed:     st.sessionUsed,
		SessionReserved: st.sessionReserved,
	}
}

// keyState is one key's counters, with their own lock so keys never wait
// for each other.
type keyState struct {
	mu       sync.Mutex
	rpm, tpm bucket
	inflight int64
	// Settled spend, and the reservations of requests in flight, USD.
	spent, reserved float64
	// The session window: when it opened, the tokens settled in it and
	// those reserved by requests in flight.
	sessionStart                 time.Time
	sessionUsed, sessionReserved int64

	// Pads the struct to 192 bytes, a size class whose objects start on
	// cache lines, so two busy keys never share one.
	_ [56]byte
}

func nonNegative(v float64) float64 {
	if v > 0 && !math.IsInf(v, 1) {
		return v
	}
	return 0
}

// Interface guards
var (
	_ caddy.Provisioner  = (*MemoryStore)(nil)
	_ caddy.CleanerUpper = (*MemoryStore)(nil)
	_ Store              = (*MemoryStore)(nil)
)
