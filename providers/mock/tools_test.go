package mock

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const (
	chatTools     = `"tools":[{"type":"function","function":{"name":"Bash","parameters":{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"number","minimum":5}},"required":["command","timeout"]}}},{"type":"function","function":{"name":"Read","parameters":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}}]`
	messagesTools = `"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"},"run_in_background":{"type":"boolean"}},"required":["command","run_in_background"]}},{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}]`
)

func TestChatToolCall(t *testing.T) {
	h := newTestHandler(0)
	doc := gjson.Parse(serve(t, h, pathChat, chatBody("gpt-4o", "Please look at /repo/README.md for me", chatTools)).rec.Body())
	c := doc.Get("choices.0")
	checkString(t, c, "finish_reason", "tool_calls")
	call := c.Get("message.tool_calls.0")
	checkPrefix(t, call, "id", "call_")
	checkString(t, call, "type", "function")
	checkString(t, call, "function.name", "Read")
	checkString(t, call, "function.arguments", `{"file_path":"/repo/README.md"}`)
	if doc.Get("usage.completion_tokens").Int() <= 0 {
		t.Errorf("usage %s", doc.Get("usage").Raw)
	}
}

func TestChatToolCallMinimalArguments(t *testing.T) {
	h := newTestHandler(0)
	// No path named: the first tool without effects (never Bash, which
	// a client would run), with its required arguments made up.
	doc := gjson.Parse(serve(t, h, pathChat, chatBody("gpt-4o", "run the tests", chatTools)).rec.Body())
	call := doc.Get("choices.0.message.tool_calls.0.function")
	checkString(t, call, "name", "Read")
	checkString(t, call, "arguments", `{"file_path":"mock"}`)
}

func TestChatToolChoice(t *testing.T) {
	h := newTestHandler(0)
	named := serve(t, h, pathChat, chatBody("gpt-4o", "hello", chatTools+`,"tool_choice":{"type":"function","function":{"name":"Read"}}`))
	checkString(t, gjson.Parse(named.rec.Body()), "choices.0.message.tool_calls.0.function.name", "Read")
	none := gjson.Parse(serve(t, h, pathChat, chatBody("gpt-4o", "hello", chatTools+`,"tool_choice":"none"`)).rec.Body())
	if none.Get("choices.0.message.tool_calls").Exists() || none.Get("choices.0.finish_reason").Str != "stop" {
		t.Errorf("tool_choice none answered %s", none.Get("choices.0").Raw)
	}
}

func TestChatToolResultAnswer(t *testing.T) {
	h := newTestHandler(0)
	body := `{"model":"gpt-4o",` + chatTools + `,"messages":[{"role":"user","content":"read a.go"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"a.go\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"package main\n\nfunc main() { println(42) }"}]}`
	doc := gjson.Parse(serve(t, h, pathChat, body).rec.Body())
	checkString(t, doc, "choices.0.finish_reason", "stop")
	if text := doc.Get("choices.0.message.content").Str; !strings.Contains(text, "The tool returned: “package main func main() { println(42)") {
		t.Errorf("text %q does not quote the tool result", text)
	}
}

func TestChatToolCallStream(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathChat, chatBody("gpt-4o", "open src/main.go", chatTools+`,"stream":true,"stream_options":{"include_usage":true}`))
	evs := eventsPerFlush(t, res.rec)
	var args strings.Builder
	argChunks, finish, usage := 0, "", false
	var text strings.Builder
	for _, ev := range evs {
		if ev.data == "[DONE]" {
			continue
		}
		d := gjson.Parse(ev.data)
		if d.Get("usage.completion_tokens").Exists() {
			usage = true
		}
		text.WriteString(d.Get("choices.0.delta.content").Str)
		for _, tc := range d.Get("choices.0.delta.tool_calls").Array() {
			if tc.Get("index").Int() != 0 {
				t.Errorf("tool call index %s", tc.Get("index").Raw)
			}
			if tc.Get("id").Exists() {
				checkString(t, tc, "function.name", "Read")
				checkString(t, tc, "type", "function")
			} else {
				argChunks++
			}
			args.WriteString(tc.Get("function.arguments").Str)
		}
		if f := d.Get("choices.0.finish_reason").Str; f != "" {
			finish = f
		}
	}
	if args.String() != `{"file_path":"src/main.go"}` || argChunks < 3 {
		t.Errorf("arguments %q in %d chunks", args.String(), argChunks)
	}
	if finish != "tool_calls" || !usage || evs[len(evs)-1].data != "[DONE]" || text.String() != "I'll use Read." {
		t.Errorf("finish %q, usage %v, text %q, last %q", finish, usage, text.String(), evs[len(evs)-1].data)
	}
}

