package llmgateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// The wiring of translation through Caddy: what a client of one protocol
// gets from a provider of the other, and that retries, fallbacks, limits
// and envelopes work as on a same-protocol route. The mapping itself is
// translate/'s, tested there against golden files.

const claudeBody = `{"model":"claude-sonnet-4-5","max_tokens":200,"system":"Be brief.","messages":[{"role":"user","content":"hello"}]}`

func TestAnthropicClientOnOpenAIProvider(t *testing.T) {
	up := newFakeProvider(t, usageAnswer(7, 3))
	tester := loadGateway(t, fmt.Sprintf(`
		provider groq {
			base_url %s/openai/v1
			api_key sk-groq
			models claude-*
		}`, up.URL))
	resp, body := post(t, tester, "/v1/messages?beta=true", claudeBody, "X-Api-Key", "ck-any", "Anthropic-Version", "2023-06-01", "Anthropic-Beta", "interleaved-thinking-2025-05-14")
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "type", "message")
	wantJSON(t, body, "content.0.text", "hi")
	wantJSON(t, body, "stop_reason", "end_turn")
	wantJSON(t, body, "usage.input_tokens", 7)
	wantJSON(t, body, "usage.output_tokens", 3)
	sent := up.last(t)
	if sent.Path != "/openai/v1/chat/completions" || sent.RawQuery != "beta=true" {
		t.Errorf("sent to %s?%s", sent.Path, sent.RawQuery)
	}
	if sent.Header.Get("Authorization") != "Bearer sk-groq" || sent.Header.Get("Anthropic-Beta") != "" || sent.Header.Get("Anthropic-Version") != "" {
		t.Errorf("headers sent: %v", sent.Header)
	}
	if gjson.GetBytes(sent.Body, "messages.0.role").Str != "system" || gjson.GetBytes(sent.Body, "model").Str != "claude-sonnet-4-5" {
		t.Errorf("body sent: %s", sent.Body)
	}
}

func TestOpenAIClientOnAnthropicProvider(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(messageOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key sk-ant
			models claude-*
		}`, up.URL))
	resp, body := post(t, tester, "/v1/chat/completions", `{"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello"}]}`)
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "object", "chat.completion")
	wantJSON(t, body, "choices.0.message.content", "hi")
	wantJSON(t, body, "choices.0.finish_reason", "stop")
	wantJSON(t, body, "usage.prompt_tokens", 5)
	sent := up.last(t)
	if sent.Path != "/v1/messages" || sent.Header.Get("X-Api-Key") != "sk-ant" || sent.Header.Get("Anthropic-Version") == "" {
		t.Errorf("sent to %s with %v", sent.Path, sent.Header)
	}
	if gjson.GetBytes(sent.Body, "system").String() == "" || gjson.GetBytes(sent.Body, "max_tokens").Int() <= 0 {
		t.Errorf("body sent: %s", sent.Body)
	}
}

// A translated stream carries usage to the limits even when the client
// did not ask for it, and the client sees a complete Anthropic stream.
func TestTranslatedStreamUsageIsCounted(t *testing.T) {
	var asked atomic.Bool
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		asked.Store(gjson.GetBytes(b, "stream_options.include_usage").Bool())
		pacedStream([]string{
			`data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"one "}}]}` + "\n\n",
			`data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"two"},"finish_reason":"stop"}]}` + "\n\n",
			`data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":600,"completion_tokens":300,"total_tokens":900}}` + "\n\n",
			"data: [DONE]\n\n",
		}, 0)(w, r)
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models claude-*
		}
		key %s {
			tpm 1000
		}
		%s`, up.URL, clientKeyA, storeIn(t)))
	resp, body := post(t, tester, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key", clientKeyA)
	wantStatus(t, resp, body, 200)
	if !asked.Load() {
		t.Error("the translated request did not ask for stream usage")
	}
	events := readEvents(t, strings.NewReader(string(body)), time.Now())
	var names []string
	for _, e := range events {
		names = append(names, e.name)
	}
	got := strings.Join(names, " ")
	if !strings.HasPrefix(got, "message_start") || !strings.HasSuffix(got, "message_delta message_stop") || strings.Count(got, "message_stop") != 1 {
		t.Fatalf("events: %s", got)
	}
	for _, e := range events {
		if e.name == "message_delta" && gjson.Get(e.data, "usage.output_tokens").Int() != 300 {
			t.Errorf("message_delta usage: %s", e.data)
		}
	}
	// 900 tokens were used: the next request's estimate no longer fits.
	resp, body = post(t, tester, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key", clientKeyA)
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.type", "rate_limit_error")
}

// A fallback chain may mix protocols: an Anthropic route that is
// overloaded falls back to an OpenAI-compatible one, translated.
func TestFallbackAcrossProtocols(t *testing.T) {
	overloaded := newFakeProvider(t, errorAnswer(529, map[string]string{"Content-Type": "application/json"},
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	backup := newFakeProvider(t, usageAnswer(5, 2))
	tester := loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key sk-ant
			models claude-*
		}
		provider openrouter {
			base_url %s/api/v1
			api_key sk-or
		}
		fallback claude-sonnet-4-5 openrouter:anthropic/claude-sonnet-4.5
		retry {
			backoff 5ms
		}`, overloaded.URL, backup.URL))
	resp, body := post(t, tester, "/v1/messages", claudeBody)
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "type", "message")
	if resp.Header.Get("X-Llm-Provider") != "openrouter" {
		t.Errorf("answered by %q", resp.Header.Get("X-Llm-Provider"))
	}
	if m := gjson.GetBytes(backup.last(t).Body, "model").Str; m != "anthropic/claude-sonnet-4.5" {
		t.Errorf("fallback model %q", m)
	}
}

