package llmgateway

import (
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmgateway/caddy-llm-gateway/relay"
)

// RetryPolicy says how a request that fails before the first byte of its
// answer is tried again: on the next key of the provider's pool, then on
// the routes of the model's fallback chain, then, after a backoff, the
// chain again. Whatever it says, the same key and route are tried at most
// twice, and retries to a provider stay within its retry budget (20% of
// the requests in flight to it, at least 3 at once).
type RetryPolicy struct {
	// The most upstream attempts one request makes, over all keys and
	// fallbacks. Default: 3 (a client SDK retries on its own too: each of
	// its attempts costs the provider at most this many).
	MaxAttempts int `json:"max_attempts,omitempty"`

	// The first wait before trying the chain again; each further wait
	// doubles it, with jitter. Default: 250ms.
	Backoff caddy.Duration `json:"backoff,omitempty"`

	// The longest one request waits, in all, between its attempts
	// (backoff, a provider's Retry-After, keys set aside). When a
	// provider asks for a longer wait, the client gets the error at once,
	// with that wait in Retry-After. Default: 10s.
	MaxWait caddy.Duration `json:"max_wait,omitempty"`

	// One request's whole time before its answer begins, attempts and
	// waits together: no attempt starts after it, and an attempt still
	// waiting for its answer then is cut (provider_timeout). A stream
	// that has begun is never cut by it. Default: 10m.
	MaxDuration caddy.Duration `json:"max_duration,omitempty"`
}

func (rp *RetryPolicy) setDefaults() {
	if rp.MaxAttempts == 0 {
		rp.MaxAttempts = 3
	}
	if rp.Backoff == 0 {
		rp.Backoff = caddy.Duration(250 * time.Millisecond)
	}
	if rp.MaxWait == 0 {
		rp.MaxWait = caddy.Duration(10 * time.Second)
	}
	if rp.MaxDuration == 0 {
		rp.MaxDuration = caddy.Duration(10 * time.Minute)
	}
}

// policy is the retry policy as relay takes it.
func (rp *RetryPolicy) policy() relay.Policy {
	return relay.Policy{
		MaxAttempts: rp.MaxAttempts,
		Backoff:     time.Duration(rp.Backoff),
		MaxWait:     time.Duration(rp.MaxWait),
		MaxDuration: time.Duration(rp.MaxDuration),
	}
}