func TestMessageToolUse(t *testing.T) {
	h := newTestHandler(0)
	doc := gjson.Parse(serve(t, h, pathMessages, messagesBody("claude-sonnet-4-5", "What does go.mod say?", messagesTools)).rec.Body())
	checkString(t, doc, "stop_reason", "tool_use")
	checkString(t, doc, "content.0.type", "text")
	use := doc.Get("content.1")
	checkString(t, use, "type", "tool_use")
	checkPrefix(t, use, "id", "toolu_01")
	checkString(t, use, "name", "Read")
	if use.Get("input").Raw != `{"file_path":"go.mod"}` {
		t.Errorf("input %s", use.Get("input").Raw)
	}
	// Without a path, the first client tool without effects (not the
	// server tool, not Bash).
	doc = gjson.Parse(serve(t, h, pathMessages, messagesBody("claude-sonnet-4-5", "hello", messagesTools)).rec.Body())
	if in := doc.Get("content.1.input").Raw; doc.Get("content.1.name").Str != "Read" || in != `{"file_path":"mock"}` {
		t.Errorf("call %s", doc.Get("content.1").Raw)
	}
}

func TestMessageToolUseStream(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathMessages, messagesBody("claude-sonnet-4-5", "Read ./docs/mock.md please", messagesTools+`,"stream":true`))
	evs := eventsPerFlush(t, res.rec)
	var names []string
	var input strings.Builder
	pieces := 0
	for _, ev := range evs {
		names = append(names, ev.name)
		d := gjson.Parse(ev.data)
		if ev.name == "content_block_start" && d.Get("index").Int() == 1 {
			checkString(t, d, "content_block.type", "tool_use")
			checkString(t, d, "content_block.name", "Read")
			if d.Get("content_block.input").Raw != "{}" {
				t.Errorf("tool_use start input %s", d.Get("content_block.input").Raw)
			}
		}
		if d.Get("delta.type").Str == "input_json_delta" {
			if d.Get("index").Int() != 1 {
				t.Errorf("input delta at index %d", d.Get("index").Int())
			}
			pieces++
			input.WriteString(d.Get("delta.partial_json").Str)
		}
		if ev.name == "message_delta" {
			checkString(t, d, "delta.stop_reason", "tool_use")
		}
	}
	var in map[string]string
	if err := json.Unmarshal([]byte(input.String()), &in); err != nil || in["file_path"] != "./docs/mock.md" || pieces < 3 {
		t.Errorf("input %q in %d pieces: %v", input.String(), pieces, err)
	}
	want := "message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_stop content_block_start"
	if got := strings.Join(names, " "); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "content_block_stop message_delta message_stop") {
		t.Errorf("events %s", got)
	}
}

func TestMessageToolResultAnswer(t *testing.T) {
	h := newTestHandler(0)
	body := `{"model":"claude-sonnet-4-5","max_tokens":1024,` + messagesTools + `,"messages":[{"role":"user","content":"read a.go"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"a.go"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"1\tpackage a"}]}]}]}`
	doc := gjson.Parse(serve(t, h, pathMessages, body).rec.Body())
	checkString(t, doc, "stop_reason", "end_turn")
	if text := doc.Get("content.0.text").Str; !strings.Contains(text, "The tool returned: “1 package a”") {
		t.Errorf("text %q", text)
	}
}

func TestToolCallStreamFault(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathChat, chatBody("mock-stream-error", "read a.go", chatTools))
	evs := eventsPerFlush(t, res.rec)
	if last := evs[len(evs)-1].data; !strings.HasPrefix(last, `{"error":`) {
		t.Errorf("mock-stream-error with tools ended with %q", last)
	}
}

