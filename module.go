// Package llmgateway is a Caddy HTTP handler that fronts LLM providers
// (OpenAI, Anthropic, Groq, OpenRouter, Gemini, Mistral, DeepSeek and any
// OpenAI-compatible server): it authenticates the client keys it issues,
// enforces each key's limits, routes each request to a provider with the
// provider's own key through Caddy's HTTP transport, streams the answer back
// and turns every failure into one documented JSON error envelope.
package llmgateway

import (
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/limits"
	"github.com/llmgateway/caddy-llm-gateway/relay"
)

func init() {
	caddy.RegisterModule(Gateway{})
}

// Gateway is the `llm_gateway` HTTP handler.
//
// It serves the OpenAI paths (POST /v1/chat/completions, /v1/completions,
// /v1/embeddings, /v1/responses), the Anthropic paths (POST /v1/messages,
// /v1/messages/count_tokens), GET /v1/models, GET /health and GET /status.
// Any other path is answered with a `not_found` error; to serve other
// content on the same site, wrap the directive in a `handle` block.
//
// It sets these placeholders on every request it serves:
//
// Placeholder | Description
// ------------|-------------
// `{http.llm.request_id}` | The request ID, also sent as `X-Request-Id`
// `{http.llm.key}` | The name of the client key, never the key (also `{http.auth.user.id}`, so Caddy's access log shows it as `user_id`)
// `{http.llm.provider}` | The provider that answered (or was last tried)
// `{http.llm.model}` | The model sent to that provider
// `{http.llm.requested_model}` | The model the client asked for
// `{http.llm.attempts}` | How many upstream attempts were made
// `{http.llm.error.code}` | The error code, when the answer is an error
// `{http.llm.input_tokens}` | Prompt tokens the provider reported, cached ones included
// `{http.llm.output_tokens}` | Completion tokens the provider reported
// `{http.llm.cache_read_tokens}` | Prompt tokens read from the provider's cache
// `{http.llm.cache_write_tokens}` | Prompt tokens written to the provider's cache
// `{http.llm.cost_usd}` | What the answer cost at the configured prices
// `{http.llm.ttft_ms}` | Milliseconds until the answer's first byte reached the client
// `{http.llm.upstream_status}` | The status of the provider's last answer
// `{http.llm.provider_request_id}` | The provider's ID of the request
type Gateway struct {
	// The envelope errors are written in: `auto` (default: anthropic on
	// Anthropic-protocol paths and requests carrying `anthropic-version`,
	// openai elsewhere), `openai`, `anthropic`, `ccproxy`, `coollm` or
	// `proxed`.
	ErrorFormat string `json:"error_format,omitempty"`

	// The largest request body accepted, in bytes. Default: 10 MiB.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	// The providers requests are routed to.
	Providers []*Provider `json:"providers,omitempty"`

	// Model names that stand for a route, written `provider:model`;
	// e.g. `{"fast": "groq:llama-3.1-70b-versatile"}`.
	Aliases map[string]string `json:"aliases,omitempty"`

	// Routes tried in order, after a model's own route fails before the
	// first byte of its answer, keyed by the model name as the client
	// writes it. Each route is `provider:model` or an alias.
	Fallbacks map[string][]string `json:"fallbacks,omitempty"`

	// Prices of routes, in USD per million tokens, keyed by
	// `provider:model` (`*` matches any run of characters in the model).
	// A route with no price costs nothing against budgets.
	Prices map[string]limits.Price `json:"prices,omitempty"`

	// Output tokens a request reserves against token limits and budgets
	// when it is admitted: its max_tokens, but at most this. Default: 4096.
	ReserveOutputTokens int64 `json:"reserve_output_tokens,omitempty"`

	// Client keys. With none here and no keys_file, the gateway asks no
	// key of its clients.
	Keys []*limits.KeyConfig `json:"keys,omitempty"`

	// A JSON file holding an array of keys, in the same form as Keys
	// (with key_sha256, never the secret). It is read again on every
	// config load. Placeholders such as `{env.KEYS_DIR}` are replaced; a
	// file other users can write gets a warning at load.
	KeysFile string `json:"keys_file,omitempty"`

	// Limits for keys that leave a limit unset, field by field.
	Limits *limits.Policy `json:"limits,omitempty"`

	// Where counters and spend are kept. Default: memory.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=http.handlers.llm_gateway.stores inline_key=type"`

	// How the gateway retries failed attempts.
	Retry *RetryPolicy `json:"retry,omitempty"`

	// What the gateway exports on Caddy's /metrics. Default: everything.
	Metrics *MetricsConfig `json:"metrics,omitempty"`

	logger  *zap.Logger
	format  llmerrors.Format
	retry   relay.Policy
	router  *router
	started time.Time
	// keys is the keyring requests are checked against: the config's
	// keys and the admin API's, swapped whole when the latter change.
	keys       *atomic.Pointer[limits.Keyring]
	configKeys []*limits.KeyConfig
	records    limits.KeyRecords
	repl       *caddy.Replacer
	prices     *limits.PriceTable
	store      limits.Store
	// modelLabels are the model names metrics use as label values.
	modelLabels map[string]bool
}

