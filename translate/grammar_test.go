package translate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct{ name, data string }

// parseSSE splits a stream into events, failing on anything but
// `event:` and `data:` lines ended by a blank line.
func parseSSE(s string) ([]sseEvent, error) {
	if s == "" {
		return nil, nil
	}
	if !strings.HasSuffix(s, "\n\n") {
		return nil, fmt.Errorf("stream does not end with a blank line")
	}
	var evs []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		var ev sseEvent
		var data []string
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			default:
				return nil, fmt.Errorf("unexpected line %q", line)
			}
		}
		if len(data) == 0 {
			return nil, fmt.Errorf("event without data: %q", block)
		}
		ev.data = strings.Join(data, "\n")
		evs = append(evs, ev)
	}
	return evs, nil
}

// checkAnthropicStream checks the event grammar an Anthropic client
// expects: message_start first and once; blocks started at indexes
// 0..n-1 in order, each delta of its block's kind to a started block not
// yet stopped, each block stopped once; every block stopped before the
// one message_delta, then the one message_stop, then nothing. An error
// event may end the stream at any point after message_start; then
// neither message_delta nor message_stop is needed.
func checkAnthropicStream(evs []sseEvent) error {
	type block struct {
		kind    string
		stopped bool
	}
	var blocks []block
	started, delta, stopped := false, false, false
	for i, ev := range evs {
		at := func(format string, args ...any) error {
			return fmt.Errorf("event %d (%s): %s", i, ev.name, fmt.Sprintf(format, args...))
		}
		if !json.Valid([]byte(ev.data)) {
			return at("data is not JSON: %q", ev.data)
		}
		d := gjson.Parse(ev.data)
		if t := d.Get("type").Str; t != ev.name {
			return at("data type %q", t)
		}
		if stopped {
			return at("after message_stop")
		}
		if ev.name != "message_start" && ev.name != "error" && !started {
			return at("before message_start")
		}
		switch ev.name {
		case "message_start":
			if started {
				return at("second message_start")
			}
			started = true
			m := d.Get("message")
			if !strings.HasPrefix(m.Get("id").Str, "msg_") || m.Get("role").Str != "assistant" || m.Get("content").Raw != "[]" {
				return at("message %s", m.Raw)
			}
			if !m.Get("usage.input_tokens").Exists() || !m.Get("usage.output_tokens").Exists() {
				return at("message_start without usage")
			}
		case "ping":
		case "content_block_start":
			if delta {
				return at("after message_delta")
			}
			if idx := d.Get("index").Int(); idx != int64(len(blocks)) || d.Get("index").Type != gjson.Number {
				return at("index %s, want %d", d.Get("index").Raw, len(blocks))
			}
			cb := d.Get("content_block")
			kind := cb.Get("type").Str
			switch kind {
			case "text", "thinking":
			case "tool_use":
				id := cb.Get("id").Str
				if id == "" || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
					return at("tool_use id %q", id)
				}
				if cb.Get("name").Str == "" || cb.Get("input").Raw != "{}" {
					return at("tool_use block %s", cb.Raw)
				}
			default:
				return at("block type %q", kind)
			}
			blocks = append(blocks, block{kind: kind})
		case "content_block_delta":
			idx := d.Get("index").Int()
			if idx < 0 || idx >= int64(len(blocks)) || blocks[idx].stopped {
				return at("delta to block %d, not open", idx)
			}
			want := map[string]string{"text": "text_delta", "thinking": "thinking_delta", "tool_use": "input_json_delta"}[blocks[idx].kind]
			if dt := d.Get("delta.type").Str; dt != want && !(dt == "signature_delta" && blocks[idx].kind == "thinking") {
				return at("%s to a %s block", dt, blocks[idx].kind)
			}
		case "content_block_stop":
			idx := d.Get("index").Int()
			if idx < 0 || idx >= int64(len(blocks)) || blocks[idx].stopped {
				return at("stop of block %d, not open", idx)
			}
			blocks[idx].stopped = true
		case "message_delta":
			if delta {
				return at("second message_delta")
			}
			for j, b := range blocks {
				if !b.stopped {
					return at("block %d still open", j)
				}
			}
			if d.Get("delta.stop_reason").Str == "" || !d.Get("usage.output_tokens").Exists() {
				return at("message_delta %s", ev.data)
			}
			delta = true
		case "message_stop":
			if !delta {
				return at("message_stop without message_delta")
			}
			stopped = true
		case "error":
			if i != len(evs)-1 {
				return at("events after the error")
			}
			return nil
		default:
			return at("unknown event")
		}
	}
	if len(evs) > 0 && !stopped {
		return fmt.Errorf("stream ends without message_stop or error")
	}
	return nil
}

