package limits

import (
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// The shared table of store tests: every store (memory, Redis) must pass
// each of them, so that a key is counted the same whichever store keeps
// its counters. Each test gets a fresh store on an injected clock; the
// Redis store sends that clock to its scripts in place of Redis's own,
// and gets leases long enough that moving the clock never expires one
// (lease expiry has tests of its own, in redis_test.go).

// storeHarness is one store under test.
type storeHarness struct {
	t     *testing.T
	clock *fakeClock
	s     Store
	// reloaded returns the store of a reloaded config: a new store
	// value that shares s's state (the usage pool's).
	reloaded func() Store
	// peer returns the store of another gateway sharing s's counters:
	// with Redis, a store with its own connection to the same Redis and
	// prefix; in memory, the state shared through the usage pool.
	peer func() Store
}

// usage is k's counters as s reports them.
func (h *storeHarness) usage(k *Key) KeyUsage {
	h.t.Helper()
	u, err := h.s.(UsageReader).Usage(bg, k)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

type storeKind struct {
	name string
	open func(t *testing.T, c *fakeClock) *storeHarness
}

var storeKinds = []storeKind{
	{"memory", func(t *testing.T, c *fakeClock) *storeHarness {
		s := NewMemoryStore(c.now)
		same := func() Store { return &MemoryStore{now: c.now, state: s.state} }
		return &storeHarness{t: t, clock: c, s: s, reloaded: same, peer: same}
	}},
	{"redis", func(t *testing.T, c *fakeClock) *storeHarness {
		url := testRedis(t).URL()
		prefix := testPrefix()
		long := func(s *RedisStore) { s.LeaseTTL = caddy.Duration(1000 * time.Hour) }
		s := newTestRedisStore(t, url, prefix, c.now, long)
		return &storeHarness{t: t, clock: c, s: s,
			reloaded: func() Store {
				r := &RedisStore{URL: url, Prefix: prefix, LeaseTTL: s.LeaseTTL, now: c.now}
				if err := r.setDefaults(); err != nil {
					t.Fatal(err)
				}
				r.conn = s.conn
				return r
			},
			peer: func() Store { return newTestRedisStore(t, url, prefix, c.now, long) },
		}
	}},
}

// storeTests is the table.
var storeTests = []struct {
	name string
	test func(t *testing.T, h *storeHarness)
}{
	{"rpm no burst at window boundary", testRPMNoBurstAtWindowBoundary},
	{"rpm retry after", testRPMRetryAfter},
	{"tpm settlement", testTPMSettlement},
	{"concurrency", testConcurrency},
	{"session", testSession},
	{"budget", testBudget},
	{"refusal counts nothing", testRefusalCountsNothing},
	{"reload changes limits", testReloadChangesLimits},
	{"rate headers", testRateHeaders},
	{"reload mid-request", testReloadMidRequest},
	{"peers share counters", testPeersShareCounters},
	{"concurrent budget", testConcurrentBudget},
}

func TestStores(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			for _, tc := range storeTests {
				t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
					tc.test(t, kind.open(t, newClock()))
				})
			}
		})
	}
}

func testRPMNoBurstAtWindowBoundary(t *testing.T, h *storeHarness) {
	c, s := h.clock, h.s
	k := testKey(t, Policy{RPM: 60})
	c.at(59 * time.Second)
	for i := range 60 {
		a := admit(t, s, k, 0, 0)
		if !a.Admitted {
			t.Fatalf("request %d of a full minute's worth refused: %v", i+1, a.Err())
		}
		settle(t, s, k, &a, 0, 0)
	}
	e := mustRefuse(t, admit(t, s, k, 0, 0), llmerrors.RateLimitExceeded,
		"Rate limit exceeded. Retry after 1 second.", "team-a", "60 requests per minute")
	if e.RetryAfter != time.Second || e.Limit != 60 || e.Remaining != 0 {
		t.Errorf("RetryAfter, Limit, Remaining = %v, %v, %v; want 1s, 60, 0", e.RetryAfter, e.Limit, e.Remaining)
	}
	// Two seconds later, across the minute's boundary: two seconds'
	// worth, not another minute's.
	c.at(61 * time.Second)
	for i := range 2 {
		if a := admit(t, s, k, 0, 0); !a.Admitted {
			t.Fatalf("request %d at t=61s refused: %v", i+1, a.Err())
		}
	}
	mustRefuse(t, admit(t, s, k, 0, 0), llmerrors.RateLimitExceeded)
}

