package relay

import (
	"net/http"
	"strconv"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// commit sends the client the status and the provider's headers, once an
// answer proves good. The gateway's own headers, already in the client's
// header map (its request ID, the key's rate-limit headers, Caddy's), win
// over the provider's; the provider's request ID moves to
// X-Provider-Request-Id; headers the policy keeps from clients (the
// operator's account, the provider's own rate limits, cookies) are
// dropped. length is the body's length, or -1 for a stream.
func (a *attempt) commit(status int, upstream http.Header, length int) {
	r := a.r
	h := r.w.Header()
	for k, v := range upstream {
		switch k {
		case "X-Request-Id", "Request-Id":
			if len(v) > 0 {
				h["X-Provider-Request-Id"] = v
				r.res.ProviderRequestID = v[0]
			}
			continue
		case "Content-Length":
			continue
		}
		if _, own := h[k]; own || !providers.KeepsResponseHeader(k) {
			continue
		}
		h[k] = v
	}
	if r.c.AnthropicClient {
		h["Request-Id"] = []string{r.c.ID} // what Anthropic SDKs report as the request's ID
	}
	h["X-Llm-Provider"] = []string{a.rt.Upstream.Name}
	h["X-Llm-Attempts"] = attemptsValue(r.res.Attempts)
	if length >= 0 {
		h["Content-Length"] = []string{strconv.Itoa(length)}
	} else {
		delete(h, "Content-Length")
	}
	r.res.Committed = true
	r.committed.Store(true)
	r.res.FirstByte = r.clock().Sub(r.start)
	r.w.WriteHeader(status)
}

// write sends body bytes to the client; it reports false when the client
// is gone.
func (a *attempt) write(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	n, err := a.r.w.Write(p)
	a.r.res.Written += int64(n)
	if err != nil {
		a.r.res.ClientGone = true
		a.cancel(errClientGone)
		return false
	}
	return true
}

// flush pushes what was written to the client.
func (a *attempt) flush() bool {
	if err := a.r.rc.Flush(); err != nil && a.r.c.Request.Context().Err() != nil {
		a.r.res.ClientGone = true
		return false
	}
	return true
}
