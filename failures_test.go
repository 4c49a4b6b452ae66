package llmgateway

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llmgateway/caddy-llm-gateway/errors/envelopetest"
)

// Every failure class, as the mock provider reproduces real providers'
// answers byte for byte, comes out of the gateway as the contract's
// envelope, through both protocols, streamed and not.
func TestEveryFailureClassThroughTheGateway(t *testing.T) {
	tester := loadGateway(t, `
		provider mock {
			models mock-*
			timeout 1s
			circuit_breaker off
		}
		retry {
			max_attempts 1
		}`)

	cases := []struct {
		model string
		// status and type in the openai and anthropic envelopes
		oaStatus  int
		oaType    string
		anStatus  int
		anType    string
		retry     string // Retry-After, "" when no wait is known
		noRetry   bool   // x-should-retry: false
		keepsText string // a part of the provider's message that must reach the client
	}{
		{"mock-openai-429", 429, "rate_limit_error", 429, "rate_limit_error", "3", false, ""},
		{"mock-openai-quota", 503, "service_unavailable", 503, "overloaded_error", "", true, ""},
		{"mock-openai-401", 401, "authentication_error", 401, "authentication_error", "", true, ""},
		{"mock-openai-400", 400, "invalid_request_error", 400, "invalid_request_error", "", true, "temperature"},
		{"mock-openai-404", 404, "not_found", 404, "not_found_error", "", true, ""},
		{"mock-openai-500", 502, "upstream_error", 502, "api_error", "", false, ""},
		{"mock-openai-503", 503, "service_unavailable", 503, "overloaded_error", "", false, ""},
		{"mock-anthropic-529", 503, "service_unavailable", 529, "overloaded_error", "", false, ""},
		{"mock-anthropic-429", 429, "rate_limit_error", 429, "rate_limit_error", "20", false, ""},
		{"mock-anthropic-401", 401, "authentication_error", 401, "authentication_error", "", true, ""},
		{"mock-anthropic-400", 400, "invalid_request_error", 400, "invalid_request_error", "", true, "roles must alternate"},
		{"mock-anthropic-413", 413, "invalid_request_error", 413, "request_too_large", "", true, ""},
		{"mock-anthropic-500", 502, "upstream_error", 502, "api_error", "", false, ""},
		{"mock-groq-498", 503, "service_unavailable", 529, "overloaded_error", "", false, ""},
		{"mock-gemini-429", 429, "rate_limit_error", 429, "rate_limit_error", "20", false, ""},
		{"mock-gemini-400-key", 401, "authentication_error", 401, "authentication_error", "", true, ""},
		{"mock-openrouter-402", 503, "service_unavailable", 503, "overloaded_error", "", true, ""},
		{"mock-openrouter-200-error", 502, "upstream_error", 502, "api_error", "", false, ""},
		{"mock-mistral-422", 400, "invalid_request_error", 400, "invalid_request_error", "", true, ""},
		{"mock-deepseek-402", 503, "service_unavailable", 503, "overloaded_error", "", true, ""},
		{"mock-html-502", 502, "upstream_error", 502, "api_error", "", false, ""},
		{"mock-empty-502", 502, "upstream_error", 502, "api_error", "", false, ""},
		{"mock-truncated", 502, "upstream_error", 502, "api_error", "", false, ""},
		{"mock-timeout", 504, "timeout", 504, "timeout_error", "", false, ""},
		{"mock-refused", 503, "service_unavailable", 503, "overloaded_error", "", false, "connection refused"},
		{"mock-reset", 503, "service_unavailable", 503, "overloaded_error", "", false, ""},
	}
	for _, c := range cases {
		for _, proto := range []string{"openai", "anthropic"} {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/stream=%v", c.model, proto, stream), func(t *testing.T) {
					path, status, typ := "/v1/chat/completions", c.oaStatus, c.oaType
					if proto == "anthropic" {
						path, status, typ = "/v1/messages", c.anStatus, c.anType
					}
					body := fmt.Sprintf(`{"model":%q,"max_tokens":20,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, c.model, stream)
					resp, answer := post(t, tester, path, body)
					wantStatus(t, resp, answer, status)
					if _, err := envelopetest.Check(proto, status, answer); err != nil {
						t.Fatalf("not the %s envelope: %v\n%s", proto, err, answer)
					}
					wantJSON(t, answer, "error.type", typ)
					if got := resp.Header.Get("Retry-After"); got != c.retry {
						t.Errorf("Retry-After = %q, want %q", got, c.retry)
					}
					if got := resp.Header.Get("X-Should-Retry") == "false"; got != c.noRetry {
						t.Errorf("x-should-retry false = %v, want %v", got, c.noRetry)
					}
					msg := gjson.GetBytes(answer, "error.message").Str
					if !strings.Contains(msg, "mock") {
						t.Errorf("message %q does not name the provider", msg)
					}
					if c.keepsText != "" && !strings.Contains(msg, c.keepsText) {
						t.Errorf("message %q lost the provider's %q", msg, c.keepsText)
					}
					if strings.Contains(string(answer), "sk-") || strings.Contains(string(answer), "****") {
						t.Errorf("the envelope quotes a key: %s", answer)
					}
					if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Content-Type") != "application/json" {
						t.Errorf("headers: %v", resp.Header)
					}
					if resp.Header.Get("Content-Length") != strconv.Itoa(len(answer)) {
						t.Errorf("Content-Length %q for %d bytes", resp.Header.Get("Content-Length"), len(answer))
					}
				})
			}
		}
	}
}

// Errors after a stream began are rewritten into the client's protocol
// and end the stream cleanly.
func TestFailuresMidStream(t *testing.T) {
	tester := loadGateway(t, `
		provider mock {
			models mock-*
			timeout 1s
			stream_idle_timeout 300ms
		}`)
	cases := []struct {
		model, path string
		anthropic   bool
		errType     string
	}{
		{"mock-stream-error", "/v1/chat/completions", false, "upstream_error"},
		{"mock-stream-error", "/v1/messages", true, "overloaded_error"},
		{"mock-stream-error", "/v1/responses", false, "upstream_error"},
		{"mock-stream-cut", "/v1/chat/completions", false, "service_unavailable"},
		{"mock-stream-cut", "/v1/messages", true, "overloaded_error"},
		{"mock-slow-stream", "/v1/chat/completions", false, "timeout"},
		{"mock-slow-stream", "/v1/messages", true, "timeout_error"},
	}
	for _, c := range cases {
		t.Run(c.model+c.path, func(t *testing.T) {
			body := fmt.Sprintf(`{"model":%q,"input":"hi","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, c.model)
			start := time.Now()
			resp, answer := post(t, tester, c.path, body)
			wantStatus(t, resp, answer, 200)
			events := readEvents(t, strings.NewReader(string(answer)), start)
			if len(events) < 2 {
				t.Fatalf("events: %v", events)
			}
			last := events[len(events)-1]
			if c.anthropic && last.name != "error" {
				t.Fatalf("last event %+v, want event: error", last)
			}
			format := "openai"
			if c.anthropic {
				format = "anthropic"
			}
			status := map[string]int{"upstream_error": 502, "service_unavailable": 503, "timeout": 504, "overloaded_error": 529, "timeout_error": 504}[c.errType]
			if c.anthropic && c.errType == "overloaded_error" && c.model == "mock-stream-cut" {
				status = 503
			}
			if _, err := envelopetest.Check(format, status, []byte(last.data)); err != nil {
				t.Errorf("last event is not the %s envelope: %v: %s", format, err, last.data)
			}
			if got := gjson.Get(last.data, "error.type").Str; got != c.errType {
				t.Errorf("error type %q, want %q: %s", got, c.errType, last.data)
			}
			if strings.Contains(string(answer), "[DONE]") {
				t.Errorf("[DONE] after an error")
			}
		})
	}
}
