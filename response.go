package llmgateway

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// maxErrorBody caps how much of a provider's error answer is kept for
// reading; error bodies are small, and a body past the cap is read as
// unreadable (invalid_provider_response).
const maxErrorBody = 64 << 10

// maxUsageBody caps how much of a non-streamed answer is kept to read its
// usage from, when the key's limits need it.
const maxUsageBody = 4 << 20

// attemptWriter is the http.ResponseWriter one upstream attempt writes to.
// It holds back everything until the answer proves good:
//
//   - an error status (>= 400) is captured, capped, for the gateway to read
//     and either retry or rewrite into the client's envelope;
//   - a success passes through untouched, but its headers reach the client
//     only with the first byte of the body, so that an attempt that fails
//     before then can still be retried;
//   - a stream (text/event-stream) passes event by event through an
//     sseFilter, which rewrites upstream error events and reads usage.
//
// It writes headers straight into the client's header map (copying them
// would cost every request), after a snapshot of what was there: a failed
// attempt's headers are taken out again by restore, so they leave nothing
// behind on the client's response.
type attemptWriter struct {
	x      *exchange
	rt     route
	rw     http.ResponseWriter
	status int
	// saved is the client's header map before the attempt; upstream is
	// the provider's headers of a captured error, for classification.
	saved    []headerEntry
	savedBuf [4]headerEntry
	upstream http.Header
	mode     writerMode
	captured []byte
	overflow bool

	// committed is set once the client has the status and headers.
	committed bool
	// clientErr is the first error writing to the client.
	clientErr error

	sse    *sseFilter
	sseBuf sseFilter
	// sniffed holds the first bytes of a 200 from a provider that may
	// report errors inside one, until they show which it is.
	sniffed []byte

	readUsage bool
	// dropUsageChunk is set when the gateway added
	// stream_options.include_usage to the client's request.
	dropUsageChunk bool
	usage          providers.Usage
	sawUsage       bool
	usageBody      []byte

	idleTimeout time.Duration
	idle        *idleWatch
	cancel      context.CancelCauseFunc
}

type writerMode uint8

const (
	modeNone writerMode = iota
	modeCapture
	modeSniff
	modePass
	modeStream
)

type headerEntry struct {
	key    string
	values []string
}

// reset makes aw ready for an attempt on route rt, reusing its buffers,
// and snapshots the client's headers.
func (aw *attemptWriter) reset(x *exchange, rt route, cancel context.CancelCauseFunc, readUsage bool) {
	*aw = attemptWriter{
		x:           x,
		rt:          rt,
		rw:          x.w,
		readUsage:   readUsage,
		idleTimeout: time.Duration(rt.provider.StreamIdleTimeout),
		cancel:      cancel,
		captured:    aw.captured[:0],
	}
	aw.saved = aw.savedBuf[:0]
	for k, v := range aw.rw.Header() {
		aw.saved = append(aw.saved, headerEntry{k, v})
	}
}

// Header is the client's header map: the provider's headers go straight
// into it.
func (aw *attemptWriter) Header() http.Header { return aw.rw.Header() }

// takeUpstreamHeaders moves what the provider added to the client's headers
// into aw.upstream, leaving the client's headers as they were.
func (aw *attemptWriter) takeUpstreamHeaders() {
	h := aw.rw.Header()
	aw.upstream = make(http.Header, len(h))
	for k, v := range h {
		if i := aw.savedIndex(k); i >= 0 {
			if n := len(aw.saved[i].values); len(v) > n {
				aw.upstream[k] = v[n:]
			}
			continue
		}
		aw.upstream[k] = v
	}
	aw.restore()
}

// restore puts the client's headers back as they were before the attempt.
func (aw *attemptWriter) restore() {
	h := aw.rw.Header()
	clear(h)
	for _, e := range aw.saved {
		h[e.key] = e.values
	}
}

func (aw *attemptWriter) savedIndex(k string) int {
	for i := range aw.saved {
		if aw.saved[i].key == k {
			return i
		}
	}
	return -1
}

