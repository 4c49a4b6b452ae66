package llmgateway

import (
	"net/http"
	"strings"
	"time"
)

// clientKeyHeaders carry a client's key to the gateway. They are removed
// from the request as soon as the key is read, so that no provider and no
// access log ever sees them.
var clientKeyHeaders = [...]string{"Authorization", "X-Api-Key", "X-Goog-Api-Key"}

// clientSecret reads the client's key: `Authorization: Bearer` (OpenAI
// SDKs, and recent Anthropic SDKs and Claude Code with an auth token),
// then `x-api-key` (Anthropic), then `x-goog-api-key` (Google).
func clientSecret(h http.Header) string {
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if k := h.Get("X-Api-Key"); k != "" {
		return k
	}
	return h.Get("X-Goog-Api-Key")
}

// authenticate reads and checks the client's key, removes every key header
// from the request, and answers the error itself when the key is refused.
// With no keys configured, every client gets the anonymous key (which
// carries the default limits).
func (x *exchange) authenticate() bool {
	if x.key != nil {
		return true
	}
	secret := clientSecret(x.r.Header)
	for _, h := range clientKeyHeaders {
		delete(x.r.Header, h)
	}
	key, e := x.g.keyring().Authenticate(secret, time.Now())
	if e != nil {
		x.fail(e)
		return false
	}
	x.key = key
	return true
}

// mayUse reports whether the client's key may send requests on rt.
func (x *exchange) mayUse(rt route) bool {
	return x.key == nil || x.key.Allows(rt.Upstream.Name, rt.Model) == nil
}
