package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/tidwall/gjson"
)

// anthropicToOpenAI writes an OpenAI chat completion request for an
// Anthropic Messages request. The body is written from scratch: only
// the fields below reach the provider, so Anthropic-only parts
// (cache_control, thinking blocks, signatures, top_k, service_tier,
// container, anthropic metadata...) are dropped by construction.
func (x *Exchange) anthropicToOpenAI(body []byte) ([]byte, error) {
	doc := gjson.Parse(view(body))
	if !doc.IsObject() {
		return nil, x.refuse("body", "is not a JSON object")
	}
	var f struct {
		system, messages, tools, toolChoice, stop, temperature, topP, topK,
		maxTokens, metadata, stream, thinking, outputFormat gjson.Result
	}
	var refusal error
	each(doc, func(k, v gjson.Result) bool {
		switch k.Str {
		case "system":
			f.system = v
		case "messages":
			f.messages = v
		case "tools":
			f.tools = v
		case "tool_choice":
			f.toolChoice = v
		case "stop_sequences":
			f.stop = v
		case "temperature":
			f.temperature = v
		case "top_p":
			f.topP = v
		case "top_k":
			f.topK = v
		case "max_tokens":
			f.maxTokens = v
		case "metadata":
			f.metadata = v
		case "stream":
			f.stream = v
		case "thinking":
			f.thinking = v
		case "output_format":
			f.outputFormat = v
		case "mcp_servers":
			if v.IsArray() && len(v.Array()) > 0 {
				refusal = x.refuse("mcp_servers", "lists MCP servers for Anthropic to connect to")
				return false
			}
		}
		return true
	})
	if refusal != nil {
		return nil, refusal
	}
	x.stream = f.stream.Bool()
	if x.stream {
		x.inputEstimate = CountTokens(body)
	}

	w := a2o{x: x, b: make([]byte, 0, len(body)+len(body)/16+256)}
	w.b = append(w.b, `{"model":`...)
	w.b = appendString(w.b, x.target.Model)
	w.b = append(w.b, `,"messages":[`...)
	w.system(f.system)
	var err error
	each(f.messages, func(i, m gjson.Result) bool {
		err = w.message(int(i.Int()), m)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	w.b = append(w.b, ']')

	model := x.target.Model
	reasoningModel := x.quirks.completionTokens != nil && x.quirks.completionTokens(model)
	if f.maxTokens.Exists() {
		if reasoningModel {
			w.b = append(w.b, `,"max_completion_tokens":`...)
		} else {
			w.b = append(w.b, `,"max_tokens":`...)
		}
		w.b = appendInt(w.b, x.clampMaxTokens(f.maxTokens.Int()))
	}
	// OpenAI's reasoning models take only the default sampling; a
	// temperature of 1 (Claude Code's) is that default.
	if isNumber(f.temperature) && (!reasoningModel || f.temperature.Float() == 1) {
		w.b = append(w.b, `,"temperature":`...)
		w.b = append(w.b, f.temperature.Raw...)
	}
	if isNumber(f.topP) && !reasoningModel {
		w.b = append(w.b, `,"top_p":`...)
		w.b = append(w.b, f.topP.Raw...)
	}
	if isNumber(f.topK) && x.quirks.topK {
		w.b = append(w.b, `,"top_k":`...)
		w.b = append(w.b, f.topK.Raw...)
	}
	if f.stop.IsArray() && len(f.stop.Array()) > 0 {
		w.b = append(w.b, `,"stop":[`...)
		n := 0
		each(f.stop, func(_, s gjson.Result) bool {
			if s.Type == gjson.String {
				if n > 0 {
					w.b = append(w.b, ',')
				}
				n++
				w.b = appendStringValue(w.b, s)
			}
			return true
		})
		w.b = append(w.b, ']')
	}
	if x.stream {
		w.b = append(w.b, `,"stream":true`...)
		if x.quirks.streamUsage {
			w.b = append(w.b, `,"stream_options":{"include_usage":true}`...)
		}
	}
	if err := w.tools(f.tools, f.toolChoice); err != nil {
		return nil, err
	}
	if user := get(f.metadata, "user_id"); user.Type == gjson.String && user.Str != "" && x.quirks.user {
		w.b = append(w.b, `,"user":`...)
		w.b = appendString(w.b, openAIUser(decoded(user)))
	}
	if effort := reasoningEffort(f.thinking); effort != "" && x.quirks.reasoning != nil && x.quirks.reasoning(model) {
		w.b = append(w.b, `,"reasoning_effort":"`...)
		w.b = append(w.b, effort...)
		w.b = append(w.b, '"')
	}
	if s := get(f.outputFormat, "schema"); get(f.outputFormat, "type").Str == "json_schema" && s.IsObject() {
		w.b = append(w.b, `,"response_format":{"type":"json_schema","json_schema":{"name":"output","schema":`...)
		w.b = append(w.b, s.Raw...)
		w.b = append(w.b, "}}"...)
	} else if f.outputFormat.Exists() && f.outputFormat.Type != gjson.Null {
		return nil, x.refuse("output_format", "is not a json_schema output format")
	}
	return append(w.b, '}'), nil
}

// maxUser is the longest `user` OpenAI takes (bifrost#1000 documents
// the 64-character limit). Claude Code's metadata.user_id is longer, so
// a long one is sent as a stable pseudonym: the first 32 hex digits of
// its SHA-256, the same on every request of the user.
const maxUser = 64

func openAIUser(id string) string {
	if len(id) <= maxUser {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// reasoningEffort is the reasoning_effort for Anthropic's thinking
// setting, or "": a budget up to 2048 tokens is low, up to 8192 medium,
// more high (Claude Code's 31999 is high); adaptive thinking is medium.
func reasoningEffort(t gjson.Result) string {
	switch get(t, "type").Str {
	case "enabled":
		switch n := get(t, "budget_tokens").Int(); {
		case n <= 2048:
			return "low"
		case n <= 8192:
			return "medium"
		default:
			return "high"
		}
	case "adaptive":
		return "medium"
	}
	return ""
}

// a2o writes the messages and tools of an OpenAI request.
type a2o struct {
	x *Exchange
	b []byte
	// n counts the messages written.
	n int
	// functions counts the tools written; serverTools are the names of
	// the Anthropic server tools the request offered (and which were
	// dropped).
	functions   int
	serverTools []string
}

func (w *a2o) open(role string) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, `{"role":"`...)
	w.b = append(w.b, role...)
	w.b = append(w.b, `","content":`...)
}

// system writes the system prompt, a string or text blocks, as one
// system message: blocks are joined with a blank line between them
// (Claude Code sends two, the identity line and the instructions, which
// joined without a separator would run into each other).
func (w *a2o) system(s gjson.Result) {
	switch {
	case s.Type == gjson.String:
		if s.Str != "" {
			w.open("system")
			w.b = appendStringValue(w.b, s)
			w.b = append(w.b, '}')
		}
	case s.IsArray():
		if !hasText(s) {
			return
		}
		w.open("system")
		w.joinTexts(s, "\\n\\n")
		w.b = append(w.b, '}')
	}
}

// hasText reports whether blocks hold a non-empty text block.
func hasText(blocks gjson.Result) bool {
	found := false
	each(blocks, func(_, blk gjson.Result) bool {
		if get(blk, "type").Str == "text" && get(blk, "text").Str != "" {
			found = true
		}
		return !found
	})
	return found
}

// joinTexts writes the non-empty text blocks of blocks as one string
// literal, sep (already escaped) between them.
func (w *a2o) joinTexts(blocks gjson.Result, sep string) {
	w.b = append(w.b, '"')
	n := 0
	each(blocks, func(_, blk gjson.Result) bool {
		if get(blk, "type").Str != "text" {
			return true
		}
		t := get(blk, "text")
		if t.Str == "" {
			return true
		}
		if n > 0 {
			w.b = append(w.b, sep...)
		}
		n++
		w.b = appendInner(w.b, t)
		return true
	})
	w.b = append(w.b, '"')
}

func field(prefix string, i int) string { return prefix + "[" + strconv.Itoa(i) + "]" }

func (w *a2o) message(i int, m gjson.Result) error {
	role := get(m, "role").Str
	content := get(m, "content")
	at := field("messages", i)
	switch role {
	case "user":
		if content.Type == gjson.String {
			w.open("user")
			w.b = appendStringValue(w.b, content)
			w.b = append(w.b, '}')
			return nil
		}
		return w.userBlocks(at, content)
	case "assistant":
		if content.Type == gjson.String {
			if content.Str != "" {
				w.open("assistant")
				w.b = appendStringValue(w.b, content)
				w.b = append(w.b, '}')
			}
			return nil
		}
		return w.assistantBlocks(at, content)
	case "system":
		return w.systemMessage(at, content)
	}
	return invalid(at+".role", "is "+strconv.Quote(role)+"; Anthropic messages are user, assistant or system turns")
}

// systemMessage writes a system message of the conversation (Claude
// Code 2.1 sends its environment as one after the first user turn) as
// an OpenAI system message in the same place, which OpenAI takes
// anywhere: its text, blocks joined as the system field's are.
func (w *a2o) systemMessage(at string, content gjson.Result) error {
	if content.Type == gjson.String {
		if content.Str != "" {
			w.open("system")
			w.b = appendStringValue(w.b, content)
			w.b = append(w.b, '}')
		}
		return nil
	}
	var err error
	each(content, func(j, blk gjson.Result) bool {
		if t := get(blk, "type").Str; t != "text" {
			err = w.x.refuse(field(at+".content", int(j.Int())), "is a "+strconv.Quote(t)+" block in a system message")
		}
		return err == nil
	})
	if err != nil || !hasText(content) {
		return err
	}
	w.open("system")
	w.joinTexts(content, "\\n\\n")
	w.b = append(w.b, '}')
	return nil
}

// userBlocks writes a user turn: each tool_result first, as a tool
// message of its own (OpenAI wants the tool messages right after the
// assistant's tool calls), then one user message with the turn's text,
// images and documents, and the images the tool results carried (a
// tool message holds only text).
func (w *a2o) userBlocks(at string, blocks gjson.Result) error {
	var err error
	parts, images := 0, 0
	each(blocks, func(j, blk gjson.Result) bool {
		switch t := get(blk, "type").Str; t {
		case "tool_result":
			var n int
			n, err = w.toolResult(field(at+".content", int(j.Int())), blk)
			images += n
		case "text":
			if get(blk, "text").Str != "" {
				parts++
			}
		case "image":
			images++
			parts++
		case "document":
			parts++
		default:
			err = w.x.refuse(field(at+".content", int(j.Int())), "is a "+strconv.Quote(t)+" block")
		}
		return err == nil
	})
	if err != nil || parts+images == 0 {
		return err
	}
	w.open("user")
	if images == 0 && !hasDocument(blocks) {
		w.joinTexts(blocks, "\\n\\n")
		w.b = append(w.b, '}')
		return nil
	}
	w.b = append(w.b, '[')
	n := 0
	each(blocks, func(j, blk gjson.Result) bool {
		switch get(blk, "type").Str {
		case "text":
			if t := get(blk, "text"); t.Str != "" {
				n = w.sepPart(n)
				w.b = append(w.b, `{"type":"text","text":`...)
				w.b = appendStringValue(w.b, t)
				w.b = append(w.b, '}')
			}
		case "image":
			n = w.sepPart(n)
			err = w.image(field(at+".content", int(j.Int())), get(blk, "source"))
		case "document":
			n = w.sepPart(n)
			err = w.document(field(at+".content", int(j.Int())), blk)
		case "tool_result":
			c := get(blk, "content")
			each(c, func(k, part gjson.Result) bool {
				if get(part, "type").Str == "image" {
					n = w.sepPart(n)
					err = w.image(field(field(at+".content", int(j.Int()))+".content", int(k.Int())), get(part, "source"))
				}
				return err == nil
			})
		}
		return err == nil
	})
	w.b = append(w.b, "]}"...)
	return err
}

func hasDocument(blocks gjson.Result) bool {
	found := false
	each(blocks, func(_, blk gjson.Result) bool {
		found = get(blk, "type").Str == "document"
		return !found
	})
	return found
}

func (w *a2o) sepPart(n int) int {
	if n > 0 {
		w.b = append(w.b, ',')
	}
	return n + 1
}

// toolResult writes a tool message for one tool_result block and
// returns how many images it held (they go in the user message after).
// OpenAI has no is_error: a failed tool's text starts with "Error: ",
// so the model still knows the call failed.
func (w *a2o) toolResult(at string, blk gjson.Result) (images int, err error) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, `{"role":"tool","tool_call_id":`...)
	w.b = appendString(w.b, w.x.upstreamToolID(decoded(get(blk, "tool_use_id"))))
	w.b = append(w.b, `,"content":"`...)
	isError := get(blk, "is_error").Bool()
	if isError {
		w.b = append(w.b, "Error: "...)
	}
	mark := len(w.b)
	c := get(blk, "content")
	switch {
	case c.Type == gjson.String:
		w.b = appendInner(w.b, c)
	case c.IsArray():
		n := 0
		each(c, func(k, part gjson.Result) bool {
			switch t := get(part, "type").Str; t {
			case "text":
				if n > 0 {
					w.b = append(w.b, `\n`...)
				}
				n++
				w.b = appendInner(w.b, get(part, "text"))
			case "image":
				images++
			default:
				err = w.x.refuse(field(at+".content", int(k.Int())), "is a "+strconv.Quote(t)+" block inside a tool result")
			}
			return err == nil
		})
		if images > 0 {
			if n > 0 {
				w.b = append(w.b, `\n`...)
			}
			w.b = append(w.b, "(the image this tool returned follows in the next user message)"...)
		}
	}
	if isError && len(w.b) == mark {
		w.b = w.b[:mark-2] // "Error" alone for a failed call with no output
	}
	w.b = append(w.b, `"}`...)
	return images, err
}

