package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// The golden cases live in testdata/translate, one directory per kind
// and direction of flow, each case a pair of files named for what it is:
//
//	requests/anthropic_to_openai/<case>.client.json → <case>.upstream.json (or <case>.error.json: a refusal)
//	requests/openai_to_anthropic/…
//	answers/openai_to_anthropic/<case>.upstream.json → <case>.client.json
//	answers/anthropic_to_openai/…
//	streams/openai_to_anthropic/<case>.upstream.sse → <case>.client.sse
//	streams/anthropic_to_openai/…
//
// An answer or stream case may carry the client's request as
// <case>.request.json (its tools, ids and stream_options shape the
// translation); otherwise a plain one is used. The target is the default
// of the direction unless targets names another. `go test
// ./translate -run Golden -update` rewrites the expected files; review
// the diff.
var update = flag.Bool("update", false, "rewrite the golden files of testdata/translate")

const goldenDir = "../testdata/translate"

// Default targets: an Anthropic client on OpenAI's gpt-4o, an OpenAI
// client on Claude Sonnet 4.5.
var (
	openAITarget    = Target{ProviderType: "openai", Model: "gpt-4o"}
	anthropicTarget = Target{ProviderType: "anthropic", Model: "claude-sonnet-4-5"}
)

// targets are the cases sent somewhere else than their direction's
// default, by kind/direction/case.
var targets = map[string]Target{
	"requests/anthropic_to_openai/claude_code_to_groq_kimi":       {ProviderType: "groq", Model: "moonshotai/kimi-k2-instruct-0905"},
	"requests/anthropic_to_openai/mistral_tool_ids":               {ProviderType: "mistral", Model: "mistral-large-latest"},
	"requests/anthropic_to_openai/gemini_schema_keywords":         {ProviderType: "gemini", Model: "gemini-2.5-flash"},
	"requests/anthropic_to_openai/o_series_max_completion_tokens": {ProviderType: "openai", Model: "o3"},
	"requests/anthropic_to_openai/deepseek_cap_and_fields":        {ProviderType: "deepseek", Model: "deepseek-chat"},
	"requests/anthropic_to_openai/openrouter_top_k_and_cap":       {ProviderType: "openrouter", Model: "anthropic/claude-3.5-sonnet"},
	"requests/anthropic_to_openai/cap_override":                   {ProviderType: "openai", Model: "gpt-4o", MaxTokensCap: 1000},
	"requests/openai_to_anthropic/default_max_tokens_configured":  {ProviderType: "anthropic", Model: "claude-sonnet-4-5", DefaultMaxTokens: 2048},
	"requests/openai_to_anthropic/max_tokens_capped":              {ProviderType: "anthropic", Model: "claude-3-5-haiku-20241022"},
	"answers/openai_to_anthropic/mistral_ids_mapped_back":         {ProviderType: "mistral", Model: "mistral-large-latest"},
	"streams/openai_to_anthropic/mistral_ids_mapped_back":         {ProviderType: "mistral", Model: "mistral-large-latest"},
	"streams/openai_to_anthropic/gemini_stop_with_tool_calls":     {ProviderType: "gemini", Model: "gemini-2.5-flash"},
}

// direction is the protocols of a directory.
func direction(kind, dir string) (client, upstream providers.Protocol) {
	from, to := providers.Anthropic, providers.OpenAI
	if dir == "openai_to_anthropic" {
		from, to = providers.OpenAI, providers.Anthropic
	}
	if kind == "requests" {
		return from, to
	}
	return to, from
}

// testExchange is an exchange with a fixed clock and numbered ids.
func testExchange(kind, dir, name string) *Exchange {
	client, upstream := direction(kind, dir)
	t, ok := targets[kind+"/"+dir+"/"+name]
	if !ok {
		t = openAITarget
		if upstream == providers.Anthropic {
			t = anthropicTarget
		}
	}
	x := New(client, upstream, t)
	x.now = func() time.Time { return time.Unix(1767225600, 0) }
	n := 0
	x.newID = func() string { n++; return fmt.Sprintf("gen%05d", n) }
	return x
}

