package providers

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// Health is what the gateway remembers about one provider from one request
// to the next: its keys set aside (keypool.go) and its circuit breakers
// (breaker.go), one for the provider and one per model that failed. It
// outlives config reloads (the gateway keeps it in a caddy.UsagePool), so
// a key that was refused stays aside and an open circuit stays open across
// a reload. Every method is safe for concurrent use; the hot path (a
// healthy provider) takes no lock.
type Health struct {
	mu   sync.Mutex
	keys map[string]*keyHealth // by Fingerprint

	next atomic.Uint32 // key rotation

	// provider is the circuit of the provider itself, opened by transport
	// failures (refused, reset, timeouts).
	provider circuit
	// models are the circuits of single models, opened by 5xx answers;
	// nModels counts them so a provider without any skips the lookup.
	modelsMu sync.RWMutex
	models   map[string]*circuit
	nModels  atomic.Int32
}

// NewHealth returns the health of a provider nothing is known about yet.
func NewHealth() *Health {
	return &Health{keys: make(map[string]*keyHealth), models: make(map[string]*circuit)}
}

// Fingerprint identifies a key in Health without keeping the key itself.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// frozen copies an error kept for other requests to read: the request it
// came from goes on to set its own request ID and headers on the original.
func frozen(e *llmerrors.Error) *llmerrors.Error {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}
