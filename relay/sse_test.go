package relay

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

func openAIChunk(i int) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"t` + string(rune('0'+i)) + `"}}],"usage":null}` + "\n\n"
}

const usageChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}` + "\n\n"

// clientEvent is one event the client read.
type clientEvent struct{ name, data string }

func readEvents(t *testing.T, body string) []clientEvent {
	t.Helper()
	var out []clientEvent
	var cur clientEvent
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	for sc.Scan() {
		switch line := sc.Text(); {
		case line == "":
			if cur != (clientEvent{}) {
				out = append(out, cur)
			}
			cur = clientEvent{}
		case strings.HasPrefix(line, "event:"):
			cur.name = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			cur.data = strings.TrimSpace(line[5:])
		}
	}
	return out
}

// Whatever way the provider's bytes are split into reads, the client
// gets the same stream, and the usage is read.
func TestStreamIsSplitProof(t *testing.T) {
	body := openAIChunk(1) + openAIChunk(2) + openAIChunk(3) + usageChunk + "data: [DONE]\n\n"
	for _, addsUsage := range []bool{false, true} {
		want := body
		if addsUsage {
			want = strings.Replace(body, usageChunk, "", 1)
		}
		for i := 0; i <= len(body); i += 7 {
			for j := i; j <= len(body); j += 29 {
				s := &script{answer: always(streamReply(body[:i], body[i:j], body[j:]))}
				c := call(t, "/v1/chat/completions", chatStreamBody, Route{upstream(t, "p", "openai", 1, s), "m"})
				c.ReadUsage = true
				if !addsUsage {
					// the client asked for the usage chunk itself
					c = call(t, "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, Route{upstream(t, "p", "openai", 1, s), "m"})
					c.ReadUsage = true
				}
				res, rec := runCall(c)
				if got := rec.Body.String(); got != want {
					t.Fatalf("adds usage %v, split at %d,%d:\n%q\nwant\n%q", addsUsage, i, j, got, want)
				}
				if !res.Complete || !res.SawUsage || res.Usage.Input != 11 || res.Usage.Output != 7 {
					t.Fatalf("result %+v", res)
				}
				if sentBody := s.call(t, 0).body; gjson.Get(sentBody, "stream_options.include_usage").Bool() != true {
					t.Fatalf("include_usage not asked: %s", sentBody)
				}
			}
		}
	}
}

func TestStreamHeaders(t *testing.T) {
	s := &script{answer: always(streamReply(openAIChunk(1), "data: [DONE]\n\n"))}
	_, rec := runCall(call(t, "/v1/chat/completions", chatStreamBody, Route{upstream(t, "p", "openai", 1, s), "m"}))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream" || rec.Header().Get("Content-Length") != "" || !rec.Flushed {
		t.Fatalf("%d %v flushed %v", rec.Code, rec.Header(), rec.Flushed)
	}
}

// Comment-only events (keep-alives) do not commit the stream: an error
// after them is still retried.
func TestCommentsBeforeTheFirstEventAreHeldBack(t *testing.T) {
	s := &script{answer: answers(
		streamReply(": OPENROUTER PROCESSING\n\n", ": OPENROUTER PROCESSING\n\n", `data: {"error":{"message":"No instances available","code":503}}`+"\n\n"),
		streamReply(": OPENROUTER PROCESSING\n\n", openAIChunk(1), "data: [DONE]\n\n"),
	)}
	res, rec := runCall(call(t, "/v1/chat/completions", chatStreamBody, Route{upstream(t, "openrouter", "openrouter", 1, s), "m"}))
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("result %+v", res)
	}
	if got := rec.Body.String(); got != openAIChunk(1)+"data: [DONE]\n\n" {
		t.Errorf("client got %q", got)
	}
}

