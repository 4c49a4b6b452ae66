package providers

import (
	"sync/atomic"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// Breaker settings.
type Breaker struct {
	// Failures is how many consecutive failures open a circuit; 0 or
	// less turns the breaker off.
	Failures int64
	// OpenFor is how long a circuit stays open before one probe is let
	// through. It is also the probe's lease: a probe that gives no
	// verdict by then is forgotten and another may go.
	OpenFor time.Duration
}

// circuit is one circuit breaker: closed; open until a time; or, once that
// time has passed, half open with at most one probe out, on a lease.
type circuit struct {
	failures  atomic.Int64 // consecutive failures
	openUntil atomic.Int64 // unix nanos; 0: closed
	probe     atomic.Int64 // unix nanos the probe's lease ends; 0: none out
	openedBy  atomic.Pointer[llmerrors.Error]
}

// probeWait is the Retry-After of a request refused while a probe is out:
// the probe usually answers within it.
const probeWait = time.Second

// allow reports whether a request may pass the circuit at now, and
// whether it is the circuit's probe; when it may not, retryAt says when
// to try again.
func (c *circuit) allow(now time.Time, b Breaker) (ok, probe bool, retryAt time.Time) {
	until := c.openUntil.Load()
	if until == 0 {
		return true, false, time.Time{}
	}
	n := now.UnixNano()
	if n < until {
		return false, false, time.Unix(0, until)
	}
	lease := c.probe.Load()
	if (lease == 0 || n >= lease) && c.probe.CompareAndSwap(lease, n+int64(max(b.OpenFor, probeWait))) {
		return true, true, time.Time{}
	}
	return false, false, now.Add(probeWait)
}

// succeeded closes the circuit (or keeps it closed).
func (c *circuit) succeeded(probe bool) {
	if c.failures.Load() != 0 {
		c.failures.Store(0)
	}
	if probe {
		c.openUntil.Store(0)
		c.probe.Store(0)
	}
}

// failed counts a failure, and opens the circuit after b.Failures in a
// row, or at once when the probe failed.
func (c *circuit) failed(probe bool, b Breaker, now time.Time, e *llmerrors.Error) {
	n := c.failures.Add(1)
	if b.Failures <= 0 {
		return
	}
	if probe || n >= b.Failures {
		c.openedBy.Store(frozen(e))
		c.openUntil.Store(now.Add(b.OpenFor).UnixNano())
		c.probe.Store(0)
	}
}

// abandon ends a probe that gave no verdict, so the next request may probe.
func (c *circuit) abandon(probe bool) {
	if probe {
		c.probe.Store(0)
	}
}

// Outcome is what an attempt showed about a provider, for its circuits.
type Outcome uint8

// The outcomes.
const (
	// NoVerdict: the attempt showed nothing (the client left, the
	// gateway gave up on it, or it never went out).
	NoVerdict Outcome = iota
	// Answered: the provider answered in a way that shows it works,
	// whatever the answer was (a 200, a 400, a 429).
	Answered
	// TransportFailed: no answer at all (refused, reset, timed out):
	// the provider's circuit counts it.
	TransportFailed
	// ModelFailed: the provider answered with its own failure (5xx,
	// overloaded): the model's circuit counts it.
	ModelFailed
)

// Pass is one attempt's way through a provider's circuits: the provider's
// and, when the model has one, the model's. Exactly one call to Resolve
// must follow every Pass that Allow granted (a deferred call is the way
// to make sure of it).
type Pass struct {
	h             *Health
	model         string
	modelCircuit  *circuit
	probeProvider bool
	probeModel    bool
}

// Probing reports whether this attempt is a circuit's probe.
func (p Pass) Probing() bool { return p.probeProvider || p.probeModel }

// Allow asks the circuits whether an attempt on model may go to the
// provider now. When it may not, retryAt is when to try again and
// openedBy the failure that opened the circuit. The clock is read only
// when a circuit is not closed.
func (h *Health) Allow(model string, clock func() time.Time, b Breaker) (p Pass, ok bool, retryAt time.Time, openedBy *llmerrors.Error) {
	p = Pass{h: h, model: model}
	var now time.Time
	if h.provider.openUntil.Load() != 0 {
		now = clock()
		ok, p.probeProvider, retryAt = h.provider.allow(now, b)
		if !ok {
			return Pass{}, false, retryAt, h.provider.openedBy.Load()
		}
	}
	if p.modelCircuit = h.modelCircuit(model, false); p.modelCircuit != nil && p.modelCircuit.openUntil.Load() != 0 {
		if now.IsZero() {
			now = clock()
		}
		ok, p.probeModel, retryAt = p.modelCircuit.allow(now, b)
		if !ok {
			h.provider.abandon(p.probeProvider)
			return Pass{}, false, retryAt, p.modelCircuit.openedBy.Load()
		}
	}
	return p, true, time.Time{}, nil
}

// Resolve records the attempt's outcome. e is the failure, for /status
// and for the refusals of requests the open circuit turns away.
func (p Pass) Resolve(o Outcome, b Breaker, now time.Time, e *llmerrors.Error) {
	h := p.h
	if h == nil {
		return
	}
	switch o {
	case Answered:
		h.provider.succeeded(p.probeProvider)
		if p.modelCircuit != nil {
			p.modelCircuit.succeeded(p.probeModel)
		}
	case TransportFailed:
		h.provider.failed(p.probeProvider, b, now, e)
		if p.modelCircuit != nil {
			p.modelCircuit.abandon(p.probeModel)
		}
	case ModelFailed:
		// The provider answered: its own circuit is fine.
		h.provider.succeeded(p.probeProvider)
		mc := p.modelCircuit
		if mc == nil {
			mc = h.modelCircuit(p.model, true)
		}
		if mc != nil {
			mc.failed(p.probeModel, b, now, e)
		}
	default:
		h.provider.abandon(p.probeProvider)
		if p.modelCircuit != nil {
			p.modelCircuit.abandon(p.probeModel)
		}
	}
}

// maxModelCircuits bounds the circuits kept per provider: model names can
// come from clients (a `*` pattern routes any name), so the table must
// not grow with them.
const maxModelCircuits = 256

// modelCircuit finds model's circuit, making it when create is set and
// there is room (closed circuits with no failure are dropped to make
// room; when none can be, the model simply has no circuit of its own).
func (h *Health) modelCircuit(model string, create bool) *circuit {
	if h.nModels.Load() == 0 && !create {
		return nil
	}
	h.modelsMu.RLock()
	c := h.models[model]
	h.modelsMu.RUnlock()
	if c != nil || !create {
		return c
	}
	h.modelsMu.Lock()
	defer h.modelsMu.Unlock()
	if c = h.models[model]; c != nil {
		return c
	}
	if len(h.models) >= maxModelCircuits {
		for m, mc := range h.models {
			if mc.openUntil.Load() == 0 && mc.failures.Load() == 0 {
				delete(h.models, m)
			}
		}
		if len(h.models) >= maxModelCircuits {
			return nil
		}
	}
	c = new(circuit)
	h.models[model] = c
	h.nModels.Store(int32(len(h.models)))
	return c
}

// CircuitOpen reports whether the provider's circuit, or any of its
// models', is open or half open.
func (h *Health) CircuitOpen() bool {
	if h.provider.openUntil.Load() != 0 {
		return true
	}
	if h.nModels.Load() == 0 {
		return false
	}
	h.modelsMu.RLock()
	defer h.modelsMu.RUnlock()
	for _, c := range h.models {
		if c.openUntil.Load() != 0 {
			return true
		}
	}
	return false
}

// ProviderCircuitOpen reports whether the provider's own circuit (opened
// by transport failures) is open or half open.
func (h *Health) ProviderCircuitOpen() bool { return h.provider.openUntil.Load() != 0 }

// OpenModels lists the models whose own circuit is open or half open.
func (h *Health) OpenModels() []string {
	if h.nModels.Load() == 0 {
		return nil
	}
	h.modelsMu.RLock()
	defer h.modelsMu.RUnlock()
	var open []string
	for m, c := range h.models {
		if c.openUntil.Load() != 0 {
			open = append(open, m)
		}
	}
	return open
}
