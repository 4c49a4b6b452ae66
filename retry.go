package llmgateway

import (
	"time"

	"github.com/caddyserver/caddy/v2"
)

// RetryPolicy says how a request that fails before the first byte of its
// answer is tried again: first on the next key of the provider's pool,
// then on the routes of the model's fallback chain.
type RetryPolicy struct {
	// The most upstream attempts one request makes, over all keys and
	// fallbacks. Default: 5 (against a provider failing a third of its
	// requests, one request in 240 still fails).
	MaxAttempts int `json:"max_attempts,omitempty"`

	// The first wait before retrying the same provider; each further
	// wait doubles it, with jitter. Default: 250ms.
	Backoff caddy.Duration `json:"backoff,omitempty"`

	// The longest one request waits, in all, between its attempts
	// (backoff, a provider's Retry-After, keys set aside). When a
	// provider asks for a longer wait, the client gets the error at once,
	// with that wait in Retry-After. Default: 10s.
	MaxWait caddy.Duration `json:"max_wait,omitempty"`
}

func (rp *RetryPolicy) setDefaults() {
	if rp.MaxAttempts == 0 {
		rp.MaxAttempts = 5
	}
	if rp.Backoff == 0 {
		rp.Backoff = caddy.Duration(250 * time.Millisecond)
	}
	if rp.MaxWait == 0 {
		rp.MaxWait = caddy.Duration(10 * time.Second)
	}
}