// After the stream began, an upstream error, a broken connection, a
// stall or an oversized event ends it with an error event in the
// client's protocol, and nothing after it.
func TestStreamFailuresAfterTheFirstEvent(t *testing.T) {
	anthropicStart := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"
	cases := []struct {
		name     string
		path     string
		answer   func(*http.Request) (*http.Response, error)
		idle     time.Duration
		code     llmerrors.Code
		errEvent string // the last event's name
	}{
		{"openai error chunk", "/v1/chat/completions",
			streamReply(openAIChunk(1), `data: {"error":{"message":"The server had an error","type":"server_error"}}`+"\n\n", "data: [DONE]\n\n"),
			0, llmerrors.ProviderError, ""},
		{"anthropic error event", "/v1/messages",
			streamReply(anthropicStart, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
			0, llmerrors.Overloaded, "error"},
		{"responses failed", "/v1/responses",
			streamReply("event: response.created\ndata: {\"type\":\"response.created\"}\n\n", "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n"),
			0, llmerrors.ProviderError, ""},
		{"reset", "/v1/messages", brokenStream(anthropicStart), 0, llmerrors.ProviderUnavailable, "error"},
		{"stall", "/v1/chat/completions", streamReply(openAIChunk(1), hang), 40 * time.Millisecond, llmerrors.ProviderTimeout, ""},
		{"oversized event", "/v1/chat/completions", streamReply(openAIChunk(1), "data: "+strings.Repeat("x", maxEvent)), 0, llmerrors.ProviderError, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{answer: always(tc.answer)}
			typ, body := "openai", `{"model":"m","stream":true,"input":"hi","messages":[{"role":"user","content":"hi"}]}`
			if tc.path == "/v1/messages" {
				typ, body = "anthropic", messagesStreamBody
			}
			up := upstream(t, "p", typ, 1, s)
			if tc.idle > 0 {
				up.IdleTimeout = tc.idle
			}
			res, rec := runCall(call(t, tc.path, body, Route{up, "m"}))
			if !res.Committed || res.Complete || res.Err == nil || res.Err.Code != tc.code || s.count() != 1 {
				t.Fatalf("result %+v after %d calls", res, s.count())
			}
			events := readEvents(t, rec.Body.String())
			last := events[len(events)-1]
			if last.name != tc.errEvent {
				t.Fatalf("last event %+v", last)
			}
			if tc.errEvent == "error" {
				if gjson.Get(last.data, "type").Str != "error" || gjson.Get(last.data, "request_id").Str != "req_test" {
					t.Errorf("anthropic error event %s", last.data)
				}
			} else if gjson.Get(last.data, "error.code").Str != "" && !gjson.Get(last.data, "error.message").Exists() {
				t.Errorf("openai error event %s", last.data)
			}
			if strings.Contains(rec.Body.String(), "[DONE]") {
				t.Error("[DONE] after the error")
			}
		})
	}
}

// An oversized event before the stream began is a failure before the
// first byte.
func TestOversizedFirstEvent(t *testing.T) {
	s := &script{answer: answers(streamReply("data: "+strings.Repeat("x", 2*maxEvent)), streamReply(openAIChunk(1)))}
	res, _ := runCall(call(t, "/v1/chat/completions", chatStreamBody, Route{upstream(t, "p", "openai", 1, s), "m"}))
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("result %+v", res)
	}
}

// FuzzStream: whatever bytes a provider streams, in whatever pieces, the
// relay never panics, and what the client gets is whole events from the
// provider, or the stream's error event at the end.
func FuzzStream(f *testing.F) {
	f.Add([]byte(openAIChunk(1)+usageChunk+"data: [DONE]\n\n"), uint8(3))
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"}}\n\n"), uint8(1))
	f.Add([]byte(": ping\r\n\r\ndata: x\r\n\r\n"), uint8(5))
	f.Add([]byte("data: {\"error\":{}}\n\ndata: {\"usage\":{\"prompt_tokens\":1}}"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var pieces []string
		step := int(split) + 1
		for i := 0; i < len(data); i += step {
			pieces = append(pieces, string(data[i:min(i+step, len(data))]))
		}
		s := &script{answer: always(streamReply(pieces...))}
		c := call(t, "/v1/chat/completions", chatStreamBody, Route{upstream(t, "p", "openai", 1, s), "m"})
		c.ReadUsage = true
		c.Policy.MaxAttempts = 1
		res, rec := runCall(c)
		if !res.Committed {
			if res.Err == nil {
				t.Fatal("nothing committed and no error")
			}
			return
		}
		got := rec.Body.String()
		if res.Err != nil {
			i := strings.LastIndex(got, "data: {\"error\"")
			if i < 0 || !strings.HasSuffix(got, "}\n\n") {
				t.Fatalf("stream failed (%v) without an error event at its end: %q", res.Err, got)
			}
			got = got[:i]
		}
		// What passes is the provider's own bytes, event by event (some
		// dropped: comments before the first event, the usage chunk).
		if len(got) > len(data) {
			t.Fatalf("the client got more than the provider sent: %q from %q", got, data)
		}
		for _, line := range strings.SplitAfter(got, "\n") {
			if !strings.Contains(string(data), line) {
				t.Fatalf("the client got %q, which the provider did not send: %q", line, data)
			}
		}
	})
}
