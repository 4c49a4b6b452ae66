package llmgateway

import (
	"strings"

	"go.uber.org/zap/zapcore"
)

const placeholderPrefix = "http.llm."

// placeholder resolves the gateway's placeholders ({http.llm.*}, listed on
// Gateway) from the request as it stands, when something asks for them
// (an access log's log_append, a header directive): nothing is computed
// for placeholders nobody reads.
func (x *exchange) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "request_id":
		return x.id, true
	case "provider":
		return x.provider, true
	case "model":
		return x.upstreamModel, true
	case "error.code":
		return string(x.errCode), true
	case "attempts":
		return x.attempts, true
	case "key":
		if x.key == nil {
			return "", true
		}
		return x.key.Name, true
	case "input_tokens":
		return x.usage.Input, true
	case "output_tokens":
		return x.usage.Output, true
	}
	return nil, false
}

// logFields are the access-log fields of a request: llm_request_id,
// llm_provider, llm_model, llm_error_code, llm_attempts, llm_key (the key's
// name, never the key), llm_input_tokens and llm_output_tokens.
type logFields struct{ x *exchange }

func (f logFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	x := f.x
	enc.AddString("llm_request_id", x.id)
	if x.provider != "" {
		enc.AddString("llm_provider", x.provider)
	}
	if x.upstreamModel != "" {
		enc.AddString("llm_model", x.upstreamModel)
	}
	if x.errCode != "" {
		enc.AddString("llm_error_code", string(x.errCode))
	}
	if x.attempts > 0 {
		enc.AddInt("llm_attempts", x.attempts)
	}
	if x.key != nil {
		enc.AddString("llm_key", x.key.Name)
	}
	if x.sawUsage {
		enc.AddInt64("llm_input_tokens", x.usage.Input)
		enc.AddInt64("llm_output_tokens", x.usage.Output)
	}
	return nil
}
