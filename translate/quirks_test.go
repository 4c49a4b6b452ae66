package translate

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

func TestMaxTokensCaps(t *testing.T) {
	for _, tc := range []struct {
		typ, model string
		override   int64
		asked      int64
		want       int64
	}{
		{"openai", "gpt-4o", 0, 32000, 16384},
		{"openai", "gpt-4o-mini", 0, 32000, 16384},
		{"openai", "gpt-4o-2024-05-13", 0, 32000, 4096},
		{"openai", "gpt-4.1-mini", 0, 64000, 32768},
		{"openai", "o3", 0, 200000, 100000},
		{"openai", "gpt-4o", 0, 1000, 1000}, // lowered, never raised
		{"openai", "my-finetune", 0, 32000, 32000},
		{"openai", "gpt-4o", 20000, 32000, 20000}, // the provider block's override
		{"groq", "llama-3.3-70b-versatile", 0, 32000, 32000},
		{"groq", "moonshotai/kimi-k2-instruct-0905", 0, 32000, 16384},
		{"deepseek", "deepseek-chat", 0, 32000, 8192},
		{"gemini", "gemini-2.0-flash", 0, 32000, 8192},
		{"openrouter", "openai/gpt-4o", 0, 32000, 16384},
		{"openrouter", "anthropic/claude-3.5-sonnet", 0, 32000, 8192},
		{"openrouter", "meta-llama/llama-3-70b", 0, 32000, 32000},
		{"anthropic", "claude-opus-4-1-20250805", 0, 64000, 32000},
		{"anthropic", "claude-opus-4-5", 0, 64000, 64000},
		{"anthropic", "claude-3-haiku-20240307", 0, 8192, 4096},
		{"mistral", "mistral-large-latest", 0, 32000, 32000},
		{"mock", "gpt-4o", 0, 32000, 32000},
	} {
		x := New(providers.Anthropic, providers.OpenAI, Target{ProviderType: tc.typ, Model: tc.model, MaxTokensCap: tc.override})
		if got := x.clampMaxTokens(tc.asked); got != tc.want {
			t.Errorf("%s %s: %d → %d, want %d", tc.typ, tc.model, tc.asked, got, tc.want)
		}
	}
}

func TestMistralIDs(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9]{9}$`)
	seen := map[string]string{}
	for _, id := range []string{"toolu_01A09q90qw90lq917835lq9", "toolu_01A09q90qw90lq917835lqA", "call_abc", "", "functions.Read:0", strings.Repeat("x", 300)} {
		m := mistralID(id)
		if !valid.MatchString(m) {
			t.Errorf("mistralID(%q) = %q", id, m)
		}
		if mistralID(id) != m {
			t.Errorf("mistralID(%q) is not deterministic", id)
		}
		if other, ok := seen[m]; ok {
			t.Errorf("%q and %q both map to %q", id, other, m)
		}
		seen[m] = id
	}
	if got := mistralID("Ab3dE6gH9"); got != "Ab3dE6gH9" {
		t.Errorf("an id Mistral accepts was changed to %q", got)
	}
}

func TestAnthropicIDs(t *testing.T) {
	for in, want := range map[string]string{
		"call_RVdW":        "call_RVdW",
		"functions.Read:0": "functions_Read_0",
		"a b/c":            "a_b_c",
		"":                 "",
	} {
		if got := anthropicID(in); got != want {
			t.Errorf("anthropicID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShortName(t *testing.T) {
	long := "mcp__company-internal-knowledge-base__search_documents_by_semantic_similarity"
	s := shortName(long)
	if len(s) != maxFunctionName || !strings.HasPrefix(s, long[:55]+"_") || shortName(long) != s {
		t.Errorf("shortName = %q (%d)", s, len(s))
	}
	if shortName(long+"2") == s {
		t.Error("two long names share a short name")
	}
	if shortName("Read") != "Read" {
		t.Error("a short name was changed")
	}
}

func TestOpenAIUser(t *testing.T) {
	if got := openAIUser("user_42"); got != "user_42" {
		t.Errorf("short user changed to %q", got)
	}
	long := "user_2f1c0e5b9a7d43e1b6a4c8f0d2e1a9b7_account__session_5d6e7f80-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
	got := openAIUser(long)
	if len(got) != 32 || got != openAIUser(long) || got == openAIUser(long+"x") {
		t.Errorf("openAIUser(long) = %q", got)
	}
}

func TestGeminiSchema(t *testing.T) {
	in := `{"$schema":"x","type":"object","additionalProperties":false,"properties":{"const":{"type":"string","const":"a"},"format":{"type":"string","format":"email"},"d":{"type":"string","format":"date-time"},"n":{"type":["integer","null"],"exclusiveMinimum":0}},"items":[{"propertyNames":{}}],"required":["const"]}`
	out := string(appendGeminiSchema(nil, gjson.Parse(in), 0))
	want := `{"type":"object","properties":{"const":{"type":"string","enum":["a"]},"format":{"type":"string"},"d":{"type":"string","format":"date-time"},"n":{"type":"integer","nullable":true}},"items":[{}],"required":["const"]}`
	if out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	// Deeper than the bound, the schema is copied as it is.
	deep := strings.Repeat(`{"items":`, maxSchemaDepth+5) + `{"$schema":"x"}` + strings.Repeat("}", maxSchemaDepth+5)
	if got := string(appendGeminiSchema(nil, gjson.Parse(deep), 0)); !gjson.Valid(got) {
		t.Errorf("deep schema: invalid JSON %s", got)
	}
}

func TestQuirksStreamUsageFromProviderType(t *testing.T) {
	for typ, want := range map[string]bool{"openai": true, "groq": true, "gemini": false, "mistral": false, "deepseek": true, "unknown": false} {
		if got := quirksFor(typ).streamUsage; got != want {
			t.Errorf("%s: streamUsage %v, want %v", typ, got, want)
		}
	}
}
