package providers

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// Health is what the gateway remembers about one provider from one request
// to the next: which of its keys are set aside and until when, and its
// circuit breaker. It outlives config reloads (the gateway keeps it in a
// caddy.UsagePool), so a key that was refused stays aside and an open
// circuit stays open across a reload. Every method is safe for concurrent
// use; the hot path (a healthy provider) takes no lock.
type Health struct {
	mu   sync.Mutex
	keys map[string]*keyHealth // by Fingerprint

	next atomic.Uint32 // key rotation

	// circuit breaker
	failures  atomic.Int64 // consecutive provider failures
	openUntil atomic.Int64 // unix nanos; 0 = closed
	probing   atomic.Bool  // a half-open probe is in flight
	openedBy  atomic.Pointer[llmerrors.Error]
}

// keyHealth is one provider key's state.
type keyHealth struct {
	until  atomic.Int64 // unix nanos the key is set aside until; 0 = ready
	reason atomic.Pointer[llmerrors.Error]
}

// NewHealth returns the health of a provider nothing is known about yet.
func NewHealth() *Health { return &Health{keys: make(map[string]*keyHealth)} }

// Fingerprint identifies a key in Health without keeping the key itself.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// KeyPool is the view of a provider's keys of one config load, by their
// index in the provider's api_key list. Indices of a new config map to the
// same state when the key is the same.
type KeyPool struct {
	h    *Health
	keys []*keyHealth
}

// Pool returns the pool of the given key fingerprints, in order.
func (h *Health) Pool(fingerprints []string) *KeyPool {
	h.mu.Lock()
	defer h.mu.Unlock()
	kp := &KeyPool{h: h, keys: make([]*keyHealth, len(fingerprints))}
	for i, fp := range fingerprints {
		k, ok := h.keys[fp]
		if !ok {
			k = new(keyHealth)
			h.keys[fp] = k
		}
		kp.keys[i] = k
	}
	return kp
}

// Len is the number of keys in the pool.
func (kp *KeyPool) Len() int { return len(kp.keys) }

// Start is the index to begin this request's rotation at; each call moves
// it on by one, spreading requests across the keys.
func (kp *KeyPool) Start() int {
	if len(kp.keys) == 0 {
		return 0
	}
	return int((kp.h.next.Add(1) - 1) % uint32(len(kp.keys)))
}

// Ready reports whether key i may be used now, and otherwise when it
// returns and why it was set aside. The clock is read only for a key that
// was set aside.
func (kp *KeyPool) Ready(i int, now func() time.Time) (bool, time.Time, *llmerrors.Error) {
	k := kp.keys[i]
	until := k.until.Load()
	if until == 0 || now().UnixNano() >= until {
		return true, time.Time{}, nil
	}
	return false, time.Unix(0, until), k.reason.Load()
}

// SetAside keeps key i out of rotation until the given time, remembering
// the error that put it aside (to report when no key is left).
func (kp *KeyPool) SetAside(i int, until time.Time, reason *llmerrors.Error) {
	k := kp.keys[i]
	k.reason.Store(frozen(reason))
	k.until.Store(until.UnixNano())
}

// KeyState is one key's state for /status.
type KeyState struct {
	Index int
	// Until is when a key set aside returns; zero for a ready key.
	Until time.Time
}

// States lists each key's state at now.
func (kp *KeyPool) States(now time.Time) []KeyState {
	out := make([]KeyState, len(kp.keys))
	for i := range kp.keys {
		out[i].Index = i
		if ok, until, _ := kp.Ready(i, func() time.Time { return now }); !ok {
			out[i].Until = until
		}
	}
	return out
}

// Breaker settings.
type Breaker struct {
	// Failures is how many consecutive provider failures open the
	// circuit.
	Failures int64
	// OpenFor is how long it stays open before a probe is let through.
	OpenFor time.Duration
}

// Admission through the circuit breaker.
type Admission uint8

// The breaker's answers.
const (
	// Closed: send as usual.
	Closed Admission = iota
	// Probe: the circuit is half open and this request is its one probe;
	// report its outcome with Succeeded or Failed, or Abandon it.
	Probe
	// Open: do not send; the provider is skipped.
	Open
)

// Allow asks the circuit breaker whether a request may go to the provider
// now. When it may not, it says when the next probe may go. The clock is
// read only when the circuit is not closed.
func (h *Health) Allow(clock func() time.Time) (Admission, time.Time) {
	until := h.openUntil.Load()
	if until == 0 {
		return Closed, time.Time{}
	}
	now := clock()
	if now.UnixNano() < until {
		return Open, time.Unix(0, until)
	}
	if h.probing.CompareAndSwap(false, true) {
		return Probe, time.Time{}
	}
	return Open, now.Add(time.Second) // a probe is in flight
}

// Succeeded records an answer that shows the provider works (any answer
// that is not the provider's own failure, such as a 400 or a 429).
func (h *Health) Succeeded(a Admission) {
	h.failures.Store(0)
	if a == Probe {
		h.openUntil.Store(0)
		h.probing.Store(false)
	}
}

// Failed records a failure of the provider itself (5xx, overloaded,
// connection failure, timeout) and opens the circuit after b.Failures
// consecutive ones, or at once when a probe fails.
func (h *Health) Failed(a Admission, b Breaker, now time.Time, e *llmerrors.Error) {
	n := h.failures.Add(1)
	if b.Failures <= 0 {
		return
	}
	if a == Probe || n >= b.Failures {
		h.openedBy.Store(frozen(e))
		h.openUntil.Store(now.Add(b.OpenFor).UnixNano())
		h.probing.Store(false)
	}
}

// Abandon ends a probe that gave no verdict (the client left), so that the
// next request may probe.
func (h *Health) Abandon(a Admission) {
	if a == Probe {
		h.probing.Store(false)
	}
}

// CircuitOpen reports whether the circuit is open or half open.
func (h *Health) CircuitOpen() bool { return h.openUntil.Load() != 0 }

// OpenedBy is the failure that last opened the circuit.
func (h *Health) OpenedBy() *llmerrors.Error { return h.openedBy.Load() }

// frozen copies an error kept for other requests to read: the request it
// came from goes on to set its own request ID and headers on the original.
func frozen(e *llmerrors.Error) *llmerrors.Error {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}
