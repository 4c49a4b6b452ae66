package translate

import (
	"strings"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// quirks are what one provider type of the OpenAI protocol needs beyond
// the protocol itself. A request translated to OpenAI is written from
// scratch, field by field, so nothing the client sent reaches a provider
// unless this package writes it: Anthropic leftovers (cache_control,
// anthropic metadata, thinking, top_k, service_tier, container, ...) and
// the fields Groq documents as refused with a 400 (logprobs, logit_bias,
// top_logprobs, messages[].name, n other than 1) are never written. The
// table says which of the optional fields each type takes.
type quirks struct {
	// streamUsage: the type takes stream_options.include_usage
	// (providers.Type.StreamUsageOption).
	streamUsage bool
	// user: the type takes the `user` field (metadata.user_id). Mistral
	// refuses unknown fields with a 422 (extra_forbidden); DeepSeek and
	// Gemini's OpenAI-compatible endpoint do not document it.
	user bool
	// parallelToolCalls: the type takes parallel_tool_calls.
	parallelToolCalls bool
	// topK: the type takes top_k (OpenRouter documents it; OpenAI does
	// not have it).
	topK bool
	// fileParts: the type takes PDF documents as "file" content parts
	// (OpenAI and OpenRouter document them).
	fileParts bool
	// mistralIDs: tool-call ids must match ^[a-zA-Z0-9]{9}$ (Mistral
	// answers any other id with a 400; opencode#1680, gptel#1203).
	mistralIDs bool
	// geminiSchema: tool parameter schemas lose the JSON-schema keywords
	// Gemini's OpenAI-compatible endpoint rejects (schema.go).
	geminiSchema bool
	// reasoning reports whether a model takes reasoning_effort; nil:
	// none does (Anthropic thinking is then dropped).
	reasoning func(model string) bool
	// completionTokens reports whether a model needs
	// max_completion_tokens instead of max_tokens (OpenAI's reasoning
	// models refuse max_tokens).
	completionTokens func(model string) bool
	// caps is the model → max output tokens table (caps.go).
	caps capTable
}

var quirksTable = map[string]*quirks{
	"openai": {
		user: true, parallelToolCalls: true, fileParts: true,
		reasoning: openAIReasoningModel, completionTokens: openAIReasoningModel,
		caps: openAICaps,
	},
	"groq": {
		user: true, parallelToolCalls: true,
		// Groq takes reasoning_effort low/medium/high for GPT-OSS only
		// (its Qwen models take "none"/"default").
		reasoning: func(m string) bool { return strings.HasPrefix(m, "openai/gpt-oss") },
		caps:      groqCaps,
	},
	"openrouter": {user: true, parallelToolCalls: true, topK: true, fileParts: true, caps: openRouterCaps},
	"gemini": {
		geminiSchema: true,
		reasoning: func(m string) bool {
			return strings.HasPrefix(m, "gemini-2.5") || strings.HasPrefix(m, "gemini-3")
		},
		caps: geminiCaps,
	},
	"mistral":   {parallelToolCalls: true, mistralIDs: true},
	"deepseek":  {caps: deepSeekCaps},
	"anthropic": {caps: anthropicCaps},
	"mock":      {user: true, parallelToolCalls: true, topK: true, fileParts: true},
}

// defaultQuirks serve a type the table does not know: the OpenAI
// protocol as OpenAI documents it, without its model rules.
var defaultQuirks = quirks{user: true, parallelToolCalls: true}

// quirksFor returns the quirks of provider type name, with streamUsage
// from the provider type itself.
func quirksFor(name string) *quirks {
	q := defaultQuirks
	if t, ok := quirksTable[name]; ok {
		q = *t
	}
	if t, ok := providers.Lookup(name); ok {
		q.streamUsage = t.StreamUsageOption
	}
	return &q
}

// openAIReasoningModel reports OpenAI's reasoning models (o1, o3, o4,
// GPT-5), which take reasoning_effort and max_completion_tokens and
// refuse max_tokens and a temperature other than 1.
func openAIReasoningModel(m string) bool {
	if strings.HasPrefix(m, "gpt-5") {
		return !strings.HasPrefix(m, "gpt-5-chat")
	}
	return len(m) >= 2 && m[0] == 'o' && '1' <= m[1] && m[1] <= '9'
}
