package llmgateway

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/providers/mock"
)

// Provider is one upstream LLM provider.
type Provider struct {
	// The name requests and keys refer to the provider by, as in
	// `groq:llama-3.1-70b-versatile`.
	Name string `json:"name"`

	// The provider's type: openai (any OpenAI-compatible server),
	// anthropic, groq, openrouter, gemini, mistral, deepseek or mock.
	// Default: the name, when it is a known type.
	Type string `json:"type,omitempty"`

	// The API's base URL, as the provider's own SDK takes it:
	// OpenAI-compatible ones include the version
	// (`https://api.groq.com/openai/v1`), Anthropic's does not
	// (`https://api.anthropic.com`). Default: the type's public API.
	BaseURL string `json:"base_url,omitempty"`

	// The provider's API keys: a pool the gateway rotates through and
	// fails over across. Placeholders such as `{env.GROQ_API_KEY}` are
	// replaced at load; keys that come out empty are skipped.
	APIKeys []string `json:"api_keys,omitempty"`

	// The model names routed to this provider. `*` matches any run of
	// characters (`claude-*`); a name routed by an exact entry wins
	// over a pattern.
	Models []string `json:"models,omitempty"`

	// How long to wait for the provider's response headers (for a
	// non-streamed answer, the whole generation). Default: 120s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// How long to wait for a connection to the provider. Default: 10s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// How long a streamed answer may go without a byte once it has
	// begun (between stream events). Default: the timeout.
	StreamIdleTimeout caddy.Duration `json:"stream_idle_timeout,omitempty"`

	// How long a key the provider refused (401, or an account out of
	// credit) is kept out of rotation. A key the provider rate-limited
	// is kept out until its Retry-After. Default: 60s.
	KeyCooldown caddy.Duration `json:"key_cooldown,omitempty"`

	// The circuit breaker: after this many consecutive failures of the
	// provider itself (5xx, overloaded, connection failures, timeouts)
	// it is skipped, its fallbacks used, until a probe succeeds.
	CircuitBreaker *CircuitBreaker `json:"circuit_breaker,omitempty"`

	typ      *providers.Type
	keys     []string
	base     *url.URL
	upstream upstreamHandler
	health   *providers.Health
	// healthReleased is set once Cleanup gave back health's reference.
	healthReleased bool
	keyPool        *providers.KeyPool
	breaker        providers.Breaker
}

// CircuitBreaker configures a provider's circuit breaker.
type CircuitBreaker struct {
	// Consecutive failures that open the circuit; -1 turns the breaker
	// off. Default: 10.
	Failures int64 `json:"failures,omitempty"`
	// How long the circuit stays open before one probe request is let
	// through. Default: 30s.
	OpenFor caddy.Duration `json:"open_for,omitempty"`
}

// upstreamHandler is what serves an attempt: the provider's reverse_proxy,
// or the built-in mock.
type upstreamHandler interface {
	ServeHTTP(http.ResponseWriter, *http.Request, caddyhttp.Handler) error
}

// Provider defaults.
const (
	defaultTimeout     = 120 * time.Second
	defaultDialTimeout = 10 * time.Second
	defaultKeyCooldown = 60 * time.Second
	// Ten failures in a row: a provider that fails a quarter of its
	// requests does that about once in a million, a dead one at once.
	defaultBreakerFailures = 10
	defaultBreakerOpenFor  = 30 * time.Second
	// LLM traffic goes to few hosts with many concurrent long requests;
	// Caddy's default of 32 idle connections per host churns connections
	// as soon as more than 32 requests overlap.
	idleConnsPerHost = 1024
)

func (p *Provider) provision(ctx caddy.Context, repl *caddy.Replacer) error {
	if p.Name == "" {
		return fmt.Errorf("a provider needs a name")
	}
	typeName := p.Type
	if typeName == "" {
		typeName = p.Name
	}
	var err error
	if p.typ, err = providers.MustLookup(typeName); err != nil {
		if p.Type == "" {
			return fmt.Errorf("%q is not a known provider type, so the provider needs a `type`: %w", p.Name, err)
		}
		return err
	}
	if p.Timeout == 0 {
		p.Timeout = caddy.Duration(defaultTimeout)
	}
	if p.DialTimeout == 0 {
		p.DialTimeout = caddy.Duration(defaultDialTimeout)
	}
	if p.StreamIdleTimeout == 0 {
		p.StreamIdleTimeout = p.Timeout
	}
	if p.KeyCooldown == 0 {
		p.KeyCooldown = caddy.Duration(defaultKeyCooldown)
	}
	p.breaker = providers.Breaker{Failures: defaultBreakerFailures, OpenFor: defaultBreakerOpenFor}
	if cb := p.CircuitBreaker; cb != nil {
		if cb.Failures != 0 {
			p.breaker.Failures = cb.Failures
		}
		if cb.OpenFor != 0 {
			p.breaker.OpenFor = time.Duration(cb.OpenFor)
		}
	}
	p.keys = p.keys[:0]
	fingerprints := make([]string, 0, len(p.APIKeys))
	for _, k := range p.APIKeys {
		if k = strings.TrimSpace(repl.ReplaceKnown(k, "")); k != "" {
			p.keys = append(p.keys, k)
			fingerprints = append(fingerprints, providers.Fingerprint(k))
		}
	}
	p.health = loadHealth(p)
	p.keyPool = p.health.Pool(fingerprints)
	if p.typ.Name == "mock" {
		p.upstream = mock.New(time.Duration(p.Timeout))
		return nil
	}
	raw := p.BaseURL
	if raw == "" {
		raw = p.typ.DefaultBaseURL
	}
	if p.base, err = url.Parse(raw); err != nil || (p.base.Scheme != "http" && p.base.Scheme != "https") || p.base.Host == "" {
		return fmt.Errorf("base_url %q: want an absolute http or https URL", raw)
	}
	proxy, err := ctx.LoadModuleByID("http.handlers.reverse_proxy", p.proxyConfig())
	if err != nil {
		return fmt.Errorf("loading reverse_proxy: %w", err)
	}
	p.upstream = proxy.(upstreamHandler)
	return nil
}

// proxyConfig is the reverse_proxy that carries this provider's traffic.
func (p *Provider) proxyConfig() json.RawMessage {
	port := p.base.Port()
	if port == "" {
		port = "80"
		if p.base.Scheme == "https" {
			port = "443"
		}
	}
	transport := map[string]any{
		"protocol":                "llm_gateway",
		"dial_timeout":            p.DialTimeout,
		"response_header_timeout": p.Timeout,
		"keep_alive": map[string]any{
			"max_idle_conns_per_host": idleConnsPerHost,
		},
	}
	if p.base.Scheme == "https" {
		transport["tls"] = map[string]any{}
	}
	cfg := map[string]any{
		"upstreams": []map[string]string{{"dial": net.JoinHostPort(p.base.Hostname(), port)}},
		"transport": transport,
	}
	b, _ := json.Marshal(cfg)
	return b
}