// image writes an image part: base64 data as a data URL, a URL as it is.
func (w *a2o) image(at string, src gjson.Result) error {
	switch get(src, "type").Str {
	case "base64":
		w.b = append(w.b, `{"type":"image_url","image_url":{"url":"data:`...)
		w.b = appendInner(w.b, get(src, "media_type"))
		w.b = append(w.b, ";base64,"...)
		w.b = appendInner(w.b, get(src, "data"))
		w.b = append(w.b, `"}}`...)
	case "url":
		w.b = append(w.b, `{"type":"image_url","image_url":{"url":`...)
		w.b = appendStringValue(w.b, get(src, "url"))
		w.b = append(w.b, "}}"...)
	default:
		return w.x.refuse(at+".source", "is an image of source type "+strconv.Quote(get(src, "type").Str))
	}
	return nil
}

// document writes a document block: plain text as text; a PDF as a file
// part for the providers that take one (OpenAI, OpenRouter).
func (w *a2o) document(at string, blk gjson.Result) error {
	src := get(blk, "source")
	switch get(src, "type").Str {
	case "text":
		w.b = append(w.b, `{"type":"text","text":`...)
		w.b = appendStringValue(w.b, get(src, "data"))
		w.b = append(w.b, '}')
		return nil
	case "content":
		w.b = append(w.b, `{"type":"text","text":`...)
		w.joinTexts(get(src, "content"), "\\n")
		w.b = append(w.b, '}')
		return nil
	case "base64":
		if w.x.quirks.fileParts && get(src, "media_type").Str == "application/pdf" {
			w.b = append(w.b, `{"type":"file","file":{"filename":`...)
			name := decoded(get(blk, "title"))
			if name == "" {
				name = "document.pdf"
			}
			w.b = appendString(w.b, name)
			w.b = append(w.b, `,"file_data":"data:application/pdf;base64,`...)
			w.b = appendInner(w.b, get(src, "data"))
			w.b = append(w.b, `"}}`...)
			return nil
		}
	}
	return w.x.refuse(at, "is a document of source type "+strconv.Quote(get(src, "type").Str)+" for provider type "+strconv.Quote(w.x.target.ProviderType))
}

