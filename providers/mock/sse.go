package mock

import (
	"context"
	"net/http"
	"time"
)

// stream writes a server-sent event stream the way reverse_proxy relays a
// real one: each event flushed on its own as it is written, content paced
// at the handler's tick, and a connection that breaks mid-body ending in a
// flush and panic(http.ErrAbortHandler).
type stream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	tick  time.Duration
	fault fault
	// stall is how long a faultStall keeps the stream silent.
	stall time.Duration
	// sent counts the content chunks released so far.
	sent int
	// events counts the events written so far.
	events int
}

// fault is a failure injected into an otherwise normal stream.
type fault struct {
	kind faultKind
	// after is how many content chunks go out before it strikes.
	after int
}

type faultKind uint8

const (
	faultNone faultKind = iota
	// faultError ends the stream with the protocol's error event.
	faultError
	// faultCut breaks the connection: flush, then abort.
	faultCut
	// faultStall goes silent for longer than the provider timeout.
	faultStall
)

// faultAfter is how many content chunks the mock-stream names send before
// their failure: enough for the client to have started showing text.
const faultAfter = 3

// startStream sends the stream's status and headers. header adds the
// provider's own headers (its request ID).
func (h *Handler) startStream(w http.ResponseWriter, r *http.Request, f fault, header map[string]string) *stream {
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	for k, v := range header {
		hd.Set(k, v)
	}
	w.WriteHeader(http.StatusOK)
	return &stream{
		w:     w,
		rc:    http.NewResponseController(w),
		ctx:   r.Context(),
		tick:  h.tick,
		fault: f,
		stall: h.timeout + h.timeout/2,
	}
}

// event writes one event, named (Anthropic, Responses) or not (OpenAI chat
// and completions), and flushes it.
func (s *stream) event(name string, data []byte) {
	b := make([]byte, 0, len(name)+len(data)+16)
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	if _, err := s.w.Write(b); err != nil {
		// reverse_proxy aborts when it can no longer write to the client.
		s.abort()
	}
	_ = s.rc.Flush()
	s.events++
}

// next paces the next content chunk and applies the stream's fault. It
// returns false when the stream must end with an error event instead.
func (s *stream) next() bool {
	if s.fault.kind != faultNone && s.sent == s.fault.after {
		switch s.fault.kind {
		case faultCut:
			s.abort()
		case faultError:
			return false
		case faultStall:
			s.wait(s.stall)
		}
	}
	if s.events > 0 {
		// The first event goes out with the headers; content after
		// it arrives at the pace of a model generating.
		s.wait(s.tick)
	}
	s.sent++
	return true
}

// wait pauses for d, or aborts the stream as soon as the request's
// context ends: the client left, or the gateway gave up on the attempt.
func (s *stream) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		s.abort()
	case <-t.C:
	}
}

// abort is what reverse_proxy does when an answer breaks after its headers
// were written: flush what the client has, then panic with
// http.ErrAbortHandler so the server drops the connection.
func (s *stream) abort() {
	_ = s.rc.Flush()
	panic(http.ErrAbortHandler)
}
