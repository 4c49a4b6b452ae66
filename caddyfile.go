package llmgateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/dustin/go-humanize"
	"golang.org/x/net/http/httpguts"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/limits"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("llm_gateway", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("llm_gateway", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gateway)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile sets up the gateway from Caddyfile tokens. Syntax:
//
//	llm_gateway {
//		error_format auto|openai|anthropic|ccproxy|coollm|proxed
//		max_request_body <size>
//
//		provider <name> {
//			type <type>
//			base_url <url>
//			api_key <key> [<key>...]
//			models <name|pattern>...
//			protocol openai|anthropic
//			max_tokens <tokens>
//			default_max_tokens <tokens>
//			headers {
//				<name> <value>
//			}
//			transport <module> {
//				<reverse_proxy's transport syntax>
//			}
//			timeout <duration>
//			dial_timeout <duration>
//			stream_idle_timeout <duration>
//			key_cooldown <duration>
//			circuit_breaker <failures> [<open_for>] | off
//		}
//
//		alias <name> <provider:model>
//		fallback <model> <route>...
//		price <provider:model> <usd_per_1M_input> <usd_per_1M_output>
//		reserve_output_tokens <tokens>
//
//		key <secret|sha256:<hex>> {
//			name <name>
//			providers <name>...
//			models <pattern>...
//			rpm <n>|unlimited
//			tpm <n>|unlimited
//			concurrency <n>|unlimited
//			session <window> <tokens>|unlimited
//			budget <usd>|unlimited
//			budget_strict
//			expires <RFC 3339 time or YYYY-MM-DD>
//			disabled
//		}
//		keys_file <path>
//		limits {
//			rpm|tpm|concurrency|session|budget|budget_strict ...
//		}
//		store memory {
//			state_file <path>
//		}
//		store redis <url> | store redis { url, prefix, timeout, on_error, budget_fail_open, lease_ttl }
//
//		metrics off | {
//			per_key on|off
//		}
//
//		retry {
//			max_attempts <n>
//			backoff <duration>
//			max_wait <duration>
//			max_duration <duration>
//		}
//	}
//
// `provider` and `key` may be given without a block. A provider's
// `transport` is a module of reverse_proxy's transport namespace, written
// as reverse_proxy takes it (`transport http { tls_trust_pool ...;
// forward_proxy_url ...; versions h2c 2 }`); `timeout` and `dial_timeout`
// are shorthands for its response_header_timeout and dial_timeout. Every
// provider but the mock is written out with its transport (Caddy's `http`
// one when none is given, completed as provider.go says), so that `caddy
// adapt` shows what runs. A key's secret may
// be a placeholder (`{env.TEAM_KEY}`), resolved when the config loads; a
// literal secret is hashed here, so the adapted JSON holds only its SHA-256.
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "error_format":
			v, err := singleArg(d)
			if err != nil {
				return err
			}
			if _, err := llmerrors.ParseFormat(v); err != nil {
				return d.Errf("error_format: %v", err)
			}
			g.ErrorFormat = v
		case "max_request_body":
			v, err := singleArg(d)
			if err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size == 0 {
				return d.Errf("max_request_body: %q is not a size such as 10MB", v)
			}
			g.MaxRequestBody = int64(size)
		case "provider":
			p, err := unmarshalProvider(d)
			if err != nil {
				return err
			}
			g.Providers = append(g.Providers, p)
		case "alias":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("alias: want `alias <name> <provider:model>`")
			}
			if g.Aliases == nil {
				g.Aliases = make(map[string]string)
			}
			if _, dup := g.Aliases[args[0]]; dup {
				return d.Errf("alias %s is defined twice", args[0])
			}
			g.Aliases[args[0]] = args[1]
		case "fallback":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("fallback: want `fallback <model> <route>...`")
			}
			if g.Fallbacks == nil {
				g.Fallbacks = make(map[string][]string)
			}
			g.Fallbacks[args[0]] = append(g.Fallbacks[args[0]], args[1:]...)
		case "price":
			args := d.RemainingArgs()
			if len(args) != 3 {
				return d.Errf("price: want `price <provider:model> <usd_per_1M_input> <usd_per_1M_output>`")
			}
			in, err1 := strconv.ParseFloat(args[1], 64)
			out, err2 := strconv.ParseFloat(args[2], 64)
			if err1 != nil || err2 != nil || in < 0 || out < 0 {
				return d.Errf("price %s: prices must be non-negative numbers of USD per million tokens", args[0])
			}
			if g.Prices == nil {
				g.Prices = make(map[string]limits.Price)
			}
			g.Prices[args[0]] = limits.Price{Input: in, Output: out}
		case "reserve_output_tokens":
			n, err := positiveInt(d)
			if err != nil {
				return err
			}
			g.ReserveOutputTokens = n
		case "key":
			k, err := unmarshalKey(d)
			if err != nil {
				return err
			}
			g.Keys = append(g.Keys, k)
		case "keys_file":
			v, err := singleArg(d)
			if err != nil {
				return err
			}
			g.KeysFile = v
		case "limits":
			if d.NextArg() {
				return d.ArgErr()
			}
			if g.Limits == nil {
				g.Limits = new(limits.Policy)
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				if !isPolicyDirective(d.Val()) {
					return d.Errf("limits: unknown limit %q (want rpm, tpm, concurrency, session, budget or budget_strict)", d.Val())
				}
				if err := unmarshalPolicyLine(d, g.Limits); err != nil {
					return err
				}
			}
		case "store":
			raw, err := unmarshalStore(d)
			if err != nil {
				return err
			}
			g.StoreRaw = raw
		case "metrics":
			m, err := unmarshalMetrics(d)
			if err != nil {
				return err
			}
			g.Metrics = m
		case "retry":
			if d.NextArg() {
				return d.ArgErr()
			}
			if g.Retry == nil {
				g.Retry = new(RetryPolicy)
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "max_attempts":
					n, err := positiveInt(d)
					if err != nil {
						return err
					}
					g.Retry.MaxAttempts = int(n)
				case "backoff":
					v, err := durationArg(d)
					if err != nil {
						return err
					}
					g.Retry.Backoff = v
				case "max_wait":
					v, err := durationArg(d)
					if err != nil {
						return err
					}
					g.Retry.MaxWait = v
				case "max_duration":
					v, err := durationArg(d)
					if err != nil {
						return err
					}
					g.Retry.MaxDuration = v
				default:
					return d.Errf("retry: unknown subdirective %q", d.Val())
				}
			}
		default:
			return d.Errf("llm_gateway: unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// unmarshalMetrics reads `metrics off` or `metrics { per_key on|off }`.
func unmarshalMetrics(d *caddyfile.Dispenser) (*MetricsConfig, error) {
	m := new(MetricsConfig)
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return nil, d.Errf("metrics: want `metrics off` or a block")
		}
		m.Disabled = true
		return m, nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "per_key":
			v, err := singleArg(d)
			if err != nil {
				return nil, err
			}
			if v != "on" && v != "off" {
				return nil, d.Errf("metrics: per_key %q: want on or off", v)
			}
			on := v == "on"
			m.PerKey = &on
		default:
			return nil, d.Errf("metrics: unknown subdirective %q (want per_key)", d.Val())
		}
	}
	return m, nil
}

