package mock

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Transport runs the mock in process as an http.RoundTripper, the way the
// gateway calls every provider's transport: the answer's status and
// headers come back as soon as the mock writes them and its body streams
// through a pipe, flush by flush. What reverse_proxy's way of failing
// said, a transport says its own way:
//
//   - no answer at all (the mock returns a caddyhttp.HandlerError) is the
//     RoundTrip error; a refused connection is a reverseproxy.DialError,
//     whose cause Caddy's dialer hides, reported to the request's
//     httptrace.ClientTrace as the dialer's own error, as in production;
//   - an answer that breaks after its headers (the mock panics with
//     http.ErrAbortHandler) is a body that ends in a reset;
//   - the request's context ending before the mock answered is the
//     context's error.
type Transport struct{ h *Handler }

// NewTransport returns the mock as a transport; timeout is as for New.
func NewTransport(timeout time.Duration) *Transport { return &Transport{New(timeout)} }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: make(http.Header), pipe: pw, ready: make(chan struct{})}
	go t.serve(w, req)
	<-w.ready
	if w.err != nil {
		return nil, w.err
	}
	if err := req.Context().Err(); err != nil && w.status == 499 {
		return nil, err
	}
	length := int64(-1)
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		length = n
	}
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          pr,
		ContentLength: length,
		Request:       req,
	}, nil
}

func (t *Transport) serve(w *pipeWriter, req *http.Request) {
	defer func() {
		v := recover()
		switch {
		case v == nil:
			w.pipe.Close()
		case v == http.ErrAbortHandler:
			w.pipe.CloseWithError(resetCause())
		default:
			w.pipe.CloseWithError(fmt.Errorf("mock: %v", v))
		}
		w.answer() // an answer with nothing written is an empty 200
	}()
	err := t.h.ServeHTTP(w, req, nil)
	if err == nil || w.answered {
		return
	}
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.Err != nil {
		err = he.Err
	}
	var de reverseproxy.DialError
	if errors.As(err, &de) {
		if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.ConnectDone != nil {
			trace.ConnectDone("tcp", upstreamAddr.String(), refusedCause())
		}
	}
	w.fail(err)
}

// pipeWriter is the mock's http.ResponseWriter: the status and headers
// are handed to RoundTrip at the first WriteHeader or Write, the body goes
// into the pipe.
type pipeWriter struct {
	// header is the mock's; sent the copy taken when the answer began.
	header   http.Header
	sent     http.Header
	pipe     *io.PipeWriter
	once     sync.Once
	ready    chan struct{}
	answered bool
	status   int
	err      error
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(status int) {
	if status < 200 && status != 499 {
		return // informational answers are not passed on
	}
	w.once.Do(func() {
		w.status, w.answered = status, true
		w.sent = w.header.Clone() // the mock's later changes stay its own
		close(w.ready)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pipe.Write(p)
}

// FlushError does nothing: the pipe hands each write to the reader as it
// happens.
func (w *pipeWriter) FlushError() error { return nil }

func (w *pipeWriter) answer() { w.WriteHeader(http.StatusOK) }

func (w *pipeWriter) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.ready)
	})
}
