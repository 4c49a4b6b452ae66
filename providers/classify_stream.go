package providers

import (
	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// streamErrorStatus maps the error types providers put in stream error
// events to the HTTP status the same error has outside a stream.
var streamErrorStatus = map[string]int{
	"invalid_request_error": 400,
	"authentication_error":  401,
	"permission_error":      403,
	"not_found_error":       404,
	"request_too_large":     413,
	"rate_limit_error":      429,
	"rate_limit_exceeded":   429,
	"api_error":             500,
	"server_error":          500,
	"timeout_error":         504,
	"overloaded_error":      529,
}

// ClassifyStreamError reads the data of an error event that arrived in
// the middle of a stream: Anthropic's `event: error` payload, an OpenAI or
// OpenRouter `data: {"error":{...}}` chunk, or a Responses API error event.
// A stream error has no HTTP status of its own, so the status comes from
// the error's numeric code or its type; one that cannot be read is a
// provider_error.
func ClassifyStreamError(provider string, data []byte) *llmerrors.Error {
	status := 0
	inner := gjson.GetBytes(data, "error")
	if !inner.IsObject() {
		inner = gjson.ParseBytes(data) // Responses API: {"type":"error","code":...,"message":...}
	}
	if c := inner.Get("code"); c.Type == gjson.Number && c.Int() >= 400 && c.Int() <= 599 {
		status = int(c.Int())
	} else if s, ok := streamErrorStatus[inner.Get("type").String()]; ok {
		status = s
	} else if s, ok := streamErrorStatus[inner.Get("code").String()]; ok {
		status = s
	}
	if status == 0 {
		status = 500
	}
	e := Classify(nil, provider, Reply{Status: status, Body: data})
	if e.Code == llmerrors.InvalidProviderResponse {
		e.Code = llmerrors.ProviderError
		e.Message = "Provider '" + provider + "' failed in the middle of the answer. Retry the request."
	}
	return e
}