func unmarshalProvider(d *caddyfile.Dispenser) (*Provider, error) {
	p := new(Provider)
	var transport http.RoundTripper
	var transportName string
	if !d.NextArg() {
		return nil, d.Errf("provider: want `provider <name> { ... }`")
	}
	p.Name = d.Val()
	if strings.ContainsAny(p.Name, ":{}") {
		return nil, d.Errf("provider %q: a provider name cannot contain ':', '{' or '}'", p.Name)
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "type":
			p.Type, err = singleArg(d)
		case "base_url":
			p.BaseURL, err = singleArg(d)
		case "api_key":
			keys := d.RemainingArgs()
			if len(keys) == 0 {
				return nil, d.Errf("provider %s: api_key needs at least one key", p.Name)
			}
			p.APIKeys = append(p.APIKeys, keys...)
		case "models":
			models := d.RemainingArgs()
			if len(models) == 0 {
				return nil, d.Errf("provider %s: models needs at least one name", p.Name)
			}
			p.Models = append(p.Models, models...)
		case "timeout":
			p.Timeout, err = durationArg(d)
		case "dial_timeout":
			p.DialTimeout, err = durationArg(d)
		case "stream_idle_timeout":
			p.StreamIdleTimeout, err = durationArg(d)
		case "key_cooldown":
			p.KeyCooldown, err = durationArg(d)
		case "circuit_breaker":
			p.CircuitBreaker, err = unmarshalBreaker(d)
		case "protocol":
			p.Protocol, err = singleArg(d)
			if err == nil && p.Protocol != "openai" && p.Protocol != "anthropic" {
				return nil, d.Errf("provider %s: protocol %q: want openai or anthropic", p.Name, p.Protocol)
			}
		case "max_tokens":
			p.MaxTokens, err = positiveInt(d)
		case "default_max_tokens":
			p.DefaultMaxTokens, err = positiveInt(d)
		case "headers":
			err = unmarshalHeaders(d, p)
		case "transport":
			if transport != nil {
				return nil, d.Errf("provider %s: transport is given twice", p.Name)
			}
			transport, transportName, err = unmarshalTransport(d, p.Name)
		default:
			return nil, d.Errf("provider %s: unknown subdirective %q", p.Name, d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return p, p.writeTransport(d, transport, transportName)
}

// unmarshalHeaders reads `headers { <name> <value> ... }`.
func unmarshalHeaders(d *caddyfile.Dispenser, p *Provider) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if !httpguts.ValidHeaderFieldName(name) {
			return d.Errf("provider %s: headers: %q is not a header name", p.Name, name)
		}
		v, err := singleArg(d)
		if err != nil {
			return err
		}
		if p.Headers == nil {
			p.Headers = make(map[string]string)
		}
		p.Headers[http.CanonicalHeaderKey(name)] = v
	}
	if len(p.Headers) == 0 {
		return d.Errf("provider %s: headers needs at least one `<name> <value>` line", p.Name)
	}
	return nil
}

