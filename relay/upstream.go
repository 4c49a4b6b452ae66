package relay

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// Protocol is the protocol a route is spoken in upstream: the client's
// when the provider speaks it, else the other one, translated.
func (rt Route) Protocol(client providers.Protocol) providers.Protocol {
	if rt.Upstream.Type.Speaks(client) {
		return client
	}
	return client.Other()
}

// Upstream is one configured provider as relay calls it. The shell builds
// it once per config load; relay only reads it.
type Upstream struct {
	// Name is the provider's configured name, as messages and logs say it.
	Name string
	// Type is the provider's type: its protocols, how its errors look.
	Type *providers.Type
	// Base is the provider's base URL (scheme, host, path prefix).
	Base *url.URL
	// Transport sends each attempt: Caddy's reverse_proxy transport
	// module the provider is configured with, or the built-in mock.
	Transport http.RoundTripper
	// AttemptContext, when set, prepares the context of each attempt;
	// the shell gives every attempt its own Caddy variables this way,
	// since Caddy's transport writes to them.
	AttemptContext func(context.Context) context.Context

	// Credentials are the provider's keys as the header that carries
	// each, by index in the key pool; none for a provider that takes no
	// key. Keys are the same keys as text, to scrub from messages.
	Credentials []Credential
	Keys        []string
	// Header is sent on every request to the provider: its configured
	// headers (an OpenAI organization, say) and protocol defaults (a
	// default anthropic-version).
	Header http.Header

	// Health holds the provider's keys set aside and its circuits, and
	// Pool is this config's view of its keys; both outlive reloads.
	Health  *providers.Health
	Pool    *providers.KeyPool
	Breaker providers.Breaker
	// Budget caps the retries in flight to the provider.
	Budget *RetryBudget

	// MaxTokensCap, when > 0, is the most output a translated request
	// may ask of the provider (else translate's table of documented
	// caps); DefaultMaxTokens is what a translated request to an
	// Anthropic provider asks when the OpenAI client set none (else
	// translate.DefaultMaxTokens).
	MaxTokensCap, DefaultMaxTokens int64

	// HeaderTimeout is how long the transport waits for an answer's
	// headers (messages quote it); IdleTimeout how long any body, a
	// stream's or a plain answer's or an error's, may go without a byte;
	// KeyCooldown how long a refused key stays aside.
	HeaderTimeout, IdleTimeout, KeyCooldown time.Duration
}

// Credential is one provider key, as the header that carries it. Value
// is built once, so attempts share it.
type Credential struct {
	Header string
	Value  []string
}

// Route is where an attempt goes: a provider and the model name it is
// sent under.
type Route struct {
	Upstream *Upstream
	Model    string
}

// String is the route as `provider:model`.
func (rt Route) String() string { return rt.Upstream.Name + ":" + rt.Model }
