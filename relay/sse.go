package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/translate"
)

// maxEvent caps one server-sent event held while it arrives: a provider
// that sends more without ending the event is failing, and holding more
// would let it pin the gateway's memory.
const maxEvent = 1 << 20

// firstEventBuffer is the read buffer a stream starts with; it grows for
// an event that does not fit, up to maxEvent.
const firstEventBuffer = 16 << 10

// sseCopy passes a provider's event stream to the client one whole event
// at a time, as each arrives, flushing after every read. Before the first
// event with data, nothing is committed: comment-only events (OpenRouter's
// `: OPENROUTER PROCESSING` keep-alives) are held back and dropped, and an
// error as the first event is a failure before the first byte, retried or
// failed over. After the stream began, an upstream error event, a broken
// connection or a stall is written as an error event in the client's
// protocol, after which the stream ends: nothing the provider sends later
// (such as `data: [DONE]`) is passed on. On the way it reads usage, and
// drops the usage-only chunk the gateway asked an OpenAI provider for when
// the client did not.
//
// On a translated route each event goes through the route's stream
// translator instead, which writes the client's own events; the stream
// commits with the first of those.
type sseCopy struct {
	a              *attempt
	dropUsageChunk bool
	// xl translates the events of a translated route; out holds what it
	// writes.
	xl  *translate.Stream
	out []byte
	// scanned is how much of the held bytes is known to end no event.
	scanned int
}

// stream copies a 2xx event stream.
func (a *attempt) stream(resp *http.Response) *llmerrors.Error {
	s := sseCopy{a: a, dropUsageChunk: a.st.addsUsage}
	if a.st.xl != nil {
		s.xl = a.st.xl.Stream()
	}
	buf := getBuffer()
	defer putBuffer(buf)
	buf.Grow(firstEventBuffer)
	held := buf.AvailableBuffer()[:0]
	for {
		if len(held) == cap(held) {
			if cap(held) >= maxEvent {
				return s.fail(resp, s.overflow())
			}
			grown := make([]byte, len(held), min(2*cap(held), maxEvent))
			copy(grown, held)
			held = grown
		}
		n, err := resp.Body.Read(held[len(held):cap(held)])
		if n > 0 {
			a.idle.touch()
			held = held[:len(held)+n]
			var e *llmerrors.Error
			if held, e = s.events(resp, held); e != nil || a.r.res.ClientGone {
				return e
			}
		}
		if err == io.EOF {
			return s.finish(resp, held)
		}
		if err != nil {
			e := a.transportFailure(err)
			if e == nil {
				a.r.res.ClientGone = true
				return nil
			}
			return s.fail(resp, e)
		}
	}
}

// events handles the whole events at the start of held, and returns what
// is left of it: the start of an event still arriving, moved to the
// front. A failure ends the stream.
func (s *sseCopy) events(resp *http.Response, held []byte) ([]byte, *llmerrors.Error) {
	a := s.a
	pos := 0
	// held[passFrom:pos] are events passed through but not yet written.
	passFrom := 0
	for {
		end := eventEnd(held, pos, max(pos, s.scanned))
		if end < 0 {
			break
		}
		ev := held[pos:end]
		act, data := s.inspect(ev)
		if s.xl != nil && act != eventError {
			if !s.translate(resp, ev, act) {
				return held, nil
			}
			pos, passFrom = end, end
			continue
		}
		switch act {
		case eventComment:
			if !a.r.res.Committed {
				passFrom = end // held back, then dropped
			}
		case eventPass:
			if !a.r.res.Committed {
				a.commit(resp.StatusCode, resp.Header, -1)
			}
		case eventDrop:
			if !a.write(held[passFrom:pos]) {
				return held, nil
			}
			passFrom = end
		case eventError:
			e := s.readError(data)
			if !a.r.res.Committed {
				return held, e
			}
			if s.xl == nil && !a.write(held[passFrom:pos]) {
				return held, e
			}
			s.endWith(e)
			return held, e
		}
		pos = end
	}
	if a.r.res.Committed {
		if (s.xl == nil && !a.write(held[passFrom:pos])) || !a.flush() {
			return held, nil
		}
	}
	rest := copy(held, held[pos:])
	s.scanned = max(0, rest-2) // a terminator may straddle two reads
	return held[:rest], nil
}

