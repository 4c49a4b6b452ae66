package providers

import (
	"net/http"
	"strings"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// classifyCase is one provider answer and what the gateway must make of
// it. The fixtures in testdata/upstream cover each provider's real
// answers end to end (classify_golden_test.go); these rows pin the
// mapping rules one by one, including shapes no fixture has.
type classifyCase struct {
	name      string
	provider  string
	status    int
	header    http.Header
	body      string
	truncated bool
	keys      []string

	code       llmerrors.Code
	retryAfter time.Duration
	noRetry    bool
	field      string
	message    string // exact, when set
	contains   string // substring of the message, when set
}

var classifyCases = []classifyCase{
	// Mapped by type and status.
	{name: "OpenAI 404 model_not_found", status: 404,
		body:    `{"error":{"message":"The model ` + "`gpt-9`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
		code:    llmerrors.ModelNotFound,
		message: "Provider 'p': The model `gpt-9` does not exist or you do not have access to it."},
	{name: "Anthropic overloaded_error at another status", status: 500,
		body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		code: llmerrors.Overloaded, message: "Provider 'p' is overloaded. Retry after a short wait."},
	{name: "any 529", status: 529, body: `{"error":{"message":"busy"}}`, code: llmerrors.Overloaded},
	{name: "Groq 498 by status alone", status: 498, body: `{"error":{"message":"at capacity","type":"x"}}`, code: llmerrors.Overloaded},
	{name: "capacity_exceeded by code alone", status: 503, body: `{"error":{"message":"m","code":"capacity_exceeded"}}`, code: llmerrors.Overloaded},

	// Out of credit: provider_unavailable that must not be retried.
	{name: "OpenAI 429 insufficient_quota", status: 429,
		header: http.Header{"Retry-After": {"5"}},
		body:   `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
		code:   llmerrors.ProviderUnavailable, noRetry: true, retryAfter: 0,
		message: "Provider 'p' is out of credit. The gateway operator must top up the provider account."},
	{name: "OpenRouter 402", status: 402, body: `{"error":{"message":"Insufficient credits","code":402}}`,
		code: llmerrors.ProviderUnavailable, noRetry: true},
	{name: "DeepSeek 402", status: 402, body: `{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}`,
		code: llmerrors.ProviderUnavailable, noRetry: true},
	{name: "Anthropic billing_error", status: 400, body: `{"type":"error","error":{"type":"billing_error","message":"Add a payment method"}}`,
		code: llmerrors.ProviderUnavailable, noRetry: true},

	// Keys: the message names the provider and nothing of the key.
	{name: "OpenAI 401 quoting a masked key", status: 401,
		body:    `{"error":{"message":"Incorrect API key provided: sk-proj-abc***************xyz9. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
		code:    llmerrors.InvalidAPIKey,
		message: "Invalid API key for provider 'p'"},
	{name: "invalid_api_key code at 400 (xAI style)", status: 400,
		body: `{"code":"invalid_api_key","error":"Incorrect API key provided: na***ys."}`,
		code: llmerrors.InvalidAPIKey},
	{name: "Gemini native API_KEY_INVALID", status: 400,
		body: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
		code: llmerrors.InvalidAPIKey},
	{name: "google UNAUTHENTICATED", status: 401, body: `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
		code: llmerrors.InvalidAPIKey},
	{name: "FastAPI detail 401", status: 401, body: `{"detail":"Unauthorized"}`, code: llmerrors.InvalidAPIKey},
	{name: "403 quoting a key", status: 403,
		body:    `{"error":{"message":"Key gsk_0123456789abcdefghijklmnopqrstuv is blocked in your region","type":"permission_error"}}`,
		code:    llmerrors.PermissionDenied,
		message: "Provider 'p' refused access: Key [redacted] is blocked in your region"},
	{name: "403 without a message", status: 403, body: `{"error":{"type":"forbidden","code":"x"}}`,
		code: llmerrors.PermissionDenied, message: "Provider 'p' refused access (403)."},
	{name: "configured key echoed verbatim", status: 400, keys: []string{"mistral0key0abcdefghij"},
		body: `{"message":"bad request for key mistral0key0abcdefghij and ghij-mistral0key0abcdefghij"}`,
		code: llmerrors.InvalidRequest, message: "Provider 'p': bad request for key [redacted] and ghij-[redacted]"},

	// 404: a model, or a path.
	{name: "Anthropic model:", status: 404, body: `{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}`,
		code: llmerrors.ModelNotFound},
	{name: "Anthropic path", status: 404, body: `{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`,
		code: llmerrors.NotFound, message: "Provider 'p': Not Found"},

	{name: "413", status: 413, body: `{"error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}`,
		code: llmerrors.RequestTooLarge, message: "Provider 'p': Request exceeds the maximum size"},

	// Rate limits and the waits they name.
	{name: "429 with Retry-After", status: 429, header: http.Header{"Retry-After": {"7"}},
		body: `{"error":{"message":"slow down","type":"rate_limit_error"}}`,
		code: llmerrors.ProviderRateLimited, retryAfter: 7 * time.Second,
		message: "Provider 'p' rate-limited the request. Retry after the time in Retry-After."},
	{name: "429 with the wait in the message", status: 429,
		body: `{"error":{"message":"Limit 6000, Used 5234, Requested 1286. Please try again in 1m0.363s. Visit https://console.groq.com","type":"tokens","code":"rate_limit_exceeded"}}`,
		code: llmerrors.ProviderRateLimited, retryAfter: time.Minute + 363*time.Millisecond},
	{name: "429 without any wait", status: 429, body: `{"error":{"message":"Rate limited"}}`,
		code: llmerrors.ProviderRateLimited, message: "Provider 'p' rate-limited the request. Retry after a short wait."},
	{name: "Gemini native RESOURCE_EXHAUSTED with RetryInfo", status: 429,
		body: `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26.5s"}]}}`,
		code: llmerrors.ProviderRateLimited, retryAfter: 26500 * time.Millisecond},
	{name: "Retry-After header wins over RetryInfo", status: 429, header: http.Header{"Retry-After": {"2"}},
		body: `[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"43s"}]}}]`,
		code: llmerrors.ProviderRateLimited, retryAfter: 2 * time.Second},
	{name: "OpenRouter code as a string", status: 429, body: `{"error":{"message":"Rate limit exceeded: free-models-per-day.","type":"rate_limit_error","code":"429"}}`,
		code: llmerrors.ProviderRateLimited},

	// Timeouts, unavailability, failures.
	{name: "408", status: 408, body: `{"error":{"message":"Timed out"}}`, code: llmerrors.ProviderTimeout},
	{name: "504", status: 504, body: `{"error":{"message":"upstream timeout"}}`, code: llmerrors.ProviderTimeout},
	{name: "Anthropic timeout_error", status: 500, body: `{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}`,
		code: llmerrors.ProviderTimeout},
	{name: "503 with Retry-After", status: 503, header: http.Header{"Retry-After": {"30"}},
		body: `{"error":{"message":"down","type":"server_error"}}`,
		code: llmerrors.ProviderUnavailable, retryAfter: 30 * time.Second,
		message: "Provider 'p' is temporarily unavailable"},
	{name: "502 readable", status: 502, body: `{"error":{"message":"Bad gateway."}}`,
		code: llmerrors.ProviderError, message: "Provider 'p' failed (502): Bad gateway."},
	{name: "500 without a message", status: 500, body: `{"error":{"type":"server_error"}}`,
		code: llmerrors.ProviderError, message: "Provider 'p' failed (500). Retry the request."},
	{name: "nonstandard 5xx+ status", status: 600, body: `{"error":{"message":"odd"}}`, code: llmerrors.ProviderError},

	// Errors inside a success status (OpenRouter).
	{name: "200 with an error and its code", status: 200, body: "\n  \n" + `{"error":{"message":"Rate limited upstream","code":429}}`,
		code: llmerrors.ProviderRateLimited},
	{name: "200 with an error and no code", status: 200, body: `{"error":{"message":"broke"}}`,
		code: llmerrors.ProviderError, message: "Provider 'p' failed (502): broke"},
	{name: "OpenRouter raw as an object", status: 502,
		body: `{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":{"error":{"message":"engine crashed"}},"provider_name":"Fireworks"}}}`,
		code: llmerrors.ProviderError, message: "Provider 'p' failed (502): engine crashed (upstream provider: Fireworks)"},
	{name: "OpenRouter raw that is HTML keeps the generic message", status: 502,
		body: `{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"<html>bad</html>"}}}`,
		code: llmerrors.ProviderError, message: "Provider 'p' failed (502): Provider returned error"},
	{name: "OpenRouter raw quoting a key", status: 401,
		body: `{"error":{"message":"Provider returned error","code":401,"metadata":{"raw":"{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key sk-ant-api03-AbCdEf0123456789\"}}","provider_name":"Anthropic"}}}`,
		code: llmerrors.InvalidAPIKey, message: "Invalid API key for provider 'p'"},

	// Requests the provider rejected: its message and the field at fault.
	{name: "OpenAI invalid param", status: 400,
		body: `{"error":{"message":"Invalid type for 'temperature': expected a decimal, but got a string instead.","type":"invalid_request_error","param":"temperature","code":"invalid_type"}}`,
		code: llmerrors.InvalidRequest, field: "temperature",
		message: "Provider 'p': Invalid type for 'temperature': expected a decimal, but got a string instead."},
	{name: "Mistral nested pydantic detail", status: 422,
		body: `{"object":"error","message":{"detail":[{"type":"missing","loc":["body","messages",0,"content"],"msg":"Field required"}]},"type":"invalid_request_error","param":null,"code":null}`,
		code: llmerrors.InvalidRequest, field: "messages[0].content", message: "Provider 'p': messages[0].content: Field required"},
	{name: "Mistral plain message", status: 400,
		body: `{"object":"error","message":"Prompt contains 40000 tokens, too large for model with 32768 maximum context length","type":"invalid_request_message_error","param":null,"code":"3051"}`,
		code: llmerrors.InvalidRequest, contains: "too large for model"},
	{name: "Responses API error shape", status: 400,
		body: `{"type":"error","code":"invalid_value","message":"Unsupported value: 'reasoning.effort'.","param":"reasoning.effort"}`,
		code: llmerrors.InvalidRequest, field: "reasoning.effort"},
	{name: "plain string error", status: 409, body: `{"error":"Conflict","message":"Request already in progress"}`,
		code: llmerrors.InvalidRequest, message: "Provider 'p': Request already in progress"},
	{name: "a param that is a key is dropped", status: 400,
		body: `{"error":{"message":"bad","type":"invalid_request_error","param":"sk-proj-0123456789abcdefghij"}}`,
		code: llmerrors.InvalidRequest, field: ""},
	{name: "control characters and long messages", status: 400,
		body: `{"error":{"message":"line1\nline2\u0000\u200b end` + strings.Repeat(" word", 200) + `"}}`,
		code: llmerrors.InvalidRequest, contains: "line1 line2 end word word"},

	// Unreadable answers.
	{name: "HTML", status: 502, body: "<html><body>Bad Gateway</body></html>", code: llmerrors.InvalidProviderResponse,
		message: "Provider 'p' answered 502 with a body the gateway could not read (HTML page). Retry; if it persists, check the provider's status page."},
	{name: "empty 401", status: 401, code: llmerrors.InvalidProviderResponse, contains: "answered 401"},
	{name: "truncated JSON", status: 500, body: `{"error":{"message":"The ser`, code: llmerrors.InvalidProviderResponse, contains: "truncated or malformed JSON"},
	{name: "JSON that is no error", status: 500, body: `{"status":"degraded"}`, code: llmerrors.InvalidProviderResponse, contains: "JSON that is not an error"},
	{name: "a JSON array of numbers", status: 500, body: `[1,2,3]`, code: llmerrors.InvalidProviderResponse},
	{name: "over the gateway's cap", status: 500, body: `{"error":{"message":"fine"}}`, truncated: true,
		code: llmerrors.InvalidProviderResponse, contains: "body too large"},
	{name: "unreadable keeps Retry-After", status: 503, header: http.Header{"Retry-After": {"120"}}, body: "<html>maintenance</html>",
		code: llmerrors.InvalidProviderResponse, retryAfter: 120 * time.Second},
	{name: "a 200 that is no error", status: 200, body: `{"id":"chatcmpl-1","choices":[]}`, code: llmerrors.InvalidProviderResponse},
}

func TestClassify(t *testing.T) {
	useClock(t, goldenNow)
	for _, c := range classifyCases {
		t.Run(c.name, func(t *testing.T) {
			provider := c.provider
			if provider == "" {
				provider = "p"
			}
			e := Classify(nil, provider, Reply{Status: c.status, Header: c.header, Body: []byte(c.body), Truncated: c.truncated, Keys: c.keys})
			if e.Code != c.code {
				t.Fatalf("code %q, want %q (message %q)", e.Code, c.code, e.Message)
			}
			if e.Provider != provider || e.UpstreamStatus != c.status {
				t.Errorf("provider %q upstream status %d", e.Provider, e.UpstreamStatus)
			}
			if e.RetryAfter != c.retryAfter {
				t.Errorf("RetryAfter %v, want %v", e.RetryAfter, c.retryAfter)
			}
			if e.NoRetry != c.noRetry {
				t.Errorf("NoRetry %v, want %v", e.NoRetry, c.noRetry)
			}
			if e.Field != c.field {
				t.Errorf("Field %q, want %q", e.Field, c.field)
			}
			if c.message != "" && e.Message != c.message {
				t.Errorf("message\n got %q\nwant %q", e.Message, c.message)
			}
			if c.contains != "" && !strings.Contains(e.Message, c.contains) {
				t.Errorf("message %q does not contain %q", e.Message, c.contains)
			}
			if !strings.Contains(e.Message, "'"+provider+"'") {
				t.Errorf("message %q does not name the provider", e.Message)
			}
			if n := len([]rune(e.Message)); n > maxMessage+100 {
				t.Errorf("message is %d runes long", n)
			}
			for _, secret := range []string{"sk-", "gsk_", "***", "AbCdEf0123456789", "mistral0key0"} {
				if strings.Contains(e.Message, secret) || strings.Contains(e.Suggestion, secret) || strings.Contains(e.Field, secret) {
					t.Errorf("%q leaked into %q / %q / %q", secret, e.Message, e.Suggestion, e.Field)
				}
			}
		})
	}
}

// The provider type does not change the mapping: Groq configured as
// `type openai` must read the same as Groq.
func TestClassifyIgnoresType(t *testing.T) {
	for _, path := range fixtures(t) {
		reply := readFixture(t, path)
		var first *llmerrors.Error
		for _, name := range TypeNames() {
			typ, _ := Lookup(name)
			e := Classify(typ, "x", reply)
			if first == nil {
				first = e
				continue
			}
			if e.Code != first.Code || e.Message != first.Message {
				t.Errorf("%s: type %s gives %s %q, another %s %q", path, name, e.Code, e.Message, first.Code, first.Message)
			}
		}
		if e := Classify(nil, "x", reply); e.Code != first.Code {
			t.Errorf("%s: a nil type gives %s, a type %s", path, e.Code, first.Code)
		}
	}
}
