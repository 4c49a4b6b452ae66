package limits

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is the injected clock: tests move it instead of sleeping.
type fakeClock struct{ t time.Time }

func newClock() *fakeClock              { return &fakeClock{epoch} }
func (c *fakeClock) now() time.Time     { return c.t }
func (c *fakeClock) at(d time.Duration) { c.t = epoch.Add(d) }

var bg = context.Background()

func admit(t *testing.T, s *MemoryStore, k *Key, tokens int64, cost float64) Admission {
	t.Helper()
	a, err := s.Admit(bg, k, "", Estimate{Tokens: tokens, Cost: cost})
	if err != nil {
		t.Fatal(err)
	}
	if a.Admitted != (a.Err() == nil) {
		t.Fatalf("Admitted = %v but Err = %v", a.Admitted, a.Err())
	}
	return a
}

func settle(t *testing.T, s *MemoryStore, k *Key, a *Admission, tokens int64, cost float64) {
	t.Helper()
	if err := s.Settle(bg, k, a, Usage{Tokens: tokens, Cost: cost}); err != nil {
		t.Fatal(err)
	}
}

// mustRefuse checks a refusal's code and that its message holds each of
// msgs, and returns the error.
func mustRefuse(t *testing.T, a Admission, code llmerrors.Code, msgs ...string) *llmerrors.Error {
	t.Helper()
	if a.Admitted {
		t.Fatalf("admitted; want %s", code)
	}
	e := a.Err()
	if e.Code != code {
		t.Fatalf("refused with %s (%s); want %s", e.Code, e.Message, code)
	}
	for _, m := range msgs {
		if !strings.Contains(e.Message+" "+e.Suggestion, m) {
			t.Errorf("message %q lacks %q", e.Message, m)
		}
	}
	if e.Code.Status() == 429 && e.RetryAfter < time.Second {
		t.Errorf("429 with RetryAfter %v; want at least 1s", e.RetryAfter)
	}
	if !e.HasLimit {
		t.Error("HasLimit not set")
	}
	return e
}

func TestRPMNoBurstAtWindowBoundary(t *testing.T) {
	c := newClock()
	s := NewMemoryStore(c.now)
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

func TestRPMRetryAfter(t *testing.T) {
	c := newClock()
	s := NewMemoryStore(c.now)
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

func TestTPMSettlement(t *testing.T) {
	c := newClock()
	s := NewMemoryStore(c.now)

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

func TestConcurrency(t *testing.T) {
	s := NewMemoryStore(newClock().now)
	k := testKey(t, Policy{Concurrency: 2})
	a1, a2 := admit(t, s, k, 0, 0), admit(t, s, k, 0, 0)
	e := mustRefuse(t, admit(t, s, k, 0, 0), llmerrors.ConcurrencyLimitExceeded, "team-a", "2 requests in flight", "retry when")
	if e.RetryAfter != time.Second || e.Limit != 2 || e.Remaining != 0 {
		t.Errorf("RetryAfter, Limit, Remaining = %v, %v, %v", e.RetryAfter, e.Limit, e.Remaining)
	}
	settle(t, s, k, &a1, 0, 0)
	settle(t, s, k, &a1, 0, 0) // a second Settle is ignored
	if got := s.Stats(k).InFlight; got != 1 {
		t.Fatalf("in flight = %d, want 1", got)
	}
	a3 := admit(t, s, k, 0, 0)
	if !a3.Admitted {
		t.Fatalf("slot not released: %v", a3.Err())
	}
	settle(t, s, k, &a2, 0, 0)
	settle(t, s, k, &a3, 0, 0)
	if got := s.Stats(k).InFlight; got != 0 {
		t.Fatalf("in flight = %d, want 0", got)
	}
}

func TestSession(t *testing.T) {
	c := newClock()
	s := NewMemoryStore(c.now)
	k := testKey(t, Policy{Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 1000}})

	// A refused first request opens no window.
	mustRefuse(t, admit(t, s, k, 1001, 0), llmerrors.SessionLimitExceeded, "1000 tokens per session", "Lower max_tokens")
	if st := s.Stats(k); !st.SessionStart.IsZero() {
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
	st := s.Stats(k)
	if !st.SessionStart.Equal(epoch.Add(time.Hour+5*time.Minute)) || st.SessionUsed != 0 || st.SessionReserved != 900 {
		t.Errorf("stats = %+v; want the new window with 900 reserved", st)
	}
	settle(t, s, k, &b, 100, 0)
	if st := s.Stats(k); st.SessionUsed != 100 || st.SessionReserved != 0 {
		t.Errorf("after settling: %+v; want 100 used, 0 reserved", st)
	}
}

func TestBudget(t *testing.T) {
	s := NewMemoryStore(newClock().now)
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
	st := s.Stats(k)
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

func TestRefusalCountsNothing(t *testing.T) {
	c := newClock()
	s := NewMemoryStore(c.now)
	p := Policy{RPM: 10, TPM: 1000, Concurrency: 1, Budget: 1,
		Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 5000}}
	k := testKey(t, p)
	held := admit(t, s, k, 100, 0.1) // holds the one slot
	before := s.Stats(k)
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
	if after := s.Stats(k); after != before {
		t.Fatalf("refusals changed the counters: %+v, then %+v", before, after)
	}
	settle(t, s, k, &held, 100, 0.1)
	a := admit(t, s, k, 800, 0.1)
	if !a.Admitted || a.Requests.Remaining != 8 || a.Tokens.Remaining != 100 {
		t.Fatalf("admitted %v with %d requests and %d tokens left; want 8 and 100", a.Admitted, a.Requests.Remaining, a.Tokens.Remaining)
	}
}

func TestReloadChangesLimits(t *testing.T) {
	c := newClock()
	s := NewMemoryStore(c.now)
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

func TestRateHeaders(t *testing.T) {
	c := newClock()
	s := NewMemoryStore(c.now)
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

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                    "0s",
		20 * time.Millisecond:                "20ms",
		1500 * time.Millisecond:              "1.5s",
		time.Second:                          "1s",
		6 * time.Minute:                      "6m0s",
		6*time.Minute + 400*time.Millisecond: "6m0s",
		300 * time.Microsecond:               "1ms",
	} {
		if got := resetText(d); got != want {
			t.Errorf("resetText(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[float64]string{
		0:        "$0.00",
		0.5:      "$0.50",
		0.12:     "$0.12",
		12.345:   "$12.35",
		0.004:    "$0.004",
		0.0042:   "$0.0042",
		0.000123: "$0.00012",
		0.0075:   "$0.0075",
		-0.05:    "-$0.05",
	} {
		if got := usd(v); got != want {
			t.Errorf("usd(%v) = %q, want %q", v, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		100 * time.Millisecond: "1 second",
		2 * time.Second:        "2 seconds",
		2*time.Second + 1:      "3 seconds",
		50 * time.Minute:       "50m",
		3*time.Hour + 11*time.Minute + 5*time.Second: "3h12m",
	} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAdmitZeroAllocs(t *testing.T) {
	s := NewMemoryStore(time.Now)
	k := testKey(t, Policy{RPM: 1 << 40, TPM: 1 << 50, Concurrency: 1000, Budget: 1e12,
		Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 1 << 60}})
	allocs := testing.AllocsPerRun(1000, func() {
		a, _ := s.Admit(bg, k, "", Estimate{Tokens: 1000, Cost: 0.01})
		s.Settle(bg, k, &a, Usage{Tokens: 900, Cost: 0.009})
	})
	if allocs != 0 {
		t.Errorf("Admit+Settle allocate %v times per request", allocs)
	}
}
