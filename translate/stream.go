package translate

import (
	"errors"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// Stream translates one upstream event stream into the client's
// protocol. It is an explicit state machine: Event feeds it one whole
// upstream event and appends the client's events it causes; End says the
// upstream stream is over; Fail says the stream is being ended by an
// error event the caller writes. A Stream is not safe for concurrent
// use.
type Stream struct {
	x *Exchange
	// done is set once the client's stream is complete (message_stop,
	// or [DONE]) or failed: nothing is appended after it.
	done bool
	// started is set once the client's stream has its opening event.
	started bool
	toAnthropic
	toOpenAI
}

// Stream returns the stream translator for this exchange.
func (x *Exchange) Stream() *Stream {
	s := &Stream{x: x}
	s.toAnthropic.text, s.toAnthropic.thinking = -1, -1
	return s
}

// Errors End returns, for the caller to write an error event instead of
// pretending the answer was complete.
var (
	// ErrStreamEmpty: the upstream stream ended before any event.
	ErrStreamEmpty = errors.New("the provider's stream ended before it sent an answer")
	// ErrStreamIncomplete: the upstream stream ended without saying the
	// answer was finished (no finish_reason, no message_delta).
	ErrStreamIncomplete = errors.New("the provider's stream ended before the answer was complete")
)

// Event takes one whole upstream SSE event, its `event:` name (may be
// empty) and its data (the data lines joined by "\n"), and appends the
// client's SSE bytes it causes (whole events, each ended by a blank
// line) to out. Malformed events and events with no meaning for the
// client are skipped; `[DONE]` is accepted and ignored (End closes the
// stream). Upstream error events are the caller's to handle (see Fail).
func (s *Stream) Event(name, data []byte, out []byte) []byte {
	if s.done || len(data) == 0 {
		return out
	}
	switch {
	case s.x.identity():
		return appendSSE(out, name, data)
	case s.x.client == providers.Anthropic:
		return s.openAIChunk(data, out)
	default:
		return s.anthropicEvent(name, data, out)
	}
}

// End is called when the upstream stream ended (EOF or [DONE]) and
// appends the client's closing events. It returns ErrStreamEmpty or
// ErrStreamIncomplete when the upstream ended before its answer was
// complete; then it appends nothing, and the caller writes an error
// event (a complete-looking end would make the client take a cut answer
// for a whole one). After End, Event appends nothing.
func (s *Stream) End(out []byte) ([]byte, error) {
	if s.done {
		return out, nil
	}
	if s.x.identity() {
		s.done = true
		return out, nil
	}
	if !s.started {
		s.done = true
		return out, ErrStreamEmpty
	}
	if s.x.client == providers.Anthropic {
		if !s.toAnthropic.finished {
			s.done = true
			return out, ErrStreamIncomplete
		}
		return s.closeMessage(out), nil
	}
	if !s.toOpenAI.stopped {
		s.done = true
		return out, ErrStreamIncomplete
	}
	return s.closeChunks(out), nil
}

// Fail tells the translator the stream is being ended by an error event
// the caller writes next (a mid-stream upstream error, an idle timeout,
// a cut connection). Neither protocol needs anything before its error
// event (Anthropic's own API sends `event: error` with blocks still
// open; OpenAI's sends an error chunk and no [DONE]), so Fail appends
// nothing; after it, Event and End append nothing either.
func (s *Stream) Fail(out []byte) []byte {
	s.done = true
	return out
}

// Done reports whether the client's stream is complete (or failed):
// from then on every upstream event, an error event too, is to be
// dropped, and nothing more written to the client. The relay checks it
// before writing an error event for an upstream error: a provider that
// sends an error after its usage chunk has already been answered in
// full.
func (s *Stream) Done() bool { return s.done }

// appendSSE appends one event: `event: <name>` when named, the data on
// one `data:` line per line, and the blank line that ends it.
func appendSSE(out, name, data []byte) []byte {
	if len(name) > 0 {
		out = append(out, "event: "...)
		out = append(out, name...)
		out = append(out, '\n')
	}
	start := 0
	for i := 0; i <= len(data); i++ {
		if i == len(data) || data[i] == '\n' {
			out = append(out, "data: "...)
			out = append(out, data[start:i]...)
			out = append(out, '\n')
			start = i + 1
		}
	}
	return append(out, '\n')
}