// finish ends a stream whose provider closed it: a last event it did not
// terminate is passed on (or read as an error). A stream that ended
// before any event with data is no answer at all.
func (s *sseCopy) finish(resp *http.Response, held []byte) *llmerrors.Error {
	a := s.a
	if s.xl != nil {
		return s.finishTranslated(resp, held)
	}
	if len(bytes.TrimSpace(held)) > 0 {
		act, data := s.inspect(held)
		switch {
		case act == eventError:
			return s.fail(resp, s.readError(data))
		case act == eventPass && !a.r.res.Committed:
			a.commit(resp.StatusCode, resp.Header, -1)
			fallthrough
		case act == eventPass:
			if !a.write(held) || !a.flush() {
				return nil
			}
		}
	}
	if !a.r.res.Committed {
		up := a.rt.Upstream
		return &llmerrors.Error{
			Code: llmerrors.InvalidProviderResponse, Provider: up.Name, UpstreamStatus: resp.StatusCode,
			Message: fmt.Sprintf("Provider '%s' ended its stream before sending any event. Retry the request.", up.Name),
		}
	}
	a.r.res.Complete = true
	return nil
}

// fail is a failure of the stream itself: before the first byte it is
// returned for the attempt loop; after, it is written as the stream's
// last event.
func (s *sseCopy) fail(_ *http.Response, e *llmerrors.Error) *llmerrors.Error {
	if s.a.r.res.Committed {
		s.endWith(e)
	}
	return e
}

// translate passes one event of a translated route through its stream
// translator, committing the stream with the first client event it
// writes. It reports false when the client is gone.
func (s *sseCopy) translate(resp *http.Response, ev []byte, act eventAction) bool {
	a := s.a
	if act == eventComment {
		// keep-alives mean the same in both protocols
		return !a.r.res.Committed || a.write(ev)
	}
	name, data := eventFields(ev)
	s.out = s.xl.Event(name, data, s.out[:0])
	if len(s.out) == 0 {
		return true
	}
	if !a.r.res.Committed {
		a.commit(resp.StatusCode, resp.Header, -1)
	}
	return a.write(s.out)
}

// finishTranslated ends a translated stream: a last event the provider
// did not terminate, then the translator's closing events; a stream the
// translator finds incomplete ends with an error event (or, when nothing
// reached the client yet, is a failure before the first byte).
func (s *sseCopy) finishTranslated(resp *http.Response, held []byte) *llmerrors.Error {
	a := s.a
	if len(bytes.TrimSpace(held)) > 0 {
		act, data := s.inspect(held)
		if act == eventError {
			return s.fail(resp, s.readError(data))
		}
		if !s.translate(resp, held, act) {
			return nil
		}
	}
	out, err := s.xl.End(s.out[:0])
	up := a.rt.Upstream
	if err != nil {
		e := &llmerrors.Error{Code: llmerrors.ProviderError, Provider: up.Name, UpstreamStatus: resp.StatusCode, Cause: err,
			Message: fmt.Sprintf("Provider '%s' ended its stream before the answer was complete. Retry the request.", up.Name)}
		if !a.r.res.Committed {
			e.Code = llmerrors.InvalidProviderResponse
		}
		return s.fail(resp, e)
	}
	if !a.r.res.Committed {
		a.commit(resp.StatusCode, resp.Header, -1)
	}
	if !a.write(out) || !a.flush() {
		return nil
	}
	a.r.res.Complete = true
	return nil
}

// endWith writes e as the stream's last event, in the client's protocol,
// and stops the attempt. A translated stream the translator has already
// completed takes no error after its end: it is dropped.
func (s *sseCopy) endWith(e *llmerrors.Error) {
	a := s.a
	if s.xl != nil {
		if s.xl.Done() {
			a.r.res.Complete = true
			a.cancel(errStreamEnded)
			return
		}
		if out := s.xl.Fail(s.out[:0]); len(out) > 0 && !a.write(out) {
			return
		}
	}
	e.RequestID = a.r.c.ID
	if a.write(llmerrors.StreamEvent(a.r.c.AnthropicClient, e)) {
		a.flush()
	}
	a.cancel(errStreamEnded)
}

var errStreamEnded = fmt.Errorf("the stream ended with an error event")

func (s *sseCopy) overflow() *llmerrors.Error {
	up := s.a.rt.Upstream
	s.a.cancel(errTooLong)
	return &llmerrors.Error{
		Code: llmerrors.ProviderError, Provider: up.Name,
		Message: fmt.Sprintf("Provider '%s' sent a stream event longer than the gateway accepts (%d MiB). Retry the request.", up.Name, maxEvent>>20),
	}
}

// readError turns an upstream error event into the canonical error, its
// text scrubbed of the provider's keys.
func (s *sseCopy) readError(data []byte) *llmerrors.Error {
	up := s.a.rt.Upstream
	return providers.ClassifyStreamError(up.Name, data, up.Keys)
}