// assistantBlocks writes an assistant turn: its text joined into content
// (null when there is none), its tool_use blocks as tool_calls. Thinking
// of earlier turns is dropped (OpenAI-compatible providers reject it or
// would read it as text: CCR#1686, litellm#26916), and so are the blocks
// of Anthropic's server tools, which ran on Anthropic's side.
func (w *a2o) assistantBlocks(at string, blocks gjson.Result) error {
	texts, calls := 0, 0
	var err error
	each(blocks, func(j, blk gjson.Result) bool {
		switch t := get(blk, "type").Str; t {
		case "text":
			if get(blk, "text").Str != "" {
				texts++
			}
		case "tool_use":
			calls++
		case "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result",
			"web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result",
			"text_editor_code_execution_tool_result", "mcp_tool_use", "mcp_tool_result", "container_upload":
		default:
			err = w.x.refuse(field(at+".content", int(j.Int())), "is a "+strconv.Quote(t)+" block")
		}
		return err == nil
	})
	if err != nil || texts+calls == 0 {
		return err
	}
	w.open("assistant")
	if texts > 0 {
		w.joinTexts(blocks, "\\n\\n")
	} else {
		w.b = append(w.b, "null"...)
	}
	if calls > 0 {
		w.b = append(w.b, `,"tool_calls":[`...)
		n := 0
		each(blocks, func(_, blk gjson.Result) bool {
			if get(blk, "type").Str != "tool_use" {
				return true
			}
			n = w.sepPart(n)
			w.b = append(w.b, `{"id":`...)
			w.b = appendString(w.b, w.x.upstreamToolID(decoded(get(blk, "id"))))
			w.b = append(w.b, `,"type":"function","function":{"name":`...)
			w.b = appendString(w.b, w.x.upstreamName(decoded(get(blk, "name"))))
			w.b = append(w.b, `,"arguments":`...)
			if in := get(blk, "input"); in.IsObject() {
				w.b = appendCompactString(w.b, in.Raw)
			} else {
				w.b = append(w.b, `"{}"`...)
			}
			w.b = append(w.b, "}}"...)
			return true
		})
		w.b = append(w.b, ']')
	}
	w.b = append(w.b, '}')
	return nil
}