// unmarshalTransport reads `transport <module> { ... }` with the module's
// own Caddyfile syntax, as reverse_proxy does.
func unmarshalTransport(d *caddyfile.Dispenser, provider string) (http.RoundTripper, string, error) {
	if !d.NextArg() {
		return nil, "", d.Errf("provider %s: transport: want `transport <module> { ... }`, e.g. `transport http { ... }`", provider)
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "http.reverse_proxy.transport."+name)
	if err != nil {
		return nil, "", err
	}
	rt, ok := unm.(http.RoundTripper)
	if !ok {
		return nil, "", d.Errf("provider %s: transport module %s is not an HTTP transport", provider, name)
	}
	return rt, name, nil
}

// writeTransport writes the provider's transport into its JSON: the one
// configured, or Caddy's `http` transport, completed with the provider's
// needs and the timeout shorthands. The mock runs in process and has
// none; its timeout stays its own.
func (p *Provider) writeTransport(d *caddyfile.Dispenser, rt http.RoundTripper, name string) error {
	typ, err := p.resolveType()
	if err != nil || typ.Name == "mock" {
		if rt != nil {
			return d.Errf("provider %s: the mock runs in process and takes no transport", p.Name)
		}
		return nil // an unknown type is reported at load
	}
	if rt == nil {
		rt, name = new(reverseproxy.HTTPTransport), "http"
	}
	timeout, dialTimeout := p.Timeout, p.DialTimeout
	p.Timeout, p.DialTimeout = 0, 0
	if timeout == 0 {
		timeout = caddy.Duration(defaultTimeout)
	}
	if dialTimeout == 0 {
		dialTimeout = caddy.Duration(defaultDialTimeout)
	}
	if ht, ok := rt.(*reverseproxy.HTTPTransport); ok {
		scheme := "https"
		if base := p.BaseURL; base != "" {
			scheme = "" // a placeholder: TLS is decided at load
			if u, err := url.Parse(base); err == nil && !strings.Contains(base, "{") {
				scheme = u.Scheme
			}
		} else if typ.DefaultBaseURL != "" {
			if u, err := url.Parse(typ.DefaultBaseURL); err == nil {
				scheme = u.Scheme
			}
		}
		completeHTTPTransport(ht, scheme, timeout, dialTimeout)
	} else {
		// another transport keeps the shorthands in the provider
		p.Timeout, p.DialTimeout = timeout, dialTimeout
	}
	p.TransportRaw = caddyconfig.JSONModuleObject(rt, "protocol", name, nil)
	return nil
}

