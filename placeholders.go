package llmgateway

import (
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/llmgateway/caddy-llm-gateway/limits"
)

const placeholderPrefix = "http.llm."

// authUserID is Caddy's placeholder for the authenticated user, which its
// access log writes as user_id: the gateway answers it with the client
// key's name, as basic_auth answers it with the user's.
const authUserID = "http.auth.user.id"

// placeholder resolves the gateway's placeholders ({http.llm.*}, listed on
// Gateway, and {http.auth.user.id}) from the request as it stands, when
// something asks for them (an access log, log_append, a header
// directive): nothing is computed for placeholders nobody reads.
func (x *exchange) placeholder(key string) (any, bool) {
	if key == authUserID {
		if name := x.keyName(); name != "" {
			return name, true
		}
		return nil, false
	}
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	res := &x.result
	switch name {
	case "request_id":
		return x.id, true
	case "provider":
		return x.providerName(nil), true
	case "model":
		return res.Route.Model, true
	case "requested_model":
		return x.model, true
	case "error.code":
		return string(x.errCode), true
	case "attempts":
		return res.Attempts, true
	case "key":
		return x.keyName(), true
	case "input_tokens":
		return res.Usage.Input, true
	case "output_tokens":
		return res.Usage.Output, true
	case "cache_read_tokens":
		return res.Usage.CacheRead, true
	case "cache_write_tokens":
		return res.Usage.CacheWrite, true
	case "cost_usd":
		return x.cost, true
	case "ttft_ms":
		if !res.Committed {
			return "", true
		}
		return res.FirstByte.Milliseconds(), true
	case "upstream_status":
		return res.UpstreamStatus, true
	case "provider_request_id":
		return res.ProviderRequestID, true
	}
	return nil, false
}

// keyName is the client key's name, or "" when the gateway asks no key.
func (x *exchange) keyName() string {
	if x.key == nil || x.key.ID == limits.AnonymousID {
		return ""
	}
	return x.key.Name
}

// logFields are the access-log fields of a request (never a key, never
// a hash):
//
//	llm_request_id            the request ID
//	llm_key                   the client key's name
//	llm_provider, llm_model   the route that answered (or was last tried)
//	llm_requested_model       the model the client asked for
//	llm_attempts              upstream attempts
//	llm_error_code            the error's code, when the answer was one
//	llm_input_tokens, llm_output_tokens, llm_cache_read_tokens, llm_cache_write_tokens
//	llm_cost_usd              what the answer cost at the configured prices
//	llm_ttft                  time to the answer's first byte
//	llm_upstream_status       the provider's last status
//	llm_provider_request_id   the provider's ID of the request
type logFields struct{ x *exchange }

func (f logFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	x := f.x
	res := &x.result
	enc.AddString("llm_request_id", x.id)
	if name := x.keyName(); name != "" {
		enc.AddString("llm_key", name)
	}
	if p := x.providerName(nil); p != "" {
		enc.AddString("llm_provider", p)
	}
	if m := res.Route.Model; m != "" {
		enc.AddString("llm_model", m)
	}
	if x.model != "" {
		enc.AddString("llm_requested_model", x.model)
	}
	if res.Attempts > 0 {
		enc.AddInt("llm_attempts", res.Attempts)
	}
	if x.errCode != "" {
		enc.AddString("llm_error_code", string(x.errCode))
	}
	if res.SawUsage {
		u := res.Usage
		enc.AddInt64("llm_input_tokens", u.Input)
		enc.AddInt64("llm_output_tokens", u.Output)
		if u.CacheRead > 0 || u.CacheWrite > 0 {
			enc.AddInt64("llm_cache_read_tokens", u.CacheRead)
			enc.AddInt64("llm_cache_write_tokens", u.CacheWrite)
		}
	}
	if x.cost > 0 {
		enc.AddFloat64("llm_cost_usd", x.cost)
	}
	if res.Committed {
		enc.AddDuration("llm_ttft", res.FirstByte.Round(time.Microsecond))
	}
	if res.UpstreamStatus != 0 {
		enc.AddInt("llm_upstream_status", res.UpstreamStatus)
	}
	if res.ProviderRequestID != "" {
		enc.AddString("llm_provider_request_id", res.ProviderRequestID)
	}
	return nil
}
