package errors_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/errors/envelopetest"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// These tests reproduce, one by one, the examples the seed documents
// (shared/seeds/000 to 003) give of the systems this gateway absorbs.
// Each builds the canonical error the way the gateway does (through
// providers.Classify or ClassifyTransport where a provider is involved,
// with the fields the handler sets otherwise), renders it, and compares
// the envelope with the example field for field: every key the example
// has, in the example's order, with the same JSON type and value. Keys the
// contract adds to an example (the openai envelope's param, the anthropic
// envelope's request_id, details the gateway knows) are allowed only where
// a test names them.

// reproduces fails unless got holds every key of the seed example, in the
// same relative order, with equal values; extra keys must be listed in
// extra by path ("error.param").
func reproduces(t *testing.T, seed string, got []byte, extra ...string) {
	t.Helper()
	for _, d := range differences(t, seed, got, extra...) {
		t.Error(d)
	}
	if t.Failed() {
		t.Logf("seed: %s\n got: %s", seed, got)
	}
}

func differences(t *testing.T, seed string, got []byte, extra ...string) []string {
	t.Helper()
	want, err := envelopetest.Parse([]byte(seed))
	if err != nil {
		t.Fatalf("the seed example does not parse: %v", err)
	}
	have, err := envelopetest.Parse(got)
	if err != nil {
		t.Fatalf("the envelope does not parse: %v\n%s", err, got)
	}
	var diffs []string
	compareNode(&diffs, "", want, have, extra)
	return diffs
}

func compareNode(diffs *[]string, path string, want, have *envelopetest.Node, extra []string) {
	name := path
	if name == "" {
		name = "(envelope)"
	}
	fail := func(f string, args ...any) { *diffs = append(*diffs, fmt.Sprintf(f, args...)) }
	if want.Kind != have.Kind {
		fail("%s: %s, want %s", name, have.Kind, want.Kind)
		return
	}
	switch want.Kind {
	case "object":
		last := -1
		for _, k := range want.Keys {
			p := strings.TrimPrefix(path+"."+k, ".")
			i := slices.Index(have.Keys, k)
			if i < 0 {
				fail("%s: missing", p)
				continue
			}
			if i < last {
				fail("%s: out of the example's key order (%q)", p, have.Keys)
			}
			last = i
			compareNode(diffs, p, want.Obj[k], have.Obj[k], extra)
		}
		for _, k := range have.Keys {
			p := strings.TrimPrefix(path+"."+k, ".")
			if _, ok := want.Obj[k]; !ok && !slices.Contains(extra, p) {
				fail("%s: not in the example", p)
			}
		}
	case "array":
		if len(want.Arr) != len(have.Arr) {
			fail("%s: %d items, want %d", name, len(have.Arr), len(want.Arr))
			return
		}
		for i := range want.Arr {
			compareNode(diffs, path+"[]", want.Arr[i], have.Arr[i], extra)
		}
	case "string":
		if want.Str != have.Str {
			fail("%s: %q, want %q", name, have.Str, want.Str)
		}
	case "number":
		if want.Num != have.Num {
			fail("%s: %s, want %s", name, have.Num, want.Num)
		}
	case "bool":
		if want.Bool != have.Bool {
			fail("%s: %v, want %v", name, have.Bool, want.Bool)
		}
	}
}

// The comparison must catch what it is there to catch.
func TestReproducesDetectsDifferences(t *testing.T) {
	seed := `{"error":{"type":"a","message":"m","code":"c","details":{"retry_after":60}}}`
	for _, got := range []string{
		`{"error":{"type":"b","message":"m","code":"c","details":{"retry_after":60}}}`,              // value
		`{"error":{"message":"m","type":"a","code":"c","details":{"retry_after":60}}}`,              // order
		`{"error":{"type":"a","message":"m","code":"c","details":{"retry_after":"60"}}}`,            // JSON type
		`{"error":{"type":"a","message":"m","code":"c"}}`,                                           // missing
		`{"error":{"type":"a","message":"m","code":"c","param":null,"details":{"retry_after":60}}}`, // extra
	} {
		if len(differences(t, seed, []byte(got))) == 0 {
			t.Errorf("no difference found between %s and %s", seed, got)
		}
	}
	if d := differences(t, seed, []byte(`{"error":{"type":"a","message":"m","code":"c","details":{"provider":"p","retry_after":60}}}`), "error.details.provider"); len(d) != 0 {
		t.Errorf("an allowed extra key was refused: %v", d)
	}
}

