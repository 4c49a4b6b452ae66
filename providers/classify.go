package providers

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
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
	// Keys are the provider's keys, when the caller has them at hand:
	// any of them (or its tail) found in the answer is redacted, on top
	// of the pattern-based scrubbing every provider text gets. Optional.
	Keys []string
}

// providerError is a provider's error read in its own shape. Every shape
// the gateway knows reduces to these fields:
//
//	OpenAI, Groq, DeepSeek   {"error":{"message","type","param","code":"<string>"}}
//	Anthropic                {"type":"error","error":{"type","message"},"request_id"}
//	Gemini (google.rpc)      {"error":{"code":<n>,"message","status","details":[…]}}, in a
//	                         one-element array on its OpenAI-compatible endpoint
//	OpenRouter               {"error":{"code":<n>,"message","metadata":{"raw","provider_name","headers"}}}
//	Mistral                  {"object":"error","message":"…"|{"detail":[…]},"type","param","code"}
//	FastAPI-style servers    {"detail":"…"|[{"loc","msg","type"}]}
//	Responses stream error   {"type":"error","code","message","param"}
type providerError struct {
	message string
	// kind is the provider's error type or google.rpc status
	// ("rate_limit_error", "insufficient_quota", "RESOURCE_EXHAUSTED").
	kind string
	// code is the provider's error code, when it is a string.
	code string
	// status is the error's own numeric code (Gemini, OpenRouter), when
	// it is an HTTP status.
	status int
	param  string
	// reason is google.rpc.ErrorInfo's reason ("API_KEY_INVALID").
	reason string
	// retryDelay is Gemini's RetryInfo.retryDelay, or the reset of the
	// rate-limit window OpenRouter reports in metadata.headers.
	retryDelay time.Duration
	// upstream is the provider behind an aggregator (OpenRouter's
	// metadata.provider_name).
	upstream string
}

// Classify reads a provider's error answer into the canonical error, per
// CONTRACT.md: an answer read in the provider's own shape is mapped by its
// status and type (the table is in docs/errors.md); one the gateway
// cannot read (HTML, empty, truncated or otherwise not an error shape) is
// invalid_provider_response. provider is the configured provider name,
// which every message names. t may be nil: providers are often
// configured under another type than their own (Groq as `type openai`),
// so the mapping reads the answer, not the type.
//
// A 2xx (or other non-error) status carrying an error object, as
// OpenRouter sends after a model failed mid-request, is classified by the
// error's own code, or as 502 when it has none.
//
// Nothing a provider wrote reaches the result without going through
// scrub: the provider's key, even masked, never does.
func Classify(t *Type, provider string, r Reply) *llmerrors.Error {
	pe, ok := readProviderError(r.Body, 0)
	if r.Truncated {
		ok = false
	}
	status := r.Status
	if status < 400 {
		status = http.StatusBadGateway
		if ok && pe.status >= 400 && pe.status <= 599 {
			status = pe.status
		}
	}
	e := &llmerrors.Error{Provider: provider, UpstreamStatus: r.Status}
	e.RetryAfter = RetryAfter(r.Header)
	if ok {
		if e.RetryAfter == 0 {
			e.RetryAfter = pe.retryDelay
		}
		if e.RetryAfter == 0 {
			e.RetryAfter = hintedWait(pe.message)
		}
	}
	if !ok {
		e.Code = llmerrors.InvalidProviderResponse
		e.Message = fmt.Sprintf("Provider '%s' answered %d with a body the gateway could not read (%s). Retry; if it persists, check the provider's status page.", provider, r.Status, describeBody(r))
	} else {
		mapReadable(e, provider, status, pe, r.Keys)
	}
	if !e.ShouldRetry() {
		e.RetryAfter = 0 // a wait means nothing on an error not worth retrying
	}
	return e
}

