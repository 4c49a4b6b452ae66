package llmgateway

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmgateway/caddy-llm-gateway/limits"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// MetricsConfig says what the gateway exports on Caddy's /metrics.
type MetricsConfig struct {
	// Disabled turns the gateway's metrics off (`metrics off`).
	Disabled bool `json:"disabled,omitempty"`
	// PerKey exports the caddy_llm_gateway_key_* families, one series
	// per client key (by its name). Default: on; turn it off for very
	// many keys.
	PerKey *bool `json:"per_key,omitempty"`
}

func (m *MetricsConfig) enabled() bool { return m == nil || !m.Disabled }

func (m *MetricsConfig) perKey() bool {
	return m.enabled() && (m == nil || m.PerKey == nil || *m.PerKey)
}

// The collectors are made once per process and registered on every
// config load's registry (Caddy gives each load a new one), so their
// values outlive reloads. Label values come from the config only: a
// provider's name, a configured model name or `_other`, an error code of
// the contract or `ok`, a key's name; never a string a client chose.
var (
	genAIDurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	genAITTFTBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	genAITokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}

	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_gateway", Name: "requests_total",
		Help: "Client requests to the gateway's API paths, by the route that answered (or was last tried) and the outcome.",
	}, []string{"provider", "model", "protocol", "stream", "code"})
	attemptsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_gateway", Name: "upstream_attempts_total",
		Help: "Attempts sent to providers (attempts minus requests are retries and fallbacks).",
	}, []string{"provider", "model", "code"})
	tokensTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_gateway", Name: "tokens_total",
		Help: "Tokens the providers reported: input (neither read from nor written to a cache), output, cache_read, cache_write.",
	}, []string{"provider", "model", "type"})
	costTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_gateway", Name: "cost_usd_total",
		Help: "What the answered requests cost, in USD, at the configured prices.",
	}, []string{"provider", "model"})
	keyRequestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_gateway", Name: "key_requests_total",
		Help: "Client requests by client key (its name) and outcome.",
	}, []string{"key", "code"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_server_request_duration_seconds", Buckets: genAIDurationBuckets,
		Help: "Time from the request's arrival to its answer's last byte (OpenTelemetry GenAI).",
	}, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"})
	timeToFirstToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_server_time_to_first_token_seconds", Buckets: genAITTFTBuckets,
		Help: "Time from a streamed request's arrival to its first event reaching the client, for streams that succeed (OpenTelemetry GenAI).",
	}, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"})
	tokenUsage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_client_token_usage", Buckets: genAITokenBuckets,
		Help: "Tokens per request, input and output (OpenTelemetry GenAI).",
	}, []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"})

	collectors = []prometheus.Collector{
		requestsTotal, attemptsTotal, tokensTotal, costTotal, keyRequestsTotal,
		requestDuration, timeToFirstToken, tokenUsage, stateCollector{},
	}
)

// registerMetrics registers the collectors on the config load's registry;
// the second gateway of a config finds them there already.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// Label values for what has none.
const (
	labelNone  = "_none"  // the request failed before it was routed
	labelOther = "_other" // a model the config does not name
)

// modelLabel is the model's label: its name when the config names it
// (in a provider's models, an alias or a fallback), else `_other`.
func (g *Gateway) modelLabel(model string) string {
	if g.modelLabels[model] {
		return model
	}
	return labelOther
}

// configuredModels are the model names the config names, the only ones
// that become label values.
func configuredModels(rt *router) map[string]bool {
	names := make(map[string]bool)
	for _, m := range rt.listed {
		names[m.route.Model] = true
	}
	for _, chain := range rt.fallbacks {
		for _, r := range chain {
			names[r.Model] = true
		}
	}
	for _, r := range rt.aliases {
		names[r.Model] = true
	}
	return names
}

// labelCache caches the children of a metric vector by their label
// values: looking a child up in the vector costs a hash of every value
// and an allocation; a cached one costs a map read.
type labelCache[K comparable, M any] struct {
	m   sync.Map
	get func(K) M
}