// write renders e in f the way the handler does and returns the recorder.
func write(t *testing.T, f llmerrors.Format, e *llmerrors.Error) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := llmerrors.Write(rec, f, e); err != nil {
		t.Fatal(err)
	}
	if _, err := envelopetest.Check(string(f), rec.Code, rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
	return rec
}

func classify(t *testing.T, provider string, status int, header http.Header, body string) *llmerrors.Error {
	t.Helper()
	typ, ok := providers.Lookup(provider)
	if !ok {
		t.Fatalf("no provider type %q", provider)
	}
	return providers.Classify(typ, provider, providers.Reply{Status: status, Header: header, Body: []byte(body)})
}

// ---- Seed 000: CCProxy, "Error Handling".

// Seed 000, "Error Response Format": the envelope with details.provider
// and details.suggestion. The example's text is CCProxy's own wording for
// a rejected provider key, so the error is built directly with it.
func TestSeed000ErrorResponseFormat(t *testing.T) {
	e := &llmerrors.Error{
		Code: llmerrors.InvalidAPIKey, Message: "Invalid API key provided",
		Provider: "groq", Suggestion: "Check your GROQ_API_KEY environment variable",
	}
	rec := write(t, llmerrors.CCProxy, e)
	if rec.Code != 401 {
		t.Errorf("status %d, want 401", rec.Code)
	}
	reproduces(t, `{
  "error": {
    "type": "authentication_error",
    "message": "Invalid API key provided",
    "code": "invalid_api_key",
    "details": {
      "provider": "groq",
      "suggestion": "Check your GROQ_API_KEY environment variable"
    }
  }
}`, rec.Body.Bytes())
}

// Seed 000, "Authentication Errors / Invalid API Key": Groq rejects the
// gateway's key (Groq's real 401 answer); the message is the example's,
// exactly. The gateway adds details.provider and a suggestion.
func TestSeed000InvalidAPIKey(t *testing.T) {
	e := classify(t, "groq", 401, nil, `{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}`)
	rec := write(t, llmerrors.CCProxy, e)
	if rec.Code != 401 {
		t.Errorf("status %d, want 401", rec.Code)
	}
	reproduces(t, `{
  "error": {
    "type": "authentication_error",
    "message": "Invalid API key for provider 'groq'",
    "code": "invalid_api_key"
  }
}`, rec.Body.Bytes(), "error.details")
}

// Seed 000, "Missing API Key": the error the handler builds (proxy.go)
// when a provider has no key configured; the message is the example's.
func TestSeed000MissingAPIKey(t *testing.T) {
	e := &llmerrors.Error{
		Code:       llmerrors.MissingAPIKey,
		Provider:   "openai",
		Message:    "API key not configured for provider 'openai'",
		Suggestion: "Set the api_key of provider 'openai' in the gateway configuration (is its environment variable set?).",
	}
	rec := write(t, llmerrors.CCProxy, e)
	if rec.Code != 401 {
		t.Errorf("status %d, want 401", rec.Code)
	}
	reproduces(t, `{
  "error": {
    "type": "authentication_error",
    "message": "API key not configured for provider 'openai'",
    "code": "missing_api_key"
  }
}`, rec.Body.Bytes(), "error.details")
}

// Seed 000, "Rate Limiting": a key's rpm limit, reproduced exactly,
// with Retry-After.
func TestSeed000RateLimiting(t *testing.T) {
	e := &llmerrors.Error{
		Code: llmerrors.RateLimitExceeded, Message: "Rate limit exceeded",
		RetryAfter: 60 * time.Second, HasLimit: true, Limit: 5000, Remaining: 0,
	}
	rec := write(t, llmerrors.CCProxy, e)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "60" {
		t.Errorf("status %d Retry-After %q, want 429 and 60", rec.Code, rec.Header().Get("Retry-After"))
	}
	reproduces(t, `{
  "error": {
    "type": "rate_limit_error",
    "message": "Rate limit exceeded",
    "code": "rate_limit_exceeded",
    "details": {
      "retry_after": 60,
      "limit": 5000,
      "remaining": 0
    }
  }
}`, rec.Body.Bytes())
}

