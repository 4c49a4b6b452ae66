package mock

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// TestStreamPacing checks, at the real pace, that the headers and first
// event leave at once and content follows one chunk per tick.
func TestStreamPacing(t *testing.T) {
	for _, c := range []struct{ path, body string }{
		{pathChat, chatBody("m", "pace me", `"stream":true`)},
		{pathMessages, messagesBody("m", "pace me", `"stream":true`)},
		{pathResponses, `{"model":"m","input":"pace me","stream":true}`},
		{pathCompletions, `{"model":"m","prompt":"pace me","stream":true}`},
	} {
		t.Run(c.path, func(t *testing.T) {
			h := New(0)
			res := serve(t, h, c.path, c.body)
			fl := res.rec.Flushes()
			if len(fl) < 20 {
				t.Fatalf("%d flushes, want one per event", len(fl))
			}
			if fl[0].at > defaultTick {
				t.Errorf("first event after %v, want it at once", fl[0].at)
			}
			var content []time.Duration
			for _, f := range fl {
				if isContent(f.data) {
					content = append(content, f.at)
				}
			}
			if len(content) < 20 {
				t.Fatalf("%d content events", len(content))
			}
			for i := 1; i < len(content); i++ {
				if gap := content[i] - content[i-1]; gap < defaultTick*9/10 {
					t.Errorf("content event %d came %v after the one before, want about %v", i, gap, defaultTick)
				}
			}
			if span := fl[len(fl)-1].at - fl[0].at; span < time.Duration(len(content)-1)*defaultTick {
				t.Errorf("stream took %v for %d content chunks", span, len(content))
			}
		})
	}
}

// isContent reports whether a flushed event carries generated text.
func isContent(ev string) bool {
	for _, marker := range []string{`"delta":{"content":`, `"text_delta"`, `"response.output_text.delta"`} {
		if strings.Contains(ev, marker) {
			return true
		}
	}
	// A legacy completion chunk with text and no finish reason yet.
	return strings.Contains(ev, `"text_completion"`) && strings.Contains(ev, `"finish_reason":null`) && !strings.Contains(ev, `"text":""`)
}

// abortedWith checks that a result ended the way reverse_proxy ends an
// answer that broke mid-body.
func abortedWith(t *testing.T, res result) {
	t.Helper()
	if res.panicked != http.ErrAbortHandler {
		t.Fatalf("panicked with %v (err %v), want http.ErrAbortHandler", res.panicked, res.err)
	}
}

func TestStreamStopsWhenClientLeaves(t *testing.T) {
	h := New(0) // the real pace: a whole stream takes over half a second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newFlushRecorder()
	done := make(chan result, 1)
	go func() {
		done <- serveCtx(ctx, h, rec, pathMessages, messagesBody("m", "hi", `"stream":true`), nil)
	}()
	for len(rec.Flushes()) < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	canceledAt := time.Now()
	res := <-done
	abortedWith(t, res)
	if d := time.Since(canceledAt); d > 2*defaultTick {
		t.Errorf("stopped %v after the client left", d)
	}
	if strings.Contains(rec.Body(), "message_stop") {
		t.Errorf("the stream ran to its end after the client left")
	}
	if n := len(rec.Flushes()); n < 5 {
		t.Errorf("only %d events reached the client before the abort", n)
	}
}

func TestStreamWriteFailureAborts(t *testing.T) {
	rec := newFlushRecorder()
	rec.failWrites = true
	res := serveCtx(context.Background(), newTestHandler(0), rec, pathChat, chatBody("m", "hi", `"stream":true`), nil)
	abortedWith(t, res)
}

