package llmgateway

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/relay"
	"github.com/llmgateway/caddy-llm-gateway/request"
	"github.com/llmgateway/caddy-llm-gateway/translate"
)

// serveAPI handles a POST to a provider API path: the client's key, its
// body (read and checked once), the route and the key's policy, the key's
// limits, then the trip upstream, and the settlement of what it used.
func (x *exchange) serveAPI() {
	if !x.authenticate() {
		return
	}
	if e := x.checkContentType(); e != nil {
		x.fail(e)
		return
	}
	raw, e := request.Read(x.r, x.g.MaxRequestBody)
	if e != nil {
		x.fail(e)
		if e.Code == llmerrors.RequestTooLarge {
			request.DrainRefused(x.w, x.r)
		}
		return
	}
	body, e := request.Parse(raw, requiredMember(x.endpoint))
	if e != nil {
		x.fail(e)
		return
	}
	x.body, x.model = body, body.Model
	rt, ok := x.g.router.resolve(x.model)
	if !ok {
		x.fail(x.modelNotFound())
		return
	}
	x.result.Route = rt
	up := rt.Upstream
	if !up.Type.Speaks(x.endpoint.Protocol) && x.endpoint.Translated() == nil && !x.endpoint.Free {
		x.fail(&llmerrors.Error{
			Code:     llmerrors.InvalidRequest,
			Provider: up.Name,
			Message: fmt.Sprintf("Model '%s' is served by provider '%s', which speaks the %s protocol, and %s has no equivalent there (only Anthropic Messages and OpenAI Chat Completions translate into each other). Pick a model of a provider that speaks %s.",
				x.model, up.Name, up.Type.Protocols[0], x.endpoint.Path, x.endpoint.Protocol),
		})
		return
	}
	if e := x.key.Allows(up.Name, rt.Model); e != nil {
		x.fail(e)
		return
	}
	chain := x.allowedChain(rt)
	if !x.admit(chain) {
		return
	}
	defer x.settle()
	if x.endpoint.Free && !up.Type.Speaks(x.endpoint.Protocol) {
		// count_tokens for a model of an OpenAI-protocol provider, which
		// has no such endpoint: the gateway estimates it.
		x.result.Route = rt
		x.writeJSON(struct {
			InputTokens int64 `json:"input_tokens"`
		}{translate.CountTokens(body.Raw)})
		return
	}
	x.result = relay.Run(&relay.Call{
		Request:         x.r,
		Endpoint:        x.endpoint,
		Body:            body,
		Routes:          chain,
		ID:              x.id,
		AnthropicClient: x.anthropicClient,
		// Usage is read for every request, not only for keys whose
		// limits count tokens: metrics and access logs report it.
		ReadUsage:       !x.endpoint.Free,
		OutputCap:       x.outputCap,
		Policy:          x.g.retry,
		Logger:          x.g.logger,
		AvailableModels: x.availableModels,
	}, x.w)
	res := &x.result
	if res.SawUsage {
		x.cost = x.costOf(res.Usage)
	}
	switch {
	case res.Committed:
		x.wrote = true
		if res.Err != nil {
			x.errCode = res.Err.Code // written into the stream
			x.logFailure(res.Err)
		}
	case res.ClientGone:
	case res.Err != nil:
		x.fail(res.Err)
	}
	if res.AbortConnection {
		// A plain answer broke after its first byte: the client must
		// see a failed read, not a short body. settle runs first.
		panic(http.ErrAbortHandler)
	}
}

// requiredMember is the array member the endpoint's bodies must carry
// besides model (messages), if any.
func requiredMember(ep *providers.Endpoint) request.Member {
	if ep.Required == "messages" {
		return request.Messages
	}
	return request.NoRequired
}

// allowedChain is the route's chain of fallbacks, without the routes the
// key may not use and those of providers that can serve the request
// neither in its own protocol nor translated.
func (x *exchange) allowedChain(rt route) []route {
	chain := x.g.router.chain(x.model, rt)
	if len(chain) == 1 {
		return chain
	}
	allowed := chain[:1:1]
	for _, fb := range chain[1:] {
		if x.mayUse(fb) && (fb.Upstream.Type.Speaks(x.endpoint.Protocol) || x.endpoint.Translated() != nil) {
			allowed = append(allowed, fb)
		}
	}
	return allowed
}

// checkContentType accepts JSON bodies (application/json and
// application/*+json) and requests that name no type.
func (x *exchange) checkContentType() *llmerrors.Error {
	ct := x.r.Header.Get("Content-Type")
	if ct == "" || providers.HasMediaType(ct, "application/json") {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return &llmerrors.Error{
		Code:    llmerrors.UnsupportedContentType,
		Message: fmt.Sprintf("Content-Type %q is not supported; send the body as JSON with Content-Type: application/json.", ct),
	}
}

// modelNotFound lists every name the client may send instead.
func (x *exchange) modelNotFound() *llmerrors.Error {
	e := &llmerrors.Error{
		Code:            llmerrors.ModelNotFound,
		Message:         fmt.Sprintf("Model '%s' not found", x.model),
		AvailableModels: x.availableModels(),
		Suggestion:      "Use one of available_models, or name the provider as provider:model.",
	}
	if len(x.g.Providers) == 1 {
		e.Provider = x.g.Providers[0].Name
	}
	return e
}
