package translate

import "github.com/tidwall/gjson"

// usage is one answer's token counts in Anthropic's terms: input counts
// the prompt tokens neither read from nor written to the cache, so
// input + cacheRead + cacheWrite is OpenAI's prompt_tokens.
type usage struct {
	input, output, cacheRead, cacheWrite int64
	// prompt and done record which counts the upstream reported.
	prompt, done bool
}

// readOpenAIUsage reads an OpenAI usage object: cached tokens from
// prompt_tokens_details.cached_tokens (OpenAI, Groq, OpenRouter) or
// prompt_cache_hit_tokens (DeepSeek), cache writes from
// prompt_tokens_details.cache_write_tokens (OpenRouter) or
// cache_creation_tokens.
func readOpenAIUsage(u gjson.Result, into *usage) {
	if !u.IsObject() {
		return
	}
	var prompt, cached, written gjson.Result
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			prompt = v
		case "completion_tokens":
			into.output, into.done = v.Int(), true
		case "prompt_cache_hit_tokens":
			cached = v
		case "prompt_tokens_details":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "cached_tokens":
					cached = v
				case "cache_write_tokens", "cache_creation_tokens":
					written = v
				}
				return true
			})
		}
		return true
	})
	if prompt.Exists() {
		into.cacheRead, into.cacheWrite = cached.Int(), written.Int()
		into.input = max(0, prompt.Int()-into.cacheRead-into.cacheWrite)
		into.prompt = true
	}
}

// readAnthropicUsage merges an Anthropic usage object (a message's, a
// message_start's or a message_delta's) into u, field by field.
func readAnthropicUsage(r gjson.Result, into *usage) {
	r.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			into.input, into.prompt = v.Int(), true
		case "output_tokens":
			into.output, into.done = v.Int(), true
		case "cache_read_input_tokens":
			into.cacheRead = v.Int()
		case "cache_creation_input_tokens":
			into.cacheWrite = v.Int()
		}
		return true
	})
}

func (u *usage) appendAnthropic(b []byte) []byte {
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, u.input)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, u.cacheWrite)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, u.cacheRead)
	b = append(b, `,"output_tokens":`...)
	b = appendInt(b, u.output)
	return append(b, '}')
}

func (u *usage) appendOpenAI(b []byte) []byte {
	prompt := u.input + u.cacheRead + u.cacheWrite
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, prompt)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, u.output)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, prompt+u.output)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.cacheRead)
	return append(b, "}}"...)
}

// anthropicStopReason is the stop_reason for an OpenAI finish_reason.
// A tool call makes it tool_use whatever the provider said (Gemini
// says "stop": autogen#4878, litellm PR#10485), and only a tool call
// does (a "tool_calls" finish with no call would leave the client
// waiting for a tool to run), except when the answer
// was cut at max_tokens: then the call's arguments are likely cut too,
// and max_tokens tells the client so, as Anthropic itself does.
func anthropicStopReason(finish string, tools bool) string {
	switch {
	case finish == "length":
		return "max_tokens"
	case tools:
		return "tool_use"
	case finish == "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// openAIFinishReason is the finish_reason for an Anthropic stop_reason;
// tool_calls exactly when the answer has a tool call.
func openAIFinishReason(stop string, tools bool) string {
	switch {
	case stop == "max_tokens" || stop == "model_context_window_exceeded":
		return "length"
	case tools:
		return "tool_calls"
	case stop == "refusal":
		return "content_filter"
	}
	return "stop"
}

// anthropicMessageID is the id an Anthropic client sees for an OpenAI
// answer's id; openAIChatID the reverse.
func (x *Exchange) anthropicMessageID(id string) string {
	if len(id) > 9 && id[:9] == "chatcmpl-" {
		id = id[9:]
	}
	if id == "" {
		id = x.newID()
	}
	return "msg_" + anthropicID(id)
}

func (x *Exchange) openAIChatID(id string) string {
	if len(id) > 4 && id[:4] == "msg_" {
		id = id[4:]
	}
	if id == "" {
		id = x.newID()
	}
	return "chatcmpl-" + id
}

// answerModel is the model name the client sees: the one the upstream
// reports, else the one the request was sent with.
func (x *Exchange) answerModel(reported string) string {
	if reported != "" {
		return reported
	}
	return x.target.Model
}