func testRPMRetryAfter(t *testing.T, h *storeHarness) {
	c, s := h.clock, h.s
	k := testKey(t, Policy{RPM: 30}) // one every 2s
	for range 30 {
		admit(t, s, k, 0, 0)
	}
	c.at(500 * time.Millisecond)
	e := mustRefuse(t, admit(t, s, k, 0, 0), llmerrors.RateLimitExceeded, "Retry after 2 seconds.")
	if e.RetryAfter != 1500*time.Millisecond {
		t.Errorf("RetryAfter = %v, want 1.5s (the real wait)", e.RetryAfter)
	}
	c.at(2 * time.Second)
	if a := admit(t, s, k, 0, 0); !a.Admitted {
		t.Fatalf("refused once the wait passed: %v", a.Err())
	}
}

func testTPMSettlement(t *testing.T, h *storeHarness) {
	c, s := h.clock, h.s

	t.Run("refund", func(t *testing.T) {
		k := testKey(t, Policy{TPM: 1000})
		a := admit(t, s, k, 800, 0)
		if !a.Admitted || a.Tokens.Remaining != 200 {
			t.Fatalf("admitted %v with %d remaining; want 200", a.Admitted, a.Tokens.Remaining)
		}
		mustRefuse(t, admit(t, s, k, 201, 0), llmerrors.TokenLimitExceeded, "estimated at 201 tokens")
		settle(t, s, k, &a, 300, 0) // used less: 500 come back
		if b := admit(t, s, k, 700, 0); !b.Admitted {
			t.Fatalf("refund not applied: %v", b.Err())
		}
		mustRefuse(t, admit(t, s, k, 1, 0), llmerrors.TokenLimitExceeded)
	})

	t.Run("overrun is a debt", func(t *testing.T) {
		k := testKey(t, Policy{TPM: 1000})
		a := admit(t, s, k, 100, 0)
		settle(t, s, k, &a, 1500, 0) // 1400 more than estimated: level -500
		e := mustRefuse(t, admit(t, s, k, 0, 0), llmerrors.TokenLimitExceeded)
		if e.RetryAfter != 30*time.Second || e.Remaining != 0 {
			t.Errorf("RetryAfter, Remaining = %v, %v; want 30s (500 tokens at 1000/min), 0", e.RetryAfter, e.Remaining)
		}
		c.t = c.t.Add(30 * time.Second)
		mustRefuse(t, admit(t, s, k, 1, 0), llmerrors.TokenLimitExceeded)
		if b := admit(t, s, k, 0, 0); !b.Admitted {
			t.Fatalf("debt repaid, still refused: %v", b.Err())
		}
	})

	t.Run("refund never exceeds capacity", func(t *testing.T) {
		k := testKey(t, Policy{TPM: 1000})
		a := admit(t, s, k, 900, 0)
		c.t = c.t.Add(time.Minute) // refilled to full meanwhile
		settle(t, s, k, &a, 0, 0)
		b := admit(t, s, k, 1000, 0)
		if !b.Admitted || b.Tokens.Remaining != 0 {
			t.Fatalf("admitted %v, remaining %d; want a full bucket of exactly 1000", b.Admitted, b.Tokens.Remaining)
		}
		mustRefuse(t, admit(t, s, k, 1, 0), llmerrors.TokenLimitExceeded)
	})

	t.Run("never fits", func(t *testing.T) {
		k := testKey(t, Policy{TPM: 100000})
		e := mustRefuse(t, admit(t, s, k, 200000, 0), llmerrors.TokenLimitExceeded,
			"estimated at 200000 tokens", "100000 tokens per minute", "Lower max_tokens or shorten the prompt")
		if !e.NoRetry {
			t.Error("NoRetry not set for a request that can never fit")
		}
	})

	t.Run("longest wait reported", func(t *testing.T) {
		k := testKey(t, Policy{RPM: 60, TPM: 600}) // 1 request/s, 10 tokens/s
		admit(t, s, k, 600, 0)
		for range 59 {
			admit(t, s, k, 0, 0)
		}
		e := mustRefuse(t, admit(t, s, k, 100, 0), llmerrors.TokenLimitExceeded)
		if e.RetryAfter != 10*time.Second {
			t.Errorf("RetryAfter = %v, want the tpm wait of 10s (rpm needs only 1s)", e.RetryAfter)
		}
	})
}

