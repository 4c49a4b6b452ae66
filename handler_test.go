package llmgateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const providerKey = "sk-provider-0123456789secret"

func TestForwardsOpenAIRequest(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider groq {
			base_url %s/openai/v1
			api_key %s
			models llama-3.1-70b-versatile
		}`, up.URL, providerKey))

	resp, body := post(t, tester, "/v1/chat/completions?trace=1",
		`{"model":"llama-3.1-70b-versatile","messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "Bearer ck-client-secret",
		"X-Api-Key", "ck-client-secret",
		"X-Goog-Api-Key", "ck-client-secret",
		"OpenAI-Beta", "assistants=v2",
		"X-Request-Id", "client-trace-42")
	wantStatus(t, resp, body, 200)
	if string(body) != chatOK {
		t.Fatalf("the answer was changed on the way: %s", body)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "client-trace-42" {
		t.Errorf("X-Request-Id = %q, want the client's sane ID kept", got)
	}

	got := up.last(t)
	if got.Path != "/openai/v1/chat/completions" || got.RawQuery != "trace=1" {
		t.Errorf("upstream URL = %s?%s, want the base URL's path plus the endpoint, query kept", got.Path, got.RawQuery)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer "+providerKey {
		t.Errorf("upstream Authorization = %q, want the provider's key", a)
	}
	for _, h := range []string{"X-Api-Key", "X-Goog-Api-Key", "X-Forwarded-For", "X-Forwarded-Host"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("upstream received %s: %q; the client's key and address must not be forwarded", h, v)
		}
	}
	if v := got.Header.Get("Openai-Beta"); v != "assistants=v2" {
		t.Errorf("OpenAI-Beta = %q, want it forwarded as sent", v)
	}
	if !strings.HasPrefix(got.Host, "127.0.0.1:") {
		t.Errorf("upstream Host = %q, want the provider's host", got.Host)
	}
	if m := gjson.GetBytes(got.Body, "model").Str; m != "llama-3.1-70b-versatile" {
		t.Errorf("upstream model = %q", m)
	}
}

func TestForwardsAnthropicRequest(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(messageOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key %s
			models claude-*
		}`, up.URL, providerKey))

	body := `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	// Claude Code calls /v1/messages?beta=true with its key as x-api-key.
	resp, answer := post(t, tester, "/v1/messages?beta=true", body,
		"X-Api-Key", "ck-client-secret", "Anthropic-Beta", "tools-2024-04-04")
	wantStatus(t, resp, answer, 200)
	got := up.last(t)
	if got.Path != "/v1/messages" || got.RawQuery != "beta=true" {
		t.Errorf("upstream URL = %s?%s, want /v1/messages?beta=true", got.Path, got.RawQuery)
	}
	if k := got.Header.Get("X-Api-Key"); k != providerKey {
		t.Errorf("upstream x-api-key = %q, want the provider's key", k)
	}
	if a := got.Header.Get("Authorization"); a != "" {
		t.Errorf("upstream Authorization = %q, want none", a)
	}
	if v := got.Header.Get("Anthropic-Version"); v != "2023-06-01" {
		t.Errorf("anthropic-version = %q, want the default when the client sent none", v)
	}
	if v := got.Header.Get("Anthropic-Beta"); v != "tools-2024-04-04" {
		t.Errorf("anthropic-beta = %q, want it forwarded", v)
	}

	// A client's own anthropic-version is forwarded as sent.
	post(t, tester, "/v1/messages", body, "Anthropic-Version", "2024-01-01")
	if v := up.last(t).Header.Get("Anthropic-Version"); v != "2024-01-01" {
		t.Errorf("anthropic-version = %q, want the client's", v)
	}
}

