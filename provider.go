package llmgateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/providers/mock"
	"github.com/llmgateway/caddy-llm-gateway/relay"
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
	// (`https://api.anthropic.com`). Placeholders such as
	// `{env.VLLM_URL}` are replaced at load. Default: the type's public
	// API.
	BaseURL string `json:"base_url,omitempty"`

	// The provider's API keys: a pool the gateway rotates through and
	// fails over across. Placeholders such as `{env.GROQ_API_KEY}` are
	// replaced at load; keys that come out empty are skipped.
	APIKeys []string `json:"api_keys,omitempty"`

	// Headers sent on every request to the provider, such as
	// `OpenAI-Organization` or `OpenAI-Project`: a provider's account
	// comes from its config only, never from a client's headers.
	// Placeholders are replaced at load. The key header set by api_keys
	// wins over one given here.
	Headers map[string]string `json:"headers,omitempty"`

	// The protocol a mock provider speaks: `openai`, `anthropic`, or
	// both (the default). A mock that speaks one protocol serves requests
	// of the other translated, as a real provider of that protocol
	// would: Claude Code on an OpenAI-compatible mock, for one.
	Protocol string `json:"protocol,omitempty"`

	// The most output tokens a translated request may ask of this
	// provider's models: a larger max_tokens is lowered to it. Default:
	// the caps the provider's type documents for its models.
	MaxTokens int64 `json:"max_tokens,omitempty"`

	// The max_tokens a translated request to an Anthropic provider asks
	// when the OpenAI client set none (Anthropic requires one).
	// Default: 4096.
	DefaultMaxTokens int64 `json:"default_max_tokens,omitempty"`

	// The model names routed to this provider. `*` matches any run of
	// characters (`claude-*`); a name routed by an exact entry wins
	// over a pattern.
	Models []string `json:"models,omitempty"`

	// The HTTP client the provider is called with: a module of Caddy's
	// `http.reverse_proxy.transport` namespace, written in the Caddyfile
	// with reverse_proxy's own `transport` syntax. Default: Caddy's
	// `http` transport with a pool of 1024 idle connections per host
	// (LLM traffic goes to few hosts with many long requests at once),
	// TLS for an https base_url, and Timeout and DialTimeout as its
	// response-header and dial timeouts. Unused by the mock.
	TransportRaw json.RawMessage `json:"transport,omitempty" caddy:"namespace=http.reverse_proxy.transport inline_key=protocol"`

	// How long to wait for the provider's response headers (for a
	// non-streamed answer, the whole generation), when the transport
	// sets no response_header_timeout of its own; the mock's simulated
	// timeouts last this long. Default: 120s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// How long to wait for a connection to the provider, when the
	// transport sets no dial_timeout of its own. Default: 10s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// How long an answer's body may go without a byte once its headers
	// have come: between a stream's events, and within a plain answer or
	// an error. Default: the timeout.
	StreamIdleTimeout caddy.Duration `json:"stream_idle_timeout,omitempty"`

	// How long a key the provider refused (401, or an account out of
	// credit) is kept out of rotation while another key can serve. A key
	// the provider rate-limited is kept out, for that model, until its
	// Retry-After. Default: 60s.
	KeyCooldown caddy.Duration `json:"key_cooldown,omitempty"`

	// The circuit breakers: after this many consecutive failures, the
	// provider (failures to connect or get an answer) or one of its
	// models (5xx answers) is skipped, its fallbacks used, until a probe
	// succeeds.
	CircuitBreaker *CircuitBreaker `json:"circuit_breaker,omitempty"`

	typ  *providers.Type
	keys []string
	// up is the provider as relay calls it.
	up *relay.Upstream
	// health is the provider's pooled state; healthReleased is set once
	// Cleanup gave back its reference.
	health         *pooledHealth
	healthReleased bool
}