func testConcurrency(t *testing.T, h *storeHarness) {
	s := h.s
	k := testKey(t, Policy{Concurrency: 2})
	a1, a2 := admit(t, s, k, 0, 0), admit(t, s, k, 0, 0)
	e := mustRefuse(t, admit(t, s, k, 0, 0), llmerrors.ConcurrencyLimitExceeded, "team-a", "2 requests in flight", "retry when")
	if e.RetryAfter != time.Second || e.Limit != 2 || e.Remaining != 0 {
		t.Errorf("RetryAfter, Limit, Remaining = %v, %v, %v", e.RetryAfter, e.Limit, e.Remaining)
	}
	settle(t, s, k, &a1, 0, 0)
	settle(t, s, k, &a1, 0, 0) // a second Settle is ignored
	if got := h.usage(k).InFlight; got != 1 {
		t.Fatalf("in flight = %d, want 1", got)
	}
	a3 := admit(t, s, k, 0, 0)
	if !a3.Admitted {
		t.Fatalf("slot not released: %v", a3.Err())
	}
	settle(t, s, k, &a2, 0, 0)
	settle(t, s, k, &a3, 0, 0)
	if got := h.usage(k).InFlight; got != 0 {
		t.Fatalf("in flight = %d, want 0", got)
	}
}

func testSession(t *testing.T, h *storeHarness) {
	c, s := h.clock, h.s
	k := testKey(t, Policy{Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 1000}})

	// A refused first request opens no window.
	mustRefuse(t, admit(t, s, k, 1001, 0), llmerrors.SessionLimitExceeded, "1000 tokens per session", "Lower max_tokens")
	if st := h.usage(k); !st.SessionStart.IsZero() {
		t.Fatalf("a refusal opened a window at %v", st.SessionStart)
	}

	c.at(5 * time.Minute)
	a := admit(t, s, k, 600, 0) // opens the window: 5m to 1h5m
	settle(t, s, k, &a, 500, 0)
	c.at(15 * time.Minute)
	e := mustRefuse(t, admit(t, s, k, 600, 0), llmerrors.SessionLimitExceeded,
		"has used 500 of its 1000 tokens", "resets at 2026-01-01T01:05:00Z", "Retry after 50m")
	if !e.NoRetry || e.RetryAfter != 50*time.Minute || e.Remaining != 500 {
		t.Errorf("NoRetry, RetryAfter, Remaining = %v, %v, %v; want true, 50m, 500", e.NoRetry, e.RetryAfter, e.Remaining)
	}
	inflight := admit(t, s, k, 500, 0) // exactly fills the quota
	if !inflight.Admitted {
		t.Fatalf("refused: %v", inflight.Err())
	}
	c.at(time.Hour + 4*time.Minute + 30*time.Second)
	e = mustRefuse(t, admit(t, s, k, 1, 0), llmerrors.SessionLimitExceeded, "Retry after 30 seconds")
	if e.NoRetry {
		t.Error("NoRetry set for a session that resets in 30s")
	}

	// The window closes; the next request opens a new one.
	c.at(time.Hour + 5*time.Minute)
	b := admit(t, s, k, 900, 0)
	if !b.Admitted {
		t.Fatalf("new window refused: %v", b.Err())
	}
	// A request of the old window settles there, not in the new one.
	settle(t, s, k, &inflight, 700, 0)
	st := h.usage(k)
	if !st.SessionStart.Equal(epoch.Add(time.Hour+5*time.Minute)) || st.SessionUsed != 0 || st.SessionReserved != 900 {
		t.Errorf("stats = %+v; want the new window with 900 reserved", st)
	}
	settle(t, s, k, &b, 100, 0)
	if st := h.usage(k); st.SessionUsed != 100 || st.SessionReserved != 0 {
		t.Errorf("after settling: %+v; want 100 used, 0 reserved", st)
	}
}

