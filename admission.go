package llmgateway

import (
	"context"
	"time"

	"go.uber.org/zap"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/limits"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// defaultReserveOutputTokens is what a request reserves for its output:
// its max_tokens, but at most this (Claude Code asks 32000 or more on
// every call; reserving that in full would refuse modest budgets).
const defaultReserveOutputTokens = 4096

// admit checks the key's limits for a request on chain (its own route
// first) and counts it against them; it answers the refusal itself. On
// success the caller must call settle exactly once.
func (x *exchange) admit(chain []route) bool {
	if !x.key.Limited() {
		return true // nothing to count
	}
	var est limits.Estimate
	if x.key.CountsTokens() {
		est = x.estimate(chain)
	}
	adm, err := x.g.store.Admit(x.r.Context(), x.key, newRequestID(), est)
	if err != nil {
		x.fail(&llmerrors.Error{
			Code:       llmerrors.StoreError,
			Message:    "The gateway could not check this key's limits (its limits store failed). Retry shortly.",
			RetryAfter: time.Second,
			Cause:      err,
		})
		return false
	}
	x.admission = adm
	if x.key.HasRateLimits() {
		// The key's own rate-limit headers, on the answer and on a
		// refusal alike; relay keeps the provider's from the client.
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
// than was reserved. An endpoint the provider charges nothing for
// (count_tokens) uses nothing.
func (x *exchange) estimate(chain []route) limits.Estimate {
	if x.endpoint.Free {
		return limits.Estimate{}
	}
	prompt := x.key.PromptReservation(int64(len(x.body.Raw)))
	var output int64
	if x.endpoint.Generates {
		output, x.outputCap = x.key.OutputReservation(x.body.OutputCap, x.g.ReserveOutputTokens)
	}
	est := limits.Estimate{Tokens: prompt + output}
	for _, rt := range chain {
		if price, ok := x.g.prices.Lookup(rt.Upstream.Name, rt.Model); ok {
			est.Cost = max(est.Cost, price.Cost(prompt, output))
		}
	}
	return est
}

// settle replaces the admission's estimate with what the request used:
// the usage the provider reported for a complete answer; for an answer
// that began but did not reach the client whole (a cut stream, a client
// that left), what it was seen to use, or the estimate when that is more
// (the provider may have billed it all); nothing when no answer came.
func (x *exchange) settle() {
	if !x.admitted {
		return
	}
	x.admitted = false
	res := &x.result
	var used limits.Usage
	switch {
	case x.endpoint.Free:
	case res.SawUsage && res.Complete:
		used.Tokens = res.Usage.Total()
		used.Cost = x.cost
	case res.Committed:
		used.Tokens = max(res.Usage.Total(), x.estimated.Tokens)
		used.Cost = max(x.cost, x.estimated.Cost)
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
	rt := x.result.Route
	if rt.Upstream == nil {
		return 0
	}
	price, ok := x.g.prices.Lookup(rt.Upstream.Name, rt.Model)
	if !ok {
		return 0
	}
	return price.Cost(u.Input, u.Output)
}