// CaddyModule returns the Caddy module information.
func (Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.llm_gateway",
		New: func() caddy.Module { return new(Gateway) },
	}
}

// defaultMaxRequestBody is large enough for long Claude Code contexts.
const defaultMaxRequestBody = 10 << 20

// Provision builds the providers' proxies, the router and the limits.
func (g *Gateway) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	g.started = time.Now()
	var err error
	if g.format, err = llmerrors.ParseFormat(g.ErrorFormat); err != nil {
		return err
	}
	if g.MaxRequestBody == 0 {
		g.MaxRequestBody = defaultMaxRequestBody
	}
	if g.Retry == nil {
		g.Retry = new(RetryPolicy)
	}
	g.Retry.setDefaults()
	g.retry = g.Retry.policy()
	repl := caddy.NewReplacer()
	for _, p := range g.Providers {
		if err := p.provision(ctx, repl); err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
	}
	if g.router, err = newRouter(g.Providers, g.Aliases, g.Fallbacks); err != nil {
		return err
	}
	g.modelLabels = configuredModels(g.router)
	if g.Metrics.enabled() {
		if err := registerMetrics(ctx); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	if err := g.provisionLimits(ctx, repl); err != nil {
		return err
	}
	g.warnAboutAccessLogs(ctx)
	return nil
}

// provisionLimits loads the price table, the limits store and the client
// keys: the Caddyfile's and keys_file's (read again on every config
// load), and those created through the admin API, which live in the store
// and are watched for changes (keys.go).
func (g *Gateway) provisionLimits(ctx caddy.Context, repl *caddy.Replacer) error {
	var err error
	if g.prices, err = limits.NewPriceTable(g.Prices); err != nil {
		return err // it names the price
	}
	if g.ReserveOutputTokens == 0 {
		g.ReserveOutputTokens = defaultReserveOutputTokens
	}
	if g.StoreRaw == nil {
		g.StoreRaw = json.RawMessage(`{"type":"memory"}`)
	}
	mod, err := ctx.LoadModule(g, "StoreRaw")
	if err != nil {
		return fmt.Errorf("loading the limits store: %w", err)
	}
	g.store = mod.(limits.Store)

	g.configKeys = g.Keys
	if g.KeysFile != "" {
		path := repl.ReplaceKnown(g.KeysFile, "")
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o022 != 0 {
			g.logger.Warn("keys_file can be written by other users, who could add keys of their own at the next reload; make it writable by its owner only (chmod go-w)",
				zap.String("keys_file", path), zap.String("mode", fi.Mode().Perm().String()))
		}
		fromFile, err := limits.LoadKeysFile(path)
		if err != nil {
			return fmt.Errorf("keys_file: %w", err)
		}
		g.configKeys = append(append([]*limits.KeyConfig(nil), g.configKeys...), fromFile...)
	}
	if err := g.provisionKeys(ctx, repl); err != nil {
		return err
	}
	if g.keyring().Anonymous() {
		g.logger.Warn("no client keys configured: the gateway asks no key of its clients; configure `key` or `keys_file` (or create one through the admin API) before exposing it")
	}
	return nil
}

// Validate checks the provisioned configuration: every number and
// duration (validate.go), with messages that name the directive and the
// value at fault.
func (g *Gateway) Validate() error {
	if len(g.Providers) == 0 {
		return fmt.Errorf("llm_gateway: at least one provider is required")
	}
	return g.validateNumbers()
}

// warnAboutAccessLogs warns when client keys are configured and a server
// of this config writes access logs: Caddy logs a copy of each request's
// headers taken before any handler runs, and hides only Authorization
// among the headers clients send keys in (x-api-key, x-goog-api-key are
// logged unless the log filters them). Caddy does not let a handler see a
// log's encoder, so the warning cannot tell whether the filter is there.
func (g *Gateway) warnAboutAccessLogs(ctx caddy.Context) {
	if g.keyring().Anonymous() {
		return
	}
	for _, m := range ctx.Modules() {
		app, ok := m.(*caddyhttp.App)
		if !ok {
			continue
		}
		for name, srv := range app.Servers {
			if srv.Logs == nil {
				continue
			}
			msg := "this server writes access logs, which record request headers before the gateway sees them: unless its log has `format filter { request>headers>X-Api-Key delete; request>headers>X-Goog-Api-Key delete }` (as Caddyfile.example's does), client keys sent as x-api-key (Claude Code, Anthropic SDKs) or x-goog-api-key are written to the log"
			if srv.Logs.ShouldLogCredentials {
				msg = "this server logs credentials (log_credentials): every client key, Authorization included, is written to its access log"
			}
			g.logger.Warn(msg, zap.String("server", name))
		}
	}
}

// Cleanup releases what Provision acquired, also after a Provision that
// failed half way. The providers' transports were loaded through the
// Caddy context, which cleans them up.
func (g *Gateway) Cleanup() error {
	unregisterGateway(g)
	for _, p := range g.Providers {
		releaseHealth(p)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddy.Validator             = (*Gateway)(nil)
	_ caddy.CleanerUpper          = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
)