func testBudget(t *testing.T, h *storeHarness) {
	s := h.s
	k := testKey(t, Policy{Budget: 1})
	a := admit(t, s, k, 0, 0.6)
	e := mustRefuse(t, admit(t, s, k, 0, 0.5), llmerrors.InsufficientQuota)
	if e.Message != "Insufficient balance. Current: $0.40, Required: $0.50" {
		t.Errorf("message = %q", e.Message)
	}
	if !strings.Contains(e.Suggestion, "team-a") || e.Limit != 1 || math.Abs(e.Remaining-0.4) > 1e-9 || e.RetryAfter != 0 {
		t.Errorf("suggestion %q, limit %v, remaining %v, retry %v", e.Suggestion, e.Limit, e.Remaining, e.RetryAfter)
	}
	settle(t, s, k, &a, 0, 0.2) // used less: 0.4 of the reservation returns
	b := admit(t, s, k, 0, 0.5)
	if !b.Admitted {
		t.Fatalf("refund not applied: %v", b.Err())
	}
	e = mustRefuse(t, admit(t, s, k, 0, 0.31), llmerrors.InsufficientQuota)
	if e.Message != "Insufficient balance. Current: $0.30, Required: $0.31" {
		t.Errorf("message = %q", e.Message)
	}
	if c := admit(t, s, k, 0, 0.3); !c.Admitted { // exactly the balance
		t.Fatalf("exact balance refused: %v", c.Err())
	} else {
		settle(t, s, k, &c, 0, 0)
	}
	settle(t, s, k, &b, 0, 0.85) // overran its reservation by 0.35
	st := h.usage(k)
	if math.Abs(st.Spent-1.05) > 1e-9 || st.Reserved != 0 || st.InFlight != 0 {
		t.Fatalf("stats = %+v; want 1.05 spent, nothing reserved", st)
	}
	e = mustRefuse(t, admit(t, s, k, 0, 0.004), llmerrors.InsufficientQuota)
	if e.Message != "Insufficient balance. Current: -$0.05, Required: $0.004" {
		t.Errorf("message = %q", e.Message)
	}
	e = mustRefuse(t, admit(t, s, testKey(t, Policy{Budget: 1.5}), 0, 2), llmerrors.InsufficientQuota, "budget of $1.50", "lower max_tokens")
	if e.Code.Retryable() {
		t.Error("insufficient_quota retryable")
	}
}

func testRefusalCountsNothing(t *testing.T, h *storeHarness) {
	s := h.s
	p := Policy{RPM: 10, TPM: 1000, Concurrency: 1, Budget: 1,
		Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 5000}}
	k := testKey(t, p)
	held := admit(t, s, k, 100, 0.1) // holds the one slot
	before := h.usage(k)
	for _, est := range []Estimate{
		{Tokens: 100, Cost: 0.1},  // concurrency
		{Tokens: 100, Cost: 5},    // budget
		{Tokens: 6000, Cost: 0.1}, // session
		{Tokens: 2000, Cost: 0.1}, // tpm
	} {
		if a, _ := s.Admit(bg, k, "", est); a.Admitted {
			t.Fatalf("%+v admitted", est)
		}
	}
	if after := h.usage(k); after != before {
		t.Fatalf("refusals changed the counters: %+v, then %+v", before, after)
	}
	settle(t, s, k, &held, 100, 0.1)
	a := admit(t, s, k, 800, 0.1)
	if !a.Admitted || a.Requests.Remaining != 8 || a.Tokens.Remaining != 100 {
		t.Fatalf("admitted %v with %d requests and %d tokens left; want 8 and 100", a.Admitted, a.Requests.Remaining, a.Tokens.Remaining)
	}
}

func testReloadChangesLimits(t *testing.T, h *storeHarness) {
	s := h.s
	old := testKey(t, Policy{RPM: 10})
	for range 3 {
		admit(t, s, old, 0, 0)
	}
	// The reloaded config gives the same key (same ID) a lower limit:
	// the bucket holds 7 but can hold only 5 now.
	reloaded := *old
	reloaded.Policy = Policy{RPM: 5}
	for i := range 5 {
		if a := admit(t, s, &reloaded, 0, 0); !a.Admitted {
			t.Fatalf("request %d refused: %v", i, a.Err())
		}
	}
	mustRefuse(t, admit(t, s, &reloaded, 0, 0), llmerrors.RateLimitExceeded, "5 requests per minute")
}

