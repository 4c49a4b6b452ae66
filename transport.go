package llmgateway

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

func init() {
	caddy.RegisterModule(ProviderTransport{})
}

// ProviderTransport is the reverse_proxy transport the gateway gives each
// provider: Caddy's own HTTP transport, which sets the provider's key on
// the outgoing request at the last moment. reverse_proxy logs the request
// it hands its transport (at debug level, with every header but
// Authorization), so a key set any earlier would reach the logs.
//
// Its JSON fields are those of the `http` transport.
type ProviderTransport struct {
	reverseproxy.HTTPTransport
}

// CaddyModule returns the Caddy module information.
func (ProviderTransport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.llm_gateway",
		New: func() caddy.Module { return new(ProviderTransport) },
	}
}

// RequestHeaderOps returns nil: the gateway sets the upstream Host itself,
// which spares reverse_proxy a copy of the headers on every request.
func (*ProviderTransport) RequestHeaderOps() *headers.HeaderOps { return nil }

// credential is the provider key an attempt sends, carried in the
// request's context from the gateway to the transport.
type credential struct {
	header, value string
	// anthropicVersion asks for the default anthropic-version header
	// when the client sent none.
	anthropicVersion bool
}

type credentialCtxKey struct{}

func withCredential(ctx context.Context, c *credential) context.Context {
	return context.WithValue(ctx, credentialCtxKey{}, c)
}

var defaultAnthropicVersion = []string{providers.DefaultAnthropicVersion}

// droppedHeaders are never sent to a provider: reverse_proxy adds the
// X-Forwarded-* family, which would give every provider the address of
// every client of the gateway.
var droppedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via"}

// RoundTrip sets the attempt's provider key and sends the request.
func (t *ProviderTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := new(http.Request)
	*out = *req
	// A new map, so the key never lands in the request reverse_proxy logs;
	// the values are shared, since nothing changes them.
	out.Header = make(http.Header, len(req.Header)+2)
	for k, v := range req.Header {
		out.Header[k] = v
	}
	for _, h := range droppedHeaders {
		delete(out.Header, h)
	}
	if c, ok := req.Context().Value(credentialCtxKey{}).(*credential); ok {
		if c.header != "" {
			out.Header[c.header] = []string{c.value}
		}
		if c.anthropicVersion && out.Header.Get("Anthropic-Version") == "" {
			out.Header["Anthropic-Version"] = defaultAnthropicVersion
		}
	}
	return t.HTTPTransport.RoundTrip(out)
}

// Interface guards
var (
	_ caddy.Provisioner                      = (*ProviderTransport)(nil)
	_ caddy.CleanerUpper                     = (*ProviderTransport)(nil)
	_ http.RoundTripper                      = (*ProviderTransport)(nil)
	_ reverseproxy.TLSTransport              = (*ProviderTransport)(nil)
	_ reverseproxy.RequestHeaderOpsTransport = (*ProviderTransport)(nil)
)