// mapReadable maps a readable provider error by its status and type. The
// order matters: out-of-credit answers come as 429 (OpenAI), 402
// (OpenRouter, DeepSeek) or 400 (Anthropic), and must not read as rate
// limits or bad requests.
func mapReadable(e *llmerrors.Error, provider string, status int, pe providerError, keys []string) {
	kind := strings.ToLower(pe.kind)
	code := strings.ToLower(pe.code)
	msg := scrub(pe.message, keys)
	lowerMsg := strings.ToLower(msg)
	keep := func(c llmerrors.Code) {
		e.Code = c
		if msg == "" {
			e.Message = fmt.Sprintf("Provider '%s' refused the request (%d).", provider, status)
		} else {
			e.Message = fmt.Sprintf("Provider '%s': %s", provider, msg)
		}
	}
	switch {
	case kind == "overloaded_error" || status == 529 || status == 498 || code == "capacity_exceeded":
		// Anthropic's overloaded_error (529), Groq's flex tier at
		// capacity (498 capacity_exceeded).
		e.Code = llmerrors.Overloaded
		e.Message = fmt.Sprintf("Provider '%s' is overloaded. Retry after a short wait.", provider)

	case status == 402 || code == "insufficient_quota" || kind == "insufficient_quota" || kind == "billing_error" ||
		strings.Contains(lowerMsg, "credit balance is too low"):
		// The provider account is out of credit: OpenAI 429
		// insufficient_quota, OpenRouter 402, DeepSeek 402 "Insufficient
		// Balance", Anthropic 400 "Your credit balance is too low".
		e.Code = llmerrors.ProviderUnavailable
		e.NoRetry = true
		e.Message = fmt.Sprintf("Provider '%s' is out of credit. The gateway operator must top up the provider account.", provider)
		e.Suggestion = fmt.Sprintf("Use another provider or model until the account of provider '%s' is topped up.", provider)

	case status == 401 || kind == "authentication_error" || kind == "unauthenticated" || code == "invalid_api_key" ||
		pe.reason == "API_KEY_INVALID" || strings.Contains(lowerMsg, "api key not valid"):
		// Gemini rejects a bad key with 400 INVALID_ARGUMENT and the
		// reason API_KEY_INVALID. The provider's own text is dropped:
		// it is about the gateway's key, which the client neither has
		// nor may see.
		e.Code = llmerrors.InvalidAPIKey
		e.Message = fmt.Sprintf("Invalid API key for provider '%s'", provider)
		e.Suggestion = fmt.Sprintf("The provider rejected the gateway's key: check the api_key of provider '%s' in the gateway configuration.", provider)

	case status == 403 || kind == "permission_error" || kind == "permission_denied":
		e.Code = llmerrors.PermissionDenied
		if msg == "" {
			e.Message = fmt.Sprintf("Provider '%s' refused access (%d).", provider, status)
		} else {
			e.Message = fmt.Sprintf("Provider '%s' refused access: %s", provider, msg)
		}

	case status == 404:
		if code == "model_not_found" || strings.HasPrefix(lowerMsg, "model:") || strings.Contains(lowerMsg, "model") {
			keep(llmerrors.ModelNotFound)
			e.Suggestion = "Check the model name: GET /v1/models lists the models this key may use."
		} else {
			keep(llmerrors.NotFound)
			e.Suggestion = fmt.Sprintf("The provider does not serve this path: check the base_url of provider '%s' in the gateway configuration.", provider)
		}

	case status == 413 || kind == "request_too_large":
		keep(llmerrors.RequestTooLarge)

	case status == 429 || kind == "rate_limit_error" || kind == "resource_exhausted" || code == "rate_limit_exceeded":
		// The provider's text is not kept: it names the operator's
		// organization and limits, which are not the client's business.
		e.Code = llmerrors.ProviderRateLimited
		if e.RetryAfter > 0 {
			e.Message = fmt.Sprintf("Provider '%s' rate-limited the request. Retry after the time in Retry-After.", provider)
		} else {
			e.Message = fmt.Sprintf("Provider '%s' rate-limited the request. Retry after a short wait.", provider)
		}

	case status == 408 || status == 504 || status == 524 || kind == "deadline_exceeded" || kind == "timeout_error":
		e.Code = llmerrors.ProviderTimeout
		e.Message = fmt.Sprintf("Provider '%s' timed out. Retry, or stream the answer to get output sooner.", provider)

	case status == 503 || kind == "unavailable":
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is temporarily unavailable", provider)

	case status >= 500:
		e.Code = llmerrors.ProviderError
		detail := msg
		if up := scrub(pe.upstream, keys); up != "" {
			detail = strings.TrimSuffix(detail, ".") + " (upstream provider: " + up + ")"
		}
		if detail == "" {
			e.Message = fmt.Sprintf("Provider '%s' failed (%d). Retry the request.", provider, status)
		} else {
			e.Message = fmt.Sprintf("Provider '%s' failed (%d): %s", provider, status, detail)
		}

	default:
		// 400, 405, 409, 422 and the rest: the provider rejected the
		// request, and its message says what to fix.
		keep(llmerrors.InvalidRequest)
		e.Field = scrubField(pe.param, keys)
	}
}