func (aw *attemptWriter) WriteHeader(status int) {
	if aw.mode != modeNone || status < 200 {
		return // informational answers are not forwarded
	}
	aw.status = status
	switch {
	case status >= 400:
		aw.mode = modeCapture
		aw.takeUpstreamHeaders()
	case isEventStream(aw.rw.Header()):
		aw.mode = modeStream
		aw.sseBuf = sseFilter{aw: aw, dropUsageChunk: aw.dropUsageChunk}
		aw.sse = &aw.sseBuf
		aw.startIdleTimer()
	case aw.rt.provider.typ.ErrorsIn200:
		aw.mode = modeSniff
	default:
		aw.mode = modePass
	}
}

func (aw *attemptWriter) Write(p []byte) (int, error) {
	if aw.mode == modeNone {
		aw.WriteHeader(http.StatusOK)
	}
	aw.touch()
	switch aw.mode {
	case modeCapture:
		aw.capture(p)
		return len(p), nil
	case modeStream:
		aw.sse.write(p)
	case modeSniff:
		aw.sniff(p)
	default:
		aw.pass(p)
	}
	if aw.clientErr != nil {
		return 0, aw.clientErr
	}
	return len(p), nil
}

// FlushError flushes what reached the client; before the first byte there
// is nothing to flush, and the headers are deliberately held back.
func (aw *attemptWriter) FlushError() error {
	if !aw.committed {
		return nil
	}
	return http.NewResponseController(aw.rw).Flush()
}

func (aw *attemptWriter) capture(p []byte) {
	room := maxErrorBody - len(aw.captured)
	if len(p) > room {
		p = p[:room]
		aw.overflow = true
	}
	aw.captured = append(aw.captured, p...)
}

// pass sends body bytes of a success to the client.
func (aw *attemptWriter) pass(p []byte) {
	if aw.readUsage && len(aw.usageBody)+len(p) <= maxUsageBody {
		aw.usageBody = append(aw.usageBody, p...)
	}
	aw.emit(p)
}

// sniff decides whether a 200 from a provider that reports errors inside
// 200s (OpenRouter) is an error: it is when the JSON object opens with an
// "error" member. Leading whitespace, which OpenRouter sends to keep slow
// requests alive, is skipped.
func (aw *attemptWriter) sniff(p []byte) {
	aw.sniffed = append(aw.sniffed, p...)
	rest := bytes.TrimLeft(aw.sniffed, " \t\r\n")
	if len(rest) == 0 {
		return
	}
	if rest[0] == '{' {
		member := bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(member) < len(`"error"`) {
			return
		}
		if bytes.HasPrefix(member, []byte(`"error"`)) {
			aw.mode = modeCapture
			aw.takeUpstreamHeaders()
			aw.captured = aw.captured[:0]
			aw.capture(rest)
			aw.sniffed = nil
			return
		}
	}
	aw.mode = modePass
	held := aw.sniffed
	aw.sniffed = nil
	aw.pass(held)
}

// emit writes bytes of the answer to the client, committing the status
// and headers first.
func (aw *attemptWriter) emit(p []byte) {
	if aw.clientErr != nil || len(p) == 0 {
		return
	}
	aw.commit()
	if _, err := aw.rw.Write(p); err != nil {
		aw.clientErr = err
	}
}

// commit sends the status and the provider's headers to the client. The
// gateway's own request ID wins: the provider's moves to
// X-Provider-Request-Id. So do the key's own rate-limit headers, when it
// has rate limits.
func (aw *attemptWriter) commit() {
	if aw.committed {
		return
	}
	aw.committed = true
	x := aw.x
	x.wrote = true
	h := aw.rw.Header()
	// reverse_proxy adds the provider's values after the gateway's own
	if ids := h["X-Request-Id"]; len(ids) > 1 {
		h["X-Provider-Request-Id"] = ids[1:]
		h["X-Request-Id"] = ids[:1]
	}
	if ids, ok := h["Request-Id"]; ok {
		h["X-Provider-Request-Id"] = ids
	}
	if x.anthropicClient {
		h.Set("Request-Id", x.id) // what Anthropic SDKs report as the request's ID
	}
	if x.ownRateHeaders {
		for k := range h {
			if isRateLimitHeader(k) {
				delete(h, k)
			}
		}
		x.admission.SetRateHeaders(h, x.anthropicClient, time.Now())
	}
	if aw.mode == modeStream {
		delete(h, "Content-Length")
	}
	x.setRouteHeaders(h)
	aw.rw.WriteHeader(aw.status)
}

