package llmgateway

import (
	"context"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"go.uber.org/zap"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/limits"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// bytesPerToken estimates prompt tokens from the request's size before the
// provider counts them; the real count replaces the estimate when the
// answer ends.
const bytesPerToken = 4

// defaultReserveOutputTokens is what a request reserves for its output:
// its max_tokens, but at most this (Claude Code asks 32000 or more on
// every call; reserving that in full would refuse modest budgets).
const defaultReserveOutputTokens = 4096

// outputLimitFields are where the APIs put the output cap.
var outputLimitFields = [...]string{"max_tokens", "max_completion_tokens", "max_output_tokens"}

// admit checks the key's limits for a request on chain (its own route
// first) and counts it against them; it answers the refusal itself. On
// success the caller must call settle exactly once.
func (x *exchange) admit(chain []route) bool {
	if !x.key.Limited() {
		return true // nothing to count
	}
	var est limits.Estimate
	if x.needUsage {
		est = x.estimate(chain)
	}
	adm, err := x.g.store.Admit(x.r.Context(), x.key, newRequestID(), est)
	if err != nil {
		x.fail(&llmerrors.Error{
			Code:    llmerrors.StoreError,
			Message: "The gateway could not check this key's limits (its limits store failed). Retry shortly.",
			Cause:   err,
		})
		return false
	}
	x.admission = adm
	if x.key.HasRateLimits() {
		x.ownRateHeaders = true
		x.admission.SetRateHeaders(x.w.Header(), x.anthropicClient, time.Now())
	}
	if e := x.admission.Err(); e != nil {
		x.fail(e)
		return false
	}
	x.admitted = true
	x.estimated = est
	return true
}

// estimate is what the request may use: its prompt (from its size) plus
// the output it may produce, min(max_tokens, reserve_output_tokens), priced
// at the dearest route of its chain, so that a fallback cannot cost more
// than was reserved.
func (x *exchange) estimate(chain []route) limits.Estimate {
	prompt := int64(len(x.body)/bytesPerToken) + 1
	var output int64
	if x.endpoint.Generates {
		output = x.g.ReserveOutputTokens
		for _, f := range outputLimitFields {
			if v := gjson.GetBytes(x.body, f); v.Type == gjson.Number && v.Int() > 0 {
				output = min(v.Int(), output)
				break
			}
		}
	}
	est := limits.Estimate{Tokens: prompt + output}
	for _, rt := range chain {
		if price, ok := x.g.prices.Lookup(rt.provider.Name, rt.model); ok {
			est.Cost = max(est.Cost, price.Cost(prompt, output))
		}
	}
	return est
}

// settle replaces the admission's estimate with what the request used: the
// usage the provider reported; the estimate when an answer began but its
// usage never came (a cut stream, a client that left: the provider may
// have billed it); nothing when no answer came at all.
func (x *exchange) settle() {
	if !x.admitted {
		return
	}
	x.admitted = false
	var used limits.Usage
	switch {
	case x.sawUsage && x.answered && !x.gone:
		used.Tokens = x.usage.Total()
		used.Cost = x.costOf(x.usage)
	case x.answered:
		used.Tokens = max(x.usage.Total(), x.estimated.Tokens)
		used.Cost = max(x.costOf(x.usage), x.estimated.Cost)
	}
	// The client may be gone; the books must still balance.
	ctx := context.WithoutCancel(x.r.Context())
	if err := x.g.store.Settle(ctx, x.key, &x.admission, used); err != nil {
		x.g.logger.Error("settling a request's usage failed; the key's counters may be off until they refill",
			zap.String("request_id", x.id), zap.String("key", x.key.Name), zap.Error(err))
	}
}

// costOf prices usage at the route that answered.
func (x *exchange) costOf(u providers.Usage) float64 {
	price, ok := x.g.prices.Lookup(x.provider, x.upstreamModel)
	if !ok {
		return 0
	}
	return price.Cost(u.Input, u.Output)
}

// withStreamUsage asks an OpenAI-protocol provider to report usage at the
// end of a stream (stream_options.include_usage) when the key's limits
// count tokens and the client did not ask for it; the gateway then drops
// that extra chunk on the way back.
func (x *exchange) withStreamUsage(body []byte, rt route) []byte {
	if !x.needUsage || !x.stream || x.endpoint.Protocol != providers.OpenAI || !rt.provider.typ.StreamUsageOption {
		return body
	}
	if !strings.HasSuffix(x.endpoint.Path, "completions") {
		return body // the Responses API always reports usage
	}
	if gjson.GetBytes(body, "stream_options.include_usage").Bool() {
		return body
	}
	b, err := sjson.SetBytes(body, "stream_options.include_usage", true)
	if err != nil {
		return body
	}
	return b
}