// upstreamName is the function name sent for the client's tool name,
// remembered when it had to be shortened.
func (x *Exchange) upstreamName(name string) string {
	s := shortName(name)
	if s != name {
		if x.names == nil {
			x.names = make(map[string]string)
		}
		x.names[s] = name
	}
	return s
}

// tools writes the function tools and the tool choice. Anthropic server
// tools (web_search_*, bash_*, text_editor_*, code_execution_*, ...: any
// tool with a type other than "custom") run on Anthropic's side and have
// no OpenAI equivalent: offered, they are dropped; named by tool_choice,
// the request is refused.
func (w *a2o) tools(tools, choice gjson.Result) error {
	n := 0
	each(tools, func(_, t gjson.Result) bool {
		if typ := get(t, "type"); typ.Exists() && typ.Str != "custom" {
			w.serverTools = append(w.serverTools, decoded(get(t, "name")))
			return true
		}
		if n == 0 {
			w.b = append(w.b, `,"tools":[`...)
		}
		n = w.sepPart(n)
		w.b = append(w.b, `{"type":"function","function":{"name":`...)
		w.b = appendString(w.b, w.x.upstreamName(decoded(get(t, "name"))))
		if d := get(t, "description"); d.Type == gjson.String {
			w.b = append(w.b, `,"description":`...)
			w.b = appendStringValue(w.b, d)
		}
		w.b = append(w.b, `,"parameters":`...)
		switch s := get(t, "input_schema"); {
		case !s.IsObject():
			w.b = append(w.b, `{"type":"object","properties":{}}`...)
		case w.x.quirks.geminiSchema:
			w.b = appendGeminiSchema(w.b, s, 0)
		default:
			w.b = append(w.b, s.Raw...)
		}
		w.b = append(w.b, "}}"...)
		return true
	})
	if n > 0 {
		w.b = append(w.b, ']')
	}
	w.functions = n
	if !choice.Exists() || choice.Type == gjson.Null {
		return nil
	}
	typ := get(choice, "type").Str
	if typ == "tool" {
		name := decoded(get(choice, "name"))
		for _, s := range w.serverTools {
			if s == name {
				return w.x.refuse("tool_choice", "names the server tool "+name)
			}
		}
	}
	if n == 0 {
		return nil
	}
	switch typ {
	case "auto":
		w.b = append(w.b, `,"tool_choice":"auto"`...)
	case "any":
		w.b = append(w.b, `,"tool_choice":"required"`...)
	case "none":
		w.b = append(w.b, `,"tool_choice":"none"`...)
	case "tool":
		w.b = append(w.b, `,"tool_choice":{"type":"function","function":{"name":`...)
		w.b = appendString(w.b, w.x.upstreamName(decoded(get(choice, "name"))))
		w.b = append(w.b, "}}"...)
	default:
		return w.x.refuse("tool_choice", "has type "+strconv.Quote(typ))
	}
	if get(choice, "disable_parallel_tool_use").Bool() && typ != "none" && w.x.quirks.parallelToolCalls {
		w.b = append(w.b, `,"parallel_tool_calls":false`...)
	}
	return nil
}
