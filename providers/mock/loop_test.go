package mock

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/translate"
)

// TestClaudeCodeLoopOnOpenAIMock plays Claude Code's tool loop against
// a mock of type openai, through the translator, as the gateway does on
// a route from /v1/messages to an OpenAI-protocol provider: the
// Anthropic request becomes a chat completion, the mock's stream of
// chunks becomes Anthropic events. First turn: a tool call to Read;
// second turn, with the tool result: text quoting it, end_turn.
func TestClaudeCodeLoopOnOpenAIMock(t *testing.T) {
	body, err := os.ReadFile("../../testdata/requests/claude_code.json")
	if err != nil {
		t.Fatal(err)
	}
	// Claude Code's request ends with a tool result; a new user turn
	// asking for a file makes the first turn of a loop.
	firstTurn, _ := sjson.SetRawBytes(body, "messages.-1", []byte(`{"role":"user","content":[{"type":"text","text":"Now read /home/dev/gateway/retry.go"}]}`))
	// messages.-1 appends in sjson; drop the tool-result turn before it.
	msgs := gjson.GetBytes(firstTurn, "messages").Array()
	firstTurn, _ = sjson.DeleteBytes(firstTurn, "messages."+strconv.Itoa(len(msgs)-2))

	events := loopTurn(t, firstTurn)
	var use gjson.Result
	var input strings.Builder
	stop := ""
	for _, ev := range events {
		d := gjson.Parse(ev.data)
		switch ev.name {
		case "content_block_start":
			if d.Get("content_block.type").Str == "tool_use" {
				use = d.Get("content_block")
			}
		case "content_block_delta":
			input.WriteString(d.Get("delta.partial_json").Str)
		case "message_delta":
			stop = d.Get("delta.stop_reason").Str
		}
	}
	if use.Get("name").Str != "Read" || input.String() != `{"file_path":"/home/dev/gateway/retry.go"}` || stop != "tool_use" {
		t.Fatalf("first turn: tool %s, input %q, stop %q", use.Raw, input.String(), stop)
	}
	if events[0].name != "message_start" || gjson.Get(events[0].data, "message.usage.input_tokens").Int() < 1000 {
		t.Errorf("message_start %s: want the prompt estimate", events[0].data)
	}

	// Second turn: Claude Code runs Read and sends its result back.
	call := `{"role":"assistant","content":[{"type":"tool_use","id":` + use.Get("id").Raw + `,"name":"Read","input":{"file_path":"/home/dev/gateway/retry.go"}}]}`
	result := `{"role":"user","content":[{"type":"tool_result","tool_use_id":` + use.Get("id").Raw + `,"content":"1\tpackage llmgateway\n2\t// Retry: five attempts"}]}`
	second, _ := sjson.SetRawBytes(firstTurn, "messages.-1", []byte(call))
	second, _ = sjson.SetRawBytes(second, "messages.-1", []byte(result))
	events = loopTurn(t, second)
	var text strings.Builder
	stop = ""
	for _, ev := range events {
		d := gjson.Parse(ev.data)
		if d.Get("content_block.type").Str == "tool_use" {
			t.Errorf("second turn called a tool again")
		}
		text.WriteString(d.Get("delta.text").Str)
		if ev.name == "message_delta" {
			stop = d.Get("delta.stop_reason").Str
		}
	}
	if !strings.Contains(text.String(), "The tool returned: “1 package llmgateway 2 // Retry:") || stop != "end_turn" {
		t.Errorf("second turn: text %q, stop %q", text.String(), stop)
	}
}

// loopTurn sends an Anthropic request through the translator to the
// mock's chat completions endpoint and returns the Anthropic events the
// client receives.
func loopTurn(t *testing.T, anthropicBody []byte) []sseEvent {
	t.Helper()
	x := translate.New(providers.Anthropic, providers.OpenAI, translate.Target{ProviderType: "mock", Model: "gpt-4o"})
	up, err := x.Request(anthropicBody)
	if err != nil {
		t.Fatal(err)
	}
	if !gjson.GetBytes(up, "stream_options.include_usage").Bool() {
		t.Errorf("the translated request does not ask for stream usage")
	}
	res := serve(t, newTestHandler(0), pathChat, string(up))
	s := x.Stream()
	var out []byte
	for _, ev := range eventsPerFlush(t, res.rec) {
		if ev.data == "[DONE]" {
			break
		}
		out = s.Event([]byte(ev.name), []byte(ev.data), out)
	}
	out, err = s.End(out)
	if err != nil {
		t.Fatalf("End: %v", err)
	}
	return parseSSE(t, string(out))
}
