package providers

// Endpoint is one API path the gateway serves on behalf of providers.
type Endpoint struct {
	// Path is the client's path, without query string.
	Path string
	// Protocol is the API the path belongs to.
	Protocol Protocol
	// Required names the array member a body must carry besides model
	// ("messages"), or "".
	Required string
	// Generates marks endpoints whose answers produce output tokens (and
	// so reserve output in token limits and budgets).
	Generates bool
	// StreamUsage marks endpoints whose streams report usage only when
	// asked with stream_options.include_usage.
	StreamUsage bool
	// Free marks endpoints the provider charges nothing for
	// (count_tokens): they count against a key's rpm and concurrency,
	// never its tokens or budget.
	Free bool
}

// endpoints are the POST paths of CONTRACT.md ("Paths").
var endpoints = map[string]*Endpoint{
	"/v1/chat/completions":      {Path: "/v1/chat/completions", Protocol: OpenAI, Required: "messages", Generates: true, StreamUsage: true},
	"/v1/completions":           {Path: "/v1/completions", Protocol: OpenAI, Generates: true, StreamUsage: true},
	"/v1/embeddings":            {Path: "/v1/embeddings", Protocol: OpenAI},
	"/v1/responses":             {Path: "/v1/responses", Protocol: OpenAI, Generates: true},
	"/v1/messages":              {Path: "/v1/messages", Protocol: Anthropic, Required: "messages", Generates: true},
	"/v1/messages/count_tokens": {Path: "/v1/messages/count_tokens", Protocol: Anthropic, Required: "messages", Free: true},
}

// Translated is the endpoint a request to e goes to on a provider that
// speaks only the other protocol: Anthropic Messages and OpenAI Chat
// Completions translate into each other; nothing else does (nil).
func (e *Endpoint) Translated() *Endpoint {
	switch e.Path {
	case "/v1/messages":
		return endpoints["/v1/chat/completions"]
	case "/v1/chat/completions":
		return endpoints["/v1/messages"]
	}
	return nil
}

// LookupEndpoint returns the endpoint served at path.
func LookupEndpoint(path string) (*Endpoint, bool) {
	e, ok := endpoints[path]
	return e, ok
}