// Seed 000, "Provider Errors / Model Not Found": the error the handler
// builds when no route serves the model (request.go), with the
// suggestion it adds. The contract puts it at 404 (seed 000 has no 404)
// with the example's type, provider_error.
func TestSeed000ModelNotFound(t *testing.T) {
	e := &llmerrors.Error{
		Code:            llmerrors.ModelNotFound,
		Message:         "Model 'invalid-model' not found",
		Provider:        "groq",
		AvailableModels: []string{"moonshotai/kimi-k2-instruct", "llama-3.1-70b-versatile"},
		Suggestion:      "Use one of available_models, or name the provider as provider:model.",
	}
	rec := write(t, llmerrors.CCProxy, e)
	if rec.Code != 404 {
		t.Errorf("status %d, want 404", rec.Code)
	}
	reproduces(t, `{
  "error": {
    "type": "provider_error",
    "message": "Model 'invalid-model' not found",
    "code": "model_not_found",
    "details": {
      "provider": "groq",
      "available_models": ["moonshotai/kimi-k2-instruct", "llama-3.1-70b-versatile"]
    }
  }
}`, rec.Body.Bytes(), "error.details.suggestion")
}

// Seed 000, "Provider Unavailable": Groq answers 503 with Retry-After: 30;
// the message is the example's, exactly, and the gateway adds
// details.provider.
func TestSeed000ProviderUnavailable(t *testing.T) {
	e := classify(t, "groq", 503, http.Header{"Retry-After": {"30"}},
		`{"error":{"message":"Service Unavailable","type":"internal_server_error"}}`)
	rec := write(t, llmerrors.CCProxy, e)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "30" {
		t.Errorf("status %d Retry-After %q, want 503 and 30", rec.Code, rec.Header().Get("Retry-After"))
	}
	reproduces(t, `{
  "error": {
    "type": "provider_error",
    "message": "Provider 'groq' is temporarily unavailable",
    "code": "provider_unavailable",
    "details": {
      "retry_after": 30
    }
  }
}`, rec.Body.Bytes(), "error.details.provider")
}

// Seed 000, "HTTP Status Codes": the statuses it lists, for the codes
// that stand for them.
func TestSeed000Statuses(t *testing.T) {
	for c, status := range map[llmerrors.Code]int{
		llmerrors.InvalidRequest: 400, llmerrors.InvalidAPIKey: 401, llmerrors.MissingAPIKey: 401,
		llmerrors.PermissionDenied: 403, llmerrors.RateLimitExceeded: 429, llmerrors.InternalError: 500,
		llmerrors.ProviderError: 502, llmerrors.ProviderUnavailable: 503,
	} {
		if got := (&llmerrors.Error{Code: c}).Status(llmerrors.CCProxy); got != status {
			t.Errorf("%s: %d, want %d", c, got, status)
		}
	}
}

// ---- Seed 001: coo-llm, "Error Codes & Troubleshooting".

// Seed 001, "Error Response Format": a key's rate limit in the coollm
// envelope, reproduced exactly: the short text as message, the status as
// a number, the specifics in details.
func TestSeed001ErrorResponseFormat(t *testing.T) {
	e := &llmerrors.Error{
		Code: llmerrors.RateLimitExceeded, Message: "Rate limit of 200 requests per minute exceeded for key 'team-a'.",
		RetryAfter: 60 * time.Second, HasLimit: true, Limit: 200, Remaining: 0,
	}
	rec := write(t, llmerrors.CooLLM, e)
	if rec.Code != 429 {
		t.Errorf("status %d, want 429", rec.Code)
	}
	reproduces(t, `{
  "error": {
    "message": "rate limit exceeded",
    "type": "rate_limit_error",
    "code": 429,
    "details": {
      "retry_after": 60,
      "limit": 200,
      "remaining": 0
    }
  }
}`, rec.Body.Bytes())
}