// CircuitBreaker configures a provider's circuit breakers.
type CircuitBreaker struct {
	// Consecutive failures that open a circuit; -1 turns the breaker
	// off. Default: 10.
	Failures int64 `json:"failures,omitempty"`
	// How long a circuit stays open before one probe request is let
	// through. Default: 30s.
	OpenFor caddy.Duration `json:"open_for,omitempty"`
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

// resolveType finds the provider's type: its `type`, else its name.
func (p *Provider) resolveType() (*providers.Type, error) {
	name := p.Type
	if name == "" {
		name = p.Name
	}
	t, err := providers.MustLookup(name)
	if err != nil && p.Type == "" {
		return nil, fmt.Errorf("%q is not a known provider type, so the provider needs a `type`: %w", p.Name, err)
	}
	return t, err
}

func (p *Provider) provision(ctx caddy.Context, repl *caddy.Replacer) error {
	if p.Name == "" {
		return fmt.Errorf("a provider needs a name")
	}
	var err error
	if p.typ, err = p.resolveType(); err != nil {
		return err
	}
	if p.Protocol != "" {
		if p.typ, err = restrictProtocol(p.typ, p.Protocol); err != nil {
			return err
		}
	}
	if p.Timeout == 0 {
		p.Timeout = caddy.Duration(defaultTimeout)
	}
	if p.DialTimeout == 0 {
		p.DialTimeout = caddy.Duration(defaultDialTimeout)
	}
	if p.KeyCooldown == 0 {
		p.KeyCooldown = caddy.Duration(defaultKeyCooldown)
	}
	breaker := providers.Breaker{Failures: defaultBreakerFailures, OpenFor: defaultBreakerOpenFor}
	if cb := p.CircuitBreaker; cb != nil {
		if cb.Failures != 0 {
			breaker.Failures = cb.Failures
		}
		if cb.OpenFor != 0 {
			breaker.OpenFor = time.Duration(cb.OpenFor)
		}
	}
	up := &relay.Upstream{
		Name:             p.Name,
		Type:             p.typ,
		Breaker:          breaker,
		KeyCooldown:      time.Duration(p.KeyCooldown),
		Header:           make(http.Header),
		MaxTokensCap:     p.MaxTokens,
		DefaultMaxTokens: p.DefaultMaxTokens,
	}
	p.up = up
	p.keys = p.keys[:0]
	fingerprints := make([]string, 0, len(p.APIKeys))
	for _, k := range p.APIKeys {
		if k = strings.TrimSpace(repl.ReplaceKnown(k, "")); k != "" {
			p.keys = append(p.keys, k)
			fingerprints = append(fingerprints, providers.Fingerprint(k))
			if h := p.typ.Auth.Header(); h != "" {
				up.Credentials = append(up.Credentials, relay.Credential{Header: h, Value: []string{p.typ.Auth.Value(k)}})
			}
		}
	}
	up.Keys = p.keys
	for name, v := range p.Headers {
		up.Header.Set(name, repl.ReplaceKnown(v, ""))
	}
	if p.typ.Auth == providers.AuthXAPIKey && up.Header.Get("Anthropic-Version") == "" {
		// sent unless the client names its own version
		up.Header.Set("Anthropic-Version", providers.DefaultAnthropicVersion)
	}
	p.health = loadHealth(p)
	up.Health, up.Budget = p.health.Health, p.health.budget
	up.Pool = up.Health.Pool(fingerprints)

	if p.typ.Name == "mock" {
		up.Base = &url.URL{Scheme: "http", Host: "mock.invalid"}
		up.Transport = mock.NewTransport(time.Duration(p.Timeout))
		up.HeaderTimeout = time.Duration(p.Timeout)
	} else {
		raw := repl.ReplaceKnown(p.BaseURL, "")
		if raw == "" {
			raw = p.typ.DefaultBaseURL
		}
		if up.Base, err = url.Parse(raw); err != nil || (up.Base.Scheme != "http" && up.Base.Scheme != "https") || up.Base.Host == "" {
			return fmt.Errorf("base_url %q: want an absolute http or https URL", raw)
		}
		if err := p.provisionTransport(ctx); err != nil {
			return err
		}
		up.AttemptContext = ownVars
	}
	up.IdleTimeout = time.Duration(p.StreamIdleTimeout)
	if up.IdleTimeout == 0 {
		up.IdleTimeout = up.HeaderTimeout
	}
	return nil
}

// restrictProtocol is the mock's type speaking only protocol name.
func restrictProtocol(t *providers.Type, name string) (*providers.Type, error) {
	if t.Name != "mock" {
		return nil, fmt.Errorf("protocol: only a mock provider takes a protocol; a %s provider speaks %s", t.Name, t.Protocols[0])
	}
	restricted := *t
	switch name {
	case "openai":
		restricted.Protocols = []providers.Protocol{providers.OpenAI}
	case "anthropic":
		restricted.Protocols = []providers.Protocol{providers.Anthropic}
	default:
		return nil, fmt.Errorf("protocol: %q is not openai or anthropic", name)
	}
	return &restricted, nil
}

// provisionTransport loads the provider's transport module, completing an
// `http` transport with what the provider needs: TLS for an https
// base_url, the keep-alive pool, and the timeout shorthands.
func (p *Provider) provisionTransport(ctx caddy.Context) error {
	raw, err := httpTransportJSON(p.TransportRaw, p.up.Base.Scheme, p.Timeout, p.DialTimeout)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	p.TransportRaw = raw
	mod, err := ctx.LoadModule(p, "TransportRaw")
	if err != nil {
		return fmt.Errorf("loading its transport: %w", err)
	}
	rt, ok := mod.(http.RoundTripper)
	if !ok {
		return fmt.Errorf("transport %T is not an HTTP transport", mod)
	}
	p.up.Transport = rt
	p.up.HeaderTimeout = time.Duration(p.Timeout)
	if ht, ok := mod.(*reverseproxy.HTTPTransport); ok && ht.ResponseHeaderTimeout > 0 {
		p.up.HeaderTimeout = time.Duration(ht.ResponseHeaderTimeout)
	}
	return nil
}

// httpTransportJSON is the provider's transport config: raw as given, or
// Caddy's `http` transport when raw is empty; an `http` transport is
// completed with TLS when scheme is https (unless it names its own TLS
// settings), the gateway's keep-alive pool, and timeout and dialTimeout
// where it sets none. The Caddyfile adapter writes the same, so `caddy
// adapt` shows what runs.
func httpTransportJSON(raw json.RawMessage, scheme string, timeout, dialTimeout caddy.Duration) (json.RawMessage, error) {
	var ht reverseproxy.HTTPTransport
	if len(raw) > 0 {
		var kind struct {
			Protocol string `json:"protocol"`
		}
		if err := json.Unmarshal(raw, &kind); err != nil {
			return nil, err
		}
		if kind.Protocol != "http" {
			return raw, nil // another transport module: as configured
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, err
		}
		delete(fields, "protocol")
		rest, _ := json.Marshal(fields)
		dec := json.NewDecoder(strings.NewReader(string(rest)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ht); err != nil {
			return nil, err
		}
	}
	completeHTTPTransport(&ht, scheme, timeout, dialTimeout)
	return caddyconfig.JSONModuleObject(&ht, "protocol", "http", nil), nil
}

// completeHTTPTransport fills in what an `http` transport leaves unset.
func completeHTTPTransport(ht *reverseproxy.HTTPTransport, scheme string, timeout, dialTimeout caddy.Duration) {
	if ht.TLS == nil && scheme == "https" {
		ht.TLS = new(reverseproxy.TLSConfig)
	}
	if ht.KeepAlive == nil {
		ht.KeepAlive = new(reverseproxy.KeepAlive)
	}
	if ht.KeepAlive.MaxIdleConnsPerHost == 0 {
		ht.KeepAlive.MaxIdleConnsPerHost = idleConnsPerHost
	}
	if ht.ResponseHeaderTimeout == 0 {
		ht.ResponseHeaderTimeout = timeout
	}
	if ht.DialTimeout == 0 {
		ht.DialTimeout = dialTimeout
	}
}

// ownVars gives an attempt its own Caddy variables: Caddy's transport
// records in them which forward proxy it used, from the goroutine that
// dials, which may still run after the attempt gave up.
func ownVars(ctx context.Context) context.Context {
	return context.WithValue(ctx, caddyhttp.VarsCtxKey, make(map[string]any, 1))
}
