package providers

import (
	"strings"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// streamErrorStatus maps the error types, codes and google.rpc statuses
// providers put in stream error events to the HTTP status the same error
// has outside a stream.
var streamErrorStatus = map[string]int{
	"invalid_request_error":   400,
	"context_length_exceeded": 400,
	"invalid_argument":        400,
	"authentication_error":    401,
	"invalid_api_key":         401,
	"unauthenticated":         401,
	"billing_error":           402,
	"permission_error":        403,
	"permission_denied":       403,
	"not_found_error":         404,
	"model_not_found":         404,
	"not_found":               404,
	"request_too_large":       413,
	"rate_limit_error":        429,
	"rate_limit_exceeded":     429,
	"insufficient_quota":      429,
	"resource_exhausted":      429,
	"api_error":               500,
	"server_error":            500,
	"internal":                500,
	"unavailable":             503,
	"timeout_error":           504,
	"deadline_exceeded":       504,
	"capacity_exceeded":       498,
	"overloaded_error":        529,
}

// ClassifyStreamError reads the data of an error event that arrived in
// the middle of a stream: Anthropic's `event: error` payload
// ({"type":"error","error":{"type":"overloaded_error",…}}), an OpenAI or
// OpenRouter `data: {"error":{…}}` chunk, a Gemini google.rpc error, or a
// Responses API error or response.failed event. A stream error
// has no HTTP status of its own, so the status comes from the error's
// numeric code, else its type, status or code; one that cannot be read at
// all is a provider_error (the stream was good until then, so the
// provider failed rather than answered garbage). keys are the provider's
// keys, scrubbed from the message as on every other path.
func ClassifyStreamError(provider string, data []byte, keys []string) *llmerrors.Error {
	status := 0
	inner := gjson.GetBytes(data, "error")
	if failed := gjson.GetBytes(data, "response.error"); !inner.IsObject() && failed.IsObject() {
		// Responses API: {"type":"response.failed","response":{"error":{…}}}
		inner = failed
		data = []byte(`{"error":` + failed.Raw + `}`)
	}
	if !inner.IsObject() {
		inner = gjson.ParseBytes(data)
	}
	if c := inner.Get("code"); c.Type == gjson.Number && c.Int() >= 400 && c.Int() <= 599 {
		status = int(c.Int())
	} else {
		for _, field := range [...]string{"type", "status", "code"} {
			if s, ok := streamErrorStatus[strings.ToLower(inner.Get(field).String())]; ok {
				status = s
				break
			}
		}
	}
	if status == 0 {
		status = 500
	}
	e := Classify(nil, provider, Reply{Status: status, Body: data, Keys: keys})
	if e.Code == llmerrors.InvalidProviderResponse {
		e.Code = llmerrors.ProviderError
		e.Message = "Provider '" + provider + "' failed in the middle of the answer. Retry the request."
	}
	return e
}
