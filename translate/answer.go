package translate

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// openAIAnswerToAnthropic writes an Anthropic message for an OpenAI chat
// completion. Content comes in Anthropic's order: thinking (from
// reasoning_content or reasoning), text, then tool_use blocks. Tool-call
// arguments that are not a JSON object become {} (Anthropic's input
// must be an object; claude-code#6695).
func (x *Exchange) openAIAnswerToAnthropic(body []byte) ([]byte, error) {
	doc := gjson.Parse(view(body))
	if !doc.IsObject() {
		return nil, unreadable("The provider's answer is not a JSON object.")
	}
	choice := doc.Get("choices.0")
	if !choice.IsObject() {
		return nil, unreadable("The provider's answer has no choices.")
	}
	msg := choice.Get("message")
	b := make([]byte, 0, len(body)+256)
	b = append(b, `{"id":`...)
	b = appendString(b, x.anthropicMessageID(doc.Get("id").Str))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendString(b, x.answerModel(doc.Get("model").Str))
	b = append(b, `,"content":[`...)
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	if r := reasoningOf(msg); r.Str != "" {
		sep()
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendStringValue(b, r)
		b = append(b, `,"signature":""}`...)
	}
	texts := 0
	eachText(msg.Get("content"), func(t gjson.Result) {
		if texts == 0 {
			sep()
			b = append(b, `{"type":"text","text":"`...)
		}
		texts++
		b = appendInner(b, t)
	})
	if r := msg.Get("refusal"); r.Type == gjson.String && r.Str != "" {
		if texts == 0 {
			sep()
			b = append(b, `{"type":"text","text":"`...)
		}
		texts++
		b = appendInner(b, r)
	}
	if texts > 0 {
		b = append(b, `"}`...)
	}
	calls := 0
	var seen []string
	msg.Get("tool_calls").ForEach(func(_, c gjson.Result) bool {
		calls++
		sep()
		id := x.clientToolID(c.Get("id").Str)
		for _, s := range seen {
			if s == id {
				id = x.clientToolID("")
				break
			}
		}
		seen = append(seen, id)
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendString(b, id)
		b = append(b, `,"name":`...)
		b = appendString(b, x.clientName(c.Get("function.name").Str))
		b = append(b, `,"input":`...)
		b = appendInput(b, c.Get("function.arguments").Str)
		b = append(b, '}')
		return true
	})
	b = append(b, `],"stop_reason":"`...)
	b = append(b, anthropicStopReason(choice.Get("finish_reason").Str, calls > 0)...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	var u usage
	readOpenAIUsage(doc.Get("usage"), &u)
	b = u.appendAnthropic(b)
	return append(b, '}'), nil
}

// reasoningOf is a message's or delta's reasoning text: reasoning_content
// (DeepSeek, vLLM, Groq's parsed format) or reasoning (OpenRouter).
func reasoningOf(m gjson.Result) gjson.Result {
	if r := m.Get("reasoning_content"); r.Type == gjson.String {
		return r
	}
	return m.Get("reasoning")
}

// appendInput appends tool-call arguments as an Anthropic input object.
func appendInput(b []byte, args string) []byte {
	if r := gjson.Parse(args); r.IsObject() && gjson.Valid(args) {
		return append(b, args...)
	}
	return append(b, "{}"...)
}

// anthropicAnswerToOpenAI writes an OpenAI chat completion for an
// Anthropic message: all text blocks concatenated into content (null
// when there is none), thinking as reasoning_content, tool_use blocks as
// tool_calls. Blocks of Anthropic's server tools are left out.
func (x *Exchange) anthropicAnswerToOpenAI(body []byte) ([]byte, error) {
	doc := gjson.Parse(view(body))
	content := doc.Get("content")
	if !doc.IsObject() || !content.IsArray() {
		return nil, unreadable("The provider's answer is not an Anthropic message.")
	}
	b := make([]byte, 0, len(body)+256)
	b = append(b, `{"id":`...)
	b = appendString(b, x.openAIChatID(doc.Get("id").Str))
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, x.now().Unix(), 10)
	b = append(b, `,"model":`...)
	b = appendString(b, x.answerModel(doc.Get("model").Str))
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	texts, thoughts, calls := 0, 0, 0
	content.ForEach(func(_, blk gjson.Result) bool {
		switch blk.Get("type").Str {
		case "text":
			texts++
		case "thinking":
			thoughts++
		case "tool_use":
			calls++
		}
		return true
	})
	if texts > 0 {
		b = joinBlocks(b, content, "text", "text")
	} else {
		b = append(b, "null"...)
	}
	if thoughts > 0 {
		b = append(b, `,"reasoning_content":`...)
		b = joinBlocks(b, content, "thinking", "thinking")
	}
	if calls > 0 {
		b = append(b, `,"tool_calls":[`...)
		n := 0
		content.ForEach(func(_, blk gjson.Result) bool {
			if blk.Get("type").Str != "tool_use" {
				return true
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"id":`...)
			b = appendString(b, x.clientToolID(blk.Get("id").Str))
			b = append(b, `,"type":"function","function":{"name":`...)
			b = appendStringValue(b, blk.Get("name"))
			b = append(b, `,"arguments":`...)
			if in := blk.Get("input"); in.IsObject() {
				b = appendCompactString(b, in.Raw)
			} else {
				b = append(b, `"{}"`...)
			}
			b = append(b, "}}"...)
			return true
		})
		b = append(b, ']')
	}
	b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":"`...)
	b = append(b, openAIFinishReason(doc.Get("stop_reason").Str, calls > 0)...)
	b = append(b, `"}],"usage":`...)
	var u usage
	readAnthropicUsage(doc.Get("usage"), &u)
	b = u.appendOpenAI(b)
	return append(b, '}'), nil
}

// joinBlocks appends the key field of every block of type typ, joined
// into one string literal.
func joinBlocks(b []byte, content gjson.Result, typ, key string) []byte {
	b = append(b, '"')
	content.ForEach(func(_, blk gjson.Result) bool {
		if blk.Get("type").Str == typ {
			b = appendInner(b, blk.Get(key))
		}
		return true
	})
	return append(b, '"')
}