// unmarshalBreaker reads `circuit_breaker <failures> [<open_for>]` or
// `circuit_breaker off`.
func unmarshalBreaker(d *caddyfile.Dispenser) (*CircuitBreaker, error) {
	args := d.RemainingArgs()
	if len(args) == 1 && args[0] == "off" {
		return &CircuitBreaker{Failures: -1}, nil
	}
	if len(args) < 1 || len(args) > 2 {
		return nil, d.Errf("circuit_breaker: want `circuit_breaker <failures> [<open_for>]` or `circuit_breaker off`")
	}
	n, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || n <= 0 {
		return nil, d.Errf("circuit_breaker: %q is not a positive number of failures", args[0])
	}
	cb := &CircuitBreaker{Failures: n}
	if len(args) == 2 {
		dur, err := caddy.ParseDuration(args[1])
		if err != nil || dur <= 0 {
			return nil, d.Errf("circuit_breaker: %q is not a duration such as 30s", args[1])
		}
		cb.OpenFor = caddy.Duration(dur)
	}
	return cb, nil
}

func unmarshalKey(d *caddyfile.Dispenser) (*limits.KeyConfig, error) {
	if !d.NextArg() {
		return nil, d.Errf("key: want `key <secret|sha256:<hex>> { ... }`")
	}
	k := new(limits.KeyConfig)
	secret := d.Val()
	label := "key"
	switch {
	case strings.HasPrefix(secret, "sha256:"):
		sum := strings.ToLower(strings.TrimPrefix(secret, "sha256:"))
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return nil, d.Errf("key sha256:...: want 64 hex digits after sha256:")
		}
		k.KeySHA256 = sum
		label = "key sha256:" + sum[:8]
	case strings.Contains(secret, "{"):
		k.Key = secret // a placeholder, resolved at load
		label = "key " + secret
	default:
		sum := sha256.Sum256([]byte(secret))
		k.KeySHA256 = hex.EncodeToString(sum[:])
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "name":
			k.Name, err = singleArg(d)
			label = "key " + k.Name
		case "providers":
			k.Providers = append(k.Providers, d.RemainingArgs()...)
			if len(k.Providers) == 0 {
				return nil, d.Errf("%s: providers needs at least one name", label)
			}
		case "models":
			k.Models = append(k.Models, d.RemainingArgs()...)
			if len(k.Models) == 0 {
				return nil, d.Errf("%s: models needs at least one pattern", label)
			}
		case "expires":
			var v string
			if v, err = singleArg(d); err == nil {
				var t time.Time
				if t, err = parseExpiry(v); err != nil {
					return nil, d.Errf("%s: expires %q: want an RFC 3339 time or a date (2026-12-31)", label, v)
				}
				k.Expires = &t
			}
		case "disabled":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			k.Disabled = true
		default:
			if !isPolicyDirective(d.Val()) {
				return nil, d.Errf("%s: unknown subdirective %q", label, d.Val())
			}
			err = unmarshalPolicyLine(d, &k.Policy)
		}
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}

func isPolicyDirective(v string) bool {
	switch v {
	case "rpm", "tpm", "concurrency", "session", "budget", "budget_strict":
		return true
	}
	return false
}

