package llmgateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// pacedStream answers with events, flushing each and pausing gap between
// them, as a provider generating tokens does.
func pacedStream(events []string, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i, ev := range events {
			if i > 0 {
				select {
				case <-time.After(gap):
				case <-r.Context().Done():
					return
				}
			}
			_, _ = io.WriteString(w, ev)
			_ = rc.Flush()
		}
	}
}

func openAIChunks(n int) []string {
	var evs []string
	for i := 0; i < n; i++ {
		evs = append(evs, fmt.Sprintf(`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"t%d "},"finish_reason":null}]}`+"\n\n", i))
	}
	return append(evs, "data: [DONE]\n\n")
}

func anthropicEvents(n int) []string {
	evs := []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	}
	for i := 0; i < n; i++ {
		evs = append(evs, fmt.Sprintf("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"t%d \"}}\n\n", i))
	}
	return append(evs,
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":12}}\n\n",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	)
}

// Events reach the client as the provider produces them: the first long
// before the last, through both protocols.
func TestStreamsEventByEvent(t *testing.T) {
	const gap = 80 * time.Millisecond
	openai := newFakeProvider(t, pacedStream(openAIChunks(10), gap))
	anthropic := newFakeProvider(t, pacedStream(anthropicEvents(10), gap))
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models gpt-4o
		}
		provider anthropic {
			base_url %s
			api_key sk-b
			models claude-*
		}`, openai.URL, anthropic.URL))

	cases := []struct {
		name, path, body string
		events           int
	}{
		{"openai", "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`, 11},
		{"anthropic", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"x"}]}`, 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", gatewayAddr+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := tester.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			events := readEvents(t, resp.Body, start)
			if len(events) != c.events {
				t.Fatalf("got %d events, want %d: %v", len(events), c.events, events)
			}
			first, last := events[0].at, events[len(events)-1].at
			// The provider spends (events-1)*gap producing the stream;
			// the first event must arrive long before the last.
			if last-first < time.Duration(c.events-2)*gap/2 {
				t.Errorf("events arrived together (first at %v, last at %v): the stream was buffered", first, last)
			}
			for i := 1; i < len(events); i++ {
				if events[i].at < events[i-1].at {
					t.Fatalf("events out of order")
				}
			}
			if c.name == "openai" && events[len(events)-1].data != "[DONE]" {
				t.Errorf("last event %q, want [DONE]", events[len(events)-1].data)
			}
			if c.name == "anthropic" && gjson.Get(events[len(events)-1].data, "type").Str != "message_stop" {
				t.Errorf("last event %q, want message_stop", events[len(events)-1].data)
			}
		})
	}
}