// scrubField keeps a provider's param when it names a request field.
func scrubField(param string, keys []string) string {
	f := scrub(param, keys)
	if f == "" || strings.Contains(f, redacted) || len(f) > 200 {
		return ""
	}
	return f
}

// genericMessages are what aggregators say when the real message sits in
// the metadata ("Provider returned error", OpenRouter).
var genericMessages = map[string]bool{"provider returned error": true}

// readProviderError reads any of the error shapes providers use. depth
// bounds the reading of OpenRouter's metadata.raw, which holds the
// upstream provider's own answer.
func readProviderError(body []byte, depth int) (providerError, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || !gjson.ValidBytes(body) {
		return providerError{}, false
	}
	doc := gjson.ParseBytes(body)
	if doc.IsArray() { // Gemini's OpenAI-compatible endpoint wraps errors in an array
		doc = doc.Get("0")
	}
	if !doc.IsObject() {
		return providerError{}, false
	}
	var pe providerError
	inner := doc.Get("error")
	switch {
	case inner.IsObject():
		readErrorObject(inner, &pe, depth)
	case inner.Type == gjson.String && inner.Str != "":
		// {"error":"Unauthorized","message":"…"} and {"error":"…"}
		pe.kind = inner.Str
		pe.message = inner.Str
		if m := doc.Get("message"); m.Type == gjson.String && m.Str != "" {
			pe.message = m.Str
		}
		readCode(doc.Get("code"), &pe)
	case doc.Get("detail").Exists(): // FastAPI-style servers (Mistral's newer answers)
		pe.message, pe.param = readDetail(doc.Get("detail"))
	case doc.Get("message").Exists() || doc.Get("object").Str == "error":
		// Mistral, plain {"message":…} answers, Responses API stream errors.
		readErrorObject(doc, &pe, depth)
		if pe.kind == "error" { // {"type":"error",…} names the envelope, not the error
			pe.kind = ""
		}
	default:
		return providerError{}, false
	}
	return pe, pe.message != "" || pe.kind != "" || pe.code != "" || pe.status != 0
}

