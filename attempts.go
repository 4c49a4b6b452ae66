package llmgateway

import (
	"net/http"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// proxy sends the request along its chain of routes until one answers,
// and writes the last failure when none does.
func (x *exchange) proxy(chain []route) {
	x.upstreamHeader = x.buildUpstreamHeader()
	var last *llmerrors.Error
	for _, rt := range chain {
		if x.attempts >= x.g.Retry.MaxAttempts {
			break
		}
		x.attempts++
		x.provider, x.upstreamModel = rt.provider.Name, rt.model
		out := x.attempt(rt, 0, x.bodyFor(rt))
		if out.clientGone {
			x.clientLeft()
			return
		}
		if out.failure == nil {
			return
		}
		last = out.failure
		if !worthRetrying(last) {
			break
		}
	}
	x.fail(last)
}

// clientLeft records a request whose client went away before its answer
// was complete; as reverse_proxy does, the access log shows 499.
func (x *exchange) clientLeft() {
	x.g.logger.Debug("client closed the request")
}

// buildUpstreamHeader prepares, once per request, the headers every
// attempt sends: the client's, minus its key headers (already removed) and
// Accept-Encoding, plus the request ID. reverse_proxy copies them before
// changing anything, so attempts can share them.
func (x *exchange) buildUpstreamHeader() http.Header {
	h := x.r.Header.Clone()
	delete(h, "Accept-Encoding")
	h.Set("X-Request-Id", x.id)
	return h
}
