package mock

import (
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// request is what the mock reads from a client's body. The body is never
// unmarshalled whole: gjson picks the few fields that shape the answer.
type request struct {
	doc   gjson.Result
	model string
	// stream is the request's "stream" flag.
	stream bool
	// includeUsage is OpenAI's stream_options.include_usage.
	includeUsage bool
	// lastUser is the text of the last user message (or the prompt).
	lastUser string
	// promptTokens estimates the prompt the way usage and count_tokens
	// report it, so both agree for the same messages.
	promptTokens int
	// maxTokens is the output cap the request sets, or 0.
	maxTokens int
	// tools is what the request's tools ask for (tools.go).
	tools toolPlan
}

// parseRequest reads the fields of body that the answer on path needs.
func parseRequest(path string, body []byte) *request {
	doc := gjson.ParseBytes(body)
	req := &request{
		doc:          doc,
		model:        doc.Get("model").String(),
		stream:       doc.Get("stream").Bool(),
		includeUsage: doc.Get("stream_options.include_usage").Bool(),
	}
	var p prompt
	switch path {
	case pathChat:
		p.addMessages(doc.Get("messages"), "user")
		p.add(doc.Get("tools").Raw)
		req.maxTokens = int(doc.Get("max_completion_tokens").Int())
		if req.maxTokens == 0 {
			req.maxTokens = int(doc.Get("max_tokens").Int())
		}
	case pathCompletions:
		// Legacy completions count the prompt as it is: no message
		// framing. A prompt may be a string or a batch of strings.
		p.framed = false
		pr := doc.Get("prompt")
		if pr.IsArray() {
			pr.ForEach(func(_, v gjson.Result) bool {
				if v.Type == gjson.String {
					p.add(v.Str)
					p.lastUser = v.Str
				}
				return true
			})
		} else {
			p.add(pr.String())
			p.lastUser = pr.String()
		}
		req.maxTokens = int(doc.Get("max_tokens").Int())
	case pathResponses:
		p.add(doc.Get("instructions").String())
		if in := doc.Get("input"); in.IsArray() {
			p.addMessages(in, "user")
		} else {
			p.messages++
			p.add(in.String())
			p.lastUser = in.String()
		}
		p.add(doc.Get("tools").Raw)
		req.maxTokens = int(doc.Get("max_output_tokens").Int())
	case pathMessages, pathCountTokens:
		p.add(textOf(doc.Get("system")))
		p.addMessages(doc.Get("messages"), "user")
		p.add(doc.Get("tools").Raw)
		req.maxTokens = int(doc.Get("max_tokens").Int())
	}
	req.lastUser = p.lastUser
	req.tools = planTools(path, doc)
	req.promptTokens = p.tokens()
	return req
}

// prompt accumulates the text of a request's prompt.
type prompt struct {
	runes    int
	messages int
	lastUser string
	// framed is false for prompts sent as they are (legacy completions);
	// others pay for their message framing as chat models do.
	framed bool
}

// Token estimate, the rule of thumb OpenAI documents for English: about
// four characters a token, plus a few tokens of framing per message and
// for priming the reply.
const (
	runesPerToken    = 4
	tokensPerMessage = 3
	tokensForReply   = 3
)

func (p *prompt) add(s string) { p.runes += utf8.RuneCountInString(s) }

// addMessages adds an array of chat messages (OpenAI, Anthropic, or
// Responses input items) and remembers the last one from role.
func (p *prompt) addMessages(msgs gjson.Result, role string) {
	p.framed = true
	msgs.ForEach(func(_, m gjson.Result) bool {
		p.messages++
		text := textOf(m.Get("content"))
		p.add(text)
		if m.Get("role").String() == role {
			p.lastUser = text
		}
		return true
	})
}

// tokens is the estimated prompt size, at least 1.
func (p *prompt) tokens() int {
	n := (p.runes + runesPerToken - 1) / runesPerToken
	if p.framed || p.messages > 0 {
		n += p.messages*tokensPerMessage + tokensForReply
	}
	return max(n, 1)
}

// textOf is the text of a message's content: a string, or an array of
// content parts of which the text ones count (OpenAI "text", Responses
// "input_text"/"output_text", Anthropic "text" blocks).
func textOf(content gjson.Result) string {
	if content.Type == gjson.String {
		return content.Str
	}
	if !content.IsArray() {
		return ""
	}
	var parts []string
	content.ForEach(func(_, part gjson.Result) bool {
		if t := part.Get("text"); t.Type == gjson.String {
			parts = append(parts, t.Str)
		}
		return true
	})
	return strings.Join(parts, "\n")
}

// estimateTokens estimates one piece of text on its own, as embeddings
// count each input.
func estimateTokens(s string) int {
	return max((utf8.RuneCountInString(s)+runesPerToken-1)/runesPerToken, 1)
}
