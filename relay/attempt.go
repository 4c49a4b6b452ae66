package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// attemptOutcome is how one attempt ended.
type attemptOutcome struct {
	// done: the client has its answer (or an error event in its
	// stream), or left; nothing more is tried.
	done bool
	// failure: the attempt failed before anything reached the client.
	failure *llmerrors.Error
}

// attempt is one upstream attempt under way: the context it runs in, its
// watch for bodies that go quiet, and what it learned about the dial.
type attempt struct {
	r      *run
	rt     Route
	st     *routeState
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   idleWatch
	// dialErr is the dialer's own error, which Caddy's transport hides
	// inside an error that cannot be unwrapped. The dial may still run
	// after RoundTrip returned, on its own goroutine: hence the lock.
	dialMu  sync.Mutex
	dialErr error
}

// errMaxDuration is the cause given to an attempt cut by the request's
// retry max_duration.
var errMaxDuration = errors.New("the request's max_duration ran out")

// attempt sends the request once, on route i with key, and copies a good
// answer to the client. The circuit pass is resolved here, once, whatever
// happens (a deferred call, so a panic resolves it too).
func (r *run) attempt(i, key int, pass providers.Pass) (out attemptOutcome) {
	rt := r.c.Routes[i]
	up := rt.Upstream
	outcome := providers.NoVerdict
	var failure *llmerrors.Error
	defer func() { pass.Resolve(outcome, up.Breaker, r.clock(), failure) }()

	a := &attempt{r: r, rt: rt, st: &r.routes[i]}
	ctx := r.c.Request.Context()
	if up.AttemptContext != nil {
		ctx = up.AttemptContext(ctx)
	}
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	defer a.cancel(nil)
	if !r.deadline.IsZero() {
		// Cut an attempt still waiting for its answer when max_duration
		// runs out; an answer that has begun is left alone.
		t := time.AfterFunc(r.deadline.Sub(r.clock()), func() {
			if !r.committed.Load() {
				a.cancel(errMaxDuration)
			}
		})
		defer t.Stop()
	}
	a.ctx = httptrace.WithClientTrace(a.ctx, &httptrace.ClientTrace{
		DNSDone:     func(info httptrace.DNSDoneInfo) { a.noteDialErr(info.Err) },
		ConnectDone: func(_, _ string, err error) { a.noteDialErr(err) },
	})

	req := a.request(key, a.st.body)
	resp, err := up.Transport.RoundTrip(req)
	if err != nil {
		failure = a.transportFailure(err)
		if failure == nil {
			r.res.ClientGone = true
			return attemptOutcome{done: true}
		}
		outcome = faultOf(failure).outcome()
		return attemptOutcome{failure: failure}
	}
	defer resp.Body.Close()
	r.res.UpstreamStatus = resp.StatusCode
	a.idle.start(up.IdleTimeout, a.cancel)
	defer a.idle.stop()

	switch {
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		failure = a.readError(resp)
	case isEventStream(resp.Header):
		failure = a.stream(resp)
	default:
		failure = a.plain(resp)
	}
	switch {
	case r.res.ClientGone:
		return attemptOutcome{done: true}
	case failure == nil:
		outcome = providers.Answered
		return attemptOutcome{done: true}
	case r.res.Committed:
		// The failure was written into the stream: the trip is over.
		outcome = faultOf(failure).outcome()
		r.res.Err = failure
		return attemptOutcome{done: true}
	}
	outcome = faultOf(failure).outcome()
	return attemptOutcome{failure: failure}
}

// request is the attempt's request: the route's body and URL, the client
// headers the policy forwards, the provider's configured headers, the
// request ID and the key.
func (a *attempt) request(key int, body []byte) *http.Request {
	up := a.rt.Upstream
	fwd := a.r.forwardedHeader(a.st.protocol)
	h := make(http.Header, len(fwd)+len(up.Header)+3)
	for k, v := range fwd {
		h[k] = v
	}
	// The provider's configured headers win over the client's, except
	// anthropic-version, which the client may pick (the config only
	// gives a default).
	for k, v := range up.Header {
		if _, set := h[k]; !set || k != "Anthropic-Version" {
			h[k] = v
		}
	}
	h["X-Request-Id"] = []string{a.r.c.ID}
	if len(up.Credentials) > 0 {
		c := up.Credentials[key%len(up.Credentials)]
		h[c.Header] = c.Value
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = jsonContentType
	}
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           a.st.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		GetBody:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
		Host:          up.Base.Host,
	}).WithContext(a.ctx)
	return req
}