// finish completes a successful answer after the upstream is done.
func (aw *attemptWriter) finish() {
	switch aw.mode {
	case modeStream:
		aw.sse.finish()
	case modeSniff:
		held := aw.sniffed
		aw.sniffed = nil
		aw.mode = modePass
		aw.pass(held)
	case modePass:
		if aw.readUsage {
			aw.sawUsage = providers.ReadUsage(aw.usageBody, &aw.usage)
		}
	}
	aw.commit()
}

// startIdleTimer arms the stream idle timeout once a stream has begun: a
// stream that goes quiet for longer is cut, with providers.ErrIdleTimeout
// as the cause. A plain answer comes whole once its headers are there, so
// it needs no timer.
func (aw *attemptWriter) startIdleTimer() {
	if aw.idleTimeout <= 0 || aw.cancel == nil {
		return
	}
	aw.idle = &idleWatch{cancel: aw.cancel, period: aw.idleTimeout / 2}
	aw.idle.first = time.AfterFunc(aw.idle.period, aw.idle.check)
}

// touch records that the stream is alive: one atomic add, cheaper than
// resetting a timer for every event.
func (aw *attemptWriter) touch() {
	if aw.idle != nil {
		aw.idle.writes.Add(1)
	}
}

func (aw *attemptWriter) stopIdleTimer() {
	if aw.idle != nil {
		aw.idle.stop()
	}
}

// idleWatch cuts a stream that wrote nothing for its idle timeout. It
// looks every half timeout and cuts after two looks in a row saw no write,
// so a stream is cut between one and one and a half timeouts after its
// last byte. It belongs to one attempt, so a late look can never touch
// the next attempt.
type idleWatch struct {
	cancel context.CancelCauseFunc
	period time.Duration
	// first is the first look's timer; later looks arm their own, so
	// no timer is shared between goroutines.
	first   *time.Timer
	writes  atomic.Uint64
	stopped atomic.Bool
	// seen and quiet are only touched by check, which never runs twice
	// at once (it arms the next look as its last step).
	seen  uint64
	quiet int
}

func (w *idleWatch) check() {
	if w.stopped.Load() {
		return
	}
	if n := w.writes.Load(); n != w.seen {
		w.seen, w.quiet = n, 0
	} else if w.quiet++; w.quiet >= 2 {
		w.cancel(providers.ErrIdleTimeout)
		return
	}
	time.AfterFunc(w.period, w.check)
}

// stop ends the watch; a look already armed finds it stopped.
func (w *idleWatch) stop() {
	w.stopped.Store(true)
	w.first.Stop()
}

// isRateLimitHeader reports whether k is one of the OpenAI
// (x-ratelimit-*) or Anthropic (anthropic-ratelimit-*) rate-limit headers.
func isRateLimitHeader(k string) bool {
	return strings.HasPrefix(k, "X-Ratelimit-") || strings.HasPrefix(k, "Anthropic-Ratelimit-")
}

func isEventStream(h http.Header) bool {
	return hasMediaType(h.Get("Content-Type"), "text/event-stream")
}

// hasMediaType reports whether the Content-Type value ct is of media type
// mt, whatever its parameters, without the allocations of a full parse.
func hasMediaType(ct, mt string) bool {
	ct = strings.TrimLeft(ct, " ")
	if len(ct) < len(mt) || !strings.EqualFold(ct[:len(mt)], mt) {
		return false
	}
	rest := strings.TrimLeft(ct[len(mt):], " ")
	return rest == "" || rest[0] == ';'
}
