package translate

import (
	"github.com/tidwall/gjson"
)

// toAnthropic is the state of an OpenAI chunk stream translated for an
// Anthropic client. The client's grammar is
//
//	message_start ping (content_block_start content_block_delta* content_block_stop)* message_delta message_stop
//
// where each block's index is its position in the final content array
// (a counter of its own, whatever the upstream's tool-call indexes are),
// no delta follows its block's stop, and nothing follows message_stop.
//
// Text and thinking are one block at a time: a change from one to the
// other, or a tool call, stops the open one. Tool calls stay open until
// the end, because OpenAI providers may interleave the argument chunks
// of parallel calls (the gateways that close call 0 when call 1 starts
// then send call 0's later arguments to a stopped block: ENV, CCR); all
// open blocks are stopped in index order when the message ends.
//
// The end is held: finish_reason only records the stop reason, because
// the usage comes after it, in a chunk of its own (include_usage). The
// message ends on the first chunk with usage at or after the finish,
// or at End, with exactly one message_delta and one message_stop.
type toAnthropic struct {
	msgID, model string
	// next is the index of the next block; text and thinking are the
	// indexes of the open text or thinking block, or -1.
	next, text, thinking int
	calls                []toolCall
	// started counts the tool calls whose blocks were started.
	startedCalls int
	finished     bool
	finish       string
	use          usage
	// outBytes counts the text the client was sent, for an output
	// estimate when the provider reports no usage.
	outBytes int64
	// byID and byKey find a call by its upstream id and the latest call
	// of an upstream index; seenIDs are the ids the client was given.
	// Maps, not scans: an upstream may send any number of calls.
	byID    map[string]int
	byKey   map[int64]int
	seenIDs map[string]bool
	// toolBlocks are the block indexes of started tool calls.
	toolBlocks []int
}

// toolCall is one upstream tool call.
type toolCall struct {
	// key is the upstream's index of the call (its position in the
	// chunk's tool_calls when the index is missing); id is the
	// upstream's id.
	key      int64
	id, name string
	// block is the client's block index, -1 until the block starts
	// (once the name is known); pending holds arguments that arrived
	// before it.
	block   int
	pending []byte
}

// openAIChunk translates one chat.completion.chunk.
func (s *Stream) openAIChunk(data, out []byte) []byte {
	if data[0] != '{' {
		return out // [DONE], or not a chunk
	}
	a := &s.toAnthropic
	doc := gjson.Parse(view(data))
	var id, model, choices, usageObj gjson.Result
	hasUsage := false
	doc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v
		case "model":
			model = v
		case "choices":
			choices = v
		case "usage":
			usageObj = v
		case "x_groq":
			// Groq puts usage here when it was not asked for it.
			if u := v.Get("usage"); u.IsObject() && !usageObj.IsObject() {
				usageObj = u
			}
		}
		return true
	})
	if usageObj.IsObject() {
		readOpenAIUsage(usageObj, &a.use)
		hasUsage = true
	}
	if !s.started {
		s.started = true
		a.msgID = s.x.anthropicMessageID(id.Str)
		a.model = s.x.answerModel(model.Str)
		out = s.messageStart(out)
	}
	choice := choices.Get("0")
	if choice.IsObject() {
		var delta, finish gjson.Result
		choice.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "delta", "message":
				delta = v
			case "finish_reason":
				finish = v
			}
			return true
		})
		out = s.delta(delta, out)
		if finish.Type == gjson.String && finish.Str != "" && !a.finished {
			a.finished, a.finish = true, finish.Str
		}
	}
	if a.finished && hasUsage {
		out = s.closeMessage(out)
	}
	return out
}

