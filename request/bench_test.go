package request

import (
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func benchBody(b *testing.B, file string) []byte {
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func BenchmarkParseChat1KB(b *testing.B) {
	raw := benchBody(b, "../testdata/requests/chat_1k.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Parse(raw, Messages); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkParseClaudeCode49KB(b *testing.B) {
	raw := benchBody(b, "../testdata/requests/claude_code.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := Parse(raw, Messages); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkRewriteClaudeCode is the body of a route that renames the
// model and asks for stream usage, built once per route.
func BenchmarkRewriteClaudeCode49KB(b *testing.B) {
	raw := benchBody(b, "../testdata/requests/claude_code.json")
	body, e := Parse(raw, Messages)
	if e != nil {
		b.Fatal(e)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = body.Rewrite("anthropic/claude-sonnet-4.5", true, MaxTokens, 0)
	}
}

// What main did before this package, for comparison (README figures):
// gjson's recursive validation, then one lookup per member read, then a
// model rewrite with sjson per attempt.
func legacyPass(raw []byte) {
	if !gjson.ValidBytes(raw) {
		panic("invalid")
	}
	doc := gjson.ParseBytes(raw)
	_ = doc.Get("model")
	_ = doc.Get("messages")
	_ = doc.Get("stream")
	for _, f := range []string{"max_tokens", "max_completion_tokens", "max_output_tokens"} {
		if gjson.GetBytes(raw, f).Exists() {
			break
		}
	}
	_ = gjson.GetBytes(raw, "stream_options.include_usage")
}

func BenchmarkLegacyGJSONChat1KB(b *testing.B) {
	raw := benchBody(b, "../testdata/requests/chat_1k.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		legacyPass(raw)
	}
}

func BenchmarkLegacyGJSONClaudeCode49KB(b *testing.B) {
	raw := benchBody(b, "../testdata/requests/claude_code.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		legacyPass(raw)
	}
}

// An 8 MB run of '[' is refused as soon as the depth cap is passed.
func BenchmarkParseNestingAttack8MB(b *testing.B) {
	raw := []byte(strings.Repeat("[", 8<<20))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, e := Parse(raw, Messages); e == nil {
			b.Fatal("accepted")
		}
	}
}
