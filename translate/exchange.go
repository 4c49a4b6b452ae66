package translate

import (
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// Target describes where a translated request goes.
type Target struct {
	// ProviderType is the provider's type name: "openai", "groq",
	// "openrouter", "gemini", "mistral", "deepseek", "anthropic", "mock".
	ProviderType string
	// Model is the model name sent upstream (routing has resolved it);
	// it is written into the translated body.
	Model string
	// MaxTokensCap, when > 0, overrides the built-in cap table (caps.go).
	MaxTokensCap int64
	// DefaultMaxTokens is the max_tokens an Anthropic target gets when
	// the OpenAI client sent none; 0 means DefaultMaxTokens (4096).
	DefaultMaxTokens int64
}

// DefaultMaxTokens is the max_tokens sent to an Anthropic provider,
// which requires one, when the OpenAI client set none. LiteLLM and
// one-api use the same value.
const DefaultMaxTokens = 4096

// Exchange is one request's translation from the client's protocol to
// the upstream's and back. It keeps what the answer's translation needs
// from the request. An Exchange serves one request and is not safe for
// concurrent use.
type Exchange struct {
	client, upstream providers.Protocol
	target           Target
	quirks           *quirks

	// stream is the client's "stream" flag.
	stream bool
	// includeUsage is the OpenAI client's stream_options.include_usage:
	// the usage chunk is shown to it only when it asked.
	includeUsage bool
	// inputEstimate is CountTokens of the Anthropic client's request,
	// for message_start before the upstream reports prompt tokens.
	inputEstimate int64
	// ids maps the client's tool-call ids to the upstream's where the
	// upstream constrains them (Mistral), and back.
	ids idMap
	// names maps tool names shortened for the upstream back to the
	// client's (OpenAI function names are at most 64 characters).
	names map[string]string

	// now and newID are the clock and the id source; tests replace them
	// so goldens are stable.
	now   func() time.Time
	newID func() string
}

// New returns the translation of one request from the client's protocol
// to the upstream's, going to t. With client == upstream the exchange is
// the identity: bodies and events pass as they are.
func New(client, upstream providers.Protocol, t Target) *Exchange {
	return &Exchange{
		client:   client,
		upstream: upstream,
		target:   t,
		quirks:   quirksFor(t.ProviderType),
		now:      time.Now,
		newID:    randomID,
	}
}

// identity reports whether nothing needs translating.
func (x *Exchange) identity() bool { return x.client == x.upstream }

// Request translates the client's body, which the request layer has
// checked to be JSON, into the upstream's protocol. A request whose
// meaning the upstream's protocol cannot carry is refused with a
// *llmerrors.Error of code invalid_request whose Field names the
// client's field. For an OpenAI upstream asked to stream, the body asks
// for usage (stream_options.include_usage) where the provider type takes
// that option; whether the client asked is remembered.
func (x *Exchange) Request(body []byte) ([]byte, error) {
	switch {
	case x.identity():
		return body, nil
	case x.client == providers.Anthropic:
		return x.anthropicToOpenAI(body)
	default:
		return x.openAIToAnthropic(body)
	}
}

// Answer translates a non-streamed 2xx upstream answer into the client's
// protocol. An answer that cannot be read (not JSON, no choices, no
// content) is a *llmerrors.Error of code invalid_provider_response.
func (x *Exchange) Answer(body []byte) ([]byte, error) {
	switch {
	case x.identity():
		return body, nil
	case x.client == providers.Anthropic:
		return x.openAIAnswerToAnthropic(body)
	default:
		return x.anthropicAnswerToOpenAI(body)
	}
}

// refuse is the error for a request the upstream's protocol cannot
// carry: field is the client's field, the message names it and both
// protocols.
func (x *Exchange) refuse(field, what string) *llmerrors.Error {
	return &llmerrors.Error{
		Code:    llmerrors.InvalidRequest,
		Field:   field,
		Message: field + " " + what + ", which the " + x.upstream.String() + " protocol of this route cannot express; the request was not sent. Remove it, or use a model served over the " + x.client.String() + " protocol.",
	}
}

// invalid is the error for a client request that is malformed in a
// way the translation cannot pass on: field is the client's field.
func invalid(field, what string) *llmerrors.Error {
	return &llmerrors.Error{Code: llmerrors.InvalidRequest, Field: field, Message: field + " " + what + "."}
}

// unreadable is the error for an upstream answer that cannot be
// translated.
func unreadable(format string, args ...any) *llmerrors.Error {
	return llmerrors.New(llmerrors.InvalidProviderResponse, format, args...)
}