func (s *Stream) messageStart(out []byte) []byte {
	a := &s.toAnthropic
	out = append(out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	out = appendString(out, a.msgID)
	out = append(out, `,"type":"message","role":"assistant","model":`...)
	out = appendString(out, a.model)
	out = append(out, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	u := a.use
	if !u.prompt {
		// Claude Code's context meter reads message_start; every
		// gateway that sends 0 here breaks it (sglang#20678).
		u.input = s.x.inputEstimate
	}
	u.output = 0
	out = u.appendAnthropic(out)
	out = append(out, "}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n"...)
	return out
}

// delta translates one choice delta: reasoning first, then text, then
// tool calls, as a provider means them when they share a chunk.
func (s *Stream) delta(d gjson.Result, out []byte) []byte {
	if !d.IsObject() {
		return out
	}
	var content, reasoning, refusal, calls gjson.Result
	d.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "content":
			content = v
		case "reasoning_content":
			reasoning = v
		case "reasoning":
			if !reasoning.Exists() {
				reasoning = v
			}
		case "refusal":
			refusal = v
		case "tool_calls":
			calls = v
		}
		return true
	})
	if reasoning.Type == gjson.String && reasoning.Str != "" {
		out = s.thinkingDelta(reasoning.Str, out)
	}
	if content.Type == gjson.String && content.Str != "" {
		out = s.textDelta(content.Str, out)
	}
	if refusal.Type == gjson.String && refusal.Str != "" {
		out = s.textDelta(refusal.Str, out)
	}
	pos := int64(0)
	calls.ForEach(func(_, c gjson.Result) bool {
		out = s.toolDelta(pos, c, out)
		pos++
		return true
	})
	return out
}

func (s *Stream) textDelta(t string, out []byte) []byte {
	a := &s.toAnthropic
	if a.text < 0 {
		out = s.stopBlock(&a.thinking, out)
		a.text = a.next
		a.next++
		out = appendBlockStart(out, a.text, `{"type":"text","text":""}`)
	}
	a.outBytes += int64(len(t))
	out = appendDeltaHead(out, a.text)
	out = append(out, `{"type":"text_delta","text":`...)
	out = appendString(out, t)
	return append(out, "}}\n\n"...)
}

func (s *Stream) thinkingDelta(t string, out []byte) []byte {
	a := &s.toAnthropic
	if a.thinking < 0 {
		out = s.stopBlock(&a.text, out)
		a.thinking = a.next
		a.next++
		out = appendBlockStart(out, a.thinking, `{"type":"thinking","thinking":"","signature":""}`)
	}
	a.outBytes += int64(len(t))
	out = appendDeltaHead(out, a.thinking)
	out = append(out, `{"type":"thinking_delta","thinking":`...)
	out = appendString(out, t)
	return append(out, "}}\n\n"...)
}

// stopBlock stops the text or thinking block *index names, if open.
func (s *Stream) stopBlock(index *int, out []byte) []byte {
	if *index < 0 {
		return out
	}
	out = appendBlockStop(out, *index)
	*index = -1
	return out
}

// toolDelta translates one element of a delta's tool_calls; pos is its
// position in the array. Which call it continues:
//
//   - the key is its index, or its position when the index is missing
//     (CLIProxyAPI#5058: without this, two calls' arguments concatenate);
//   - an id seen before names that call;
//   - a new id on a known key is a new call (ai-dynamo#4723: providers
//     that put every parallel call at index 0);
//   - without an id (Qwen sends "" after the first chunk, Gemini ""
//     always), a name on a key whose call already has one is a new
//     call (whole calls sent one per chunk), anything else continues
//     the key's latest call.
func (s *Stream) toolDelta(pos int64, c gjson.Result, out []byte) []byte {
	a := &s.toAnthropic
	key := pos
	var id, name, args string
	c.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "index":
			if v.Type == gjson.Number {
				key = v.Int()
			}
		case "id":
			id = v.Str
		case "function":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "name":
					name = v.Str
				case "arguments":
					args = v.Str
				}
				return true
			})
		}
		return true
	})
	call, ok := -1, false
	if id != "" {
		call, ok = a.byID[id]
	}
	if !ok {
		if call, ok = a.byKey[key]; ok {
			prev := &a.calls[call]
			if (id != "" && prev.id != "") || (id == "" && name != "" && prev.name != "") {
				ok = false
			}
		}
	}
	if !ok {
		if a.byKey == nil {
			a.byID, a.byKey, a.seenIDs = make(map[string]int), make(map[int64]int), make(map[string]bool)
		}
		a.calls = append(a.calls, toolCall{key: key, block: -1})
		call = len(a.calls) - 1
		a.byKey[key] = call
	}
	tc := &a.calls[call]
	if tc.id == "" && id != "" {
		tc.id = id
		a.byID[id] = call
	}
	if tc.name == "" {
		tc.name = name
	}
	if tc.block < 0 && tc.name != "" {
		out = s.startTool(tc, out)
	}
	if args == "" {
		return out
	}
	if tc.block < 0 {
		tc.pending = append(tc.pending, args...)
		return out
	}
	return s.argsDelta(tc.block, args, out)
}

