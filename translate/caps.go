package translate

import "strings"

// capTable maps a model name prefix to the most output tokens the model
// accepts. The longest matching prefix wins, so "gpt-4o-2024-05-13"
// (4096) is not read as "gpt-4o" (16384). Only documented values are
// listed, each with its source; a model not listed is not capped. A
// max_tokens above the cap is lowered to it, never raised.
type capTable []modelCap

type modelCap struct {
	prefix string
	max    int64
}

// lookup is the cap of model, or 0.
func (t capTable) lookup(model string) int64 {
	best, n := int64(0), -1
	for _, c := range t {
		if len(c.prefix) > n && strings.HasPrefix(model, c.prefix) {
			best, n = c.max, len(c.prefix)
		}
	}
	return best
}

// OpenAI: the "Max output tokens" of each model's page under
// platform.openai.com/docs/models.
var openAICaps = capTable{
	{"gpt-5", 128000}, {"gpt-5-chat", 16384},
	{"gpt-4.1", 32768},
	{"gpt-4o", 16384}, {"gpt-4o-2024-05-13", 4096}, {"chatgpt-4o", 16384},
	{"gpt-4.5", 16384},
	{"gpt-4-turbo", 4096}, {"gpt-4-0125", 4096}, {"gpt-4-1106", 4096},
	{"gpt-4", 8192}, {"gpt-3.5-turbo", 4096},
	{"o1", 100000}, {"o1-mini", 65536}, {"o1-preview", 32768},
	{"o3", 100000}, {"o3-mini", 100000}, {"o4-mini", 100000},
}

// Groq: "Max completion tokens" at console.groq.com/docs/models.
var groqCaps = capTable{
	{"llama-3.3-70b-versatile", 32768},
	{"llama-3.1-8b-instant", 131072},
	{"llama3-70b-8192", 8192}, {"llama3-8b-8192", 8192},
	{"gemma2-9b-it", 8192},
	{"meta-llama/llama-4-scout", 8192}, {"meta-llama/llama-4-maverick", 8192},
	{"moonshotai/kimi-k2-instruct", 16384},
	{"openai/gpt-oss-120b", 65536}, {"openai/gpt-oss-20b", 65536},
	{"qwen/qwen3-32b", 40960},
}

// DeepSeek: "Models & Pricing" at api-docs.deepseek.com (max output
// 8K for deepseek-chat, 64K for deepseek-reasoner).
var deepSeekCaps = capTable{
	{"deepseek-chat", 8192},
	{"deepseek-reasoner", 65536},
}

// Gemini: "Output token limit" of each model at
// ai.google.dev/gemini-api/docs/models.
var geminiCaps = capTable{
	{"gemini-3", 65536},
	{"gemini-2.5", 65536},
	{"gemini-2.0-flash", 8192},
	{"gemini-1.5", 8192},
}

// Anthropic: "Max output" in the models overview at
// docs.anthropic.com/en/docs/about-claude/models.
var anthropicCaps = capTable{
	{"claude-opus-4-5", 64000}, {"claude-opus-4-1", 32000}, {"claude-opus-4", 32000},
	{"claude-sonnet-4", 64000}, {"claude-haiku-4", 64000},
	{"claude-3-7-sonnet", 64000},
	{"claude-3-5-sonnet", 8192}, {"claude-3-5-haiku", 8192},
	{"claude-3-opus", 4096}, {"claude-3-sonnet", 4096}, {"claude-3-haiku", 4096},
}

// openRouterCaps caps OpenRouter's vendor/model names with the vendor's
// own table. OpenRouter writes versions with dots
// ("anthropic/claude-sonnet-4.5"); Anthropic's names use dashes.
var openRouterCaps = capTable(nil)

// maxTokensCap is the output cap for the target's model: the provider
// block's override, else the table of the target's type.
func (x *Exchange) maxTokensCap() int64 {
	if x.target.MaxTokensCap > 0 {
		return x.target.MaxTokensCap
	}
	model := x.target.Model
	if x.target.ProviderType == "openrouter" {
		vendor, name, ok := strings.Cut(model, "/")
		if !ok {
			return 0
		}
		switch vendor {
		case "openai":
			return openAICaps.lookup(name)
		case "anthropic":
			return anthropicCaps.lookup(strings.ReplaceAll(name, ".", "-"))
		case "google":
			return geminiCaps.lookup(name)
		case "deepseek":
			return deepSeekCaps.lookup(name)
		}
		return 0
	}
	return x.quirks.caps.lookup(model)
}

// clampMaxTokens lowers n to the target's cap.
func (x *Exchange) clampMaxTokens(n int64) int64 {
	if c := x.maxTokensCap(); c > 0 && n > c {
		return c
	}
	return n
}
