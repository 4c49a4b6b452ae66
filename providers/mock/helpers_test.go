package mock

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// flushRecorder is a ResponseWriter that keeps each flushed piece of the
// body apart with the time it was flushed, so tests can see events leave
// one by one and at what pace.
type flushRecorder struct {
	mu      sync.Mutex
	start   time.Time
	header  http.Header
	status  int
	pending bytes.Buffer
	flushes []flushed
	// failWrites makes every Write fail, as a client that left does.
	failWrites bool
}

type flushed struct {
	at   time.Duration
	data string
}

func newFlushRecorder() *flushRecorder {
	return &flushRecorder{start: time.Now(), header: make(http.Header)}
}

func (r *flushRecorder) Header() http.Header { return r.header }

func (r *flushRecorder) WriteHeader(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == 0 {
		r.status = status
	}
}

func (r *flushRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failWrites {
		return 0, errors.New("client went away")
	}
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.pending.Write(p)
}

func (r *flushRecorder) FlushError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending.Len() > 0 {
		r.flushes = append(r.flushes, flushed{at: time.Since(r.start), data: r.pending.String()})
		r.pending.Reset()
	}
	return nil
}

// Status is the status written so far (0: none).
func (r *flushRecorder) Status() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Flushes is a copy of the flushed pieces so far.
func (r *flushRecorder) Flushes() []flushed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]flushed(nil), r.flushes...)
}

// Body is everything written, flushed or not.
func (r *flushRecorder) Body() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, f := range r.flushes {
		b.WriteString(f.data)
	}
	b.WriteString(r.pending.String())
	return b.String()
}

// result is how one call to ServeHTTP ended.
type result struct {
	rec      *flushRecorder
	err      error
	panicked any
	took     time.Duration
}

// newTestHandler is a handler with a short tick, for tests that do not
// measure pacing.
func newTestHandler(timeout time.Duration) *Handler {
	h := New(timeout)
	h.tick = time.Millisecond
	return h
}

// serve POSTs body to path on h and waits for the answer.
func serve(t *testing.T, h *Handler, path, body string) result {
	t.Helper()
	return serveCtx(context.Background(), h, newFlushRecorder(), path, body, nil)
}

// serveCtx serves one request with ctx and header, recovering the panic
// with which the mock aborts a broken answer.
func serveCtx(ctx context.Context, h *Handler, rec *flushRecorder, path, body string, header http.Header) (res result) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	res.rec = rec
	start := time.Now()
	defer func() {
		res.took = time.Since(start)
		res.panicked = recover()
	}()
	res.err = h.ServeHTTP(rec, req, nil)
	return res
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	name, data string
}

// parseSSE splits a stream body into events, failing on anything that is
// not `event:`/`data:` lines ended by a blank line.
func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", tail(body))
	}
	var evs []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		var ev sseEvent
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			default:
				t.Fatalf("unexpected line %q in event %q", line, block)
			}
		}
		evs = append(evs, ev)
	}
	return evs
}

// eventsPerFlush checks that every flush carried exactly one whole event,
// and returns the events.
func eventsPerFlush(t *testing.T, rec *flushRecorder) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for i, f := range rec.Flushes() {
		got := parseSSE(t, f.data)
		if len(got) != 1 {
			t.Fatalf("flush %d carried %d events, want 1: %q", i, len(got), f.data)
		}
		evs = append(evs, got[0])
	}
	return evs
}

func tail(s string) string {
	if len(s) > 200 {
		return "…" + s[len(s)-200:]
	}
	return s
}

// chatBody is a chat request for model saying msg, with extra fields.
func chatBody(model, msg, extra string) string {
	b := `{"model":"` + model + `","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"` + msg + `"}]`
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

// messagesBody is an Anthropic messages request for model saying msg.
func messagesBody(model, msg, extra string) string {
	b := `{"model":"` + model + `","max_tokens":1024,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"` + msg + `"}]}]`
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}