// startTool starts the block of a tool call whose name is known.
func (s *Stream) startTool(tc *toolCall, out []byte) []byte {
	a := &s.toAnthropic
	out = s.stopBlock(&a.text, out)
	out = s.stopBlock(&a.thinking, out)
	tc.block = a.next
	a.next++
	a.startedCalls++
	a.toolBlocks = append(a.toolBlocks, tc.block)
	id := s.x.clientToolID(tc.id)
	if a.seenIDs[id] {
		id = s.x.clientToolID("")
	}
	a.seenIDs[id] = true
	out = append(out, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	out = appendInt(out, int64(tc.block))
	out = append(out, `,"content_block":{"type":"tool_use","id":`...)
	out = appendString(out, id)
	out = append(out, `,"name":`...)
	out = appendString(out, s.x.clientName(tc.name))
	out = append(out, ",\"input\":{}}}\n\n"...)
	if len(tc.pending) > 0 {
		out = s.argsDelta(tc.block, view(tc.pending), out)
		tc.pending = nil
	}
	return out
}

func (s *Stream) argsDelta(block int, args string, out []byte) []byte {
	s.toAnthropic.outBytes += int64(len(args))
	out = appendDeltaHead(out, block)
	out = append(out, `{"type":"input_json_delta","partial_json":`...)
	out = appendString(out, args)
	return append(out, "}}\n\n"...)
}

// closeMessage stops every open block in index order, then sends the
// one message_delta (stop reason and usage) and message_stop.
func (s *Stream) closeMessage(out []byte) []byte {
	a := &s.toAnthropic
	// Tool blocks are started in index order, so toolBlocks is sorted;
	// the open text or thinking block (at most one) goes in its place.
	for _, i := range a.toolBlocks {
		if a.text >= 0 && a.text < i {
			out = s.stopBlock(&a.text, out)
		}
		if a.thinking >= 0 && a.thinking < i {
			out = s.stopBlock(&a.thinking, out)
		}
		out = appendBlockStop(out, i)
	}
	out = s.stopBlock(&a.text, out)
	out = s.stopBlock(&a.thinking, out)
	u := a.use
	if !u.prompt {
		u.input = s.x.inputEstimate
	}
	if !u.done {
		u.output = (a.outBytes + 3) / 4
	}
	out = append(out, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	out = append(out, anthropicStopReason(a.finish, a.startedCalls > 0)...)
	out = append(out, `","stop_sequence":null},"usage":`...)
	out = u.appendAnthropic(out)
	out = append(out, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	s.done = true
	return out
}

func appendBlockStart(out []byte, index int, block string) []byte {
	out = append(out, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	out = appendInt(out, int64(index))
	out = append(out, `,"content_block":`...)
	out = append(out, block...)
	return append(out, "}\n\n"...)
}

func appendDeltaHead(out []byte, index int) []byte {
	out = append(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	out = appendInt(out, int64(index))
	return append(out, `,"delta":`...)
}

func appendBlockStop(out []byte, index int) []byte {
	out = append(out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	out = appendInt(out, int64(index))
	return append(out, "}\n\n"...)
}