var jsonContentType = []string{"application/json"}

func (a *attempt) noteDialErr(err error) {
	a.dialMu.Lock()
	defer a.dialMu.Unlock()
	if err != nil && a.dialErr == nil {
		a.dialErr = err
	}
}

func (a *attempt) dialError() error {
	a.dialMu.Lock()
	defer a.dialMu.Unlock()
	return a.dialErr
}

// transportFailure classifies an attempt that got no answer. It returns
// nil when the client left (nothing to tell it).
func (a *attempt) transportFailure(err error) *llmerrors.Error {
	if a.r.c.Request.Context().Err() != nil {
		return nil
	}
	cause := context.Cause(a.ctx)
	if cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the idle watch or max_duration cut it
	} else if de := a.dialError(); de != nil {
		err = de // what the dialer said, unhidden
	}
	up := a.rt.Upstream
	if errors.Is(err, errMaxDuration) {
		return &llmerrors.Error{Code: llmerrors.ProviderTimeout, Provider: up.Name, Cause: err,
			Message: "Provider '" + up.Name + "' did not answer within the gateway's time for this request (retry max_duration). Retry, or stream the answer."}
	}
	return providers.ClassifyTransport(up.Name, err, up.HeaderTimeout)
}

// maxErrorBody caps how much of a provider's error answer is read: error
// bodies are small, and one past the cap is read as unreadable
// (invalid_provider_response).
const maxErrorBody = 64 << 10

// readError reads a provider's error answer (capped, and under the idle
// watch) and classifies it.
func (a *attempt) readError(resp *http.Response) *llmerrors.Error {
	buf := getBuffer()
	defer putBuffer(buf)
	body, truncated, err := a.readBody(resp.Body, buf, maxErrorBody)
	if truncated {
		a.cancel(errTooLong) // no more of it is read
		body = body[:maxErrorBody]
	}
	if err != nil {
		if a.r.c.Request.Context().Err() != nil {
			a.r.res.ClientGone = true
			return nil
		}
		// The answer broke off: what came is read as cut short, so the
		// status still tells what it was.
		truncated = true
	}
	up := a.rt.Upstream
	e := providers.Classify(up.Type, up.Name, providers.Reply{
		Status:    resp.StatusCode,
		Header:    resp.Header,
		Body:      body,
		Truncated: truncated,
		Keys:      up.Keys,
	})
	if e.Code == llmerrors.ModelNotFound && a.r.c.AvailableModels != nil {
		e.AvailableModels = a.r.c.AvailableModels()
	}
	return e
}

// readBody reads body into buf, up to limit bytes; truncated says the
// body holds more (data then has limit+1 bytes, the rest is unread).
func (a *attempt) readBody(body io.Reader, buf *bytes.Buffer, limit int) (data []byte, truncated bool, err error) {
	for {
		if buf.Len() >= limit+1 {
			return buf.Bytes(), true, nil
		}
		buf.Grow(min(32<<10, limit+1-buf.Len()))
		room := buf.AvailableBuffer()
		room = room[:min(cap(room), limit+1-buf.Len())]
		n, rerr := body.Read(room)
		if n > 0 {
			a.idle.touch()
			buf.Write(room[:n])
		}
		if rerr == io.EOF {
			return buf.Bytes(), false, nil
		}
		if rerr != nil {
			return buf.Bytes(), false, rerr
		}
	}
}

// errTooLong is the cause given to an attempt whose body ran past what
// the gateway reads of it.
var errTooLong = errors.New("the answer is longer than the gateway reads")

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

// putBuffer returns buf to the pool, unless it grew large: a rare huge
// answer should not pin its memory.
func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 1<<20 {
		return
	}
	buf.Reset()
	buffers.Put(buf)
}

func isEventStream(h http.Header) bool {
	return providers.HasMediaType(h.Get("Content-Type"), "text/event-stream")
}

// attemptsText caches the X-Llm-Attempts values most requests need.
var attemptsText = [...][]string{{"0"}, {"1"}, {"2"}, {"3"}, {"4"}, {"5"}, {"6"}, {"7"}, {"8"}, {"9"}}

func attemptsValue(n int) []string {
	if n >= 0 && n < len(attemptsText) {
		return attemptsText[n]
	}
	return []string{strconv.Itoa(n)}
}
