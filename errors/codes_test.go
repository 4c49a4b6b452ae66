package errors_test

import (
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// contractRow is one row of CONTRACT.md's "Error codes" table, with the
// proxed code and the coollm short text the contract assigns it. It is
// written out here by hand from the contract, not derived from the code,
// so a change to either side fails this test.
type contractRow struct {
	code      llmerrors.Code
	status    int
	retryable bool
	proxed    string
	short     string // coollm message; "" where 001 lists none
}

var contract = []contractRow{
	{"invalid_request", 400, false, "BAD_REQUEST", ""},
	{"invalid_json", 400, false, "INVALID_REQUEST", ""},
	{"validation_error", 400, false, "VALIDATION_ERROR", ""},
	{"unsupported_content_type", 400, false, "INVALID_REQUEST", ""},
	{"missing_api_key", 401, false, "UNAUTHORIZED", "api key not found"},
	{"invalid_api_key", 401, false, "INVALID_TOKEN", "invalid api key"},
	{"insufficient_quota", 402, false, "FORBIDDEN", ""},
	{"provider_not_allowed", 403, false, "FORBIDDEN", "provider not allowed"},
	{"model_not_allowed", 403, false, "FORBIDDEN", ""},
	{"permission_denied", 403, false, "FORBIDDEN", ""},
	{"model_not_found", 404, false, "BAD_REQUEST", "model not found"},
	{"not_found", 404, false, "BAD_REQUEST", ""},
	{"method_not_allowed", 405, false, "BAD_REQUEST", ""},
	{"request_too_large", 413, false, "VALIDATION_ERROR", ""},
	{"rate_limit_exceeded", 429, true, "TOO_MANY_REQUESTS", "rate limit exceeded"},
	{"token_limit_exceeded", 429, true, "TOO_MANY_REQUESTS", "token limit exceeded"},
	{"session_limit_exceeded", 429, true, "TOO_MANY_REQUESTS", "session limit exceeded"},
	{"concurrency_limit_exceeded", 429, true, "TOO_MANY_REQUESTS", ""},
	{"provider_rate_limited", 429, true, "TOO_MANY_REQUESTS", ""},
	{"internal_error", 500, true, "INTERNAL_ERROR", ""},
	{"store_error", 500, true, "DATABASE_ERROR", ""},
	{"provider_error", 502, true, "PROVIDER_ERROR", "provider error"},
	{"invalid_provider_response", 502, true, "PROVIDER_ERROR", "invalid provider response"},
	{"provider_unavailable", 503, true, "PROVIDER_ERROR", ""},
	{"provider_timeout", 504, true, "PROVIDER_ERROR", "provider timeout"},
	{"overloaded", 503, true, "PROVIDER_ERROR", ""},
}

func TestCodeTableMatchesContract(t *testing.T) {
	codes := llmerrors.Codes()
	if len(codes) != len(contract) {
		t.Fatalf("Codes() has %d codes, the contract %d", len(codes), len(contract))
	}
	for i, row := range contract {
		c := row.code
		if codes[i] != c {
			t.Errorf("Codes()[%d] = %q, want %q (the contract's order)", i, codes[i], c)
		}
		if !c.Known() {
			t.Errorf("%s: Known() = false", c)
		}
		if got := c.Status(); got != row.status {
			t.Errorf("%s: Status() = %d, want %d", c, got, row.status)
		}
		if got := c.Retryable(); got != row.retryable {
			t.Errorf("%s: Retryable() = %v, want %v", c, got, row.retryable)
		}
		if got := c.ProxedCode(); got != row.proxed {
			t.Errorf("%s: ProxedCode() = %q, want %q", c, got, row.proxed)
		}
		if got := c.ShortText(); got != row.short {
			t.Errorf("%s: ShortText() = %q, want %q", c, got, row.short)
		}
	}
}

func TestCodeConstantsSpellTheContract(t *testing.T) {
	consts := []llmerrors.Code{
		llmerrors.InvalidRequest, llmerrors.InvalidJSON, llmerrors.ValidationError,
		llmerrors.UnsupportedContentType, llmerrors.MissingAPIKey, llmerrors.InvalidAPIKey,
		llmerrors.InsufficientQuota, llmerrors.ProviderNotAllowed, llmerrors.ModelNotAllowed,
		llmerrors.PermissionDenied, llmerrors.ModelNotFound, llmerrors.NotFound,
		llmerrors.MethodNotAllowed, llmerrors.RequestTooLarge, llmerrors.RateLimitExceeded,
		llmerrors.TokenLimitExceeded, llmerrors.SessionLimitExceeded,
		llmerrors.ConcurrencyLimitExceeded, llmerrors.ProviderRateLimited,
		llmerrors.InternalError, llmerrors.StoreError, llmerrors.ProviderError,
		llmerrors.InvalidProviderResponse, llmerrors.ProviderUnavailable,
		llmerrors.ProviderTimeout, llmerrors.Overloaded,
	}
	for i, c := range consts {
		if c != contract[i].code {
			t.Errorf("constant %d is %q, want %q", i, c, contract[i].code)
		}
	}
}

func TestUnknownCode(t *testing.T) {
	c := llmerrors.Code("no_such_code")
	if c.Known() {
		t.Error("Known() = true for an unknown code")
	}
	if c.Status() != 500 || !c.Retryable() || c.ProxedCode() != "INTERNAL_ERROR" || c.ShortText() != "" {
		t.Errorf("unknown code: status %d retryable %v proxed %q short %q; want it treated as an internal error",
			c.Status(), c.Retryable(), c.ProxedCode(), c.ShortText())
	}
}

// typeRow is the contract's "type per envelope" table, by status.
type typeRow struct {
	openai, anthropic, ccproxy, coollm string
}

var typesByStatus = map[int]typeRow{
	400: {"invalid_request_error", "invalid_request_error", "invalid_request_error", "invalid_request_error"},
	405: {"invalid_request_error", "invalid_request_error", "invalid_request_error", "invalid_request_error"},
	413: {"invalid_request_error", "request_too_large", "invalid_request_error", "invalid_request_error"},
	401: {"authentication_error", "authentication_error", "authentication_error", "authentication_error"},
	402: {"insufficient_quota", "billing_error", "insufficient_quota", "insufficient_quota"},
	403: {"permission_error", "permission_error", "permission_error", "permission_error"},
	404: {"not_found", "not_found_error", "not_found_error", "not_found_error"},
	429: {"rate_limit_error", "rate_limit_error", "rate_limit_error", "rate_limit_error"},
	500: {"server_error", "api_error", "api_error", "api_error"},
	502: {"upstream_error", "api_error", "provider_error", "provider_error"},
	503: {"service_unavailable", "overloaded_error", "provider_error", "provider_error"},
	504: {"timeout", "timeout_error", "provider_error", "provider_error"},
}

func TestTypePerEnvelope(t *testing.T) {
	for _, row := range contract {
		want, ok := typesByStatus[row.status]
		if !ok {
			t.Fatalf("%s: status %d has no row in the type table", row.code, row.status)
		}
		if row.code == llmerrors.ModelNotFound {
			want.ccproxy = "provider_error" // seed 000's model-not-found example
		}
		e := &llmerrors.Error{Code: row.code}
		for f, w := range map[llmerrors.Format]string{
			llmerrors.OpenAI:    want.openai,
			llmerrors.Anthropic: want.anthropic,
			llmerrors.CCProxy:   want.ccproxy,
			llmerrors.CooLLM:    want.coollm,
			llmerrors.Proxed:    row.proxed,
		} {
			if got := e.Type(f); got != w {
				t.Errorf("%s in %s: Type = %q, want %q", row.code, f, got, w)
			}
		}
	}
}

func TestStatusPerEnvelope(t *testing.T) {
	for _, row := range contract {
		e := &llmerrors.Error{Code: row.code}
		for _, f := range llmerrors.Formats() {
			want := row.status
			if row.code == llmerrors.Overloaded && f == llmerrors.Anthropic {
				want = 529
			}
			if got := e.Status(f); got != want {
				t.Errorf("%s in %s: Status = %d, want %d", row.code, f, got, want)
			}
		}
	}
}

// The special cases the contract calls out, spelled out once more so a
// reader finds them by name.
func TestTypeSpecialCases(t *testing.T) {
	cases := []struct {
		code   llmerrors.Code
		format llmerrors.Format
		status int
		typ    string
	}{
		{llmerrors.Overloaded, llmerrors.Anthropic, 529, "overloaded_error"},
		{llmerrors.Overloaded, llmerrors.OpenAI, 503, "service_unavailable"},
		{llmerrors.Overloaded, llmerrors.CCProxy, 503, "provider_error"},
		{llmerrors.Overloaded, llmerrors.CooLLM, 503, "provider_error"},
		{llmerrors.Overloaded, llmerrors.Proxed, 503, "PROVIDER_ERROR"},
		{llmerrors.ModelNotFound, llmerrors.CCProxy, 404, "provider_error"},
		{llmerrors.NotFound, llmerrors.CCProxy, 404, "not_found_error"},
		{llmerrors.RequestTooLarge, llmerrors.Anthropic, 413, "request_too_large"},
		{llmerrors.RequestTooLarge, llmerrors.OpenAI, 413, "invalid_request_error"},
		{llmerrors.MethodNotAllowed, llmerrors.Anthropic, 405, "invalid_request_error"},
		{llmerrors.InsufficientQuota, llmerrors.Anthropic, 402, "billing_error"},
		{llmerrors.InsufficientQuota, llmerrors.Proxed, 402, "FORBIDDEN"},
		{llmerrors.ProviderTimeout, llmerrors.Anthropic, 504, "timeout_error"},
	}
	for _, c := range cases {
		e := &llmerrors.Error{Code: c.code}
		if got := e.Status(c.format); got != c.status {
			t.Errorf("%s in %s: status %d, want %d", c.code, c.format, got, c.status)
		}
		if got := e.Type(c.format); got != c.typ {
			t.Errorf("%s in %s: type %q, want %q", c.code, c.format, got, c.typ)
		}
	}
}

func TestShouldRetry(t *testing.T) {
	cases := []struct {
		name string
		e    llmerrors.Error
		want bool
	}{
		{"retryable code", llmerrors.Error{Code: llmerrors.ProviderUnavailable}, true},
		{"not retryable code", llmerrors.Error{Code: llmerrors.InvalidAPIKey}, false},
		{"NoRetry on a retryable code", llmerrors.Error{Code: llmerrors.ProviderUnavailable, NoRetry: true}, false},
		{"session limit resetting within a minute", llmerrors.Error{Code: llmerrors.SessionLimitExceeded, RetryAfter: time.Minute}, true},
		{"session limit resetting after a minute", llmerrors.Error{Code: llmerrors.SessionLimitExceeded, RetryAfter: time.Minute + time.Second}, false},
		{"rate limit resetting in an hour", llmerrors.Error{Code: llmerrors.RateLimitExceeded, RetryAfter: time.Hour}, true},
	}
	for _, c := range cases {
		if got := c.e.ShouldRetry(); got != c.want {
			t.Errorf("%s: ShouldRetry() = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRetryAfterRounding(t *testing.T) {
	cases := []struct {
		d        time.Duration
		sec, ms  int64
		describe string
	}{
		{0, 0, 0, "unknown"},
		{-time.Second, 0, 0, "negative"},
		{time.Nanosecond, 1, 1, "a nanosecond is still a wait"},
		{999 * time.Millisecond, 1, 999, "under a second"},
		{time.Second, 1, 1000, "exactly a second"},
		{1001 * time.Millisecond, 2, 1001, "just over a second rounds up"},
		{1724 * time.Millisecond, 2, 1724, "OpenAI's 'try again in 1.724s'"},
		{60 * time.Second, 60, 60000, "a minute"},
		{1<<63 - 1, 9223372037, 9223372036855, "the largest duration does not overflow"},
	}
	for _, c := range cases {
		e := &llmerrors.Error{RetryAfter: c.d}
		if got := e.RetryAfterSeconds(); got != c.sec {
			t.Errorf("%s: RetryAfterSeconds(%v) = %d, want %d", c.describe, c.d, got, c.sec)
		}
		if got := e.RetryAfterMillis(); got != c.ms {
			t.Errorf("%s: RetryAfterMillis(%v) = %d, want %d", c.describe, c.d, got, c.ms)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]llmerrors.Format{
		"": llmerrors.Auto, "auto": llmerrors.Auto, "openai": llmerrors.OpenAI,
		"anthropic": llmerrors.Anthropic, "ccproxy": llmerrors.CCProxy,
		"coollm": llmerrors.CooLLM, "proxed": llmerrors.Proxed,
	} {
		got, err := llmerrors.ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"OpenAI", "json", "anthropic ", "none"} {
		if _, err := llmerrors.ParseFormat(in); err == nil {
			t.Errorf("ParseFormat(%q) accepted an unknown format", in)
		}
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		f         llmerrors.Format
		anthropic bool
		want      llmerrors.Format
	}{
		{llmerrors.Auto, false, llmerrors.OpenAI},
		{llmerrors.Auto, true, llmerrors.Anthropic},
		{"", true, llmerrors.Anthropic},
		{llmerrors.OpenAI, true, llmerrors.OpenAI},
		{llmerrors.CCProxy, true, llmerrors.CCProxy},
		{llmerrors.Proxed, false, llmerrors.Proxed},
	}
	for _, c := range cases {
		if got := c.f.Resolve(c.anthropic); got != c.want {
			t.Errorf("%q.Resolve(%v) = %q, want %q", c.f, c.anthropic, got, c.want)
		}
	}
}

func TestNewAndError(t *testing.T) {
	e := llmerrors.New(llmerrors.ValidationError, "%s is required", "model")
	if e.Code != llmerrors.ValidationError || e.Message != "model is required" {
		t.Fatalf("New = %+v", e)
	}
	if e.Error() != "validation_error: model is required" {
		t.Errorf("Error() = %q", e.Error())
	}
}
