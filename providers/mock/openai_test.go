package mock

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestChatCompletion(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathChat, chatBody("gpt-4o-mini", "What is the capital of France?", ""))
	if res.err != nil || res.panicked != nil {
		t.Fatalf("err %v, panic %v", res.err, res.panicked)
	}
	rec := res.rec
	if rec.Status() != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Status(), rec.Header().Get("Content-Type"))
	}
	if id := rec.Header().Get("X-Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("X-Request-Id %q", id)
	}
	doc := gjson.Parse(rec.Body())
	checkString(t, doc, "object", "chat.completion")
	checkString(t, doc, "model", "gpt-4o-mini")
	checkPrefix(t, doc, "id", "chatcmpl-")
	checkString(t, doc, "choices.0.message.role", "assistant")
	checkString(t, doc, "choices.0.finish_reason", "stop")
	if !doc.Get("created").Exists() || doc.Get("choices.0.index").Int() != 0 {
		t.Errorf("missing created or index: %s", doc.Raw)
	}
	content := doc.Get("choices.0.message.content").String()
	for _, want := range []string{"mock provider", "gpt-4o-mini", "What is the capital of France?"} {
		if !strings.Contains(content, want) {
			t.Errorf("content %q does not contain %q", content, want)
		}
	}
	u := doc.Get("usage")
	prompt, completion := u.Get("prompt_tokens").Int(), u.Get("completion_tokens").Int()
	if prompt <= 0 || completion != int64(len(strings.Fields(content))) || u.Get("total_tokens").Int() != prompt+completion {
		t.Errorf("usage %s for content of %d words", u.Raw, len(strings.Fields(content)))
	}
	if !u.Get("prompt_tokens_details.cached_tokens").Exists() || !u.Get("completion_tokens_details.reasoning_tokens").Exists() {
		t.Errorf("usage lacks its details: %s", u.Raw)
	}
}

func TestChatCompletionPromptTokensGrowWithPrompt(t *testing.T) {
	h := newTestHandler(0)
	short := gjson.Parse(serve(t, h, pathChat, chatBody("m", "hi", "")).rec.Body()).Get("usage.prompt_tokens").Int()
	long := gjson.Parse(serve(t, h, pathChat, chatBody("m", strings.Repeat("lorem ipsum ", 100), "")).rec.Body()).Get("usage.prompt_tokens").Int()
	if long < short+250 {
		t.Errorf("prompt tokens %d for 1200 more characters than a prompt of %d tokens", long, short)
	}
}

func TestChatCompletionStream(t *testing.T) {
	h := newTestHandler(0)
	plain := gjson.Parse(serve(t, h, pathChat, chatBody("m", "hello there", "")).rec.Body()).Get("choices.0.message.content").String()

	res := serve(t, h, pathChat, chatBody("m", "hello there", `"stream":true`))
	if res.err != nil || res.panicked != nil {
		t.Fatalf("err %v, panic %v", res.err, res.panicked)
	}
	if ct := res.rec.Header().Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	evs := eventsPerFlush(t, res.rec)
	if last := evs[len(evs)-1]; last.data != "[DONE]" {
		t.Fatalf("last event %q, want [DONE]", last.data)
	}
	chunks := evs[:len(evs)-1]
	first := gjson.Parse(chunks[0].data)
	checkString(t, first, "choices.0.delta.role", "assistant")
	checkString(t, first, "choices.0.delta.content", "")
	var text strings.Builder
	id := first.Get("id").String()
	for i, ev := range chunks {
		c := gjson.Parse(ev.data)
		checkString(t, c, "object", "chat.completion.chunk")
		if c.Get("id").String() != id || !strings.HasPrefix(id, "chatcmpl-") {
			t.Fatalf("chunk %d id %q, first %q", i, c.Get("id").String(), id)
		}
		if c.Get("usage").Exists() {
			t.Fatalf("chunk %d has usage without include_usage: %s", i, ev.data)
		}
		if i > 0 && i < len(chunks)-1 {
			text.WriteString(c.Get("choices.0.delta.content").String())
			if c.Get("choices.0.finish_reason").Type != gjson.Null {
				t.Errorf("content chunk %d has a finish reason", i)
			}
		}
	}
	last := gjson.Parse(chunks[len(chunks)-1].data)
	checkString(t, last, "choices.0.finish_reason", "stop")
	if last.Get("choices.0.delta").Raw != "{}" {
		t.Errorf("finish chunk delta %s, want {}", last.Get("choices.0.delta").Raw)
	}
	if text.String() != plain {
		t.Errorf("streamed text %q, plain answer %q", text.String(), plain)
	}
	if n := len(chunks) - 2; n < 20 || n > 31 {
		t.Errorf("%d content chunks, want 20 to 30 or so", n)
	}
}