func TestStreamError(t *testing.T) {
	cases := []struct {
		path, body string
		check      func(t *testing.T, last sseEvent)
	}{
		{pathChat, chatBody("mock-stream-error", "hi", `"stream":true`), func(t *testing.T, last sseEvent) {
			if last.name != "" || !gjson.Get(last.data, "error").IsObject() || gjson.Get(last.data, "error.type").Str != "server_error" {
				t.Errorf("last event %+v, want data: {\"error\":{...}}", last)
			}
		}},
		{pathCompletions, `{"model":"mock-stream-error","prompt":"hi","stream":true}`, func(t *testing.T, last sseEvent) {
			if !gjson.Get(last.data, "error").IsObject() {
				t.Errorf("last event %+v", last)
			}
		}},
		{pathMessages, messagesBody("mock-stream-error", "hi", `"stream":true`), func(t *testing.T, last sseEvent) {
			want := sseEvent{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`}
			if last != want {
				t.Errorf("last event %+v, want %+v", last, want)
			}
		}},
		{pathResponses, `{"model":"mock-stream-error","input":"hi","stream":true}`, func(t *testing.T, last sseEvent) {
			d := gjson.Parse(last.data)
			if last.name != "error" || d.Get("type").Str != "error" || d.Get("code").Str != "server_error" || d.Get("sequence_number").Int() == 0 {
				t.Errorf("last event %+v", last)
			}
		}},
		// Streams even when the request did not ask for one.
		{pathChat, chatBody("mock-stream-error", "hi", ""), func(t *testing.T, last sseEvent) {
			if !gjson.Get(last.data, "error").IsObject() {
				t.Errorf("last event %+v", last)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res := serve(t, newTestHandler(0), c.path, c.body)
			if res.err != nil || res.panicked != nil {
				t.Fatalf("err %v, panic %v: an error event ends the stream cleanly", res.err, res.panicked)
			}
			if res.rec.Status() != 200 || !strings.HasPrefix(res.rec.Header().Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, content type %q", res.rec.Status(), res.rec.Header().Get("Content-Type"))
			}
			evs := eventsPerFlush(t, res.rec)
			content := 0
			for _, ev := range evs {
				if isContent("data: " + ev.data) {
					content++
				}
				if ev.data == "[DONE]" {
					t.Errorf("[DONE] after an error")
				}
			}
			if content != faultAfter {
				t.Errorf("%d content events before the error, want %d", content, faultAfter)
			}
			c.check(t, evs[len(evs)-1])
		})
	}
}

func TestStreamCut(t *testing.T) {
	for _, c := range []struct{ path, body string }{
		{pathChat, chatBody("mock-stream-cut", "hi", `"stream":true`)},
		{pathMessages, messagesBody("mock-stream-cut", "hi", "")},
	} {
		res := serve(t, newTestHandler(0), c.path, c.body)
		abortedWith(t, res)
		if res.rec.Status() != 200 {
			t.Errorf("%s: status %d", c.path, res.rec.Status())
		}
		// Everything written before the cut was flushed to the client.
		evs := eventsPerFlush(t, res.rec)
		content := 0
		for _, ev := range evs {
			if isContent("data: " + ev.data) {
				content++
			}
		}
		if content != faultAfter || strings.Contains(res.rec.Body(), "[DONE]") || strings.Contains(res.rec.Body(), "message_stop") {
			t.Errorf("%s: %d content events, body %q", c.path, content, res.rec.Body())
		}
	}
}

func TestSlowStream(t *testing.T) {
	const timeout = 60 * time.Millisecond
	res := serve(t, newTestHandler(timeout), pathChat, chatBody("mock-slow-stream", "hi", `"stream":true`))
	if res.err != nil || res.panicked != nil {
		t.Fatalf("err %v, panic %v", res.err, res.panicked)
	}
	fl := res.rec.Flushes()
	if fl[len(fl)-1].data != "data: [DONE]\n\n" {
		t.Errorf("the stream did not finish after its silence")
	}
	var longest time.Duration
	silentAfter := 0
	for i := 1; i < len(fl); i++ {
		if gap := fl[i].at - fl[i-1].at; gap > longest {
			longest, silentAfter = gap, i
		}
	}
	if longest <= timeout {
		t.Errorf("longest silence %v, want more than the timeout %v", longest, timeout)
	}
	if silentAfter != faultAfter+1 {
		t.Errorf("silence came after event %d, want after %d content events", silentAfter, faultAfter)
	}
}

func TestSlowStreamHonoursCancellation(t *testing.T) {
	h := newTestHandler(10 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newFlushRecorder()
	done := make(chan result, 1)
	go func() {
		done <- serveCtx(ctx, h, rec, pathMessages, messagesBody("mock-slow-stream", "hi", `"stream":true`), nil)
	}()
	// message_start, content_block_start, ping, then the content before
	// the silence.
	for len(rec.Flushes()) < 3+faultAfter {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case res := <-done:
		abortedWith(t, res)
	case <-time.After(time.Second):
		t.Fatal("the silent stream ignored the cancellation")
	}
}