// Seed 001, "Application Errors": every row of its message tables (the
// HTTP-facing ones; its configuration errors are startup failures, which
// Caddy reports, not envelopes). Where 001 puts provider failures at 500,
// the contract's table rules: 502.
func TestSeed001MessageTable(t *testing.T) {
	rows := []struct {
		message string
		seed    int // the status 001 gives
		code    llmerrors.Code
		status  int // the contract's
	}{
		{"invalid api key", 401, llmerrors.InvalidAPIKey, 401},
		{"api key not found", 401, llmerrors.MissingAPIKey, 401},
		{"provider not allowed", 403, llmerrors.ProviderNotAllowed, 403},
		{"model not found", 404, llmerrors.ModelNotFound, 404},
		{"rate limit exceeded", 429, llmerrors.RateLimitExceeded, 429},
		{"token limit exceeded", 429, llmerrors.TokenLimitExceeded, 429},
		{"session limit exceeded", 429, llmerrors.SessionLimitExceeded, 429},
		{"provider error", 500, llmerrors.ProviderError, 502},
		{"invalid provider response", 500, llmerrors.InvalidProviderResponse, 502},
		{"provider timeout", 504, llmerrors.ProviderTimeout, 504},
	}
	for _, r := range rows {
		e := &llmerrors.Error{Code: r.code, Message: "the gateway's full message"}
		rec := write(t, llmerrors.CooLLM, e)
		doc, _ := envelopetest.Parse(rec.Body.Bytes())
		if got := doc.Get("error", "message").Str; got != r.message {
			t.Errorf("%s: message %q, want %q", r.code, got, r.message)
		}
		if rec.Code != r.status || string(doc.Get("error", "code").Num) != strconv.Itoa(r.status) {
			t.Errorf("%s: status %d, code %s; want %d (001 says %d)", r.code, rec.Code, doc.Get("error", "code").Num, r.status, r.seed)
		}
	}
}

// ---- Seed 002: Proxed, "API Errors".

// Seed 002, "Error Response Format": error, message, requestId, details.
func TestSeed002ErrorResponseFormat(t *testing.T) {
	e := &llmerrors.Error{
		Code: llmerrors.ValidationError, Message: "messages is required and must be a non-empty array.",
		Field: "messages", RequestID: "req_8f2b",
	}
	rec := write(t, llmerrors.Proxed, e)
	if rec.Code != 400 {
		t.Errorf("status %d, want 400", rec.Code)
	}
	reproduces(t, `{
  "error": "VALIDATION_ERROR",
  "message": "messages is required and must be a non-empty array.",
  "requestId": "req_8f2b",
  "details": {
    "field": "messages"
  }
}`, rec.Body.Bytes())
}