func (c *labelCache[K, M]) with(k K) M {
	if v, ok := c.m.Load(k); ok {
		return v.(M)
	}
	v := c.get(k)
	c.m.Store(k, v)
	return v
}

type (
	requestLabels  struct{ provider, model, protocol, stream, code string }
	routeLabels    struct{ provider, model, code string }
	tokenLabels    struct{ provider, model, kind string }
	modelLabels    struct{ provider, model string }
	keyLabels      struct{ key, code string }
	durationLabels struct{ op, provider, model, errorType string }
	genAILabels    struct{ op, provider, model, kind string }
)

var (
	requestsChildren = labelCache[requestLabels, prometheus.Counter]{get: func(l requestLabels) prometheus.Counter {
		return requestsTotal.WithLabelValues(l.provider, l.model, l.protocol, l.stream, l.code)
	}}
	attemptsChildren = labelCache[routeLabels, prometheus.Counter]{get: func(l routeLabels) prometheus.Counter {
		return attemptsTotal.WithLabelValues(l.provider, l.model, l.code)
	}}
	tokensChildren = labelCache[tokenLabels, prometheus.Counter]{get: func(l tokenLabels) prometheus.Counter {
		return tokensTotal.WithLabelValues(l.provider, l.model, l.kind)
	}}
	costChildren = labelCache[modelLabels, prometheus.Counter]{get: func(l modelLabels) prometheus.Counter {
		return costTotal.WithLabelValues(l.provider, l.model)
	}}
	keyChildren = labelCache[keyLabels, prometheus.Counter]{get: func(l keyLabels) prometheus.Counter {
		return keyRequestsTotal.WithLabelValues(l.key, l.code)
	}}
	durationChildren = labelCache[durationLabels, prometheus.Observer]{get: func(l durationLabels) prometheus.Observer {
		return requestDuration.WithLabelValues(l.op, l.provider, l.model, l.errorType)
	}}
	ttftChildren = labelCache[genAILabels, prometheus.Observer]{get: func(l genAILabels) prometheus.Observer {
		return timeToFirstToken.WithLabelValues(l.op, l.provider, l.model)
	}}
	tokenUsageChildren = labelCache[genAILabels, prometheus.Observer]{get: func(l genAILabels) prometheus.Observer {
		return tokenUsage.WithLabelValues(l.op, l.provider, l.model, l.kind)
	}}
)

// forgetKey drops the series of a key that is gone (revoked, removed):
// none of its values may linger as if it still served.
func forgetKey(name string) {
	keyRequestsTotal.DeletePartialMatch(prometheus.Labels{"key": name})
	keyChildren.m.Range(func(k, _ any) bool {
		if k.(keyLabels).key == name {
			keyChildren.m.Delete(k)
		}
		return true
	})
}

// operation is the endpoint's OpenTelemetry GenAI operation name.
func operation(ep *providers.Endpoint) string {
	switch ep.Path {
	case "/v1/completions":
		return "text_completion"
	case "/v1/embeddings":
		return "embeddings"
	case "/v1/messages/count_tokens":
		return "count_tokens"
	}
	return "chat"
}

