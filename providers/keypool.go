package providers

import (
	"sync"
	"sync/atomic"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// keyHealth is one provider key's state: set aside as a whole (the
// provider refused it, or its account is out of credit), or for single
// models (the provider rate-limited it for that model: providers count
// rate limits per model, so the key still serves the others).
type keyHealth struct {
	until  atomic.Int64 // unix nanos the key is set aside until; 0: ready
	reason atomic.Pointer[llmerrors.Error]

	modelsMu sync.Mutex
	models   map[string]modelAside
	nModels  atomic.Int32
}

type modelAside struct {
	until  int64 // unix nanos
	reason *llmerrors.Error
}

// maxModelsAside bounds the models one key remembers being rate-limited
// for; see maxModelCircuits.
const maxModelsAside = 256

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

// Aside says why a key may not be used now.
type Aside uint8

// Why a key may not be used.
const (
	// NotAside: it may.
	NotAside Aside = iota
	// KeyAside: the whole key is set aside (refused, out of credit).
	KeyAside
	// ModelAside: the key is rate-limited for this model.
	ModelAside
)

// Ready reports whether key i may be used for model at now, and when not,
// which scope set it aside, until when and why. The clock is read only
// for a key that was set aside.
func (kp *KeyPool) Ready(i int, model string, clock func() time.Time) (Aside, time.Time, *llmerrors.Error) {
	k := kp.keys[i]
	var now int64
	if until := k.until.Load(); until != 0 {
		now = clock().UnixNano()
		if now < until {
			return KeyAside, time.Unix(0, until), k.reason.Load()
		}
	}
	if k.nModels.Load() == 0 {
		return NotAside, time.Time{}, nil
	}
	if now == 0 {
		now = clock().UnixNano()
	}
	k.modelsMu.Lock()
	a, ok := k.models[model]
	k.modelsMu.Unlock()
	if ok && now < a.until {
		return ModelAside, time.Unix(0, a.until), a.reason
	}
	return NotAside, time.Time{}, nil
}

// SetAside keeps key i out of rotation for every model until the given
// time, remembering the error that put it aside (to report when no key
// is left). The caller decides whether another key can serve meanwhile
// (the last usable key is always tried).
func (kp *KeyPool) SetAside(i int, until time.Time, reason *llmerrors.Error) {
	k := kp.keys[i]
	k.reason.Store(frozen(reason))
	k.until.Store(until.UnixNano())
}

// SetAsideFor keeps key i out of rotation for model until the given time.
func (kp *KeyPool) SetAsideFor(i int, model string, until time.Time, reason *llmerrors.Error, now time.Time) {
	k := kp.keys[i]
	k.modelsMu.Lock()
	defer k.modelsMu.Unlock()
	if k.models == nil {
		k.models = make(map[string]modelAside)
	}
	if _, known := k.models[model]; !known && len(k.models) >= maxModelsAside {
		for m, a := range k.models {
			if a.until <= now.UnixNano() {
				delete(k.models, m)
			}
		}
		if len(k.models) >= maxModelsAside {
			return
		}
	}
	k.models[model] = modelAside{until.UnixNano(), frozen(reason)}
	k.nModels.Store(int32(len(k.models)))
}

// OthersReady reports whether a key other than i is not set aside as a
// whole at now: only then may i be set aside.
func (kp *KeyPool) OthersReady(i int, now time.Time) bool {
	n := now.UnixNano()
	for j, k := range kp.keys {
		if j != i && k.until.Load() <= n {
			return true
		}
	}
	return false
}

// KeyState is one key's state for /status.
type KeyState struct {
	Index int
	// Until is when a key set aside as a whole returns; zero for a key
	// that serves.
	Until time.Time
	// ModelsAside are the models the key is rate-limited for now.
	ModelsAside []string
}

// States lists each key's state at now.
func (kp *KeyPool) States(now time.Time) []KeyState {
	out := make([]KeyState, len(kp.keys))
	n := now.UnixNano()
	for i, k := range kp.keys {
		out[i].Index = i
		if until := k.until.Load(); until > n {
			out[i].Until = time.Unix(0, until)
		}
		k.modelsMu.Lock()
		for m, a := range k.models {
			if a.until > n {
				out[i].ModelsAside = append(out[i].ModelsAside, m)
			}
		}
		k.modelsMu.Unlock()
	}
	return out
}