func TestRouting(t *testing.T) {
	openai := newFakeProvider(t, jsonAnswer(chatOK))
	groq := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		error_format ccproxy
		provider openai {
			base_url %s/v1
			api_key sk-a
			models gpt-4o gpt-4o-mini
		}
		provider groq {
			base_url %s/v1
			api_key sk-b
			models moonshotai/* gpt-4o
		}
		alias fast groq:llama-3.1-8b-instant`, openai.URL, groq.URL))

	cases := []struct {
		model     string
		provider  *fakeProvider
		sentModel string
	}{
		{"gpt-4o", openai, "gpt-4o"},                                         // first provider listing it
		{"groq:gpt-4o", groq, "gpt-4o"},                                      // provider:model
		{"fast", groq, "llama-3.1-8b-instant"},                               // alias
		{"moonshotai/kimi-k2-instruct", groq, "moonshotai/kimi-k2-instruct"}, // pattern
		{"openai:o3", openai, "o3"},                                          // any model by prefix
	}
	for _, c := range cases {
		before := len(c.provider.requests())
		resp, body := post(t, tester, "/v1/chat/completions", `{"model":"`+c.model+`","messages":[{"role":"user","content":"x"}]}`)
		wantStatus(t, resp, body, 200)
		reqs := c.provider.requests()
		if len(reqs) != before+1 {
			t.Errorf("%s: not routed to the expected provider", c.model)
			continue
		}
		if m := gjson.GetBytes(reqs[len(reqs)-1].Body, "model").Str; m != c.sentModel {
			t.Errorf("%s: sent model %q, want %q", c.model, m, c.sentModel)
		}
	}

	resp, body := post(t, tester, "/v1/chat/completions", `{"model":"invalid-model","messages":[{"role":"user","content":"x"}]}`)
	wantStatus(t, resp, body, 404)
	wantJSON(t, body, "error.code", "model_not_found")
	wantJSON(t, body, "error.type", "provider_error")
	wantJSON(t, body, "error.message", "Model 'invalid-model' not found")
	wantJSON(t, body, "error.details.available_models", []any{"fast", "gpt-4o", "gpt-4o-mini"})
}

// Only Anthropic Messages and OpenAI Chat Completions translate into each
// other: the OpenAI-only endpoints are refused on an Anthropic provider,
// naming both protocols, and nothing goes upstream.
func TestUntranslatableEndpointIsRefused(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(messageOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key sk-a
			models claude-*
		}`, up.URL))
	for path, body := range map[string]string{
		"/v1/responses":   `{"model":"claude-sonnet-4-5","input":"x"}`,
		"/v1/embeddings":  `{"model":"claude-sonnet-4-5","input":"x"}`,
		"/v1/completions": `{"model":"claude-sonnet-4-5","prompt":"x"}`,
	} {
		resp, answer := post(t, tester, path, body)
		wantStatus(t, resp, answer, 400)
		wantJSON(t, answer, "error.type", "invalid_request_error")
		msg := gjson.GetBytes(answer, "error.message").Str
		if !strings.Contains(msg, "OpenAI") || !strings.Contains(msg, "Anthropic") {
			t.Errorf("%s: message %q should name both protocols", path, msg)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the provider received %d requests, want none", n)
	}
}

func TestModelsList(t *testing.T) {
	tester := loadGateway(t, `
		provider mock {
			models mock-a mock-b mock-*
		}
		alias fast mock:mock-a`)

	resp, body := get(t, tester, "/v1/models")
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "object", "list")
	ids := gjson.GetBytes(body, "data.#.id").Array()
	if fmt.Sprint(ids) != "[fast mock-a mock-b]" {
		t.Errorf("models = %v, want the alias and the listed names (patterns are not names)", ids)
	}
	wantJSON(t, body, "data.0.object", "model")
	wantJSON(t, body, "data.1.owned_by", "mock")

	resp, body = get(t, tester, "/v1/models", "Anthropic-Version", "2023-06-01")
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "data.0.type", "model")
	wantJSON(t, body, "data.0.id", "fast")
	wantJSON(t, body, "has_more", false)
	wantJSON(t, body, "first_id", "fast")
	wantJSON(t, body, "last_id", "mock-b")

	resp, body = get(t, tester, "/v1/models/mock-b")
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "id", "mock-b")
	resp, body = get(t, tester, "/v1/models/nope")
	wantStatus(t, resp, body, 404)
	wantJSON(t, body, "error.type", "not_found")
}

func TestHealthAndStatus(t *testing.T) {
	tester := loadGateway(t, `
		provider mock
		provider openai {
			api_key sk-one sk-two
		}`)
	resp, body := get(t, tester, "/health")
	wantStatus(t, resp, body, 200)
	if string(body) != `{"status":"ok"}` {
		t.Errorf("/health = %s", body)
	}
	resp, body = get(t, tester, "/status")
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "status", "ok")
	wantJSON(t, body, "providers.1.name", "openai")
	wantJSON(t, body, "providers.1.type", "openai")
	wantJSON(t, body, "providers.1.state", "healthy")
	wantJSON(t, body, "providers.1.keys.1.index", 1)
	wantJSON(t, body, "providers.1.keys.1.state", "healthy")
	if !gjson.GetBytes(body, "uptime_seconds").Exists() || !gjson.GetBytes(body, "version").Exists() {
		t.Errorf("/status lacks uptime_seconds or version: %s", body)
	}
	if strings.Contains(string(body), "sk-one") || strings.Contains(string(body), "sk-two") {
		t.Errorf("/status shows a provider key: %s", body)
	}
}

// Bad input gets a clear error in the request's envelope, and the server
// keeps serving.
func TestBadInput(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		max_request_body 1KB
		provider openai {
			base_url %s/v1
			api_key sk-a
			models gpt-4o
		}`, up.URL))
	good := `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`
	cases := []struct {
		name, method, path, contentType, body string
		status                                int
		code, field                           string
	}{
		{"invalid JSON", "POST", "/v1/chat/completions", "application/json", `{"model":`, 400, "400", ""},
		{"not an object", "POST", "/v1/chat/completions", "application/json", `[1,2]`, 400, "400", ""},
		{"wrong content type", "POST", "/v1/chat/completions", "text/plain", good, 400, "400", ""},
		{"missing model", "POST", "/v1/chat/completions", "application/json", `{"messages":[{"role":"user","content":"x"}]}`, 400, "400", "model"},
		{"model not a string", "POST", "/v1/chat/completions", "application/json", `{"model":7,"messages":[{"role":"user","content":"x"}]}`, 400, "400", "model"},
		{"missing messages", "POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o"}`, 400, "400", "messages"},
		{"empty messages", "POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o","messages":[ ]}`, 400, "400", "messages"},
		{"stream not a bool", "POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o","stream":"yes","messages":[{"role":"user","content":"x"}]}`, 400, "400", "stream"},
		{"body too large", "POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`, 413, "413", ""},
		{"unknown endpoint", "POST", "/v1/nope", "application/json", good, 404, "404", ""},
		{"wrong method", "GET", "/v1/chat/completions", "", "", 405, "405", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, gatewayAddr+c.path, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			resp, body := do(t, tester, req)
			wantStatus(t, resp, body, c.status)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			wantJSON(t, body, "error.code", c.code)
			if gjson.GetBytes(body, "error.message").Str == "" {
				t.Errorf("no message: %s", body)
			}
			if c.field != "" {
				wantJSON(t, body, "error.param", c.field)
			}
			if resp.Header.Get("X-Should-Retry") != "false" {
				t.Errorf("x-should-retry = %q, want false", resp.Header.Get("X-Should-Retry"))
			}
			// and the server keeps serving
			resp, body = post(t, tester, "/v1/chat/completions", good)
			wantStatus(t, resp, body, 200)
		})
	}
	if n := len(up.requests()); n != len(cases) {
		t.Errorf("the provider received %d requests, want only the %d good ones", n, len(cases))
	}
}

func TestRequestIDs(t *testing.T) {
	tester := loadGateway(t, `provider mock`)
	resp, body := get(t, tester, "/health", "X-Request-Id", "bad id with spaces")
	wantStatus(t, resp, body, 200)
	id := resp.Header.Get("X-Request-Id")
	if id == "" || strings.Contains(id, " ") {
		t.Errorf("X-Request-Id = %q, want a fresh ID in place of an insane one", id)
	}
	_, body2 := get(t, tester, "/v1/nope")
	resp2, _ := get(t, tester, "/v1/nope")
	if resp2.Header.Get("X-Request-Id") == "" || gjson.GetBytes(body2, "error.code").Str != "404" {
		t.Errorf("error answers carry an X-Request-Id: %v", resp2.Header)
	}
}
