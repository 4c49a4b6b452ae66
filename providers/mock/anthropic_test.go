package mock

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestMessage(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathMessages, messagesBody("claude-sonnet-4-5", "Write a haiku about gateways", ""))
	rec := res.rec
	if res.err != nil || rec.Status() != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("err %v, status %d, content type %q", res.err, rec.Status(), rec.Header().Get("Content-Type"))
	}
	if id := rec.Header().Get("Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("request-id %q", id)
	}
	doc := gjson.Parse(rec.Body())
	checkPrefix(t, doc, "id", "msg_")
	checkString(t, doc, "type", "message")
	checkString(t, doc, "role", "assistant")
	checkString(t, doc, "model", "claude-sonnet-4-5")
	checkString(t, doc, "content.0.type", "text")
	checkString(t, doc, "stop_reason", "end_turn")
	if doc.Get("stop_sequence").Type != gjson.Null {
		t.Errorf("stop_sequence %s, want null", doc.Get("stop_sequence").Raw)
	}
	text := doc.Get("content.0.text").String()
	if !strings.Contains(text, "Write a haiku about gateways") {
		t.Errorf("text %q does not echo the message", text)
	}
	u := doc.Get("usage")
	if u.Get("output_tokens").Int() != int64(len(strings.Fields(text))) || u.Get("input_tokens").Int() <= 0 ||
		!u.Get("cache_read_input_tokens").Exists() || !u.Get("cache_creation_input_tokens").Exists() {
		t.Errorf("usage %s for %d words", u.Raw, len(strings.Fields(text)))
	}
}

func TestMessageStream(t *testing.T) {
	h := newTestHandler(0)
	body := messagesBody("claude-sonnet-4-5", "stream please", `"stream":true`)
	res := serve(t, h, pathMessages, body)
	if res.err != nil || res.panicked != nil {
		t.Fatalf("err %v, panic %v", res.err, res.panicked)
	}
	if ct := res.rec.Header().Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	evs := eventsPerFlush(t, res.rec)
	var names []string
	deltas := 0
	var text strings.Builder
	for _, ev := range evs {
		if ev.name == "content_block_delta" {
			deltas++
			d := gjson.Parse(ev.data)
			checkString(t, d, "delta.type", "text_delta")
			text.WriteString(d.Get("delta.text").String())
			if len(names) > 0 && names[len(names)-1] == "content_block_delta" {
				continue
			}
		}
		names = append(names, ev.name)
		if ev.name != "ping" && gjson.Get(ev.data, "type").String() != ev.name {
			t.Errorf("event %s carries type %q", ev.name, gjson.Get(ev.data, "type").String())
		}
	}
	want := "message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop"
	if strings.Join(names, " ") != want {
		t.Fatalf("events %v, want %s", names, want)
	}
	if evs[2].data != `{"type": "ping"}` {
		t.Errorf("ping %q", evs[2].data)
	}
	start := gjson.Parse(evs[0].data)
	checkPrefix(t, start, "message.id", "msg_")
	if start.Get("message.content").Raw != "[]" || start.Get("message.stop_reason").Type != gjson.Null {
		t.Errorf("message_start %s", start.Raw)
	}
	countRes := serve(t, h, pathCountTokens, body)
	counted := gjson.Get(countRes.rec.Body(), "input_tokens").Int()
	if in := start.Get("message.usage.input_tokens").Int(); in <= 0 || in != counted {
		t.Errorf("message_start input_tokens %d, count_tokens %d", in, counted)
	}
	md := gjson.Parse(evs[len(evs)-2].data)
	checkString(t, md, "delta.stop_reason", "end_turn")
	if md.Get("usage.output_tokens").Int() != int64(deltas) {
		t.Errorf("message_delta output_tokens %d, %d deltas", md.Get("usage.output_tokens").Int(), deltas)
	}
	plain := gjson.Get(serve(t, h, pathMessages, messagesBody("claude-sonnet-4-5", "stream please", "")).rec.Body(), "content.0.text").String()
	if text.String() != plain {
		t.Errorf("streamed %q, plain %q", text.String(), plain)
	}
}

func TestMessageMaxTokens(t *testing.T) {
	h := newTestHandler(0)
	body := strings.Replace(messagesBody("c", "hi", ""), `"max_tokens":1024`, `"max_tokens":4`, 1)
	doc := gjson.Parse(serve(t, h, pathMessages, body).rec.Body())
	checkString(t, doc, "stop_reason", "max_tokens")
	if doc.Get("usage.output_tokens").Int() != 4 {
		t.Errorf("output tokens %d, want 4", doc.Get("usage.output_tokens").Int())
	}
}

func TestCountTokens(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathCountTokens, messagesBody("c", "hello", ""))
	if res.rec.Status() != 200 || !strings.HasPrefix(res.rec.Header().Get("Request-Id"), "req_") {
		t.Fatalf("status %d, headers %v", res.rec.Status(), res.rec.Header())
	}
	doc := gjson.Parse(res.rec.Body())
	if len(doc.Map()) != 1 || doc.Get("input_tokens").Int() <= 0 {
		t.Fatalf("count_tokens answered %s", doc.Raw)
	}
	longer := gjson.Get(serve(t, h, pathCountTokens, messagesBody("c", strings.Repeat("word ", 200), "")).rec.Body(), "input_tokens").Int()
	if longer < doc.Get("input_tokens").Int()+200 {
		t.Errorf("1000 more characters counted %d tokens against %d", longer, doc.Get("input_tokens").Int())
	}
}
