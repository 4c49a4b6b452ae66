package relay

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/request"
)

// The tests of this package drive Run with scripted upstreams: an
// http.RoundTripper that answers each call with what the test says and
// records what it was sent. No Caddy, no network; each case takes
// microseconds to milliseconds.

// sent is one request an upstream received.
type sent struct {
	url    string
	header http.Header
	body   string
}

// script is a scripted upstream.
type script struct {
	mu    sync.Mutex
	calls []sent
	// answer gives the n-th call's answer (n from 0).
	answer func(n int, req *http.Request) (*http.Response, error)
}

func (s *script) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, sent{req.URL.String(), req.Header.Clone(), string(body)})
	s.mu.Unlock()
	resp, err := s.answer(n, req)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *script) call(t *testing.T, i int) sent {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.calls) {
		t.Fatalf("the upstream got %d calls, not %d", len(s.calls), i+1)
	}
	return s.calls[i]
}

// answers is an answer func that gives each answer in turn, repeating the
// last.
func answers(list ...func(*http.Request) (*http.Response, error)) func(int, *http.Request) (*http.Response, error) {
	return func(n int, req *http.Request) (*http.Response, error) {
		return list[min(n, len(list)-1)](req)
	}
}

func always(f func(*http.Request) (*http.Response, error)) func(int, *http.Request) (*http.Response, error) {
	return answers(f)
}

// reply answers status with a body and headers (name, value pairs).
func reply(status int, body string, headers ...string) func(*http.Request) (*http.Response, error) {
	return func(*http.Request) (*http.Response, error) {
		h := make(http.Header)
		h.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			h.Add(headers[i], headers[i+1])
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
	}
}

// streamReply answers 200 text/event-stream with body, given to the
// reader in the pieces named.
func streamReply(pieces ...string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		h := make(http.Header)
		h.Set("Content-Type", "text/event-stream")
		own := append([]string(nil), pieces...) // each answer reads its own copy
		return &http.Response{StatusCode: 200, Header: h, Body: &pieceReader{ctx: req.Context(), pieces: own}, ContentLength: -1}, nil
	}
}

// pieceReader gives its pieces one Read each, then the end: io.EOF, or
// end if set; a piece "<hang>" blocks until the request's context ends.
type pieceReader struct {
	ctx    context.Context
	pieces []string
	end    error
}

const hang = "<hang>"

func (p *pieceReader) Read(b []byte) (int, error) {
	if len(p.pieces) == 0 {
		if p.end != nil {
			return 0, p.end
		}
		return 0, io.EOF
	}
	if p.pieces[0] == hang {
		<-p.ctx.Done()
		return 0, p.ctx.Err()
	}
	n := copy(b, p.pieces[0])
	if p.pieces[0] = p.pieces[0][n:]; p.pieces[0] == "" {
		p.pieces = p.pieces[1:]
	}
	return n, nil
}

func (p *pieceReader) Close() error { return nil }

// brokenStream answers 200 text/event-stream with the pieces, then a
// connection reset.
func brokenStream(pieces ...string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		resp, _ := streamReply(pieces...)(req)
		resp.Body.(*pieceReader).end = resetErr()
		return resp, nil
	}
}

func resetErr() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

func refused(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// headerTimeout is what Go's transport returns when the answer's headers
// do not come in time.
func headerTimeout(*http.Request) (*http.Response, error) { return nil, timeoutErr{} }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "net/http: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// upstream builds a provider of type typ with n keys on script s.
func upstream(t *testing.T, name, typ string, keys int, s *script) *Upstream {
	t.Helper()
	pt, ok := providers.Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	base, _ := url.Parse("https://" + name + ".example/v1")
	if pt.Protocols[0] == providers.Anthropic {
		base, _ = url.Parse("https://" + name + ".example")
	}
	h := providers.NewHealth()
	up := &Upstream{
		Name: name, Type: pt, Base: base, Transport: s,
		Health: h, Breaker: providers.Breaker{Failures: 10, OpenFor: time.Minute},
		Budget: new(RetryBudget), Header: make(http.Header),
		HeaderTimeout: time.Minute, IdleTimeout: time.Minute, KeyCooldown: time.Minute,
	}
	var fps []string
	for i := range keys {
		k := name + "-key-" + string(rune('a'+i))
		fps = append(fps, providers.Fingerprint(k))
		up.Keys = append(up.Keys, k)
		up.Credentials = append(up.Credentials, Credential{Header: pt.Auth.Header(), Value: []string{pt.Auth.Value(k)}})
	}
	up.Pool = h.Pool(fps)
	return up
}

// call is a Call of body on path, on routes, with a fast retry policy.
func call(t *testing.T, path, body string, routes ...Route) *Call {
	t.Helper()
	ep, ok := providers.LookupEndpoint(path)
	if !ok {
		t.Fatalf("no endpoint %s", path)
	}
	required := request.NoRequired
	if ep.Required == "messages" {
		required = request.Messages
	}
	b, e := request.Parse([]byte(body), required)
	if e != nil {
		t.Fatal(e)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	return &Call{
		Request: req, Endpoint: ep, Body: b, Routes: routes, ID: "req_test",
		AnthropicClient: ep.Protocol == providers.Anthropic,
		Policy:          Policy{MaxAttempts: 3, Backoff: time.Millisecond, MaxWait: 100 * time.Millisecond},
	}
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

const chatStreamBody = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`

const messagesStreamBody = `{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

const chatOK = `{"id":"chatcmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`

// runCall runs c, answering into a recorder.
func runCall(c *Call) (Result, *httptest.ResponseRecorder) {
	rec := httptest.NewRecorder()
	return Run(c, rec), rec
}