// checkOpenAIStream checks the chunk grammar an OpenAI client expects:
// unnamed events; chunks with one id, created and model; tool calls
// numbered 0..n-1 in order of appearance, each first seen with its id,
// type and name; finish_reason once, on the last chunk with choices;
// then the usage chunk exactly when the client asked for one; then
// [DONE], last. An error chunk may end the stream instead, with no
// [DONE].
func checkOpenAIStream(evs []sseEvent, includeUsage bool) error {
	var id, model, created string
	tools := 0
	finished, usageSeen, done := false, false, false
	for i, ev := range evs {
		at := func(format string, args ...any) error {
			return fmt.Errorf("chunk %d: %s", i, fmt.Sprintf(format, args...))
		}
		if ev.name != "" {
			return at("named event %q", ev.name)
		}
		if done {
			return at("after [DONE]")
		}
		if ev.data == "[DONE]" {
			if !finished {
				return at("[DONE] without a finish_reason")
			}
			if includeUsage && !usageSeen {
				return at("[DONE] without the usage chunk the client asked for")
			}
			done = true
			continue
		}
		if !json.Valid([]byte(ev.data)) {
			return at("data is not JSON: %q", ev.data)
		}
		d := gjson.Parse(ev.data)
		if d.Get("error").Exists() {
			if i != len(evs)-1 {
				return at("chunks after the error")
			}
			return nil
		}
		if d.Get("object").Str != "chat.completion.chunk" {
			return at("object %q", d.Get("object").Str)
		}
		if i == 0 {
			id, model, created = d.Get("id").Str, d.Get("model").Raw, d.Get("created").Raw
			if !strings.HasPrefix(id, "chatcmpl-") {
				return at("id %q", id)
			}
		} else if d.Get("id").Str != id || d.Get("model").Raw != model || d.Get("created").Raw != created {
			return at("id, model or created changed: %s", ev.data)
		}
		choices := d.Get("choices").Array()
		if len(choices) == 0 {
			if !d.Get("usage").IsObject() {
				return at("chunk with neither choices nor usage")
			}
			if !includeUsage {
				return at("usage chunk the client did not ask for")
			}
			if !finished || usageSeen {
				return at("usage chunk out of place")
			}
			usageSeen = true
			continue
		}
		if finished {
			return at("choices after the finish_reason")
		}
		c := choices[0]
		if c.Get("index").Int() != 0 || len(choices) != 1 {
			return at("choices %s", d.Get("choices").Raw)
		}
		for _, tc := range c.Get("delta.tool_calls").Array() {
			idx := tc.Get("index").Int()
			switch {
			case idx == int64(tools):
				if tc.Get("id").Str == "" || tc.Get("type").Str != "function" || tc.Get("function.name").Str == "" {
					return at("first chunk of tool call %d: %s", idx, tc.Raw)
				}
				tools++
			case idx < int64(tools) && tc.Get("index").Exists():
				if tc.Get("id").Exists() {
					return at("tool call %d repeats its id", idx)
				}
			default:
				return at("tool call index %s after %d calls", tc.Get("index").Raw, tools)
			}
		}
		if f := c.Get("finish_reason"); f.Type != gjson.Null {
			if f.Str == "" {
				return at("finish_reason %s", f.Raw)
			}
			finished = true
		}
	}
	if len(evs) > 0 && !done {
		return fmt.Errorf("stream ends without [DONE] or error")
	}
	return nil
}
