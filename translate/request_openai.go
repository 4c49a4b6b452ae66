package translate

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// openAIToAnthropic writes an Anthropic Messages request for an OpenAI
// chat completion request. As in the other direction the body is
// written from scratch; OpenAI-only sampling knobs with no Anthropic
// equivalent (frequency/presence penalties, seed, logit_bias, logprobs,
// service_tier, store, prediction) are dropped, and what would change
// the answer's shape (n > 1, audio output, a JSON response format,
// legacy functions) is refused.
func (x *Exchange) openAIToAnthropic(body []byte) ([]byte, error) {
	doc := gjson.Parse(view(body))
	if !doc.IsObject() {
		return nil, x.refuse("body", "is not a JSON object")
	}
	var f struct {
		messages, maxCompletion, maxTokens, temperature, topP, stop, stream, streamOptions,
		tools, toolChoice, parallel, user, reasoning gjson.Result
	}
	var refusal error
	doc.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "messages":
			f.messages = v
		case "max_completion_tokens":
			f.maxCompletion = v
		case "max_tokens":
			f.maxTokens = v
		case "temperature":
			f.temperature = v
		case "top_p":
			f.topP = v
		case "stop":
			f.stop = v
		case "stream":
			f.stream = v
		case "stream_options":
			f.streamOptions = v
		case "tools":
			f.tools = v
		case "tool_choice":
			f.toolChoice = v
		case "parallel_tool_calls":
			f.parallel = v
		case "user":
			f.user = v
		case "reasoning_effort":
			f.reasoning = v
		case "n":
			if v.Int() > 1 {
				refusal = x.refuse("n", "asks for "+v.Raw+" choices")
			}
		case "response_format":
			if t := v.Get("type").Str; t != "" && t != "text" {
				refusal = x.refuse("response_format", "asks for "+strconv.Quote(t)+" output")
			}
		case "functions", "function_call":
			if v.Type != gjson.Null {
				refusal = x.refuse(k.Str, "is the legacy function-calling form (use tools)")
			}
		case "audio":
			if v.Type != gjson.Null {
				refusal = x.refuse("audio", "asks for audio output")
			}
		case "modalities":
			if strings.Contains(v.Raw, `"audio"`) {
				refusal = x.refuse("modalities", "asks for audio output")
			}
		}
		return refusal == nil
	})
	if refusal != nil {
		return nil, refusal
	}
	x.stream = f.stream.Bool()
	x.includeUsage = f.streamOptions.Get("include_usage").Bool()

	w := o2a{x: x, b: make([]byte, 0, len(body)+len(body)/8+256)}
	w.b = append(w.b, `{"model":`...)
	w.b = appendString(w.b, x.target.Model)
	maxTokens := f.maxCompletion.Int()
	if maxTokens <= 0 {
		maxTokens = f.maxTokens.Int()
	}
	if maxTokens <= 0 {
		maxTokens = x.target.DefaultMaxTokens
		if maxTokens <= 0 {
			maxTokens = DefaultMaxTokens
		}
	}
	maxTokens = x.clampMaxTokens(maxTokens)
	w.b = append(w.b, `,"max_tokens":`...)
	w.b = appendInt(w.b, maxTokens)

	hasToolCalls := false
	if err := w.system(f.messages); err != nil {
		return nil, err
	}
	w.b = append(w.b, `,"messages":[`...)
	var err error
	f.messages.ForEach(func(i, m gjson.Result) bool {
		if m.Get("tool_calls.0").Exists() {
			hasToolCalls = true
		}
		err = w.message(int(i.Int()), m)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	w.close()
	w.b = append(w.b, ']')

	budget := thinkingBudget(f.reasoning.Str, maxTokens, x.target.Model, hasToolCalls)
	if budget > 0 {
		w.b = append(w.b, `,"thinking":{"type":"enabled","budget_tokens":`...)
		w.b = appendInt(w.b, budget)
		w.b = append(w.b, '}')
	}
	// Anthropic's temperature runs from 0 to 1, OpenAI's to 2: higher
	// values are lowered to 1. With thinking on, Anthropic takes only
	// the default temperature and a top_p of at least 0.95.
	if isNumber(f.temperature) && budget == 0 {
		w.b = append(w.b, `,"temperature":`...)
		if f.temperature.Float() > 1 {
			w.b = append(w.b, '1')
		} else {
			w.b = append(w.b, f.temperature.Raw...)
		}
	}
	if isNumber(f.topP) && (budget == 0 || f.topP.Float() >= 0.95) {
		w.b = append(w.b, `,"top_p":`...)
		w.b = append(w.b, f.topP.Raw...)
	}
	w.stopSequences(f.stop)
	if x.stream {
		w.b = append(w.b, `,"stream":true`...)
	}
	if err := w.tools(f.tools, f.toolChoice, f.parallel); err != nil {
		return nil, err
	}
	if f.user.Type == gjson.String && f.user.Str != "" {
		w.b = append(w.b, `,"metadata":{"user_id":`...)
		w.b = appendStringValue(w.b, f.user)
		w.b = append(w.b, '}')
	}
	return append(w.b, '}'), nil
}

// thinkingBudget is the thinking budget for reasoning_effort (LiteLLM's
// low 1024, medium 2048, high 4096), or 0 for none. Thinking is left
// off where Anthropic would refuse the request: a budget not below
// max_tokens, a model without extended thinking (Claude 3 before 3.7),
// and a history with tool calls, whose assistant turns carry no
// thinking blocks (Anthropic requires them then: CLIProxyAPI#928).
func thinkingBudget(effort string, maxTokens int64, model string, toolHistory bool) int64 {
	var budget int64
	switch effort {
	case "low":
		budget = 1024
	case "medium":
		budget = 2048
	case "high", "xhigh":
		budget = 4096
	default:
		return 0
	}
	if toolHistory || (strings.HasPrefix(model, "claude-3-") && !strings.HasPrefix(model, "claude-3-7")) {
		return 0
	}
	if budget >= maxTokens {
		budget = maxTokens - 1
	}
	if budget < 1024 {
		return 0
	}
	return budget
}

// o2a writes the system prompt, messages and tools of an Anthropic
// request. Consecutive OpenAI messages that become the same Anthropic
// role (a run of tool messages, a tool message and the user message
// after it) are merged into one message, since Anthropic's turns
// alternate.
type o2a struct {
	x *Exchange
	b []byte
	// role is the role of the open message, "" before the first.
	role string
}

// block starts a content block of a message of role, opening the
// message (and closing the previous one) when the role changes.
func (w *o2a) block(role string) {
	if w.role == role {
		w.b = append(w.b, ',')
		return
	}
	if w.role != "" {
		w.b = append(w.b, "]},"...)
	}
	w.role = role
	w.b = append(w.b, `{"role":"`...)
	w.b = append(w.b, role...)
	w.b = append(w.b, `","content":[`...)
}

func (w *o2a) close() {
	if w.role != "" {
		w.b = append(w.b, "]}"...)
	}
}

// system writes every system and developer message, in order, as the
// system blocks.
func (w *o2a) system(msgs gjson.Result) error {
	n := 0
	var err error
	msgs.ForEach(func(i, m gjson.Result) bool {
		role := m.Get("role").Str
		if role != "system" && role != "developer" {
			return true
		}
		eachText(m.Get("content"), func(t gjson.Result) {
			if n == 0 {
				w.b = append(w.b, `,"system":[`...)
			} else {
				w.b = append(w.b, ',')
			}
			n++
			w.b = append(w.b, `{"type":"text","text":`...)
			w.b = appendStringValue(w.b, t)
			w.b = append(w.b, '}')
		})
		return err == nil
	})
	if n > 0 {
		w.b = append(w.b, ']')
	}
	return err
}

// eachText calls fn with each non-empty text of an OpenAI content: a
// string, or the text (and refusal) parts of an array.
func eachText(c gjson.Result, fn func(gjson.Result)) {
	if c.Type == gjson.String {
		if c.Str != "" {
			fn(c)
		}
		return
	}
	c.ForEach(func(_, p gjson.Result) bool {
		var t gjson.Result
		switch p.Get("type").Str {
		case "text":
			t = p.Get("text")
		case "refusal":
			t = p.Get("refusal")
		}
		if t.Str != "" {
			fn(t)
		}
		return true
	})
}

func (w *o2a) message(i int, m gjson.Result) error {
	at := field("messages", i)
	content := m.Get("content")
	switch role := m.Get("role").Str; role {
	case "system", "developer":
		return nil
	case "user":
		if content.Type == gjson.String {
			if content.Str != "" {
				w.text("user", content)
			}
			return nil
		}
		var err error
		content.ForEach(func(j, p gjson.Result) bool {
			err = w.userPart(field(at+".content", int(j.Int())), p)
			return err == nil
		})
		return err
	case "assistant":
		eachText(content, func(t gjson.Result) { w.text("assistant", t) })
		var err error
		m.Get("tool_calls").ForEach(func(j, c gjson.Result) bool {
			err = w.toolUse(field(at+".tool_calls", int(j.Int())), c)
			return err == nil
		})
		return err
	case "tool":
		w.block("user")
		w.b = append(w.b, `{"type":"tool_result","tool_use_id":`...)
		w.b = appendString(w.b, toolUseID(m.Get("tool_call_id").Str))
		w.b = append(w.b, `,"content":`...)
		if content.Type == gjson.String {
			w.b = appendStringValue(w.b, content)
		} else {
			w.b = append(w.b, '[')
			n := 0
			eachText(content, func(t gjson.Result) {
				if n > 0 {
					w.b = append(w.b, ',')
				}
				n++
				w.b = append(w.b, `{"type":"text","text":`...)
				w.b = appendStringValue(w.b, t)
				w.b = append(w.b, '}')
			})
			w.b = append(w.b, ']')
		}
		w.b = append(w.b, '}')
		return nil
	default:
		return invalid(at+".role", "is "+strconv.Quote(role)+", not a chat role")
	}
}

func (w *o2a) text(role string, t gjson.Result) {
	w.block(role)
	w.b = append(w.b, `{"type":"text","text":`...)
	w.b = appendStringValue(w.b, t)
	w.b = append(w.b, '}')
}

// userPart writes one part of a user message's content.
func (w *o2a) userPart(at string, p gjson.Result) error {
	switch t := p.Get("type").Str; t {
	case "text":
		if tx := p.Get("text"); tx.Str != "" {
			w.text("user", tx)
		}
		return nil
	case "image_url":
		url := p.Get("image_url.url").Str
		if rest, ok := strings.CutPrefix(url, "data:"); ok {
			mediaType, data, ok := strings.Cut(rest, ";base64,")
			if !ok {
				return w.x.refuse(at+".image_url.url", "is a data URL that is not base64")
			}
			w.block("user")
			w.b = append(w.b, `{"type":"image","source":{"type":"base64","media_type":`...)
			w.b = appendString(w.b, mediaType)
			w.b = append(w.b, `,"data":`...)
			w.b = appendString(w.b, data)
			w.b = append(w.b, "}}"...)
			return nil
		}
		w.block("user")
		w.b = append(w.b, `{"type":"image","source":{"type":"url","url":`...)
		w.b = appendString(w.b, url)
		w.b = append(w.b, "}}"...)
		return nil
	case "file":
		data := p.Get("file.file_data").Str
		if rest, ok := strings.CutPrefix(data, "data:application/pdf;base64,"); ok {
			w.block("user")
			w.b = append(w.b, `{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":`...)
			w.b = appendString(w.b, rest)
			w.b = append(w.b, "}}"...)
			return nil
		}
		return w.x.refuse(at, "is a file part other than an inline PDF")
	default:
		return w.x.refuse(at, "is a "+strconv.Quote(t)+" part")
	}
}

// toolUse writes one assistant tool call as a tool_use block. Its
// arguments must be a JSON object, as Anthropic's input is; empty
// arguments are {}.
func (w *o2a) toolUse(at string, c gjson.Result) error {
	args := strings.TrimSpace(c.Get("function.arguments").Str)
	if args == "" {
		args = "{}"
	}
	in := gjson.Parse(args)
	if !in.IsObject() || !gjson.Valid(args) {
		return invalid(at+".function.arguments", "is not a JSON object; the Anthropic protocol of this route needs one for a tool call's input")
	}
	w.block("assistant")
	w.b = append(w.b, `{"type":"tool_use","id":`...)
	w.b = appendString(w.b, toolUseID(c.Get("id").Str))
	w.b = append(w.b, `,"name":`...)
	w.b = appendStringValue(w.b, c.Get("function.name"))
	w.b = append(w.b, `,"input":`...)
	w.b = append(w.b, args...)
	w.b = append(w.b, '}')
	return nil
}

// toolUseID is an OpenAI tool-call id as Anthropic takes it
// (^[a-zA-Z0-9_-]+$). The same rewrite applies to the call and to its
// result, so they still match.
func toolUseID(id string) string {
	if id = anthropicID(id); id == "" {
		return "toolu_missing"
	}
	return id
}

// stopSequences writes stop as stop_sequences, without the entries
// Anthropic refuses (empty or whitespace only).
func (w *o2a) stopSequences(stop gjson.Result) {
	n := 0
	add := func(s gjson.Result) {
		if s.Type != gjson.String || strings.TrimSpace(s.Str) == "" {
			return
		}
		if n == 0 {
			w.b = append(w.b, `,"stop_sequences":[`...)
		} else {
			w.b = append(w.b, ',')
		}
		n++
		w.b = appendStringValue(w.b, s)
	}
	if stop.IsArray() {
		stop.ForEach(func(_, s gjson.Result) bool { add(s); return true })
	} else {
		add(stop)
	}
	if n > 0 {
		w.b = append(w.b, ']')
	}
}

// tools writes the function tools as Anthropic tools and the tool
// choice; parallel_tool_calls false becomes disable_parallel_tool_use.
func (w *o2a) tools(tools, choice, parallel gjson.Result) error {
	n := 0
	var err error
	tools.ForEach(func(i, t gjson.Result) bool {
		if typ := t.Get("type").Str; typ != "function" {
			err = w.x.refuse(field("tools", int(i.Int()))+".type", "is "+strconv.Quote(typ))
			return false
		}
		fn := t.Get("function")
		if n == 0 {
			w.b = append(w.b, `,"tools":[`...)
		} else {
			w.b = append(w.b, ',')
		}
		n++
		w.b = append(w.b, `{"name":`...)
		w.b = appendStringValue(w.b, fn.Get("name"))
		if d := fn.Get("description"); d.Type == gjson.String {
			w.b = append(w.b, `,"description":`...)
			w.b = appendStringValue(w.b, d)
		}
		w.b = append(w.b, `,"input_schema":`...)
		if p := fn.Get("parameters"); p.IsObject() {
			w.b = append(w.b, p.Raw...)
		} else {
			w.b = append(w.b, `{"type":"object","properties":{}}`...)
		}
		w.b = append(w.b, '}')
		return true
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	w.b = append(w.b, ']')
	noParallel := parallel.Type == gjson.False
	switch {
	case choice.Type == gjson.String && choice.Str == "none":
		w.b = append(w.b, `,"tool_choice":{"type":"none"}`...)
		return nil
	case choice.Type == gjson.String && choice.Str == "required":
		w.b = append(w.b, `,"tool_choice":{"type":"any"`...)
	case choice.IsObject():
		name := choice.Get("function.name")
		if name.Type != gjson.String {
			return w.x.refuse("tool_choice", "is not a function choice")
		}
		w.b = append(w.b, `,"tool_choice":{"type":"tool","name":`...)
		w.b = appendStringValue(w.b, name)
	case noParallel:
		w.b = append(w.b, `,"tool_choice":{"type":"auto"`...)
	default:
		return nil // "auto", or no choice: Anthropic's default is auto
	}
	if noParallel {
		w.b = append(w.b, `,"disable_parallel_tool_use":true`...)
	}
	w.b = append(w.b, '}')
	return nil
}