// A provider's error reaches the client in the client's envelope, before
// the stream and inside it.
func TestTranslatedErrors(t *testing.T) {
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch gjson.GetBytes(b, "model").Str {
		case "claude-limited":
			errorAnswer(429, map[string]string{"Content-Type": "application/json", "Retry-After": "30"},
				`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)(w, r)
		case "claude-bad":
			errorAnswer(400, map[string]string{"Content-Type": "application/json"},
				`{"error":{"message":"Invalid 'messages[0].content'","type":"invalid_request_error","param":"messages"}}`)(w, r)
		default:
			pacedStream([]string{
				`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"par"}}]}` + "\n\n",
				`data: {"error":{"message":"The server had an error","type":"server_error"}}` + "\n\n",
				"data: [DONE]\n\n",
			}, 0)(w, r)
		}
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models claude-*
		}`, up.URL))
	resp, body := post(t, tester, "/v1/messages", strings.Replace(claudeBody, "claude-sonnet-4-5", "claude-limited", 1))
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "type", "error")
	wantJSON(t, body, "error.type", "rate_limit_error")
	if resp.Header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	resp, body = post(t, tester, "/v1/messages", strings.Replace(claudeBody, "claude-sonnet-4-5", "claude-bad", 1))
	wantStatus(t, resp, body, 400)
	wantJSON(t, body, "error.type", "invalid_request_error")

	resp, body = post(t, tester, "/v1/messages", `{"model":"claude-stream","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	wantStatus(t, resp, body, 200)
	events := readEvents(t, strings.NewReader(string(body)), time.Now())
	last := events[len(events)-1]
	if last.name != "error" || gjson.Get(last.data, "error.type").Str != "api_error" {
		t.Fatalf("last event %+v", last)
	}
	if strings.Contains(string(body), "message_stop") || strings.Contains(string(body), "[DONE]") {
		t.Errorf("the stream went on after its error: %s", body)
	}
}

// A request the target protocol cannot express is refused, naming the
// field, and nothing goes upstream.
func TestUntranslatableRequestIsRefused(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(messageOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key sk-ant
			models claude-*
		}`, up.URL))
	resp, body := post(t, tester, "/v1/chat/completions", `{"model":"claude-sonnet-4-5","n":3,"messages":[{"role":"user","content":"hello"}]}`)
	wantStatus(t, resp, body, 400)
	wantJSON(t, body, "error.param", "n")
	if n := len(up.requests()); n != 0 {
		t.Errorf("%d requests went upstream", n)
	}
}

// count_tokens for a model of an OpenAI provider is answered by the
// gateway, with no call upstream.
func TestCountTokensOnOpenAIRoute(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider groq {
			base_url %s/openai/v1
			api_key sk-groq
			models claude-*
		}`, up.URL))
	resp, body := post(t, tester, "/v1/messages/count_tokens", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"`+strings.Repeat("a word ", 200)+`"}]}`)
	wantStatus(t, resp, body, 200)
	if n := gjson.GetBytes(body, "input_tokens").Int(); n < 200 || n > 800 {
		t.Errorf("estimate %d for 400 words", n)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("%d requests went upstream", n)
	}
}

// The mock restricted to OpenAI plays Claude Code's tool loop offline.
func TestMockToolLoopTranslated(t *testing.T) {
	tester := loadGateway(t, `
		provider mock {
			protocol openai
			models claude-*
		}`)
	tools := `"tools":[{"name":"Read","description":"Reads a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}]`
	resp, body := post(t, tester, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":500,`+tools+`,"messages":[{"role":"user","content":"Read /tmp/notes.txt please"}]}`)
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "stop_reason", "tool_use")
	call := gjson.GetBytes(body, `content.#(type=="tool_use")`)
	if call.Get("name").Str != "Read" || call.Get("input.file_path").Str != "/tmp/notes.txt" {
		t.Fatalf("tool call %s", body)
	}
	second := `{"model":"claude-sonnet-4-5","max_tokens":500,` + tools + `,"messages":[{"role":"user","content":"Read /tmp/notes.txt please"},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"` + call.Get("id").Str + `","name":"Read","input":{"file_path":"/tmp/notes.txt"}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + call.Get("id").Str + `","content":"the purple elephant sings"}]}]}`
	resp, body = post(t, tester, "/v1/messages", second)
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "stop_reason", "end_turn")
	if !strings.Contains(gjson.GetBytes(body, "content.0.text").Str, "purple elephant") {
		t.Errorf("the answer does not quote the tool result: %s", body)
	}
}
