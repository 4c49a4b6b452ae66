package providers

import (
	"strings"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

func TestClassifyStreamError(t *testing.T) {
	cases := []struct {
		name       string
		data       string
		code       llmerrors.Code
		message    string
		retryAfter time.Duration
	}{
		{"Anthropic overloaded", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			llmerrors.Overloaded, "Provider 'p' is overloaded. Retry after a short wait.", 0},
		{"Anthropic api_error", `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`,
			llmerrors.ProviderError, "Provider 'p' failed (500): Internal server error", 0},
		{"Anthropic rate limit", `{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"},"request_id":"req_1"}`,
			llmerrors.ProviderRateLimited, "", 0},
		{"Anthropic invalid request mid-stream", `{"type":"error","error":{"type":"invalid_request_error","message":"Output blocked by content filtering policy"}}`,
			llmerrors.InvalidRequest, "Provider 'p': Output blocked by content filtering policy", 0},
		{"OpenAI chunk", `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			llmerrors.ProviderError, "", 0},
		{"OpenAI rate limit with a wait", `{"error":{"message":"Rate limit reached. Please try again in 2.5s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			llmerrors.ProviderRateLimited, "", 2500 * time.Millisecond},
		{"OpenRouter mid-stream chunk", `{"id":"gen-1","object":"chat.completion.chunk","provider":"Chutes","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`,
			llmerrors.ProviderError, "Provider 'p' failed (500): Provider disconnected unexpectedly", 0},
		{"OpenRouter numeric code", `{"error":{"code":502,"message":"Provider returned error","metadata":{"raw":"boom","provider_name":"X"}}}`,
			llmerrors.ProviderError, "Provider 'p' failed (502): boom (upstream provider: X)", 0},
		{"OpenRouter out of credit mid-stream", `{"error":{"code":402,"message":"Insufficient credits"}}`,
			llmerrors.ProviderUnavailable, "", 0},
		{"Gemini google.rpc", `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
			llmerrors.ProviderRateLimited, "", 0},
		{"google status without a code", `{"error":{"message":"The model is overloaded.","status":"UNAVAILABLE"}}`,
			llmerrors.ProviderUnavailable, "", 0},
		{"Responses API error event", `{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":7}`,
			llmerrors.ProviderRateLimited, "", 0},
		{"Responses API server error", `{"type":"error","code":"server_error","message":"An error occurred","param":null}`,
			llmerrors.ProviderError, "", 0},
		{"a key in a stream error", `{"error":{"message":"key sk-proj-0123456789ABCDEFabcdef was revoked","type":"invalid_request_error"}}`,
			llmerrors.InvalidRequest, "Provider 'p': key [redacted] was revoked", 0},
		{"unknown type defaults to a failure", `{"error":{"message":"weird","type":"mystery"}}`,
			llmerrors.ProviderError, "Provider 'p' failed (500): weird", 0},
		{"unreadable", `not json at all`,
			llmerrors.ProviderError, "Provider 'p' failed in the middle of the answer. Retry the request.", 0},
		{"empty", ``,
			llmerrors.ProviderError, "Provider 'p' failed in the middle of the answer. Retry the request.", 0},
		{"truncated", `{"type":"error","error":{"type":"overloaded_er`,
			llmerrors.ProviderError, "Provider 'p' failed in the middle of the answer. Retry the request.", 0},
	}
	for _, c := range cases {
		e := ClassifyStreamError("p", []byte(c.data), nil)
		if e.Code != c.code {
			t.Errorf("%s: code %q, want %q (%q)", c.name, e.Code, c.code, e.Message)
			continue
		}
		if c.message != "" && e.Message != c.message {
			t.Errorf("%s: message\n got %q\nwant %q", c.name, e.Message, c.message)
		}
		if e.RetryAfter != c.retryAfter {
			t.Errorf("%s: RetryAfter %v, want %v", c.name, e.RetryAfter, c.retryAfter)
		}
		if e.Provider != "p" || !strings.Contains(e.Message, "'p'") {
			t.Errorf("%s: provider not named: %+v", c.name, e)
		}
	}
}

// A stream error rendered as the SSE event the client gets: one event,
// the envelope of the client's protocol.
func TestStreamErrorEvent(t *testing.T) {
	e := ClassifyStreamError("anthropic", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), nil)
	e.RequestID = "req_gw_0001"
	got := string(llmerrors.StreamEvent(true, e))
	want := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Provider 'anthropic' is overloaded. Retry after a short wait.\"},\"request_id\":\"req_gw_0001\"}\n\n"
	if got != want {
		t.Errorf("anthropic event\n got %q\nwant %q", got, want)
	}
	got = string(llmerrors.StreamEvent(false, e))
	want = "data: {\"error\":{\"message\":\"Provider 'anthropic' is overloaded. Retry after a short wait.\",\"type\":\"service_unavailable\",\"param\":null,\"code\":\"503\"}}\n\n"
	if got != want {
		t.Errorf("openai event\n got %q\nwant %q", got, want)
	}
}

// A stream's error message is scrubbed of the provider's configured keys,
// as a non-streamed error is, even when the key has no shape the pattern
// scrubbing knows.
func TestStreamErrorScrubsConfiguredKeys(t *testing.T) {
	const key = "correct-horse-battery-staple" // no shape the patterns know
	data := []byte(`{"error":{"message":"upstream refused token correct-horse-battery-staple for this model","type":"server_error"}}`)
	if e := ClassifyStreamError("vllm", data, nil); !strings.Contains(e.Message, key) {
		t.Fatalf("the pattern scrubbing alone now catches the key, so this test proves nothing: %s", e.Message)
	}
	e := ClassifyStreamError("vllm", data, []string{key})
	if strings.Contains(e.Message, key) {
		t.Fatalf("the configured key reached the message: %s", e.Message)
	}
	if !strings.Contains(e.Message, "upstream refused") {
		t.Errorf("the message lost its text: %s", e.Message)
	}
}
