package llmgateway

import (
	"bytes"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// sseFilter passes a server-sent event stream to the client one whole
// event at a time, as each arrives. On the way it reads usage from the
// events that carry it, drops the usage-only chunk the gateway asked an
// OpenAI provider for when the client did not, and rewrites an upstream
// error event into the client's protocol, after which the stream ends:
// nothing the upstream sends later (such as `data: [DONE]`) is passed on.
//
// Bytes of events that are passed through are written straight from the
// upstream's buffer; only an event split across writes is copied.
type sseFilter struct {
	aw      *attemptWriter
	pending []byte
	// dropUsageChunk is set when the gateway added
	// stream_options.include_usage to the client's request.
	dropUsageChunk bool
	// ended is set once an error event was rewritten.
	ended bool
}

// write takes the next bytes of the upstream stream.
func (f *sseFilter) write(p []byte) {
	if f.ended {
		return
	}
	data := p
	if len(f.pending) > 0 {
		f.pending = append(f.pending, p...)
		data = f.pending
	}
	kept := 0 // data[kept:pos] is passed through but not yet written
	pos := 0
	for pos < len(data) {
		n := eventLength(data[pos:])
		if n < 0 {
			break
		}
		switch f.inspect(data[pos : pos+n]) {
		case eventDrop:
			f.aw.emit(data[kept:pos])
			kept = pos + n
		case eventError:
			f.aw.emit(data[kept:pos])
			f.end(f.readError(data[pos : pos+n]))
			f.pending = f.pending[:0]
			return
		}
		pos += n
	}
	f.aw.emit(data[kept:pos])
	rest := data[pos:]
	if len(f.pending) > 0 {
		f.pending = f.pending[:copy(f.pending, rest)]
	} else {
		f.pending = append(f.pending[:0], rest...)
	}
}

// finish passes on a last event the upstream did not terminate.
func (f *sseFilter) finish() {
	if f.ended || len(f.pending) == 0 {
		return
	}
	if f.inspect(f.pending) == eventError {
		f.end(f.readError(f.pending))
		return
	}
	f.aw.emit(f.pending)
	f.pending = f.pending[:0]
}

// end writes e as the stream's last event, in the client's protocol.
func (f *sseFilter) end(e *llmerrors.Error) {
	f.ended = true
	e.RequestID = f.aw.x.id
	f.aw.x.errCode = e.Code
	f.aw.emit(llmerrors.StreamEvent(f.aw.x.anthropicClient, e))
	_ = f.aw.FlushError()
	f.aw.x.logFailure(e)
}

type eventAction uint8

const (
	eventPass eventAction = iota
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

// inspect decides what happens to one whole event. Most events carry
// neither usage the gateway needs nor an error, and are passed on after one
// quick look.
func (f *sseFilter) inspect(ev []byte) eventAction {
	if !f.aw.readUsage && !bytes.Contains(ev, errorWord) && !bytes.Contains(ev, responseFailed) {
		return eventPass
	}
	name, data := parseEvent(ev)
	if bytes.Equal(name, []byte("error")) {
		return eventError
	}
	if len(data) == 0 || data[0] != '{' {
		return eventPass
	}
	if bytes.Contains(data, errorMember) {
		if gjson.GetBytes(data, "error").IsObject() || gjson.GetBytes(data, "type").Str == "error" {
			return eventError
		}
	}
	if bytes.Equal(name, responseFailed) {
		return eventError
	}
	if f.aw.readUsage && providers.ReadUsage(data, &f.aw.usage) {
		f.aw.sawUsage = true
		if f.dropUsageChunk && isUsageOnlyChunk(data) {
			return eventDrop
		}
	}
	return eventPass
}

// readError turns an upstream error event into the canonical error.
func (f *sseFilter) readError(ev []byte) *llmerrors.Error {
	_, data := parseEvent(ev)
	return providers.ClassifyStreamError(f.aw.rt.provider.Name, data)
}

// isUsageOnlyChunk is OpenAI's final chunk under include_usage: no
// choices, only usage.
func isUsageOnlyChunk(data []byte) bool {
	c := gjson.GetBytes(data, "choices")
	return c.IsArray() && c.Raw == "[]"
}

// eventLength is the length of the first whole event in b, its blank-line
// terminator included, or -1 when b holds no whole event yet. Lines end in
// LF or CRLF; a stream with CR alone (the SSE specification allows it,
// no provider sends it) is split on CR CR.
func eventLength(b []byte) int {
	for i := 0; i < len(b); {
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
	if bytes.IndexByte(b, '\n') < 0 {
		if k := bytes.Index(b, crcr); k >= 0 {
			return k + 2
		}
	}
	return -1
}

var crcr = []byte("\r\r")

// parseEvent returns an event's name and its first data line's payload.
// Providers send JSON on a single data line; a multi-line payload is
// inspected by its first line only, and always passed through whole.
func parseEvent(ev []byte) (name, data []byte) {
	for len(ev) > 0 {
		line := ev
		if end := bytes.IndexByte(ev, '\n'); end >= 0 {
			line, ev = ev[:end], ev[end+1:]
		} else {
			ev = nil
		}
		line = bytes.TrimSuffix(line, cr)
		switch {
		case bytes.HasPrefix(line, dataPrefix):
			if data == nil {
				data = bytes.TrimPrefix(line[len(dataPrefix):], space)
			}
		case bytes.HasPrefix(line, eventPrefix):
			name = bytes.TrimSpace(line[len(eventPrefix):])
		}
	}
	return name, data
}

var cr, space = []byte("\r"), []byte(" ")