func TestChatCompletionStreamIncludeUsage(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathChat, chatBody("m", "count me", `"stream":true,"stream_options":{"include_usage":true}`))
	evs := eventsPerFlush(t, res.rec)
	if evs[len(evs)-1].data != "[DONE]" {
		t.Fatalf("last event %q", evs[len(evs)-1].data)
	}
	usageChunk := gjson.Parse(evs[len(evs)-2].data)
	if usageChunk.Get("choices").Raw != "[]" || !usageChunk.Get("usage").IsObject() {
		t.Fatalf("usage chunk %s", usageChunk.Raw)
	}
	contentChunks := 0
	for i, ev := range evs[:len(evs)-2] {
		c := gjson.Parse(ev.data)
		if u := c.Get("usage"); !u.Exists() || u.Type != gjson.Null {
			t.Fatalf("chunk %d usage %q, want null", i, u.Raw)
		}
		if c.Get("choices.0.delta.content").String() != "" {
			contentChunks++
		}
	}
	u := usageChunk.Get("usage")
	if u.Get("completion_tokens").Int() != int64(contentChunks) || u.Get("prompt_tokens").Int() <= 0 ||
		u.Get("total_tokens").Int() != u.Get("prompt_tokens").Int()+u.Get("completion_tokens").Int() {
		t.Errorf("usage %s for %d content chunks", u.Raw, contentChunks)
	}
}

func TestChatCompletionMaxTokens(t *testing.T) {
	h := newTestHandler(0)
	doc := gjson.Parse(serve(t, h, pathChat, chatBody("m", "hi", `"max_completion_tokens":5`)).rec.Body())
	checkString(t, doc, "choices.0.finish_reason", "length")
	if n := doc.Get("usage.completion_tokens").Int(); n != 5 {
		t.Errorf("completion tokens %d, want 5", n)
	}
	if words := strings.Fields(doc.Get("choices.0.message.content").String()); len(words) != 5 {
		t.Errorf("content %q has %d words, want 5", doc.Get("choices.0.message.content").String(), len(words))
	}
}

func TestLegacyCompletion(t *testing.T) {
	h := newTestHandler(0)
	doc := gjson.Parse(serve(t, h, pathCompletions, `{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test"}`).rec.Body())
	checkString(t, doc, "object", "text_completion")
	checkPrefix(t, doc, "id", "cmpl-")
	checkString(t, doc, "choices.0.finish_reason", "stop")
	text := doc.Get("choices.0.text").String()
	if !strings.Contains(text, "Say this is a test") {
		t.Errorf("text %q does not echo the prompt", text)
	}
	u := doc.Get("usage")
	if u.Get("completion_tokens").Int() != int64(len(strings.Fields(text))) || u.Get("prompt_tokens").Int() != 5 ||
		u.Get("total_tokens").Int() != u.Get("prompt_tokens").Int()+u.Get("completion_tokens").Int() {
		t.Errorf("usage %s", u.Raw)
	}
	if u.Get("prompt_tokens_details").Exists() {
		t.Errorf("legacy completions carry no token details: %s", u.Raw)
	}
}

func TestLegacyCompletionStream(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathCompletions, `{"model":"m","prompt":["first","second prompt"],"stream":true,"stream_options":{"include_usage":true}}`)
	evs := eventsPerFlush(t, res.rec)
	if evs[len(evs)-1].data != "[DONE]" {
		t.Fatalf("last event %q", evs[len(evs)-1].data)
	}
	var text strings.Builder
	for _, ev := range evs[:len(evs)-3] {
		c := gjson.Parse(ev.data)
		checkString(t, c, "object", "text_completion")
		if c.Get("usage").Type != gjson.Null {
			t.Fatalf("chunk usage %q, want null", c.Get("usage").Raw)
		}
		text.WriteString(c.Get("choices.0.text").String())
	}
	if !strings.Contains(text.String(), "second prompt") {
		t.Errorf("streamed text %q does not echo the last prompt", text.String())
	}
	checkString(t, gjson.Parse(evs[len(evs)-3].data), "choices.0.finish_reason", "stop")
	usage := gjson.Parse(evs[len(evs)-2].data)
	if usage.Get("choices").Raw != "[]" || usage.Get("usage.completion_tokens").Int() != int64(len(evs)-3) {
		t.Errorf("usage chunk %s after %d content chunks", usage.Raw, len(evs)-3)
	}
}

func checkString(t *testing.T, doc gjson.Result, path, want string) {
	t.Helper()
	if got := doc.Get(path); got.Type != gjson.String || got.Str != want {
		t.Errorf("%s = %s, want %q", path, got.Raw, want)
	}
}

func checkPrefix(t *testing.T, doc gjson.Result, path, prefix string) {
	t.Helper()
	if got := doc.Get(path).String(); !strings.HasPrefix(got, prefix) || len(got) < len(prefix)+20 {
		t.Errorf("%s = %q, want %q followed by an ID", path, got, prefix)
	}
}
