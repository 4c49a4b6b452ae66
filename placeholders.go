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
		return x.providerName(nil), true
	case "model":
		return x.result.Route.Model, true
	case "error.code":
		return string(x.errCode), true
	case "attempts":
		return x.result.Attempts, true
	case "key":
		if x.key == nil {
			return "", true
		}
		return x.key.Name, true
	case "input_tokens":
		return x.result.Usage.Input, true
	case "output_tokens":
		return x.result.Usage.Output, true
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
	if p := x.providerName(nil); p != "" {
		enc.AddString("llm_provider", p)
	}
	if m := x.result.Route.Model; m != "" {
		enc.AddString("llm_model", m)
	}
	if x.errCode != "" {
		enc.AddString("llm_error_code", string(x.errCode))
	}
	if n := x.result.Attempts; n > 0 {
		enc.AddInt("llm_attempts", n)
	}
	if x.key != nil {
		enc.AddString("llm_key", x.key.Name)
	}
	if x.result.SawUsage {
		enc.AddInt64("llm_input_tokens", x.result.Usage.Input)
		enc.AddInt64("llm_output_tokens", x.result.Usage.Output)
	}
	return nil
}
