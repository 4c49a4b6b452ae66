package providers

import (
	"net/http"
	"strings"
)

// The header policy, both ways (CONTRACT.md, "Paths"). A provider is sent
// only the client headers its API defines as request options, plus what
// any HTTP API reads (content type, accept, user agent, the SDKs'
// x-stainless-* telemetry, idempotency keys): never a cookie, the
// client's address, or a header that picks which of the operator's
// accounts pays. The account a provider is called with comes from its
// config only (`api_key`, `headers`).

// commonRequestHeaders are forwarded to every provider.
var commonRequestHeaders = map[string]bool{
	"Content-Type":    true,
	"Accept":          true,
	"User-Agent":      true,
	"Idempotency-Key": true,
}

// protocolRequestHeaders are the request options of each protocol's API.
var protocolRequestHeaders = map[Protocol]map[string]bool{
	OpenAI:    {"Openai-Beta": true},
	Anthropic: {"Anthropic-Version": true, "Anthropic-Beta": true},
}

// ForwardsRequestHeader reports whether a client's request header (in
// canonical form) is sent to a provider that speaks protocol p.
func ForwardsRequestHeader(p Protocol, name string) bool {
	return commonRequestHeaders[name] || protocolRequestHeaders[p][name] || strings.HasPrefix(name, "X-Stainless-")
}

// UpstreamHeader is the header a request sends a provider of protocol p:
// the client's headers the policy forwards, sharing their values (which
// nothing changes). The provider's key and configured headers are added
// per attempt, on a copy.
func UpstreamHeader(client http.Header, p Protocol) http.Header {
	h := make(http.Header, 8)
	for k, v := range client {
		if ForwardsRequestHeader(p, k) {
			h[k] = v
		}
	}
	return h
}

// hopHeaders are the hop-by-hop headers of RFC 9110, which describe one
// connection and never pass a proxy.
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// accountResponseHeaders describe the provider's side of the exchange: the
// operator's organization and project, cookies for the provider's domain,
// and transport advice for the provider's host (HSTS, Alt-Svc), which
// would be wrong for the gateway's.
var accountResponseHeaders = map[string]bool{
	"Openai-Organization":       true,
	"Openai-Project":            true,
	"Anthropic-Organization-Id": true,
	"Set-Cookie":                true,
	"Set-Cookie2":               true,
	"Alt-Svc":                   true,
	"Strict-Transport-Security": true,
}

// KeepsResponseHeader reports whether a provider's answer header (in
// canonical form) may reach the client. Dropped are the hop-by-hop
// headers, those that describe the operator's account, and the
// provider's own rate-limit headers (x-ratelimit-*, anthropic-ratelimit-*,
// Mistral's ratelimitbysize-*: they are the operator's limits, not the
// client's; the gateway sends the key's own).
func KeepsResponseHeader(name string) bool {
	if hopHeaders[name] || accountResponseHeaders[name] {
		return false
	}
	return !containsFold(name, "ratelimit")
}

// containsFold reports whether s holds the lower-case ASCII word sub in
// any case, without the copy strings.ToLower makes.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