type eventAction uint8

const (
	eventPass eventAction = iota
	eventComment
	eventDrop
	eventError
)

var (
	dataPrefix  = []byte("data:")
	eventPrefix = []byte("event:")
	errorMember = []byte(`"error"`)
	errorWord   = []byte("error")
	// responseFailed is the Responses API's event for a failed answer.
	responseFailed = []byte("response.failed")
)

// inspect decides what happens to one whole event, and returns its data.
// Most events carry neither usage the gateway needs nor an error, and are
// passed on after one quick look.
func (s *sseCopy) inspect(ev []byte) (eventAction, []byte) {
	name, data, hasField := parseEvent(ev)
	if !hasField {
		return eventComment, nil
	}
	readUsage := s.a.r.c.ReadUsage
	if !readUsage && !bytes.Contains(ev, errorWord) && !bytes.Contains(ev, responseFailed) {
		return eventPass, data
	}
	if bytes.Equal(name, errorWord) || bytes.Equal(name, responseFailed) {
		return eventError, data
	}
	if len(data) == 0 || data[0] != '{' {
		return eventPass, data
	}
	if bytes.Contains(data, errorMember) {
		if gjson.GetBytes(data, "error").IsObject() || gjson.GetBytes(data, "type").Str == "error" {
			return eventError, data
		}
	}
	if readUsage && providers.ReadUsage(data, &s.a.r.res.Usage) {
		s.a.r.res.SawUsage = true
		if s.dropUsageChunk && isUsageOnlyChunk(data) {
			return eventDrop, data
		}
	}
	return eventPass, data
}

// isUsageOnlyChunk is OpenAI's final chunk under include_usage: no
// choices, only usage.
func isUsageOnlyChunk(data []byte) bool {
	c := gjson.GetBytes(data, "choices")
	return c.IsArray() && c.Raw == "[]"
}

// eventEnd is where the first whole event of b[start:] ends (after its
// blank-line terminator), or -1 when b holds no whole event yet; the
// search for the terminator starts at from. Lines end in LF or CRLF; a
// stream with CR alone (the specification allows it, no provider sends
// it) is split on CR CR.
func eventEnd(b []byte, start, from int) int {
	for i := from; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		j += i
		if j+1 < len(b) && b[j+1] == '\n' {
			return j + 2
		}
		if j+2 < len(b) && b[j+1] == '\r' && b[j+2] == '\n' {
			return j + 3
		}
		i = j + 1
	}
	if bytes.IndexByte(b[start:], '\n') < 0 {
		if k := bytes.Index(b[start:], crcr); k >= 0 {
			return start + k + 2
		}
	}
	return -1
}

var crcr = []byte("\r\r")

// eventFields is an event's name and its data lines joined by "\n", the
// form the stream translator takes.
func eventFields(ev []byte) (name, data []byte) {
	n := 0
	for rest := ev; len(rest) > 0; {
		line := rest
		if end := bytes.IndexByte(rest, '\n'); end >= 0 {
			line, rest = rest[:end], rest[end+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, cr)
		switch {
		case bytes.HasPrefix(line, dataPrefix):
			d := bytes.TrimPrefix(line[len(dataPrefix):], space)
			if n == 0 {
				data = d
			} else {
				data = append(append(append([]byte(nil), data...), '\n'), d...)
			}
			n++
		case bytes.HasPrefix(line, eventPrefix):
			name = bytes.TrimSpace(line[len(eventPrefix):])
		}
	}
	return name, data
}

// parseEvent returns an event's name and its first data line's payload,
// and whether it has any field at all (an event of comment lines only
// has none). Providers send JSON on a single data line; a multi-line
// payload is inspected by its first line only, and always passed whole.
func parseEvent(ev []byte) (name, data []byte, hasField bool) {
	for len(ev) > 0 {
		line := ev
		if end := bytes.IndexByte(ev, '\n'); end >= 0 {
			line, ev = ev[:end], ev[end+1:]
		} else {
			ev = nil
		}
		line = bytes.TrimSuffix(line, cr)
		switch {
		case len(line) == 0 || line[0] == ':':
		case bytes.HasPrefix(line, dataPrefix):
			hasField = true
			if data == nil {
				data = bytes.TrimPrefix(line[len(dataPrefix):], space)
			}
		case bytes.HasPrefix(line, eventPrefix):
			hasField = true
			name = bytes.TrimSpace(line[len(eventPrefix):])
		default:
			hasField = true // id:, retry:, or a field the client may know
		}
	}
	return name, data, hasField
}

var cr, space = []byte("\r"), []byte(" ")
