package limits

import (
	"context"
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

func admit(t *testing.T, s Store, k *Key, tokens int64, cost float64) Admission {
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

func settle(t *testing.T, s Store, k *Key, a *Admission, tokens int64, cost float64) {
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