// unmarshalPolicyLine reads one limit line (rpm, tpm, concurrency,
// session, budget) into p; other lines are left to the caller.
func unmarshalPolicyLine(d *caddyfile.Dispenser, p *limits.Policy) error {
	name := d.Val()
	switch name {
	case "rpm", "tpm", "concurrency":
		v, err := limitArg(d)
		if err != nil {
			return err
		}
		switch name {
		case "rpm":
			p.RPM = v
		case "tpm":
			p.TPM = v
		default:
			p.Concurrency = v
		}
	case "session":
		args := d.RemainingArgs()
		if len(args) == 1 && args[0] == "unlimited" {
			p.Session = &limits.SessionQuota{Tokens: limits.Unlimited}
			return nil
		}
		if len(args) != 2 {
			return d.Errf("session: want `session <window> <tokens>`, e.g. `session 5h 2000000`")
		}
		window, err := caddy.ParseDuration(args[0])
		if err != nil || window <= 0 {
			return d.Errf("session: %q is not a duration such as 5h", args[0])
		}
		tokens, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || tokens <= 0 {
			return d.Errf("session: %q is not a positive number of tokens", args[1])
		}
		p.Session = &limits.SessionQuota{Window: caddy.Duration(window), Tokens: tokens}
	case "budget_strict":
		if d.NextArg() {
			return d.ArgErr()
		}
		p.BudgetStrict = true
	case "budget":
		v, err := singleArg(d)
		if err != nil {
			return err
		}
		if v == "unlimited" {
			p.Budget = limits.Unlimited
			return nil
		}
		usd, err := strconv.ParseFloat(strings.TrimPrefix(v, "$"), 64)
		if err != nil || usd <= 0 {
			return d.Errf("budget: %q is not a positive amount of USD", v)
		}
		p.Budget = usd
	}
	return nil
}

// unmarshalStore reads `store memory [{ state_file <path> }]`, or `store
// redis ...`, which the Redis store's own UnmarshalCaddyfile reads.
func unmarshalStore(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.Errf("store: want `store memory` or `store redis <url>`")
	}
	switch d.Val() {
	case "memory":
		if d.CountRemainingArgs() != 0 {
			return nil, d.Errf("store memory takes no arguments")
		}
		store := new(limits.MemoryStore)
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch d.Val() {
			case "state_file":
				v, err := singleArg(d)
				if err != nil {
					return nil, err
				}
				store.StateFile = v
			default:
				return nil, d.Errf("store memory: unknown subdirective %q (want state_file)", d.Val())
			}
		}
		return caddyconfig.JSONModuleObject(store, "type", "memory", nil), nil
	case "redis":
		store := new(limits.RedisStore)
		if err := store.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
			return nil, err
		}
		return caddyconfig.JSONModuleObject(store, "type", "redis", nil), nil
	}
	return nil, d.Errf("store: unknown store %q (want memory or redis)", d.Val())
}

func singleArg(d *caddyfile.Dispenser) (string, error) {
	name := d.Val()
	if !d.NextArg() {
		return "", d.Errf("%s: missing value", name)
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.Errf("%s: takes one value", name)
	}
	return v, nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur <= 0 {
		return 0, d.Errf("%s: %q is not a positive duration such as 30s", name, v)
	}
	return caddy.Duration(dur), nil
}

func positiveInt(d *caddyfile.Dispenser) (int64, error) {
	name := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, d.Errf("%s: %q is not a positive whole number", name, v)
	}
	return n, nil
}

// limitArg reads a positive count or `unlimited`.
func limitArg(d *caddyfile.Dispenser) (int64, error) {
	name := d.Val()
	v, err := singleArg(d)
	if err != nil {
		return 0, err
	}
	if v == "unlimited" {
		return limits.Unlimited, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, d.Errf("%s: %q is not a positive whole number (or unlimited)", name, v)
	}
	return n, nil
}

func parseExpiry(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, v)
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Gateway)(nil)
