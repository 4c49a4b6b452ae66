package mock

import (
	"strings"
	"unicode/utf8"
)

// Echo limits: the reply quotes the start of the last user message, short
// enough to keep a stream at 20 to 30 chunks.
const (
	echoWords = 6
	echoRunes = 60
)

// reply is the answer the mock gives.
type reply struct {
	// chunks are the pieces a stream sends one at a time; each counts as
	// one completion token, so usage matches what a client saw arrive.
	chunks []string
	// truncated is set when the request's output cap cut the reply.
	truncated bool
}

// newReply words the answer to req and cuts it at req's output cap.
func newReply(req *request) reply {
	model := req.model
	if model == "" {
		model = "unnamed"
	}
	said := "You sent no message text."
	if echo := echoOf(withoutReminders(req.lastUser)); echo != "" {
		said = "You said: “" + echo + "”."
	}
	if req.tools.hasResult {
		said = "The tool returned: “" + echoOf(req.tools.result) + "”."
	}
	text := "Hi! This is the LLM gateway's mock provider, answering as " + model + ". " +
		said + " No real model was called, so this answer cost nothing."
	words := strings.Fields(text)
	r := reply{chunks: make([]string, len(words))}
	for i, w := range words {
		if i < len(words)-1 {
			w += " "
		}
		r.chunks[i] = w
	}
	if req.maxTokens > 0 && req.maxTokens < len(r.chunks) {
		r.chunks = r.chunks[:req.maxTokens]
		r.truncated = true
	}
	return r
}

// text is the whole reply, as a non-streamed answer carries it.
func (r reply) text() string { return strings.Join(r.chunks, "") }

// tokens is the reply's completion token count.
func (r reply) tokens() int { return len(r.chunks) }

// echoOf is the start of s, whitespace collapsed, cut at echoWords words
// or echoRunes characters with an ellipsis when cut.
func echoOf(s string) string {
	words := strings.Fields(s)
	cut := len(words) > echoWords
	if cut {
		words = words[:echoWords]
	}
	echo := strings.Join(words, " ")
	if utf8.RuneCountInString(echo) > echoRunes {
		echo = string([]rune(echo)[:echoRunes])
		cut = true
	}
	if cut {
		echo = strings.TrimSpace(echo) + "…"
	}
	return echo
}
