package providers

import (
	"sync"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// clock is a settable time for the breaker and key pool tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

var testBreaker = Breaker{Failures: 3, OpenFor: 30 * time.Second}

var boom = &llmerrors.Error{Code: llmerrors.ProviderError, Message: "boom"}

// fail runs n attempts on model that end in outcome o.
func fail(t *testing.T, h *Health, c *clock, model string, o Outcome, n int) {
	t.Helper()
	for range n {
		p, ok, _, _ := h.Allow(model, c.now, testBreaker)
		if !ok {
			t.Fatal("refused while counting failures")
		}
		p.Resolve(o, testBreaker, c.now(), boom)
	}
}

func TestBreakerOpensAndProbes(t *testing.T) {
	cases := []struct {
		name string
		// probe is what the probe's attempt ends in
		probe     Outcome
		wantState string // after the probe: closed, open, or half (a new probe may go)
	}{
		{"probe succeeds", Answered, "closed"},
		{"probe fails", TransportFailed, "open"},
		{"probe abandoned", NoVerdict, "half"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			h := NewHealth()
			fail(t, h, c, "m", TransportFailed, 2)
			if !h.provider.closed() {
				t.Fatal("opened before the threshold")
			}
			fail(t, h, c, "m", TransportFailed, 1)
			_, ok, retryAt, openedBy := h.Allow("m", c.now, testBreaker)
			if ok || !retryAt.Equal(c.t.Add(30*time.Second)) || openedBy == nil || openedBy.Message != "boom" {
				t.Fatalf("open circuit: ok %v, retry at %v, opened by %v", ok, retryAt, openedBy)
			}
			// A transport failure covers the provider: every model.
			if _, ok, _, _ := h.Allow("other-model", c.now, testBreaker); ok {
				t.Fatal("a transport failure's circuit did not cover the other models")
			}
			c.advance(30 * time.Second)
			probe, ok, _, _ := h.Allow("m", c.now, testBreaker)
			if !ok || !probe.Probing() {
				t.Fatal("no probe once the circuit's time was up")
			}
			// While the probe is out, others are turned away at once.
			if _, ok, retryAt, _ := h.Allow("m", c.now, testBreaker); ok || retryAt.Sub(c.t) != probeWait {
				t.Fatalf("second request during a probe: ok %v, retry in %v", ok, retryAt.Sub(c.t))
			}
			probe.Resolve(tc.probe, testBreaker, c.now(), boom)
			p, ok, _, _ := h.Allow("m", c.now, testBreaker)
			switch tc.wantState {
			case "closed":
				if !ok || p.Probing() || !h.provider.closed() {
					t.Fatal("circuit not closed after a good probe")
				}
			case "open":
				if ok {
					t.Fatal("circuit let a request through after a failed probe")
				}
			case "half":
				if !ok || !p.Probing() {
					t.Fatal("no new probe after one gave no verdict")
				}
			}
		})
	}
}

// A probe that is never resolved (a bug, a panic) is forgotten after its
// lease: the circuit cannot stay open for good.
func TestBreakerProbeLease(t *testing.T) {
	c := newClock()
	h := NewHealth()
	fail(t, h, c, "m", TransportFailed, 3)
	c.advance(30 * time.Second)
	if _, ok, _, _ := h.Allow("m", c.now, testBreaker); !ok {
		t.Fatal("no probe")
	}
	c.advance(29 * time.Second)
	if _, ok, _, _ := h.Allow("m", c.now, testBreaker); ok {
		t.Fatal("a second probe went while the first's lease ran")
	}
	c.advance(time.Second)
	if p, ok, _, _ := h.Allow("m", c.now, testBreaker); !ok || !p.Probing() {
		t.Fatal("no new probe after the lost probe's lease ended")
	}
}

// 5xx answers open the model's circuit only; the provider's other models
// keep answering.
func TestBreakerModelScope(t *testing.T) {
	c := newClock()
	h := NewHealth()
	fail(t, h, c, "bad-model", ModelFailed, 3)
	if _, ok, _, _ := h.Allow("bad-model", c.now, testBreaker); ok {
		t.Fatal("5xx answers did not open the model's circuit")
	}
	if p, ok, _, _ := h.Allow("good-model", c.now, testBreaker); !ok || p.Probing() {
		t.Fatal("another model of the provider was turned away")
	}
	if !h.CircuitOpen() || len(h.OpenModels()) != 1 {
		t.Fatalf("status: open %v, open models %v", h.CircuitOpen(), h.OpenModels())
	}
	// Successes in between reset the count.
	h2 := NewHealth()
	fail(t, h2, c, "m", ModelFailed, 2)
	fail(t, h2, c, "m", Answered, 1)
	fail(t, h2, c, "m", ModelFailed, 2)
	if _, ok, _, _ := h2.Allow("m", c.now, testBreaker); !ok {
		t.Fatal("failures separated by a success opened the circuit")
	}
}

func TestBreakerOff(t *testing.T) {
	c := newClock()
	h := NewHealth()
	off := Breaker{Failures: -1, OpenFor: time.Second}
	for range 100 {
		p, ok, _, _ := h.Allow("m", c.now, off)
		if !ok {
			t.Fatal("a breaker that is off opened")
		}
		p.Resolve(TransportFailed, off, c.now(), boom)
	}
}

// Model names come from clients: the table of model circuits stays
// bounded whatever they send.
func TestBreakerModelTableBounded(t *testing.T) {
	c := newClock()
	h := NewHealth()
	for i := range 10 * maxModelCircuits {
		fail(t, h, c, "m-"+string(rune('a'+i%26))+time.Duration(i).String(), ModelFailed, 1)
	}
	if n := len(h.models); n > maxModelCircuits {
		t.Fatalf("%d model circuits kept", n)
	}
}

func TestBreakerConcurrentProbe(t *testing.T) {
	c := newClock()
	h := NewHealth()
	fail(t, h, c, "m", TransportFailed, 3)
	c.advance(time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	probes := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, ok, _, _ := h.Allow("m", c.now, testBreaker); ok && p.Probing() {
				mu.Lock()
				probes++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if probes != 1 {
		t.Fatalf("%d probes granted at once", probes)
	}
}

func (c *circuit) closed() bool { return c.openUntil.Load() == 0 }
