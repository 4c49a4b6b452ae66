package llmgateway

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// newTestFilter is an sseFilter writing to a recorder, as one attempt of a
// stream from an OpenAI-type provider.
func newTestFilter(anthropicClient, readUsage, dropUsage bool) (*attemptWriter, *httptest.ResponseRecorder) {
	rec := httptest.NewRecorder()
	typ, _ := providers.Lookup("openai")
	x := &exchange{g: &Gateway{logger: zap.NewNop()}, w: rec, id: "req_test", anthropicClient: anthropicClient}
	aw := &x.aw
	aw.reset(x, route{provider: &Provider{Name: "up", typ: typ}}, nil, readUsage)
	aw.dropUsageChunk = dropUsage
	aw.Header().Set("Content-Type", "text/event-stream")
	aw.WriteHeader(200)
	return aw, rec
}

const usageChunk = `data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}` + "\n\n"

// Whatever way the upstream's bytes are split into writes, the client gets
// the same stream, event by event.
func TestSSEFilterIsSplitProof(t *testing.T) {
	body := strings.Join(openAIChunks(3)[:3], "") + usageChunk + "data: [DONE]\n\n"
	for _, drop := range []bool{false, true} {
		want := body
		if drop {
			want = strings.Replace(body, usageChunk, "", 1)
		}
		for i := 0; i <= len(body); i += 7 {
			for j := i; j <= len(body); j += 13 {
				aw, rec := newTestFilter(false, true, drop)
				aw.Write([]byte(body[:i]))
				aw.Write([]byte(body[i:j]))
				aw.Write([]byte(body[j:]))
				aw.finish()
				if got := rec.Body.String(); got != want {
					t.Fatalf("drop=%v split at %d,%d:\n%q\nwant\n%q", drop, i, j, got, want)
				}
				if !aw.sawUsage || aw.usage.Input != 11 || aw.usage.Output != 7 {
					t.Fatalf("usage %+v (seen %v)", aw.usage, aw.sawUsage)
				}
			}
		}
	}
}

func TestSSEFilterRewritesErrors(t *testing.T) {
	cases := []struct {
		name      string
		anthropic bool
		stream    string
		check     func(t *testing.T, last sseEvent)
	}{
		{"openai error chunk", false,
			openAIChunks(1)[0] + `data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}` + "\n\ndata: [DONE]\n\n",
			func(t *testing.T, last sseEvent) {
				if last.name != "" || gjson.Get(last.data, "error.type").Str != "upstream_error" || gjson.Get(last.data, "error.code").Str != "502" {
					t.Errorf("last event %+v", last)
				}
			}},
		{"anthropic error event", true,
			"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
			func(t *testing.T, last sseEvent) {
				if last.name != "error" || gjson.Get(last.data, "error.type").Str != "overloaded_error" || gjson.Get(last.data, "request_id").Str != "req_test" {
					t.Errorf("last event %+v", last)
				}
			}},
		{"responses failed event", false,
			"event: response.created\ndata: {\"type\":\"response.created\"}\n\nevent: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n",
			func(t *testing.T, last sseEvent) {
				if gjson.Get(last.data, "error.code").Str != "502" {
					t.Errorf("last event %+v", last)
				}
			}},
		{"crlf stream", true,
			"event: ping\r\ndata: {}\r\n\r\nevent: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\r\n\r\n",
			func(t *testing.T, last sseEvent) {
				if last.name != "error" || gjson.Get(last.data, "error.type").Str != "api_error" {
					t.Errorf("last event %+v", last)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			aw, rec := newTestFilter(c.anthropic, false, false)
			for _, b := range []byte(c.stream) { // byte by byte, the hardest split
				aw.Write([]byte{b})
			}
			aw.finish()
			out := rec.Body.String()
			if strings.Contains(out, "[DONE]") {
				t.Errorf("[DONE] after the error: %q", out)
			}
			events, err := parseEvents(strings.NewReader(out), time.Now())
			if err != nil || len(events) < 2 {
				t.Fatalf("events %v, %v: %q", events, err, out)
			}
			c.check(t, events[len(events)-1])
		})
	}
}

// Any bytes at all, split anywhere: no panic, and a stream that holds no
// error passes through byte for byte.
func FuzzSSEFilter(f *testing.F) {
	f.Add([]byte(strings.Join(openAIChunks(2), "")), uint16(5))
	f.Add([]byte(strings.Join(anthropicEvents(2), "")), uint16(40))
	f.Add([]byte("data: x\r\rdata: y\r\r"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		cut := int(split) % (len(data) + 1)
		aw, rec := newTestFilter(false, true, true)
		aw.Write(data[:cut])
		aw.Write(data[cut:])
		aw.finish()
		if !strings.Contains(string(data), "error") && !strings.Contains(string(data), "usage") && !strings.Contains(string(data), "response.failed") {
			if rec.Body.String() != string(data) {
				t.Fatalf("changed a stream with nothing to change:\n%q\n%q", data, rec.Body.String())
			}
		}
	})
}