// recordMetrics counts one finished API request.
func (x *exchange) recordMetrics() {
	g := x.g
	if !g.Metrics.enabled() || x.endpoint == nil {
		return
	}
	code := "ok"
	if x.errCode != "" {
		code = string(x.errCode)
	}
	provider, model := labelNone, labelNone
	res := &x.result
	if up := res.Route.Upstream; up != nil {
		provider, model = up.Name, g.modelLabel(res.Route.Model)
	}
	protocol := "openai"
	if x.endpoint.Protocol == providers.Anthropic {
		protocol = "anthropic"
	}
	stream := "false"
	if x.body != nil && x.body.Stream {
		stream = "true"
	}
	requestsChildren.with(requestLabels{provider, model, protocol, stream, code}).Inc()
	for _, try := range res.Tries {
		tryCode := "ok"
		if try.Code != "" {
			tryCode = string(try.Code)
		}
		attemptsChildren.with(routeLabels{try.Route.Upstream.Name, g.modelLabel(try.Route.Model), tryCode}).Inc()
	}
	op := operation(x.endpoint)
	errorType := ""
	if x.errCode != "" {
		errorType = code
	}
	durationChildren.with(durationLabels{op, provider, model, errorType}).Observe(time.Since(x.start).Seconds())
	if res.Committed && res.Err == nil && stream == "true" {
		ttftChildren.with(genAILabels{op, provider, model, ""}).Observe(res.FirstByte.Seconds())
	}
	if res.SawUsage {
		u := res.Usage
		for _, t := range [...]struct {
			kind string
			n    int64
		}{{"input", u.Uncached()}, {"output", u.Output}, {"cache_read", u.CacheRead}, {"cache_write", u.CacheWrite}} {
			if t.n > 0 {
				tokensChildren.with(tokenLabels{provider, model, t.kind}).Add(float64(t.n))
			}
		}
		tokenUsageChildren.with(genAILabels{op, provider, model, "input"}).Observe(float64(u.Input))
		tokenUsageChildren.with(genAILabels{op, provider, model, "output"}).Observe(float64(u.Output))
	}
	if x.cost > 0 {
		costChildren.with(modelLabels{provider, model}).Add(x.cost)
	}
	if x.key != nil && g.Metrics.perKey() {
		keyChildren.with(keyLabels{x.key.Name, code}).Inc()
	}
}

// stateCollector reads at scrape time what is state, not a count: each
// provider key's state, and each budgeted key's spend and what remains,
// from the store, so a revoked key's series vanish with it and nothing
// goes stale. A series that two live gateways (a reload in progress, two
// sites) would both give is given once.
type stateCollector struct{}

var (
	providerStateDesc = prometheus.NewDesc("caddy_llm_gateway_provider_state",
		"Each provider key's state: 0 serving, 1 set aside (refused, out of credit, or rate-limited for some model), 2 the provider's circuit open.",
		[]string{"provider", "key_index"}, nil)
	keySpendDesc = prometheus.NewDesc("caddy_llm_gateway_key_spend_usd",
		"What each client key with a budget has spent, in USD.", []string{"key"}, nil)
	keyBudgetRemainingDesc = prometheus.NewDesc("caddy_llm_gateway_key_budget_remaining_usd",
		"What each client key with a budget has left, in USD, after what requests in flight reserved.", []string{"key"}, nil)
)

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- providerStateDesc
	ch <- keySpendDesc
	ch <- keyBudgetRemainingDesc
}

func (stateCollector) Collect(ch chan<- prometheus.Metric) {
	seen := make(map[string]bool)
	once := func(series string) bool {
		if seen[series] {
			return false
		}
		seen[series] = true
		return true
	}
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs := gateways()
	for i := len(gs) - 1; i >= 0; i-- { // the newest config first
		g := gs[i]
		if !g.Metrics.enabled() {
			continue
		}
		for _, p := range g.Providers {
			open := p.up.Health.ProviderCircuitOpen()
			states := p.up.Pool.States(now)
			if len(states) == 0 {
				states = []providers.KeyState{{Index: 0}}
			}
			for _, ks := range states {
				idx := strconv.Itoa(ks.Index)
				if !once("p\x00" + p.Name + "\x00" + idx) {
					continue
				}
				v := 0.0
				switch {
				case open:
					v = 2
				case !ks.Until.IsZero() || len(ks.ModelsAside) > 0:
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(providerStateDesc, prometheus.GaugeValue, v, p.Name, idx)
			}
		}
		ur, ok := g.store.(limits.UsageReader)
		if !ok || !g.Metrics.perKey() {
			continue
		}
		for _, k := range g.keyring().Keys() {
			if k.Policy.Budget <= 0 || k.Disabled || !once("k\x00"+k.Name) {
				continue
			}
			u, err := ur.Usage(ctx, k)
			if err != nil {
				continue // the store is down: no value rather than a wrong one
			}
			ch <- prometheus.MustNewConstMetric(keySpendDesc, prometheus.GaugeValue, u.Spent, k.Name)
			ch <- prometheus.MustNewConstMetric(keyBudgetRemainingDesc, prometheus.GaugeValue, u.BudgetRemaining(k), k.Name)
		}
	}
}