func TestPathIn(t *testing.T) {
	for in, want := range map[string]string{
		"look at /repo/a.go please": "/repo/a.go",
		"what is in README.md?":     "README.md",
		"see https://x.com/a":       "",
		"version 1.2 is out":        "",
		"hello world.":              "",
		"(src/main.go)":             "src/main.go",
		"read Caddyfile.example":    "Caddyfile.example",
		"see notes.averylongext":    "",
		// Claude Code 2.1's first user turn: its reminder, then the prompt.
		"<system-reminder>\nAttribution: a CLAUDE.md or memory rule wins.\n</system-reminder>\n\nRead /work/notes.go please": "/work/notes.go",
		"<system-reminder>a.md</system-reminder> and b.md <system-reminder>c.md</system-reminder>":                           "b.md",
	} {
		if got := pathIn(in); got != want {
			t.Errorf("pathIn(%q) = %q, want %q", in, got, want)
		}
	}
}

// Claude Code 2.1 ends a turn with a system message holding its
// environment: the turn answered is still the user's, in both protocols.
func TestToolCallAfterTrailingSystemMessage(t *testing.T) {
	h := newTestHandler(0)
	env := `{"role":"system","content":[{"type":"text","text":"# Environment\nPrimary working directory: /tmp/w"}]}`
	chat := `{"model":"gpt-4o",` + chatTools + `,"messages":[{"role":"system","content":"You are Claude Code."},{"role":"user","content":"What is in /repo/go.mod?"},` + env + `]}`
	call := gjson.Parse(serve(t, h, pathChat, chat).rec.Body()).Get("choices.0.message.tool_calls.0.function")
	checkString(t, call, "name", "Read")
	checkString(t, call, "arguments", `{"file_path":"/repo/go.mod"}`)

	msgs := `{"model":"claude-sonnet-4-5","max_tokens":1024,` + messagesTools + `,"messages":[{"role":"user","content":"What is in /repo/go.mod?"},` + env + `]}`
	doc := gjson.Parse(serve(t, h, pathMessages, msgs).rec.Body())
	checkString(t, doc, "stop_reason", "tool_use")
	if in := doc.Get("content.1.input").Raw; in != `{"file_path":"/repo/go.mod"}` {
		t.Errorf("input %s", in)
	}

	result := `{"model":"gpt-4o",` + chatTools + `,"messages":[{"role":"user","content":"read a.go"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"a.go\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"package a"},` + env + `]}`
	text := gjson.Parse(serve(t, h, pathChat, result).rec.Body()).Get("choices.0.message.content").Str
	if !strings.Contains(text, "The tool returned: “package a”") {
		t.Errorf("text %q", text)
	}
}

// The reply quotes the user's words, not the reminder Claude Code puts
// before them.
func TestReplyQuotesPastReminders(t *testing.T) {
	h := newTestHandler(0)
	body := `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>\nAttribution for git commits\n</system-reminder>\n"},{"type":"text","text":"Hello there"}]}]}`
	text := gjson.Parse(serve(t, h, pathMessages, body).rec.Body()).Get("content.0.text").Str
	if !strings.Contains(text, "You said: “Hello there”.") {
		t.Errorf("text %q", text)
	}
}

// Claude Code's first tool is Agent, which starts a subagent, and Bash
// runs commands: the mock calls neither on its own; with only such tools
// it answers in text.
func TestFirstToolIsNoSubagent(t *testing.T) {
	h := newTestHandler(0)
	tools := `"tools":[{"name":"Agent","input_schema":{"type":"object","properties":{"description":{"type":"string"},"prompt":{"type":"string"}},"required":["description","prompt"]}},{"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}]`
	doc := gjson.Parse(serve(t, h, pathMessages, messagesBody("claude-sonnet-4-5", "hello", tools)).rec.Body())
	checkString(t, doc, "stop_reason", "end_turn")
	checkString(t, doc, "content.0.type", "text")
	if doc.Get("content.1").Exists() {
		t.Errorf("a tool was called: %s", doc.Get("content.1").Raw)
	}
	named := gjson.Parse(serve(t, h, pathMessages, messagesBody("claude-sonnet-4-5", "hello", tools+`,"tool_choice":{"type":"tool","name":"Agent"}`)).rec.Body())
	checkString(t, named, "content.1.name", "Agent")
}
