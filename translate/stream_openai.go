package translate

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// toOpenAI is the state of an Anthropic event stream translated for an
// OpenAI client. Every chunk carries the same id, created time and
// model; tool calls are numbered from 0 by a counter of their own (the
// Anthropic block index counts text blocks too: a client that used it
// would see index 1 for the first call); the finish_reason comes once,
// on a chunk of its own at message_stop, then the usage chunk when the
// client asked for one (stream_options.include_usage), then [DONE].
type toOpenAI struct {
	head []byte // `data: {"id":…,"object":…,"created":…,"model":…,"choices":[`
	// blocks is the kind of each Anthropic content block by index.
	blocks []blockKind
	tools  int
	use    usage
	stop   string
	// stopped is set by a message_delta with a stop reason: the answer
	// is complete even if message_stop does not follow.
	stopped bool
}

type blockKind struct {
	kind uint8
	// tool is the OpenAI tool-call index of a tool_use block.
	tool int
}

const (
	kindIgnored uint8 = iota
	kindText
	kindThinking
	kindTool
)

// maxBlocks bounds the block table against an index no real answer has.
const maxBlocks = 4096

func (s *Stream) anthropicEvent(name, data, out []byte) []byte {
	if data[0] != '{' {
		return out
	}
	o := &s.toOpenAI
	doc := gjson.Parse(view(data))
	typ := doc.Get("type").Str
	if typ == "" {
		typ = view(name)
	}
	if !s.started && typ != "ping" {
		s.started = true
		msg := doc.Get("message")
		readAnthropicUsage(msg.Get("usage"), &o.use)
		o.head = append(o.head[:0], `data: {"id":`...)
		o.head = appendString(o.head, s.x.openAIChatID(msg.Get("id").Str))
		o.head = append(o.head, `,"object":"chat.completion.chunk","created":`...)
		o.head = strconv.AppendInt(o.head, s.x.now().Unix(), 10)
		o.head = append(o.head, `,"model":`...)
		o.head = appendString(o.head, s.x.answerModel(msg.Get("model").Str))
		o.head = append(o.head, `,"choices":[`...)
		out = s.chunk(out, `{"role":"assistant","content":""}`, "")
		if typ == "message_start" {
			return out
		}
	}
	switch typ {
	case "content_block_start":
		i := doc.Get("index").Int()
		if i < 0 || i >= maxBlocks {
			return out
		}
		for int64(len(o.blocks)) <= i {
			o.blocks = append(o.blocks, blockKind{})
		}
		blk := doc.Get("content_block")
		switch blk.Get("type").Str {
		case "text":
			o.blocks[i] = blockKind{kind: kindText}
			if t := blk.Get("text").Str; t != "" {
				out = s.contentChunk(out, "content", t)
			}
		case "thinking":
			o.blocks[i] = blockKind{kind: kindThinking}
		case "tool_use":
			o.blocks[i] = blockKind{kind: kindTool, tool: o.tools}
			o.tools++
			out = s.toolStartChunk(out, o.blocks[i].tool, blk)
		default:
			o.blocks[i] = blockKind{}
		}
	case "content_block_delta":
		i := doc.Get("index").Int()
		if i < 0 || i >= int64(len(o.blocks)) {
			return out
		}
		blk := o.blocks[i]
		d := doc.Get("delta")
		switch d.Get("type").Str {
		case "text_delta":
			if blk.kind == kindText {
				if t := d.Get("text").Str; t != "" {
					out = s.contentChunk(out, "content", t)
				}
			}
		case "thinking_delta":
			if blk.kind == kindThinking {
				if t := d.Get("thinking").Str; t != "" {
					out = s.contentChunk(out, "reasoning_content", t)
				}
			}
		case "input_json_delta":
			if blk.kind == kindTool {
				if p := d.Get("partial_json").Str; p != "" {
					out = s.argsChunk(out, blk.tool, p)
				}
			}
		}
	case "message_delta":
		if r := doc.Get("delta.stop_reason"); r.Type == gjson.String {
			o.stop, o.stopped = r.Str, true
		}
		readAnthropicUsage(doc.Get("usage"), &o.use)
	case "message_stop":
		out = s.closeChunks(out)
	}
	return out
}

// chunk appends one chunk with delta (raw JSON) and finish ("" for null).
func (s *Stream) chunk(out []byte, delta, finish string) []byte {
	out = append(out, s.toOpenAI.head...)
	out = append(out, `{"index":0,"delta":`...)
	out = append(out, delta...)
	out = append(out, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		out = append(out, "null"...)
	} else {
		out = append(out, '"')
		out = append(out, finish...)
		out = append(out, '"')
	}
	return append(out, "}]}\n\n"...)
}

func (s *Stream) contentChunk(out []byte, key, text string) []byte {
	out = append(out, s.toOpenAI.head...)
	out = append(out, `{"index":0,"delta":{"`...)
	out = append(out, key...)
	out = append(out, `":`...)
	out = appendString(out, text)
	return append(out, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n"...)
}

func (s *Stream) toolStartChunk(out []byte, index int, blk gjson.Result) []byte {
	out = append(out, s.toOpenAI.head...)
	out = append(out, `{"index":0,"delta":{"tool_calls":[{"index":`...)
	out = appendInt(out, int64(index))
	out = append(out, `,"id":`...)
	out = appendString(out, s.x.clientToolID(blk.Get("id").Str))
	out = append(out, `,"type":"function","function":{"name":`...)
	out = appendString(out, blk.Get("name").Str)
	out = append(out, `,"arguments":`...)
	// Anthropic streams start a tool_use with an empty input and send
	// it in input_json_delta events; a non-empty one is sent here.
	if in := blk.Get("input"); nonEmptyObject(in) {
		out = appendString(out, in.Raw)
	} else {
		out = append(out, `""`...)
	}
	return append(out, "}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n"...)
}

func (s *Stream) argsChunk(out []byte, index int, args string) []byte {
	out = append(out, s.toOpenAI.head...)
	out = append(out, `{"index":0,"delta":{"tool_calls":[{"index":`...)
	out = appendInt(out, int64(index))
	out = append(out, `,"function":{"arguments":`...)
	out = appendString(out, args)
	return append(out, "}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n"...)
}

// closeChunks appends the finish chunk, the usage chunk when the client
// asked for it, and [DONE].
func (s *Stream) closeChunks(out []byte) []byte {
	o := &s.toOpenAI
	out = s.chunk(out, "{}", openAIFinishReason(o.stop, o.tools > 0))
	if s.x.includeUsage {
		head := o.head[:len(o.head)-len(`"choices":[`)]
		out = append(out, head...)
		out = append(out, `"choices":[],"usage":`...)
		out = o.use.appendOpenAI(out)
		out = append(out, "}\n\n"...)
	}
	out = append(out, "data: [DONE]\n\n"...)
	s.done = true
	return out
}

func nonEmptyObject(r gjson.Result) bool {
	found := false
	if r.IsObject() {
		r.ForEach(func(_, _ gjson.Result) bool { found = true; return false })
	}
	return found
}
