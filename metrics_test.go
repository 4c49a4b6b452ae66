package llmgateway

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/tidwall/gjson"
)

// scrape reads Caddy's /metrics: each series of the gateway's families as
// "name{label=value,...}" (labels sorted) to its value; a histogram gives
// its _count and _sum.
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not the text format: %v", err)
	}
	out := make(map[string]float64)
	for name, f := range families {
		if !strings.HasPrefix(name, "caddy_llm_gateway_") && !strings.HasPrefix(name, "gen_ai_") {
			continue
		}
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			series := name + "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[series] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[series] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count{"+strings.Join(labels, ",")+"}"] = float64(m.Histogram.GetSampleCount())
				out[name+"_sum{"+strings.Join(labels, ",")+"}"] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out
}

// delta is what each series gained from before to after.
func delta(before, after map[string]float64) map[string]float64 {
	d := make(map[string]float64)
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// After a known sequence of requests the gateway's metrics hold exactly
// what happened: counts by route and code, attempts, token sums by type,
// cost, per-key counts and budgets, latency histograms; label values come
// from the config only; a reload keeps every value.
func TestMetrics(t *testing.T) {
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch gjson.GetBytes(b, "model").Str {
		case "broken":
			errorAnswer(500, map[string]string{"Content-Type": "application/json"}, `{"error":{"message":"boom","type":"server_error"}}`)(w, r)
		case "streamer":
			pacedStream([]string{
				`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n",
				`data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":10,"total_tokens":50}}` + "\n\n",
				"data: [DONE]\n\n",
			}, 0)(w, r)
		default:
			jsonAnswer(`{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":100,"prompt_tokens_details":{"cached_tokens":600}}}`)(w, r)
		}
	})
	config := fmt.Sprintf(`
		provider metered {
			type openai
			base_url %s/v1
			api_key sk-a
			models gpt-4o broken streamer
		}
		provider wild {
			type openai
			base_url %s/v1
			api_key sk-b
			models *
		}
		price metered:gpt-4o 2 10
		key %s {
			name metrics-team
			rpm 3
			budget 10
		}
		retry {
			backoff 1ms
		}
		%s`, up.URL, up.URL, clientKeyA, storeIn(t))
	tester := loadGateway(t, config)
	before := scrape(t)

	auth := []string{"Authorization", "Bearer " + clientKeyA}
	chat := func(model string, stream bool) int {
		resp, _ := post(t, tester, "/v1/chat/completions", fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"x"}]}`, model, stream), auth...)
		return resp.StatusCode
	}
	if chat("gpt-4o", false) != 200 || chat("streamer", true) != 200 || chat("broken", false) != 502 || chat("gpt-4o", false) != 429 {
		t.Fatal("the sequence did not go as planned")
	}
	// A model the config does not name becomes _other (anonymous
	// requests are refused first: no route, no key).
	post(t, tester, "/v1/chat/completions", `{"model":"wild:some-name-a-client-chose","messages":[{"role":"user","content":"x"}]}`, "Authorization", "Bearer ck-not-a-key")

	got := delta(before, scrape(t))
	want := map[string]float64{
		`caddy_llm_gateway_requests_total{code=ok,model=gpt-4o,protocol=openai,provider=metered,stream=false}`:                                          1,
		`caddy_llm_gateway_requests_total{code=ok,model=streamer,protocol=openai,provider=metered,stream=true}`:                                         1,
		`caddy_llm_gateway_requests_total{code=provider_error,model=broken,protocol=openai,provider=metered,stream=false}`:                              1,
		`caddy_llm_gateway_requests_total{code=rate_limit_exceeded,model=_none,protocol=openai,provider=_none,stream=false}`:                            0,
		`caddy_llm_gateway_requests_total{code=invalid_api_key,model=_none,protocol=openai,provider=_none,stream=false}`:                                1,
		`caddy_llm_gateway_upstream_attempts_total{code=ok,model=gpt-4o,provider=metered}`:                                                              1,
		`caddy_llm_gateway_upstream_attempts_total{code=ok,model=streamer,provider=metered}`:                                                            1,
		`caddy_llm_gateway_upstream_attempts_total{code=provider_error,model=broken,provider=metered}`:                                                  2,
		`caddy_llm_gateway_tokens_total{model=gpt-4o,provider=metered,type=input}`:                                                                      400,
		`caddy_llm_gateway_tokens_total{model=gpt-4o,provider=metered,type=cache_read}`:                                                                 600,
		`caddy_llm_gateway_tokens_total{model=gpt-4o,provider=metered,type=output}`:                                                                     100,
		`caddy_llm_gateway_tokens_total{model=streamer,provider=metered,type=input}`:                                                                    40,
		`caddy_llm_gateway_tokens_total{model=streamer,provider=metered,type=output}`:                                                                   10,
		`caddy_llm_gateway_cost_usd_total{model=gpt-4o,provider=metered}`:                                                                               0.003,
		`caddy_llm_gateway_key_requests_total{code=ok,key=metrics-team}`:                                                                                2,
		`caddy_llm_gateway_key_requests_total{code=provider_error,key=metrics-team}`:                                                                    1,
		`caddy_llm_gateway_key_requests_total{code=rate_limit_exceeded,key=metrics-team}`:                                                               1,
		`gen_ai_server_request_duration_seconds_count{error_type=,gen_ai_operation_name=chat,gen_ai_provider_name=metered,gen_ai_request_model=gpt-4o}`: 1,
		`gen_ai_server_time_to_first_token_seconds_count{gen_ai_operation_name=chat,gen_ai_provider_name=metered,gen_ai_request_model=streamer}`:        1,
		`gen_ai_client_token_usage_sum{gen_ai_operation_name=chat,gen_ai_provider_name=metered,gen_ai_request_model=gpt-4o,gen_ai_token_type=input}`:    1000,
	}
	// The rate-limited request was refused before routing: _none.
	delete(want, `caddy_llm_gateway_requests_total{code=rate_limit_exceeded,model=_none,protocol=openai,provider=_none,stream=false}`)
	want[`caddy_llm_gateway_requests_total{code=rate_limit_exceeded,model=gpt-4o,protocol=openai,provider=metered,stream=false}`] = 1
	for series, v := range want {
		if diff := got[series] - v; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s gained %v, want %v", series, got[series], v)
		}
	}
	for series := range got {
		if strings.Contains(series, "some-name-a-client-chose") || strings.Contains(series, clientKeyA) {
			t.Errorf("a client's string became a label: %s", series)
		}
	}
	after := scrape(t)
	if v := after[`caddy_llm_gateway_key_spend_usd{key=metrics-team}`]; v < 0.002999 || v > 0.003001 {
		t.Errorf("key spend %v, want 0.003", v)
	}
	if v := after[`caddy_llm_gateway_key_budget_remaining_usd{key=metrics-team}`]; v < 9.996 || v > 9.998 {
		t.Errorf("budget remaining %v", v)
	}
	if _, ok := after[`caddy_llm_gateway_provider_state{key_index=0,provider=metered}`]; !ok {
		t.Error("no provider state")
	}

	// `caddy reload --force` keeps every value.
	forceReload(t, gatewayConfig(config))
	reloaded := scrape(t)
	for series, v := range after {
		if strings.HasSuffix(strings.SplitN(series, "{", 2)[0], "_total") && reloaded[series] != v {
			t.Errorf("%s was %v before the reload, %v after", series, v, reloaded[series])
		}
	}
}

// `metrics off` records nothing; `per_key off` drops the key families.
func TestMetricsOff(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider quiet {
			type openai
			base_url %s/v1
			api_key sk-a
			models silent
		}
		key %s {
			name quiet-team
			budget 5
		}
		metrics {
			per_key off
		}`, up.URL, clientKeyA))
	resp, body := chatAs(t, tester, clientKeyA, "silent")
	wantStatus(t, resp, body, 200)
	m := scrape(t)
	if m[`caddy_llm_gateway_requests_total{code=ok,model=silent,protocol=openai,provider=quiet,stream=false}`] == 0 {
		t.Error("the request was not counted")
	}
	for series := range m {
		if strings.Contains(series, "quiet-team") {
			t.Errorf("per_key off, yet %s", series)
		}
	}
	tester = loadGateway(t, fmt.Sprintf(`
		provider muted {
			type openai
			base_url %s/v1
			api_key sk-a
			models silent
		}
		metrics off`, up.URL))
	resp, body = post(t, tester, "/v1/chat/completions", `{"model":"silent","messages":[{"role":"user","content":"x"}]}`)
	wantStatus(t, resp, body, 200)
	for series := range scrape(t) {
		if strings.Contains(series, "provider=muted") {
			t.Errorf("metrics off, yet %s", series)
		}
	}
}

