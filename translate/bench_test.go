package translate

import (
	"bytes"
	"os"
	"testing"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// Benchmarks of the hot path: every Claude Code request is translated
// (49 KB, 12 tools), and every stream event. README figures come from
// `go test ./translate -run XXX -bench . -benchmem`.

func BenchmarkRequestClaudeCode(b *testing.B) {
	body, err := os.ReadFile("../testdata/requests/claude_code.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		x := New(providers.Anthropic, providers.OpenAI, Target{ProviderType: "openai", Model: "gpt-4o"})
		if _, err := x.Request(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestClaudeCodeNoEstimate is the same request not
// streamed: the translation alone, without the CountTokens estimate a
// streamed request needs for message_start.
func BenchmarkRequestClaudeCodeNoEstimate(b *testing.B) {
	body, _ := os.ReadFile("../testdata/requests/claude_code.json")
	body = bytes.Replace(body, []byte(`"stream":true`), []byte(`"stream":false`), 1)
	if !bytes.Contains(body, []byte(`"stream":false`)) {
		b.Fatal("no stream flag to clear")
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		x := New(providers.Anthropic, providers.OpenAI, Target{ProviderType: "openai", Model: "gpt-4o"})
		if _, err := x.Request(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestClaudeCodeGemini(b *testing.B) {
	body, _ := os.ReadFile("../testdata/requests/claude_code.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		x := New(providers.Anthropic, providers.OpenAI, Target{ProviderType: "gemini", Model: "gemini-2.5-pro"})
		if _, err := x.Request(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCountTokensClaudeCode(b *testing.B) {
	body, _ := os.ReadFile("../testdata/requests/claude_code.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		CountTokens(body)
	}
}

func BenchmarkRequestOpenAIToAnthropic(b *testing.B) {
	body, _ := os.ReadFile("../testdata/translate/requests/openai_to_anthropic/tool_messages_merged.client.json")
	b.ReportAllocs()
	for b.Loop() {
		x := New(providers.OpenAI, providers.Anthropic, Target{ProviderType: "anthropic", Model: "claude-sonnet-4-5"})
		if _, err := x.Request(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnswerOpenAIToAnthropic(b *testing.B) {
	body, _ := os.ReadFile("../testdata/translate/answers/openai_to_anthropic/parallel_tool_calls_with_text.upstream.json")
	x := New(providers.Anthropic, providers.OpenAI, openAITarget)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Answer(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnswerAnthropicToOpenAI(b *testing.B) {
	body, _ := os.ReadFile("../testdata/translate/answers/anthropic_to_openai/tool_use_parallel.upstream.json")
	x := New(providers.OpenAI, providers.Anthropic, anthropicTarget)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Answer(body); err != nil {
			b.Fatal(err)
		}
	}
}

// The per-event benchmarks feed one content delta, the event a stream
// is made of, to a stream that has started, appending to a reused
// buffer as the relay does.

func BenchmarkStreamEventOpenAIToAnthropic(b *testing.B) {
	x := New(providers.Anthropic, providers.OpenAI, openAITarget)
	x.Request(plainRequest(providers.Anthropic))
	s := x.Stream()
	out := s.Event(nil, []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`), nil)
	ev := []byte(`{"id":"chatcmpl-C3sJ9aBPz0xWQ1","object":"chat.completion.chunk","created":1754000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_07871e2ad8","choices":[{"index":0,"delta":{"content":" the retry loop"},"logprobs":null,"finish_reason":null}],"usage":null}`)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		out = s.Event(nil, ev, out[:0])
	}
}

func BenchmarkStreamEventOpenAIToAnthropicToolArgs(b *testing.B) {
	x := New(providers.Anthropic, providers.OpenAI, openAITarget)
	x.Request(plainRequest(providers.Anthropic))
	s := x.Stream()
	out := s.Event(nil, []byte(`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Read","arguments":""}}]}}]}`), nil)
	ev := []byte(`{"id":"chatcmpl-C3sJ9aBPz0xWQ1","object":"chat.completion.chunk","created":1754000000,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"h\":\"/repo/a"}}]},"logprobs":null,"finish_reason":null}]}`)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		out = s.Event(nil, ev, out[:0])
	}
}

func BenchmarkStreamEventAnthropicToOpenAI(b *testing.B) {
	x := New(providers.OpenAI, providers.Anthropic, anthropicTarget)
	x.Request(plainRequest(providers.OpenAI))
	s := x.Stream()
	out := s.Event([]byte("message_start"), []byte(`{"type":"message_start","message":{"id":"msg_01","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":1}}}`), nil)
	out = s.Event([]byte("content_block_start"), []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`), out)
	ev := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the retry loop"}}`)
	name := []byte("content_block_delta")
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		out = s.Event(name, ev, out[:0])
	}
}