func testRateHeaders(t *testing.T, hs *storeHarness) {
	c, s := hs.clock, hs.s
	k := testKey(t, Policy{RPM: 60, TPM: 1000})
	a := admit(t, s, k, 100, 0)

	h := http.Header{}
	a.SetRateHeaders(h, false, c.now())
	want := map[string]string{
		"x-ratelimit-limit-requests":     "60",
		"x-ratelimit-remaining-requests": "59",
		"x-ratelimit-reset-requests":     "1s",
		"x-ratelimit-limit-tokens":       "1000",
		"x-ratelimit-remaining-tokens":   "900",
		"x-ratelimit-reset-tokens":       "6s",
	}
	checkHeaders(t, h, want)

	h = http.Header{}
	a.SetRateHeaders(h, true, c.now())
	checkHeaders(t, h, map[string]string{
		"anthropic-ratelimit-requests-limit":     "60",
		"anthropic-ratelimit-requests-remaining": "59",
		"anthropic-ratelimit-requests-reset":     "2026-01-01T00:00:01Z",
		"anthropic-ratelimit-tokens-limit":       "1000",
		"anthropic-ratelimit-tokens-remaining":   "900",
		"anthropic-ratelimit-tokens-reset":       "2026-01-01T00:00:06Z",
	})

	// A refusal carries them too, describing the buckets as they are.
	r := admit(t, s, k, 901, 0)
	h = http.Header{}
	r.SetRateHeaders(h, false, c.now())
	checkHeaders(t, h, map[string]string{"x-ratelimit-remaining-tokens": "900", "x-ratelimit-remaining-requests": "59"})

	// Only limits the key has.
	plain := testKey(t, Policy{Concurrency: 3})
	b := admit(t, s, plain, 1, 0)
	h = http.Header{}
	b.SetRateHeaders(h, false, c.now())
	if len(h) != 0 {
		t.Errorf("headers for a key without rate limits: %v", h)
	}
	h = http.Header{}
	onlyRPM := testKey(t, Policy{RPM: 5})
	o := admit(t, s, onlyRPM, 1, 0)
	o.SetRateHeaders(h, false, c.now())
	if h.Get("x-ratelimit-limit-tokens") != "" || h.Get("x-ratelimit-limit-requests") != "5" {
		t.Errorf("headers = %v; want the requests family only", h)
	}
}

func checkHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// A config reload while a request runs: the request settles on the new
// config's store, under the key's new limits. Its concurrency slot was
// held across the reload; its tokens leave the tpm bucket (capped at the
// new, lower tpm) as they would have; it was admitted before the key had
// a session quota, and no window was open, so it counts in none.
func testReloadMidRequest(t *testing.T, h *storeHarness) {
	c, s := h.clock, h.s
	k := testKey(t, Policy{TPM: 1000, Concurrency: 1, Budget: 1})
	a := admit(t, s, k, 100, 0.1)
	if !a.Admitted {
		t.Fatal(a.Err())
	}
	c.at(time.Second)
	reloaded := *k
	reloaded.Policy = Policy{TPM: 500, Concurrency: 1, Budget: 1,
		Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 1000}}
	k2, s2 := &reloaded, h.reloaded()
	mustRefuse(t, admit(t, s2, k2, 1, 0), llmerrors.ConcurrencyLimitExceeded)
	settle(t, s2, k2, &a, 300, 0.2)
	u := h.usage(k2)
	if u.InFlight != 0 || math.Abs(u.Spent-0.2) > 1e-9 || u.Reserved != 0 || !u.SessionStart.IsZero() || u.SessionUsed != 0 {
		t.Fatalf("after settling across a reload: %+v; want nothing in flight, $0.20 spent, no session", u)
	}
	// The bucket held 900 of 1000, capped at 500; the settlement gave
	// back 100 and took 300: 300 are left (plus a second's refill,
	// which the cap swallowed).
	mustRefuse(t, admit(t, s2, k2, 301, 0), llmerrors.TokenLimitExceeded)
	b := admit(t, s2, k2, 300, 0)
	if !b.Admitted {
		t.Fatalf("300 tokens refused: %v", b.Err())
	}
	if u := h.usage(k2); !u.SessionStart.Equal(c.now()) || u.SessionReserved != 300 {
		t.Fatalf("the first request under the session quota opened %v with %d reserved; want now, 300", u.SessionStart, u.SessionReserved)
	}
	// Settled on the old config's store (a request that began before
	// the reload and ends after it on the old server): the same books.
	settle(t, s, k, &b, 200, 0)
	if u := h.usage(k2); u.SessionUsed != 200 || u.SessionReserved != 0 || u.InFlight != 0 {
		t.Fatalf("after settling: %+v", u)
	}
}