// Seed 002, "Error Codes Reference": every code it lists, with its
// status, and the gateway's codes that render as it. MISSING_PROJECT_ID,
// MISSING_DEVICE_TOKEN and PROJECT_NOT_FOUND name Proxed concepts
// (projects, device tokens) the gateway does not have: no code renders as
// them. The contract keeps each code's own status where 002 would give
// another (402 FORBIDDEN, 404 BAD_REQUEST, 413 VALIDATION_ERROR, 503/504
// PROVIDER_ERROR).
func TestSeed002CodeTable(t *testing.T) {
	seed := map[string]struct {
		status int
		codes  []llmerrors.Code
	}{
		"UNAUTHORIZED":         {401, []llmerrors.Code{llmerrors.MissingAPIKey}},
		"INVALID_TOKEN":        {401, []llmerrors.Code{llmerrors.InvalidAPIKey}},
		"MISSING_PROJECT_ID":   {401, nil},
		"MISSING_DEVICE_TOKEN": {401, nil},
		"PROJECT_NOT_FOUND":    {404, nil},
		"BAD_REQUEST":          {400, []llmerrors.Code{llmerrors.InvalidRequest, llmerrors.ModelNotFound, llmerrors.NotFound, llmerrors.MethodNotAllowed}},
		"INVALID_REQUEST":      {400, []llmerrors.Code{llmerrors.InvalidJSON, llmerrors.UnsupportedContentType}},
		"VALIDATION_ERROR":     {400, []llmerrors.Code{llmerrors.ValidationError, llmerrors.RequestTooLarge}},
		"FORBIDDEN":            {403, []llmerrors.Code{llmerrors.InsufficientQuota, llmerrors.ProviderNotAllowed, llmerrors.ModelNotAllowed, llmerrors.PermissionDenied}},
		"TOO_MANY_REQUESTS":    {429, []llmerrors.Code{llmerrors.RateLimitExceeded, llmerrors.TokenLimitExceeded, llmerrors.SessionLimitExceeded, llmerrors.ConcurrencyLimitExceeded, llmerrors.ProviderRateLimited}},
		"INTERNAL_ERROR":       {500, []llmerrors.Code{llmerrors.InternalError}},
		"PROVIDER_ERROR":       {502, []llmerrors.Code{llmerrors.ProviderError, llmerrors.InvalidProviderResponse, llmerrors.ProviderUnavailable, llmerrors.ProviderTimeout, llmerrors.Overloaded}},
		"DATABASE_ERROR":       {500, []llmerrors.Code{llmerrors.StoreError}},
	}
	rendered := map[string][]llmerrors.Code{}
	for _, c := range llmerrors.Codes() {
		e := &llmerrors.Error{Code: c, Message: "m"}
		rec := write(t, llmerrors.Proxed, e)
		doc, _ := envelopetest.Parse(rec.Body.Bytes())
		p := doc.Get("error").Str
		rendered[p] = append(rendered[p], c)
		row, ok := seed[p]
		if !ok {
			t.Errorf("%s renders as %q, which seed 002 does not list", c, p)
			continue
		}
		if row.status == 403 && c == llmerrors.InsufficientQuota {
			row.status = 402 // "402 and 403 FORBIDDEN"; the status stays the code's own
		}
		if c == llmerrors.ModelNotFound || c == llmerrors.NotFound {
			row.status = 404
		} else if c == llmerrors.MethodNotAllowed {
			row.status = 405
		} else if c == llmerrors.RequestTooLarge {
			row.status = 413
		} else if c == llmerrors.ProviderUnavailable || c == llmerrors.Overloaded {
			row.status = 503
		} else if c == llmerrors.ProviderTimeout {
			row.status = 504
		}
		if rec.Code != row.status {
			t.Errorf("%s (%s): status %d, want %d", c, p, rec.Code, row.status)
		}
	}
	for p, row := range seed {
		if !slices.Equal(rendered[p], row.codes) {
			t.Errorf("%s: rendered by %v, want %v", p, rendered[p], row.codes)
		}
	}
}

// ---- Seed 003: a gateway with OpenAI and Anthropic envelopes.

// Seed 003, "OpenAI Protocol": the 402 of a budget that cannot cover the
// estimated cost. The contract's openai envelope adds param.
func TestSeed003InsufficientBalanceRequired(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.InsufficientQuota, Message: "Insufficient balance. Current: $0.12, Required: $0.50"}
	rec := write(t, llmerrors.OpenAI, e)
	if rec.Code != 402 {
		t.Errorf("status %d, want 402", rec.Code)
	}
	reproduces(t, `{ "error": { "message": "Insufficient balance. Current: $0.12, Required: $0.50", "type": "insufficient_quota", "code": "402" } }`,
		rec.Body.Bytes(), "error.param")
}

// Seed 003, "Anthropic Protocol": an invalid client key. The contract's
// anthropic envelope adds request_id (as Anthropic's own API does).
func TestSeed003AnthropicAuthentication(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.InvalidAPIKey, Message: "Invalid API key", RequestID: "req_1"}
	rec := write(t, llmerrors.Anthropic, e)
	if rec.Code != 401 || rec.Header().Get("Request-Id") != "req_1" {
		t.Errorf("status %d request-id %q", rec.Code, rec.Header().Get("Request-Id"))
	}
	reproduces(t, `{ "type": "error", "error": { "type": "authentication_error", "message": "Invalid API key" } }`,
		rec.Body.Bytes(), "request_id")
}

