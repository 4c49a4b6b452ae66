package providers

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// Reply is a provider's error answer as the gateway received it.
type Reply struct {
	Status int
	Header http.Header
	// Body holds the answer's first bytes (the gateway caps how much of
	// an error body it keeps); Truncated says whether more was dropped.
	Body      []byte
	Truncated bool
}

// providerError is a provider's error read in its own shape.
type providerError struct {
	message string
	// kind is the provider's error type or status word
	// ("rate_limit_error", "insufficient_quota", "RESOURCE_EXHAUSTED").
	kind string
	// code is the provider's error code, when it is a string.
	code  string
	param string
	// retryDelay is Gemini's RetryInfo.retryDelay.
	retryDelay time.Duration
}

// Classify reads a provider's error answer into the canonical error. A
// body the gateway cannot read in any provider's shape (HTML, empty,
// truncated) is invalid_provider_response; a readable one is mapped by its
// status and type. provider is the configured provider name, which every
// message names.
func Classify(t *Type, provider string, r Reply) *llmerrors.Error {
	pe, ok := readProviderError(r.Body)
	if r.Truncated {
		ok = false
	}
	e := &llmerrors.Error{Provider: provider, UpstreamStatus: r.Status}
	e.RetryAfter = RetryAfter(r.Header)
	if ok && pe.retryDelay > 0 && e.RetryAfter == 0 {
		e.RetryAfter = pe.retryDelay
	}
	if !ok {
		e.Code = llmerrors.InvalidProviderResponse
		e.Message = fmt.Sprintf("Provider '%s' answered %d with a body the gateway could not read (%s). Retry; if it persists, check the provider's status page.", provider, r.Status, describeBody(r))
		return e
	}
	mapReadable(e, provider, r.Status, pe)
	return e
}

// mapReadable maps a readable provider error by its type and status.
func mapReadable(e *llmerrors.Error, provider string, status int, pe providerError) {
	kind := strings.ToLower(pe.kind)
	code := strings.ToLower(pe.code)
	keep := func(c llmerrors.Code) {
		e.Code = c
		e.Message = providerMessage(provider, pe.message, status)
	}
	switch {
	case kind == "overloaded_error" || status == 529 || status == 498:
		e.Code = llmerrors.Overloaded
		e.Message = fmt.Sprintf("Provider '%s' is overloaded. Retry after a short wait.", provider)
	case code == "insufficient_quota" || kind == "insufficient_quota" || status == 402:
		e.Code = llmerrors.ProviderUnavailable
		e.NoRetry = true
		e.Message = fmt.Sprintf("Provider '%s' is out of credit. The gateway operator must top up the provider account.", provider)
	case status == 401 || kind == "authentication_error" || kind == "unauthenticated" || code == "invalid_api_key" || strings.Contains(pe.message, "API key not valid"):
		e.Code = llmerrors.InvalidAPIKey
		e.Message = fmt.Sprintf("Invalid API key for provider '%s'", provider)
		e.Suggestion = fmt.Sprintf("The provider rejected the gateway's key: check the api_key of provider '%s' in the gateway configuration.", provider)
	case status == 403 || kind == "permission_error" || kind == "permission_denied":
		keep(llmerrors.PermissionDenied)
	case status == 404:
		if code == "model_not_found" || strings.Contains(strings.ToLower(pe.message), "model") || kind == "not_found_error" {
			keep(llmerrors.ModelNotFound)
		} else {
			keep(llmerrors.NotFound)
		}
	case status == 413 || kind == "request_too_large":
		keep(llmerrors.RequestTooLarge)
	case status == 429:
		e.Code = llmerrors.ProviderRateLimited
		e.Message = fmt.Sprintf("Provider '%s' rate-limited the request. Retry after the time in Retry-After.", provider)
	case status == 408 || status == 504 || kind == "deadline_exceeded" || kind == "timeout_error":
		e.Code = llmerrors.ProviderTimeout
		e.Message = fmt.Sprintf("Provider '%s' timed out. Retry, or stream the answer to get output sooner.", provider)
	case status == 503 || kind == "unavailable":
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is temporarily unavailable", provider)
	case status >= 500:
		e.Code = llmerrors.ProviderError
		e.Message = fmt.Sprintf("Provider '%s' failed (%d): %s", provider, status, scrub(pe.message))
	default:
		keep(llmerrors.InvalidRequest)
		e.Field = pe.param
	}
}

// providerMessage keeps a provider's own message where it tells the client
// what to fix, prefixed with the provider's name; a message that looks as
// if it could carry a key is replaced.
func providerMessage(provider, msg string, status int) string {
	msg = scrub(msg)
	if msg == "" {
		return fmt.Sprintf("Provider '%s' refused the request (%d).", provider, status)
	}
	return fmt.Sprintf("Provider '%s': %s", provider, msg)
}

// scrub drops a provider message that may quote a key, even masked (OpenAI
// writes "Incorrect API key provided: sk-abc***xyz").
func scrub(msg string) string {
	lower := strings.ToLower(msg)
	if strings.Contains(msg, "***") || strings.Contains(lower, "sk-") || strings.Contains(lower, "key provided") || strings.Contains(msg, "AIza") {
		return ""
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// readProviderError reads any of the error shapes providers use.
func readProviderError(body []byte) (providerError, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || !gjson.ValidBytes(body) {
		return providerError{}, false
	}
	doc := gjson.ParseBytes(body)
	if doc.IsArray() { // Gemini's OpenAI endpoint wraps errors in an array
		doc = doc.Get("0")
	}
	if !doc.IsObject() {
		return providerError{}, false
	}
	var pe providerError
	if inner := doc.Get("error"); inner.IsObject() {
		// OpenAI, Groq, OpenRouter, Gemini, DeepSeek; Anthropic's
		// {"type":"error","error":{...}} has the same inner shape.
		pe.message = inner.Get("message").String()
		pe.kind = inner.Get("type").String()
		if s := inner.Get("status"); s.Type == gjson.String { // google.rpc
			pe.kind = s.Str
		}
		if c := inner.Get("code"); c.Type == gjson.String {
			pe.code = c.Str
		}
		pe.param = inner.Get("param").String()
		inner.Get("details").ForEach(func(_, d gjson.Result) bool {
			if strings.HasSuffix(d.Get("@type").String(), "RetryInfo") {
				if dur, err := time.ParseDuration(d.Get("retryDelay").String()); err == nil {
					pe.retryDelay = dur
				}
			}
			return true
		})
		return pe, pe.message != "" || pe.kind != ""
	}
	if doc.Get("object").String() == "error" || doc.Get("message").Exists() { // Mistral and plain shapes
		pe.message = doc.Get("message").String()
		pe.kind = doc.Get("type").String()
		pe.code = doc.Get("code").String()
		pe.param = doc.Get("param").String()
		return pe, pe.message != ""
	}
	if d := doc.Get("detail"); d.Exists() { // FastAPI-style servers
		pe.message = d.String()
		return pe, true
	}
	if inner := doc.Get("error"); inner.Type == gjson.String {
		pe.message = inner.Str
		return pe, true
	}
	return providerError{}, false
}

// describeBody says what kind of unreadable body a provider sent, without
// quoting it.
func describeBody(r Reply) string {
	b := bytes.TrimSpace(r.Body)
	switch {
	case len(b) == 0:
		return "empty body"
	case r.Truncated:
		return "body too large"
	case b[0] == '<':
		return "HTML page"
	case b[0] == '{' || b[0] == '[':
		return "truncated or malformed JSON"
	}
	return "not JSON"
}
