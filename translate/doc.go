// Package translate turns one LLM protocol into the other: Anthropic
// Messages (/v1/messages) ⇄ OpenAI Chat Completions
// (/v1/chat/completions), both ways, for requests, plain answers and
// streams. It is pure: bytes in, bytes out, no Caddy, no I/O, no clock
// but the one an Exchange is given.
//
// One request's translation is an Exchange, made by New for the client's
// protocol, the upstream's protocol and the Target (the provider type and
// model the request goes to). Request translates the client's body and
// remembers what the answer's translation needs (tool-id and tool-name
// mappings, whether the OpenAI client asked for stream usage, the
// input-token estimate). Answer translates a plain answer; Stream
// returns the stream translator, an explicit state machine fed one
// upstream event at a time (Event), told when the upstream ended (End)
// or failed (Fail).
//
// What translates how, and the choices made where gateways disagree, is
// written in docs/translation.md. The provider quirks (tool-id rules,
// schema keywords, fields a provider rejects, max_tokens caps) are tables
// in quirks.go and caps.go, keyed by provider type name.
package translate