// readErrorObject reads the fields every error object shape shares.
func readErrorObject(o gjson.Result, pe *providerError, depth int) {
	switch m := o.Get("message"); {
	case m.Type == gjson.String:
		pe.message = m.Str
	case m.IsObject() || m.IsArray(): // Mistral: "message":{"detail":[…]}
		detail := m
		if m.IsObject() {
			detail = m.Get("detail")
		}
		pe.message, pe.param = readDetail(detail)
	}
	if t := o.Get("type"); t.Type == gjson.String {
		pe.kind = t.Str
	}
	if s := o.Get("status"); s.Type == gjson.String { // google.rpc
		pe.kind = s.Str
	}
	readCode(o.Get("code"), pe)
	if p := o.Get("param"); p.Type == gjson.String && pe.param == "" {
		pe.param = p.Str
	}
	o.Get("details").ForEach(func(_, d gjson.Result) bool {
		switch t := d.Get("@type").Str; {
		case strings.HasSuffix(t, "google.rpc.RetryInfo"):
			if dur, err := time.ParseDuration(d.Get("retryDelay").Str); err == nil {
				pe.retryDelay = clampWait(dur)
			}
		case strings.HasSuffix(t, "google.rpc.ErrorInfo"):
			if pe.reason == "" {
				pe.reason = d.Get("reason").Str
			}
		}
		return true
	})
	if md := o.Get("metadata"); md.IsObject() { // OpenRouter
		pe.upstream = md.Get("provider_name").Str
		if hs := md.Get("headers"); hs.IsObject() {
			h := http.Header{}
			hs.ForEach(func(k, v gjson.Result) bool {
				h.Set(k.String(), v.String())
				return true
			})
			pe.retryDelay = RetryAfter(h)
		}
		if genericMessages[strings.ToLower(pe.message)] {
			if raw, ok := readRaw(md.Get("raw"), depth); ok {
				pe.message = raw.message
				if pe.param == "" {
					pe.param = raw.param
				}
			}
		}
	}
}

// readCode reads a code that may be a status (OpenRouter 402, Gemini 429,
// "429") or a word ("insufficient_quota").
func readCode(c gjson.Result, pe *providerError) {
	switch c.Type {
	case gjson.Number:
		if n := c.Int(); n >= 100 && n <= 999 && float64(n) == c.Num {
			pe.status = int(n)
		}
	case gjson.String:
		if n, err := strconv.Atoi(c.Str); err == nil {
			if n >= 100 && n <= 999 {
				pe.status = n
			}
			return
		}
		pe.code = c.Str
	}
}

// readRaw reads OpenRouter's metadata.raw: the upstream provider's own
// answer, as a JSON string, an object, or plain text.
func readRaw(raw gjson.Result, depth int) (providerError, bool) {
	var text string
	switch {
	case raw.Type == gjson.String:
		text = raw.Str
	case raw.IsObject():
		text = raw.Raw
	default:
		return providerError{}, false
	}
	if depth < 2 {
		if inner, ok := readProviderError([]byte(text), depth+1); ok && inner.message != "" {
			return inner, true
		}
	}
	if t := strings.TrimSpace(text); t != "" && t[0] != '{' && t[0] != '[' && t[0] != '<' {
		return providerError{message: t}, true
	}
	return providerError{}, false
}

// readDetail reads FastAPI/pydantic validation errors ("detail":[{"loc":
// ["body","messages",0,"content"],"msg":"Field required"}]) into a
// message and the first field at fault ("messages[0].content").
func readDetail(d gjson.Result) (msg, field string) {
	if d.Type == gjson.String {
		return d.Str, ""
	}
	if !d.IsArray() {
		return "", ""
	}
	var parts []string
	d.ForEach(func(_, item gjson.Result) bool {
		loc := fieldPath(item.Get("loc"))
		if field == "" {
			field = loc
		}
		text := item.Get("msg").String()
		if loc != "" {
			text = loc + ": " + text
		}
		if text != "" {
			parts = append(parts, text)
		}
		return len(parts) < 5
	})
	return strings.Join(parts, "; "), field
}

// fieldPath writes a pydantic loc as a request field path, dropping the
// "body" it starts with: ["body","messages",0,"content"] is
// "messages[0].content".
func fieldPath(loc gjson.Result) string {
	var b strings.Builder
	first := true
	loc.ForEach(func(_, p gjson.Result) bool {
		if first && p.Str == "body" {
			first = false
			return true
		}
		first = false
		if p.Type == gjson.Number {
			b.WriteString("[" + p.Raw + "]")
			return true
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.String())
		return true
	})
	return b.String()
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
		if gjson.ValidBytes(b) {
			return "JSON that is not an error"
		}
		return "truncated or malformed JSON"
	}
	return "not JSON"
}
