package llmgateway

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/tidwall/gjson"

	"github.com/llmgateway/caddy-llm-gateway/errors/envelopetest"
)

// seedCase is one example of a seed document, produced by driving the
// gateway into the situation it describes.
type seedCase struct {
	name   string
	format string
	// setup is the llm_gateway body; upstream the fake provider's answer
	setup    string
	upstream http.HandlerFunc
	// request: path, body, headers (the client key is added as team-a)
	path, body string
	headers    []string
	// what the seed shows
	status  int
	want    map[string]any // gjson path → value
	prefix  string         // the message begins so
	details []string       // keys details must hold
	header  map[string]string
}

// TestSeedExamples reproduces the documented examples of the seed
// documents field for field through the running gateway: keys and their
// order (envelopetest), value types, type names, status, and headers.
// Messages begin with the seed's words; the gateway may add what to do.
func TestSeedExamples(t *testing.T) {
	chat := `{"model":"%s","max_tokens":50,"messages":[{"role":"user","content":"hello"}]}`
	groq401 := errorAnswer(401, map[string]string{"Content-Type": "application/json"},
		`{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}`)
	groq503 := errorAnswer(503, map[string]string{"Content-Type": "application/json", "Retry-After": "30"},
		`{"error":{"message":"Service Unavailable","type":"internal_server_error"}}`)
	cases := []seedCase{
		{name: "000 invalid API key for provider", format: "ccproxy", upstream: groq401,
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 401,
			want:   map[string]any{"error.type": "authentication_error", "error.code": "invalid_api_key", "error.message": "Invalid API key for provider 'groq'", "error.details.provider": "groq"},
			header: map[string]string{"X-Should-Retry": "false"}},
		{name: "000 missing API key", format: "ccproxy",
			setup: `provider openai {
				api_key {env.LLM_GATEWAY_TEST_UNSET}
				models gpt-4o
			}`,
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "gpt-4o"), status: 401,
			want: map[string]any{"error.type": "authentication_error", "error.code": "missing_api_key", "error.message": "API key not configured for provider 'openai'"}},
		{name: "000 rate limit", format: "ccproxy", setup: `key ` + clientKeyA + ` {
				rpm 1
			}`, upstream: jsonAnswer(chatOK),
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 429,
			want:    map[string]any{"error.type": "rate_limit_error", "error.code": "rate_limit_exceeded", "error.details.limit": 1, "error.details.remaining": 0},
			prefix:  "Rate limit exceeded",
			details: []string{"retry_after", "limit", "remaining"}},
		{name: "000 model not found", format: "ccproxy", upstream: jsonAnswer(chatOK),
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "invalid-model"), status: 404,
			want: map[string]any{"error.type": "provider_error", "error.code": "model_not_found", "error.message": "Model 'invalid-model' not found",
				"error.details.provider": "groq", "error.details.available_models": []any{"moonshotai/kimi-k2-instruct", "llama-3.1-70b-versatile"}}},
		{name: "000 provider unavailable", format: "ccproxy", upstream: groq503,
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 503,
			want:   map[string]any{"error.type": "provider_error", "error.code": "provider_unavailable", "error.message": "Provider 'groq' is temporarily unavailable", "error.details.retry_after": 30},
			header: map[string]string{"Retry-After": "30"}},
		{name: "001 rate limit", format: "coollm", setup: `key ` + clientKeyA + ` {
				rpm 1
			}`, upstream: jsonAnswer(chatOK),
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 429,
			want:    map[string]any{"error.message": "rate limit exceeded", "error.type": "rate_limit_error", "error.code": 429, "error.details.remaining": 0},
			details: []string{"retry_after", "limit", "remaining"}},
		{name: "001 invalid api key", format: "coollm", setup: `key ` + clientKeyA,
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), headers: []string{"Authorization", "Bearer ck-unknown"}, status: 401,
			want: map[string]any{"error.message": "invalid api key", "error.type": "authentication_error", "error.code": 401}},
		{name: "002 validation error", format: "proxed",
			path: "/v1/chat/completions", body: `{"messages":[{"role":"user","content":"x"}]}`, status: 400,
			want:    map[string]any{"error": "VALIDATION_ERROR", "details.field": "model"},
			details: []string{"field"}},
		{name: "002 provider error", format: "proxed", upstream: errorAnswer(500, nil, `{"error":{"message":"boom","type":"server_error"}}`),
			setup: "retry {\n\t\t\t\tmax_attempts 1\n\t\t\t}",
			path:  "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 502,
			want:    map[string]any{"error": "PROVIDER_ERROR", "details.provider": "groq"},
			details: []string{"provider"}},
		{name: "003 insufficient balance", format: "openai", setup: `price groq:* 1000 1000
			key ` + clientKeyA + ` {
				budget 0.01
			}`, upstream: jsonAnswer(chatOK),
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 402,
			want:   map[string]any{"error.type": "insufficient_quota", "error.code": "402"},
			prefix: "Insufficient balance. Current: $0.01, Required: $0.0"},
		{name: "003 invalid API key, OpenAI protocol", format: "openai", setup: `key ` + clientKeyA,
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), headers: []string{"Authorization", "Bearer ck-revoked"}, status: 401,
			want: map[string]any{"error.message": "Invalid API key", "error.type": "authentication_error", "error.code": "401"}},
		{name: "003 invalid API key, Anthropic protocol", format: "anthropic", setup: `key ` + clientKeyA,
			path: "/v1/messages", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), headers: []string{"X-Api-Key", "ck-revoked"}, status: 401,
			want: map[string]any{"type": "error", "error.type": "authentication_error", "error.message": "Invalid API key"}},
		{name: "003 rate limited", format: "openai", setup: `key ` + clientKeyA + ` {
				rpm 30
			}`, upstream: jsonAnswer(chatOK),
			path: "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 429,
			want:   map[string]any{"error.type": "rate_limit_error", "error.code": "429"},
			prefix: "Rate limit exceeded. Retry after 2 seconds.", header: map[string]string{"Retry-After": "2"}},
		{name: "003 timeout", format: "openai", setup: "retry {\n\t\t\t\tmax_attempts 1\n\t\t\t}",
			upstream: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			path:     "/v1/chat/completions", body: fmt.Sprintf(chat, "llama-3.1-70b-versatile"), status: 504,
			want:   map[string]any{"error.type": "timeout", "error.code": "504"},
			prefix: "Request timed out after 1 second"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			handler := c.upstream
			if handler == nil {
				handler = jsonAnswer(chatOK)
			}
			up := newFakeProvider(t, handler)
			tester := loadGateway(t, fmt.Sprintf(`
		error_format %s
		provider groq {
			type openai
			base_url %s/v1
			api_key gsk-provider-key
			models moonshotai/kimi-k2-instruct llama-3.1-70b-versatile
			timeout 1s
		}
		%s
		%s`, c.format, up.URL, c.setup, storeIn(t)))
			headers := c.headers
			if headers == nil {
				headers = []string{"Authorization", "Bearer " + clientKeyA}
			}
			var resp *http.Response
			var body []byte
			for i := 0; i < 40; i++ { // limits need some requests to be hit
				if resp, body = post(t, tester, c.path, c.body, headers...); resp.StatusCode != 200 {
					break
				}
			}
			wantStatus(t, resp, body, c.status)
			doc, err := envelopetest.Check(c.format, c.status, body)
			if err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			for path, want := range c.want {
				wantJSON(t, body, path, want)
			}
			msg := gjson.GetBytes(body, "error.message").Str
			if c.format == "proxed" {
				msg = gjson.GetBytes(body, "message").Str
				wantJSON(t, body, "requestId", resp.Header.Get("X-Request-Id"))
			}
			if !strings.HasPrefix(msg, c.prefix) {
				t.Errorf("message %q does not begin with the seed's %q", msg, c.prefix)
			}
			if len(c.details) > 0 {
				details := doc.Get("error", "details")
				if c.format == "proxed" {
					details = doc.Get("details")
				}
				for _, k := range c.details {
					if details == nil || details.Obj[k] == nil {
						t.Errorf("details lacks %s: %s", k, body)
					}
				}
			}
			for k, v := range c.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// No answer and no log line, not even at debug level, holds a provider key
// or a client key, whatever the provider says and however a request fails.
// The access log carries the error code (with the filter the README
// gives: Caddy's access log records request headers before any handler
// runs, and hides only Authorization of the key headers).
func TestNoSecretInAnswersOrLogs(t *testing.T) {
	const providerSecret = "sk-ant-api03-SECRETPROVIDERKEY0123456789"
	const clientSecret = "ck-live-SECRETCLIENTKEY0123456789"
	const wrongSecret = "ck-live-WRONGSECRETKEY0123456789"
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		switch gjson.GetBytes(mustRead(r), "model").Str {
		case "echo-key-401":
			errorAnswer(401, map[string]string{"Content-Type": "application/json"},
				`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key `+r.Header.Get("X-Api-Key")+`"}}`)(w, r)
		case "echo-key-400":
			errorAnswer(400, map[string]string{"Content-Type": "application/json"},
				`{"type":"error","error":{"type":"invalid_request_error","message":"bad request for key `+r.Header.Get("X-Api-Key")+`"}}`)(w, r)
		case "stream":
			pacedStream(anthropicEvents(2), 0)(w, r)
		default:
			jsonAnswer(messageOK)(w, r)
		}
	})
	dir := t.TempDir()
	logFile, accessFile := filepath.Join(dir, "caddy.log"), filepath.Join(dir, "access.log")
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`{
%s
	log {
		output file %s
		level DEBUG
	}
}
%s {
	log {
		output file %s
		# Caddy's access log hides Authorization itself; the other
		# headers clients send their keys in need this filter.
		format filter {
			request>headers>X-Api-Key delete
			request>headers>X-Goog-Api-Key delete
		}
	}
	log_append code {http.llm.error.code}
	llm_gateway {
		provider anthropic {
			base_url %s
			api_key %s
			models *
		}
		key %s {
			name team-a
		}
		%s
	}
}
`, globalPorts(), logFile, gatewayAddr, accessFile, up.URL, providerSecret, clientSecret, storeIn(t)), "caddyfile")

	var answers []string
	send := func(key, model string, stream bool) {
		resp, body := post(t, tester, "/v1/messages",
			fmt.Sprintf(`{"model":%q,"max_tokens":10,"stream":%v,"messages":[{"role":"user","content":"x"}]}`, model, stream),
			"X-Api-Key", key, "Authorization", "Bearer "+key)
		answers = append(answers, fmt.Sprint(resp.Header), string(body))
	}
	send(clientSecret, "fine", false)
	send(clientSecret, "stream", true)
	send(clientSecret, "echo-key-400", false)
	// (after a 401 the key is set aside for key_cooldown, so this comes last)
	send(clientSecret, "echo-key-401", false)
	send(wrongSecret, "fine", false)
	send("", "fine", false)
	// The admin API and the metrics go in the logs (the admin API logs
	// every request) and answers too.
	status, created := admin(t, "POST", "/llm_gateway/keys", `{"name":"secretless"}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, created)
	}
	apiSecret := gjson.GetBytes(created, "key").Str
	send(apiSecret, "fine", false)
	_, listed := admin(t, "GET", "/llm_gateway/keys", "")
	_, shown := admin(t, "GET", "/llm_gateway/keys/secretless", "")
	admin(t, "DELETE", "/llm_gateway/keys/secretless", "")
	metricsResp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(metricsResp.Body)
	metricsResp.Body.Close()
	answers = append(answers, string(listed), string(shown), string(metricsText))

	logs, _ := os.ReadFile(logFile)
	access, _ := os.ReadFile(accessFile)
	if len(logs) == 0 || len(access) == 0 {
		t.Fatalf("no logs were written (%d, %d bytes)", len(logs), len(access))
	}
	// Neither a secret nor the hash the store knows a key by, not even
	// its start, leaves the gateway.
	hashes := []string{sha256Hex(clientSecret), sha256Hex(clientSecret)[:16], sha256Hex(apiSecret), sha256Hex(apiSecret)[:16], sha256Hex(clientSecret)[:8]}
	for _, secret := range append([]string{providerSecret, clientSecret, wrongSecret, apiSecret, apiSecret[3:20], "SECRETPROVIDERKEY", "SECRETCLIENTKEY", "WRONGSECRETKEY"}, hashes...) {
		for name, text := range map[string]string{"answers": strings.Join(answers, "\n"), "the log": string(logs), "the access log": string(access)} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %q", name, secret)
			}
		}
	}
	for _, code := range []string{`"code":"invalid_api_key"`, `"code":"missing_api_key"`, `"llm_error_code":"invalid_request"`, `"llm_key":"team-a"`, `"llm_request_id":"req_`} {
		if !strings.Contains(string(access), code) {
			t.Errorf("the access log lacks %s", code)
		}
	}
}