// Seed 003, "401: Authentication Error".
func TestSeed003Authentication(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.InvalidAPIKey, Message: "Invalid API key"}
	rec := write(t, llmerrors.OpenAI, e)
	if rec.Code != 401 || rec.Header().Get("X-Should-Retry") != "false" {
		t.Errorf("status %d x-should-retry %q", rec.Code, rec.Header().Get("X-Should-Retry"))
	}
	reproduces(t, `{ "error": { "message": "Invalid API key", "type": "authentication_error", "code": "401" } }`,
		rec.Body.Bytes(), "error.param")
}

// Seed 003, "402: Insufficient Balance".
func TestSeed003InsufficientBalance(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.InsufficientQuota, Message: "Insufficient balance. Current: $0.12"}
	rec := write(t, llmerrors.OpenAI, e)
	reproduces(t, `{ "error": { "message": "Insufficient balance. Current: $0.12", "type": "insufficient_quota", "code": "402" } }`,
		rec.Body.Bytes(), "error.param")
}

// Seed 003, "429: Rate Limited": "Wait for the duration specified in the
// Retry-After response header".
func TestSeed003RateLimited(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.RateLimitExceeded, Message: "Rate limit exceeded. Retry after 2 seconds.", RetryAfter: 2 * time.Second}
	rec := write(t, llmerrors.OpenAI, e)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || rec.Header().Get("Retry-After-Ms") != "2000" {
		t.Errorf("status %d Retry-After %q retry-after-ms %q", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Retry-After-Ms"))
	}
	reproduces(t, `{ "error": { "message": "Rate limit exceeded. Retry after 2 seconds.", "type": "rate_limit_error", "code": "429" } }`,
		rec.Body.Bytes(), "error.param")
}

// Seed 003, "504: Timeout": the provider did not answer within its
// 120-second timeout (providers.ClassifyTransport). The gateway's message
// opens with the example's words and goes on to name the provider and say
// what to do, as the contract asks of every message.
func TestSeed003Timeout(t *testing.T) {
	e := providers.ClassifyTransport("openai", context.DeadlineExceeded, 120*time.Second)
	rec := write(t, llmerrors.OpenAI, e)
	if rec.Code != 504 {
		t.Errorf("status %d, want 504", rec.Code)
	}
	const seedMsg = "Request timed out after 120 seconds"
	if !strings.HasPrefix(e.Message, seedMsg) || !strings.Contains(e.Message, "'openai'") {
		t.Errorf("message %q does not open with %q and name the provider", e.Message, seedMsg)
	}
	reproduces(t, `{ "error": { "message": "`+e.Message+`", "type": "timeout", "code": "504" } }`,
		rec.Body.Bytes(), "error.param")
}

// Seed 003, "Error Code Reference": the status, type and retryability of
// every row, for every code at that status.
func TestSeed003StatusTypeTable(t *testing.T) {
	table := map[int]struct {
		typ       string
		retryable bool
	}{
		400: {"invalid_request_error", false}, 401: {"authentication_error", false},
		402: {"insufficient_quota", false}, 403: {"permission_error", false},
		404: {"not_found", false}, 429: {"rate_limit_error", true},
		500: {"server_error", true}, 502: {"upstream_error", true},
		503: {"service_unavailable", true}, 504: {"timeout", true},
	}
	for _, c := range llmerrors.Codes() {
		e := &llmerrors.Error{Code: c}
		row, ok := table[e.Status(llmerrors.OpenAI)]
		if !ok {
			continue // 405 and 413 are not in 003's table
		}
		if got := e.Type(llmerrors.OpenAI); got != row.typ {
			t.Errorf("%s: type %q, want %q", c, got, row.typ)
		}
		if c.Retryable() != row.retryable {
			t.Errorf("%s: retryable %v, want %v", c, c.Retryable(), row.retryable)
		}
	}
}