// Two gateways sharing a store count each key once: one's admissions are
// the other's refusals, and either's settlement frees the other's slot.
func testPeersShareCounters(t *testing.T, h *storeHarness) {
	s, peer := h.s, h.peer()
	k := testKey(t, Policy{RPM: 3, Concurrency: 1, TPM: 1000,
		Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 900}})
	a := admit(t, s, k, 400, 0)
	mustRefuse(t, admit(t, peer, k, 1, 0), llmerrors.ConcurrencyLimitExceeded)
	settle(t, s, k, &a, 500, 0)
	// The session saw 500 used on the first gateway: 400 left.
	mustRefuse(t, admit(t, peer, k, 401, 0), llmerrors.SessionLimitExceeded, "has used 500 of its 900 tokens")
	b := admit(t, peer, k, 400, 0)
	if !b.Admitted {
		t.Fatal(b.Err())
	}
	settle(t, peer, k, &b, 100, 0)
	// Two requests admitted of the rpm's 3; tpm took 500 + 100.
	c := admit(t, s, k, 300, 0)
	if !c.Admitted || c.Requests.Remaining != 0 || c.Tokens.Remaining != 100 {
		t.Fatalf("admitted %v with %d requests and %d tokens left; want 0 and 100 (%v)", c.Admitted, c.Requests.Remaining, c.Tokens.Remaining, c.Err())
	}
	settle(t, s, k, &c, 0, 0)
	mustRefuse(t, admit(t, peer, k, 0, 0), llmerrors.RateLimitExceeded, "3 requests per minute")
}

// testConcurrentBudget runs 200 goroutines (half on each of two gateways)
// against one key with a budget and a concurrency limit, each request
// using between nothing and its estimate plus an overrun. Settled spend
// may exceed the budget only by what the requests in flight at the last
// admission used beyond their reservation: at most concurrency ×
// overrun. Every reservation returns, and nothing stays in flight.
func testConcurrentBudget(t *testing.T, h *storeHarness) {
	const (
		budget      = 1.0
		concurrency = 8
		estimate    = 0.01
		overrun     = 0.005
		goroutines  = 200
	)
	stores := []Store{h.s, h.peer()}
	k := testKey(t, Policy{Budget: budget, Concurrency: concurrency})

	var (
		admitted, settled, maxInFlight, inFlight atomic.Int64
		mu                                       sync.Mutex
		used                                     float64
		wg                                       sync.WaitGroup
	)
	for g := range goroutines {
		s := stores[g%2]
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for {
				a, err := s.Admit(bg, k, "", Estimate{Tokens: 100, Cost: estimate})
				if err != nil {
					t.Error(err)
					return
				}
				if !a.Admitted {
					switch code := a.Err().Code; code {
					case llmerrors.ConcurrencyLimitExceeded:
						runtime.Gosched()
						continue
					case llmerrors.InsufficientQuota:
						return
					default:
						t.Errorf("unexpected refusal %s", code)
						return
					}
				}
				admitted.Add(1)
				n := inFlight.Add(1)
				for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
				}
				runtime.Gosched()
				var cost float64
				switch r.IntN(4) {
				case 0: // failed, or the client left: nothing billed
				case 1: // the provider may have billed it: the estimate
					cost = estimate
				case 2: // the longest answer max_tokens allows
					cost = estimate + overrun
				default:
					cost = r.Float64() * (estimate + overrun)
				}
				// What the store records: whole micro-USD for Redis.
				cost = math.Round(cost*1e6) / 1e6
				mu.Lock()
				used += cost
				mu.Unlock()
				inFlight.Add(-1)
				if err := s.Settle(bg, k, &a, Usage{Tokens: 100, Cost: cost}); err != nil {
					t.Error(err)
				}
				settled.Add(1)
			}
		})
	}
	wg.Wait()

	st := h.usage(k)
	t.Logf("admitted %d, spent $%.4f of $%.2f, at most %d in flight", admitted.Load(), st.Spent, budget, maxInFlight.Load())
	if admitted.Load() != settled.Load() {
		t.Errorf("admitted %d, settled %d", admitted.Load(), settled.Load())
	}
	if maxInFlight.Load() > concurrency {
		t.Errorf("%d in flight at once, limit %d", maxInFlight.Load(), concurrency)
	}
	if st.InFlight != 0 || st.Reserved != 0 {
		t.Errorf("in flight %d, reserved $%v after every request settled; want 0, 0", st.InFlight, st.Reserved)
	}
	if math.Abs(st.Spent-used) > 1e-6 {
		t.Errorf("spent $%v, but requests used $%v", st.Spent, used)
	}
	if bound := budget + concurrency*overrun; st.Spent > bound+1e-9 {
		t.Errorf("spent $%v, beyond the bound $%v", st.Spent, bound)
	}
	// The budget was really used up, not refused early.
	if st.Spent < budget-estimate-concurrency*estimate {
		t.Errorf("spent only $%v of $%v", st.Spent, budget)
	}
}
