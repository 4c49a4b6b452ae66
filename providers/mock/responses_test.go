package mock

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestResponse(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathResponses, `{"model":"gpt-4.1","instructions":"Be kind.","input":[{"role":"user","content":[{"type":"input_text","text":"Tell me a joke"}]}]}`)
	if res.err != nil || res.rec.Status() != 200 {
		t.Fatalf("err %v, status %d", res.err, res.rec.Status())
	}
	doc := gjson.Parse(res.rec.Body())
	checkPrefix(t, doc, "id", "resp_")
	checkString(t, doc, "object", "response")
	checkString(t, doc, "status", "completed")
	checkString(t, doc, "instructions", "Be kind.")
	checkString(t, doc, "output.0.type", "message")
	checkPrefix(t, doc, "output.0.id", "msg_")
	checkString(t, doc, "output.0.role", "assistant")
	checkString(t, doc, "output.0.content.0.type", "output_text")
	text := doc.Get("output.0.content.0.text").String()
	if !strings.Contains(text, "Tell me a joke") {
		t.Errorf("text %q does not echo the input", text)
	}
	u := doc.Get("usage")
	if u.Get("output_tokens").Int() != int64(len(strings.Fields(text))) || u.Get("input_tokens").Int() <= 0 ||
		u.Get("total_tokens").Int() != u.Get("input_tokens").Int()+u.Get("output_tokens").Int() ||
		!u.Get("input_tokens_details.cached_tokens").Exists() || !u.Get("output_tokens_details.reasoning_tokens").Exists() {
		t.Errorf("usage %s", u.Raw)
	}
}

func TestResponseStream(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathResponses, `{"model":"gpt-4.1","input":"hello","stream":true}`)
	if res.err != nil || res.panicked != nil {
		t.Fatalf("err %v, panic %v", res.err, res.panicked)
	}
	evs := eventsPerFlush(t, res.rec)
	var names []string
	var text strings.Builder
	deltas := 0
	for i, ev := range evs {
		d := gjson.Parse(ev.data)
		if d.Get("type").String() != ev.name {
			t.Errorf("event %s carries type %q", ev.name, d.Get("type").String())
		}
		if d.Get("sequence_number").Int() != int64(i) {
			t.Errorf("event %d has sequence_number %d", i, d.Get("sequence_number").Int())
		}
		if ev.name == "response.output_text.delta" {
			deltas++
			text.WriteString(d.Get("delta").String())
			if names[len(names)-1] == ev.name {
				continue
			}
		}
		names = append(names, ev.name)
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added " +
		"response.output_text.delta response.output_text.done response.content_part.done response.output_item.done response.completed"
	if strings.Join(names, " ") != want {
		t.Fatalf("events %v, want %s", names, want)
	}
	created := gjson.Parse(evs[0].data)
	checkString(t, created, "response.status", "in_progress")
	if created.Get("response.usage").Type != gjson.Null {
		t.Errorf("response.created carries usage %s", created.Get("response.usage").Raw)
	}
	done := gjson.Parse(evs[len(evs)-1].data)
	checkString(t, done, "response.status", "completed")
	if done.Get("response.id").String() != created.Get("response.id").String() {
		t.Errorf("response id changed mid-stream")
	}
	if got := done.Get("response.output.0.content.0.text").String(); got != text.String() {
		t.Errorf("completed text %q, deltas %q", got, text.String())
	}
	if done.Get("response.usage.output_tokens").Int() != int64(deltas) {
		t.Errorf("usage %s for %d deltas", done.Get("response.usage").Raw, deltas)
	}
}

func TestResponseMaxOutputTokens(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathResponses, `{"model":"m","input":"hello","max_output_tokens":3,"stream":true}`)
	evs := eventsPerFlush(t, res.rec)
	last := evs[len(evs)-1]
	if last.name != "response.incomplete" {
		t.Fatalf("last event %s, want response.incomplete", last.name)
	}
	d := gjson.Parse(last.data)
	checkString(t, d, "response.status", "incomplete")
	checkString(t, d, "response.incomplete_details.reason", "max_output_tokens")
	if d.Get("response.max_output_tokens").Int() != 3 || d.Get("response.usage.output_tokens").Int() != 3 {
		t.Errorf("response %s", d.Get("response").Raw)
	}
}
