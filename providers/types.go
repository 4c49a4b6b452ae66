// Package providers knows each LLM provider the gateway speaks to: its
// default base URL, how its key is sent, which protocol and paths it
// speaks, how its errors look and where usage sits in its answers.
package providers

import (
	"fmt"
	"slices"
	"strings"
)

// Protocol is the API a request or a provider speaks.
type Protocol uint8

// The protocols a client may speak to the gateway.
const (
	OpenAI Protocol = iota + 1
	Anthropic
)

func (p Protocol) String() string {
	switch p {
	case OpenAI:
		return "OpenAI"
	case Anthropic:
		return "Anthropic"
	}
	return "unknown"
}

// Other is the other protocol, the one a route is translated into.
func (p Protocol) Other() Protocol {
	if p == OpenAI {
		return Anthropic
	}
	return OpenAI
}

// Auth is how a provider takes its API key.
type Auth uint8

// Ways of sending a provider's key.
const (
	// AuthNone sends no key (the mock provider).
	AuthNone Auth = iota
	// AuthBearer sends `Authorization: Bearer <key>`.
	AuthBearer
	// AuthXAPIKey sends `x-api-key: <key>` (Anthropic), along with a
	// default anthropic-version when the client sent none.
	AuthXAPIKey
	// AuthGoogAPIKey sends `x-goog-api-key: <key>`.
	AuthGoogAPIKey
)

// Header is the request header that carries the key, or "".
func (a Auth) Header() string {
	switch a {
	case AuthBearer:
		return "Authorization"
	case AuthXAPIKey:
		return "X-Api-Key"
	case AuthGoogAPIKey:
		return "X-Goog-Api-Key"
	}
	return ""
}

// Value is the header value that carries key.
func (a Auth) Value(key string) string {
	if a == AuthBearer {
		return "Bearer " + key
	}
	return key
}

// DefaultAnthropicVersion is sent to Anthropic when the client sent none.
const DefaultAnthropicVersion = "2023-06-01"

// Type describes one kind of provider.
type Type struct {
	// Name is the type's name in the Caddyfile (`type openai`).
	Name string
	// DefaultBaseURL is used when the provider sets no base_url. As in
	// the provider's own SDK, OpenAI-compatible base URLs include the
	// API version (/v1) and Anthropic's does not.
	DefaultBaseURL string
	// Protocols are the protocols the provider speaks.
	Protocols []Protocol
	// Auth is how its key is sent.
	Auth Auth
	// ErrorsIn200 marks providers that may report a failure inside a
	// 200 response (OpenRouter), so a 2xx body that opens with an
	// "error" member is read as an error.
	ErrorsIn200 bool
	// NeedsKey is false for providers that take no key (mock).
	NeedsKey bool
	// StreamUsageOption marks OpenAI-compatible providers that accept
	// stream_options.include_usage, which the gateway adds when a key's
	// limits count tokens.
	StreamUsageOption bool
	// ClientPaths marks a provider that serves the client's paths as
	// they are, whatever its base URL (the mock).
	ClientPaths bool
}

// Speaks reports whether t speaks protocol p.
func (t *Type) Speaks(p Protocol) bool { return slices.Contains(t.Protocols, p) }

// UpstreamPath is the path on the provider for a client path, given the
// path of the provider's base URL. OpenAI-compatible base URLs already
// end in their version, so /v1/chat/completions becomes
// <base>/chat/completions; Anthropic's does not, so /v1/messages becomes
// <base>/v1/messages.
func (t *Type) UpstreamPath(basePath, clientPath string, p Protocol) string {
	if t.ClientPaths {
		return clientPath
	}
	basePath = strings.TrimSuffix(basePath, "/")
	if p == OpenAI {
		return basePath + strings.TrimPrefix(clientPath, "/v1")
	}
	return basePath + clientPath
}

var openAIOnly = []Protocol{OpenAI}

// types are the provider types the gateway knows.
var types = map[string]*Type{
	"openai":     {Name: "openai", DefaultBaseURL: "https://api.openai.com/v1", Protocols: openAIOnly, Auth: AuthBearer, NeedsKey: true, StreamUsageOption: true},
	"anthropic":  {Name: "anthropic", DefaultBaseURL: "https://api.anthropic.com", Protocols: []Protocol{Anthropic}, Auth: AuthXAPIKey, NeedsKey: true},
	"groq":       {Name: "groq", DefaultBaseURL: "https://api.groq.com/openai/v1", Protocols: openAIOnly, Auth: AuthBearer, NeedsKey: true, StreamUsageOption: true},
	"openrouter": {Name: "openrouter", DefaultBaseURL: "https://openrouter.ai/api/v1", Protocols: openAIOnly, Auth: AuthBearer, NeedsKey: true, StreamUsageOption: true, ErrorsIn200: true},
	"gemini":     {Name: "gemini", DefaultBaseURL: "https://generativelanguage.googleapis.com/v1beta/openai", Protocols: openAIOnly, Auth: AuthBearer, NeedsKey: true},
	"mistral":    {Name: "mistral", DefaultBaseURL: "https://api.mistral.ai/v1", Protocols: openAIOnly, Auth: AuthBearer, NeedsKey: true},
	"deepseek":   {Name: "deepseek", DefaultBaseURL: "https://api.deepseek.com", Protocols: openAIOnly, Auth: AuthBearer, NeedsKey: true, StreamUsageOption: true},
	"mock":       {Name: "mock", Protocols: []Protocol{OpenAI, Anthropic}, Auth: AuthNone, StreamUsageOption: true, ErrorsIn200: true, ClientPaths: true},
}

// Lookup returns the type called name.
func Lookup(name string) (*Type, bool) {
	t, ok := types[name]
	return t, ok
}

// MustLookup returns the type called name or an error listing the known
// ones.
func MustLookup(name string) (*Type, error) {
	if t, ok := types[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("unknown provider type %q: want one of %s", name, strings.Join(TypeNames(), ", "))
}

// TypeNames lists the known types, sorted.
func TypeNames() []string {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