// A key removed from the config takes its series with it at the reload,
// as a revoked key does; none stays frozen at its last value.
func TestKeySeriesGoWithTheKey(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	with := fmt.Sprintf(`
		provider short {
			type openai
			base_url %s/v1
			api_key sk-a
			models m
		}
		key %s {
			name leaving-team
		}
		key %s {
			name staying-team
		}`, up.URL, clientKeyA, clientKeyB)
	tester := loadGateway(t, with)
	for _, k := range []string{clientKeyA, clientKeyB} {
		resp, body := chatAs(t, tester, k, "m")
		wantStatus(t, resp, body, 200)
	}
	if scrape(t)[`caddy_llm_gateway_key_requests_total{code=ok,key=leaving-team}`] == 0 {
		t.Fatal("no series for the key")
	}
	without := strings.Replace(with, fmt.Sprintf("key %s {\n\t\t\tname leaving-team\n\t\t}", clientKeyA), "", 1)
	loadGateway(t, without)
	m := scrape(t)
	if _, ok := m[`caddy_llm_gateway_key_requests_total{code=ok,key=leaving-team}`]; ok {
		t.Error("the removed key's series outlived the reload")
	}
	if m[`caddy_llm_gateway_key_requests_total{code=ok,key=staying-team}`] == 0 {
		t.Error("the kept key's series went too")
	}
}