// plainRequest is the client request of answer and stream cases that
// bring none.
func plainRequest(client providers.Protocol) []byte {
	if client == providers.Anthropic {
		return []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"What is in the README?"}]}`)
	}
	return []byte(`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"What is in the README?"}]}`)
}

// cases lists the case names of a golden directory by their input files.
func cases(t *testing.T, kind, dir, suffix string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, kind, dir, "*"+suffix))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s cases in %s/%s", suffix, kind, dir)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), suffix)
	}
	return names
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with the file at path, or rewrites it under
// -update; a file of another outcome (an error where an answer was
// expected) must not exist.
func golden(t *testing.T, path string, got []byte, other string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(other)
		return
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("%s exists, but the outcome is %s", other, filepath.Base(path))
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// indent pretty-prints a JSON body for its golden file.
func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not JSON: %s", b)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// errorJSON is a refusal as its golden file shows it.
func errorJSON(t *testing.T, err error) []byte {
	t.Helper()
	var le *llmerrors.Error
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not an *llmerrors.Error", err)
	}
	b, _ := json.Marshal(map[string]any{"code": le.Code, "status": le.Code.Status(), "field": le.Field, "message": le.Message})
	return indent(t, b)
}

func TestGoldenRequests(t *testing.T) {
	for _, dir := range []string{"anthropic_to_openai", "openai_to_anthropic"} {
		for _, name := range cases(t, "requests", dir, ".client.json") {
			t.Run(dir+"/"+name, func(t *testing.T) {
				base := filepath.Join(goldenDir, "requests", dir, name)
				x := testExchange("requests", dir, name)
				out, err := x.Request(read(t, base+".client.json"))
				if err != nil {
					if out != nil {
						t.Errorf("a refusal returned a body too")
					}
					golden(t, base+".error.json", errorJSON(t, err), base+".upstream.json")
					return
				}
				golden(t, base+".upstream.json", indent(t, out), base+".error.json")
			})
		}
	}
}

func TestGoldenAnswers(t *testing.T) {
	for _, dir := range []string{"openai_to_anthropic", "anthropic_to_openai"} {
		for _, name := range cases(t, "answers", dir, ".upstream.json") {
			t.Run(dir+"/"+name, func(t *testing.T) {
				base := filepath.Join(goldenDir, "answers", dir, name)
				x := testExchange("answers", dir, name)
				prepare(t, x, base)
				out, err := x.Answer(read(t, base+".upstream.json"))
				if err != nil {
					golden(t, base+".error.json", errorJSON(t, err), base+".client.json")
					return
				}
				golden(t, base+".client.json", indent(t, out), base+".error.json")
			})
		}
	}
}

// prepare runs the case's client request (or a plain one) through x.
func prepare(t *testing.T, x *Exchange, base string) {
	t.Helper()
	req, err := os.ReadFile(base + ".request.json")
	if err != nil {
		req = plainRequest(x.client)
	}
	if _, err := x.Request(req); err != nil {
		t.Fatalf("the case's request: %v", err)
	}
}

func TestGoldenStreams(t *testing.T) {
	for _, dir := range []string{"openai_to_anthropic", "anthropic_to_openai"} {
		for _, name := range cases(t, "streams", dir, ".upstream.sse") {
			t.Run(dir+"/"+name, func(t *testing.T) {
				base := filepath.Join(goldenDir, "streams", dir, name)
				x := testExchange("streams", dir, name)
				prepare(t, x, base)
				up, err := parseSSE(string(read(t, base+".upstream.sse")))
				if err != nil {
					t.Fatalf("upstream transcript: %v", err)
				}
				out := relayStream(x, up)
				evs, err := parseSSE(string(out))
				if err != nil {
					t.Fatalf("client stream: %v\n%s", err, out)
				}
				if err := checkGrammar(x, evs); err != nil {
					t.Errorf("client grammar: %v\n%s", err, out)
				}
				golden(t, base+".client.sse", out, "")
			})
		}
	}
}

func checkGrammar(x *Exchange, evs []sseEvent) error {
	if x.client == providers.Anthropic {
		return checkAnthropicStream(evs)
	}
	return checkOpenAIStream(evs, x.includeUsage)
}

// relayStream does with a transcript what the relay does with a live
// stream: each event to Event until [DONE]; an upstream error event
// ends the stream with Fail and the client's error event; at the end,
// End, and the client's error event when End says the answer was cut.
func relayStream(x *Exchange, up []sseEvent) []byte {
	s := x.Stream()
	anthropicClient := x.client == providers.Anthropic
	var out []byte
	for _, ev := range up {
		if ev.data == "[DONE]" {
			break
		}
		if ev.name == "error" || gjson.Get(ev.data, "error").Exists() {
			if s.Done() {
				break
			}
			out = s.Fail(out)
			return append(out, llmerrors.StreamEvent(anthropicClient, &llmerrors.Error{
				Code: llmerrors.Overloaded, Message: "The provider is overloaded; try again.", RequestID: "req_test",
			})...)
		}
		out = s.Event([]byte(ev.name), []byte(ev.data), out)
	}
	out, err := s.End(out)
	if err != nil {
		out = append(out, llmerrors.StreamEvent(anthropicClient, &llmerrors.Error{
			Code: llmerrors.ProviderError, Message: err.Error() + ".", RequestID: "req_test",
		})...)
	}
	return out
}
