package errors_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/errors/envelopetest"
)

// full is an error with every detail set, rendered byte for byte below.
func full() *llmerrors.Error {
	return &llmerrors.Error{
		Code:            llmerrors.RateLimitExceeded,
		Message:         "Rate limit exceeded",
		Provider:        "groq",
		Field:           "messages",
		RetryAfter:      1500 * time.Millisecond,
		Limit:           5000,
		Remaining:       0,
		HasLimit:        true,
		AvailableModels: []string{"llama-3.1-70b-versatile", "moonshotai/kimi-k2-instruct"},
		Suggestion:      "Slow down.",
		RequestID:       "req_123",
	}
}

func TestBodyExact(t *testing.T) {
	details := `{"provider":"groq","retry_after":2,"limit":5000,"remaining":0,"available_models":["llama-3.1-70b-versatile","moonshotai/kimi-k2-instruct"],"field":"messages","suggestion":"Slow down."}`
	want := map[llmerrors.Format]string{
		llmerrors.OpenAI:    `{"error":{"message":"Rate limit exceeded","type":"rate_limit_error","param":"messages","code":"429"}}`,
		llmerrors.Anthropic: `{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit exceeded"},"request_id":"req_123"}`,
		llmerrors.CCProxy:   `{"error":{"type":"rate_limit_error","message":"Rate limit exceeded","code":"rate_limit_exceeded","details":` + details + `}}`,
		llmerrors.CooLLM:    `{"error":{"message":"rate limit exceeded","type":"rate_limit_error","code":429,"details":` + details + `}}`,
		llmerrors.Proxed:    `{"error":"TOO_MANY_REQUESTS","message":"Rate limit exceeded","requestId":"req_123","details":` + details + `}`,
	}
	for f, w := range want {
		if got := string(full().Body(f)); got != w {
			t.Errorf("%s:\n got %s\nwant %s", f, got, w)
		}
	}
}

func TestBodyWithoutDetails(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.InternalError, Message: "The gateway failed."}
	want := map[llmerrors.Format]string{
		llmerrors.OpenAI:    `{"error":{"message":"The gateway failed.","type":"server_error","param":null,"code":"500"}}`,
		llmerrors.Anthropic: `{"type":"error","error":{"type":"api_error","message":"The gateway failed."},"request_id":null}`,
		llmerrors.CCProxy:   `{"error":{"type":"api_error","message":"The gateway failed.","code":"internal_error"}}`,
		llmerrors.CooLLM:    `{"error":{"message":"The gateway failed.","type":"api_error","code":500}}`,
		llmerrors.Proxed:    `{"error":"INTERNAL_ERROR","message":"The gateway failed.","requestId":null}`,
	}
	for f, w := range want {
		if got := string(e.Body(f)); got != w {
			t.Errorf("%s:\n got %s\nwant %s", f, got, w)
		}
	}
}

// Every code renders in every envelope with the contract's shape, status
// and type name.
func TestEveryCodeEveryEnvelope(t *testing.T) {
	for _, c := range llmerrors.Codes() {
		for _, f := range llmerrors.Formats() {
			for _, e := range []*llmerrors.Error{
				{Code: c, Message: "m"},
				full(),
			} {
				e.Code = c
				status := e.Status(f)
				doc, err := envelopetest.Check(string(f), status, e.Body(f))
				if err != nil {
					t.Errorf("%s/%s: %v\n%s", c, f, err, e.Body(f))
					continue
				}
				var typ, msg string
				switch f {
				case llmerrors.Anthropic:
					typ, msg = doc.Get("error", "type").Str, doc.Get("error", "message").Str
				case llmerrors.Proxed:
					typ, msg = doc.Get("error").Str, doc.Get("message").Str
				default:
					typ, msg = doc.Get("error", "type").Str, doc.Get("error", "message").Str
				}
				if typ != e.Type(f) {
					t.Errorf("%s/%s: type %q, want %q", c, f, typ, e.Type(f))
				}
				wantMsg := e.Message
				if f == llmerrors.CooLLM && c.ShortText() != "" {
					wantMsg = c.ShortText()
				}
				if msg != wantMsg {
					t.Errorf("%s/%s: message %q, want %q", c, f, msg, wantMsg)
				}
				if f == llmerrors.CCProxy && doc.Get("error", "code").Str != string(c) {
					t.Errorf("%s/ccproxy: code %q", c, doc.Get("error", "code").Str)
				}
			}
		}
	}
}

func TestDetailsSubsets(t *testing.T) {
	cases := []struct {
		name string
		e    llmerrors.Error
		want string // the ccproxy details object, or "" for none
	}{
		{"nothing", llmerrors.Error{}, ""},
		{"provider only", llmerrors.Error{Provider: "groq"}, `{"provider":"groq"}`},
		{"retry only", llmerrors.Error{RetryAfter: 30 * time.Second}, `{"retry_after":30}`},
		{"limit", llmerrors.Error{HasLimit: true, Limit: 200, Remaining: 3}, `{"limit":200,"remaining":3}`},
		{"fractional budget", llmerrors.Error{HasLimit: true, Limit: 50.25, Remaining: 0.5}, `{"limit":50.25,"remaining":0.5}`},
		{"no finite limit", llmerrors.Error{HasLimit: true, Limit: math.Inf(1), Remaining: math.NaN()}, `{"limit":null,"remaining":null}`},
		{"large limit", llmerrors.Error{HasLimit: true, Limit: 1e20, Remaining: math.Copysign(0, -1)}, `{"limit":100000000000000000000,"remaining":0}`},
		{"empty model list", llmerrors.Error{AvailableModels: []string{}}, `{"available_models":[]}`},
		{"field and suggestion", llmerrors.Error{Field: "model", Suggestion: "s"}, `{"field":"model","suggestion":"s"}`},
	}
	for _, c := range cases {
		c.e.Code = llmerrors.ValidationError
		c.e.Message = "m"
		want := `{"error":{"type":"invalid_request_error","message":"m","code":"validation_error"}}`
		if c.want != "" {
			want = `{"error":{"type":"invalid_request_error","message":"m","code":"validation_error","details":` + c.want + `}}`
		}
		if got := string(c.e.Body(llmerrors.CCProxy)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
	}
}

func TestOpenAIParamIsTheField(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.ValidationError, Message: "model is required", Field: "model"}
	want := `{"error":{"message":"model is required","type":"invalid_request_error","param":"model","code":"400"}}`
	if got := string(e.Body(llmerrors.OpenAI)); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestStringEscaping(t *testing.T) {
	cases := []struct{ in, want string }{
		{`say "hi"`, `"say \"hi\""`},
		{`back\slash`, `"back\\slash"`},
		{"line\nbreak\r\ttab", `"line\nbreak\r\ttab"`},
		{"bell\x07 del\x7f nul\x00", `"bell\u0007 del\u007f nul\u0000"`},
		{"bad \xff utf8 \xc3", `"bad \ufffd utf8 \ufffd"`},
		{"line sep \u2028 para \u2029", `"line sep \u2028 para \u2029"`},
		{"<html> & é 日本 🙂", `"<html> & é 日本 🙂"`},
	}
	for _, c := range cases {
		e := &llmerrors.Error{Code: llmerrors.InvalidRequest, Message: c.in}
		body := e.Body(llmerrors.Proxed)
		if !json.Valid(body) {
			t.Errorf("%q: invalid JSON %s", c.in, body)
			continue
		}
		if !strings.Contains(string(body), `"message":`+c.want+`,`) {
			t.Errorf("%q: rendered %s, want the message as %s", c.in, body, c.want)
		}
	}
}

// The checker itself must reject what the contract does not allow, or the
// tests that lean on it prove nothing.
func TestEnvelopeCheckerRejects(t *testing.T) {
	bad := []struct {
		format string
		status int
		body   string
	}{
		{"openai", 400, `{"error":{"type":"x","message":"m","param":null,"code":"400"}}`},     // key order
		{"openai", 400, `{"error":{"message":"m","type":"x","param":null,"code":400}}`},       // code a number
		{"openai", 400, `{"error":{"message":"m","type":"x","param":null,"code":"401"}}`},     // wrong status
		{"anthropic", 400, `{"type":"error","error":{"type":"x","message":"m"}}`},             // no request_id
		{"ccproxy", 400, `{"error":{"type":"x","message":"m","code":"c","details":{}}}`},      // empty details
		{"ccproxy", 400, `{"error":{"type":"x","message":"m","code":"c","details":{"x":1}}}`}, // unknown detail
		{"ccproxy", 429, `{"error":{"type":"x","message":"m","code":"c","details":{"retry_after":0}}}`},
		{"coollm", 429, `{"error":{"message":"m","type":"x","code":"429"}}`},                                           // code a string
		{"coollm", 429, `{"error":{"message":"m","type":"x","code":429,"details":{"suggestion":"s","provider":"p"}}}`}, // detail order
		{"proxed", 400, `{"message":"m","error":"E","requestId":null}`},                                                // key order
		{"proxed", 400, `{"error":"E","message":"m","requestId":null,"requestId":null}`},                               // duplicate
		{"proxed", 400, `{"error":"E","message":"m","requestId":null} x`},                                              // trailing
	}
	for _, b := range bad {
		if _, err := envelopetest.Check(b.format, b.status, []byte(b.body)); err == nil {
			t.Errorf("Check(%s, %d) accepted %s", b.format, b.status, b.body)
		}
	}
}

func TestWriteHeaders(t *testing.T) {
	cases := []struct {
		name   string
		e      llmerrors.Error
		format llmerrors.Format
		status int
		want   map[string]string // every header but Content-Length; "" = absent
	}{
		{
			name: "429 with a wait", format: llmerrors.OpenAI, status: 429,
			e: llmerrors.Error{Code: llmerrors.RateLimitExceeded, RetryAfter: 1500 * time.Millisecond, RequestID: "r1"},
			want: map[string]string{"Content-Type": "application/json", "X-Request-Id": "r1",
				"Retry-After": "2", "Retry-After-Ms": "1500"},
		},
		{
			name: "anthropic envelope also sends request-id", format: llmerrors.Anthropic, status: 529,
			e: llmerrors.Error{Code: llmerrors.Overloaded, RetryAfter: 10 * time.Millisecond, RequestID: "r2"},
			want: map[string]string{"Content-Type": "application/json", "X-Request-Id": "r2", "Request-Id": "r2",
				"Retry-After": "1", "Retry-After-Ms": "10"},
		},
		{
			name: "503 elsewhere", format: llmerrors.CCProxy, status: 503,
			e:    llmerrors.Error{Code: llmerrors.Overloaded, RetryAfter: 30 * time.Second, RequestID: "r3"},
			want: map[string]string{"Content-Type": "application/json", "X-Request-Id": "r3", "Retry-After": "30", "Retry-After-Ms": "30000"},
		},
		{
			name: "429 without a known wait", format: llmerrors.OpenAI, status: 429,
			e:    llmerrors.Error{Code: llmerrors.ProviderRateLimited, RequestID: "r4"},
			want: map[string]string{"Content-Type": "application/json", "X-Request-Id": "r4"},
		},
		{
			name: "no Retry-After outside 429/503/529", format: llmerrors.OpenAI, status: 502,
			e:    llmerrors.Error{Code: llmerrors.InvalidProviderResponse, RetryAfter: 5 * time.Second, RequestID: "r5"},
			want: map[string]string{"Content-Type": "application/json", "X-Request-Id": "r5"},
		},
		{
			name: "not retryable", format: llmerrors.Proxed, status: 401,
			e:    llmerrors.Error{Code: llmerrors.InvalidAPIKey, RequestID: "r6"},
			want: map[string]string{"Content-Type": "application/json", "X-Request-Id": "r6", "X-Should-Retry": "false"},
		},
		{
			name: "out of credit: retryable code, NoRetry", format: llmerrors.OpenAI, status: 503,
			e:    llmerrors.Error{Code: llmerrors.ProviderUnavailable, NoRetry: true},
			want: map[string]string{"Content-Type": "application/json", "X-Should-Retry": "false"},
		},
		{
			name: "session limit resetting in an hour", format: llmerrors.CooLLM, status: 429,
			e: llmerrors.Error{Code: llmerrors.SessionLimitExceeded, RetryAfter: time.Hour, RequestID: "r7"},
			want: map[string]string{"Content-Type": "application/json", "X-Request-Id": "r7",
				"Retry-After": "3600", "Retry-After-Ms": "3600000", "X-Should-Retry": "false"},
		},
		{
			name: "no request ID known", format: llmerrors.Anthropic, status: 500,
			e:    llmerrors.Error{Code: llmerrors.InternalError},
			want: map[string]string{"Content-Type": "application/json"},
		},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		if err := llmerrors.Write(rec, c.format, &c.e); err != nil {
			t.Fatalf("%s: Write: %v", c.name, err)
		}
		res := rec.Result()
		if res.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.name, res.StatusCode, c.status)
		}
		body := rec.Body.Bytes()
		if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
			t.Errorf("%s: Content-Length %q for a %d-byte body", c.name, got, len(body))
		}
		got := map[string]string{}
		for k := range res.Header {
			if k != "Content-Length" {
				got[k] = res.Header.Get(k)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: headers %v, want %v", c.name, got, c.want)
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", c.name, k, got[k], v)
			}
		}
		if _, err := envelopetest.Check(string(c.format), c.status, body); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// Headers the handler set before failing stay; headers describing a body
// the envelope replaces go.
func TestWriteKeepsAndDropsHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	h := rec.Header()
	h.Set("X-Ratelimit-Limit-Requests", "60")
	h.Set("Allow", "POST")
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", "99999")
	h.Set("Etag", `"x"`)
	h.Set("Transfer-Encoding", "chunked")
	e := &llmerrors.Error{Code: llmerrors.MethodNotAllowed, Message: "m"}
	if err := llmerrors.Write(rec, llmerrors.OpenAI, e); err != nil {
		t.Fatal(err)
	}
	res := rec.Result()
	for _, k := range []string{"X-Ratelimit-Limit-Requests", "Allow"} {
		if res.Header.Get(k) == "" {
			t.Errorf("%s was dropped", k)
		}
	}
	for _, k := range []string{"Content-Encoding", "Etag", "Transfer-Encoding"} {
		if v := res.Header.Get(k); v != "" {
			t.Errorf("%s = %q survived", k, v)
		}
	}
	if got := res.Header.Get("Content-Length"); got != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %q for a %d-byte body", got, rec.Body.Len())
	}
}

func TestSetHeadersMatchesWrite(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.ProviderRateLimited, RetryAfter: 3 * time.Second, RequestID: "x"}
	h := http.Header{}
	llmerrors.SetHeaders(h, llmerrors.Anthropic, e, 429)
	for k, v := range map[string]string{"Content-Type": "application/json", "X-Request-Id": "x", "Request-Id": "x", "Retry-After": "3", "Retry-After-Ms": "3000"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if h.Get("Content-Length") != "" {
		t.Error("SetHeaders set Content-Length")
	}
}

func TestStreamEvent(t *testing.T) {
	e := &llmerrors.Error{Code: llmerrors.Overloaded, Message: "Provider 'anthropic' is overloaded.", RequestID: "req_9"}
	anth := string(llmerrors.StreamEvent(true, e))
	wantAnth := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Provider 'anthropic' is overloaded.\"},\"request_id\":\"req_9\"}\n\n"
	if anth != wantAnth {
		t.Errorf("anthropic stream event:\n got %q\nwant %q", anth, wantAnth)
	}
	oai := string(llmerrors.StreamEvent(false, e))
	wantOAI := "data: {\"error\":{\"message\":\"Provider 'anthropic' is overloaded.\",\"type\":\"service_unavailable\",\"param\":null,\"code\":\"503\"}}\n\n"
	if oai != wantOAI {
		t.Errorf("openai stream event:\n got %q\nwant %q", oai, wantOAI)
	}
	// A message with newlines must not break the one-line data field.
	e.Message = "line one\nline two\r\n\n"
	for _, anthropic := range []bool{true, false} {
		ev := string(llmerrors.StreamEvent(anthropic, e))
		if strings.Count(ev, "\n\n") != 1 || !strings.HasSuffix(ev, "\n\n") {
			t.Errorf("event %q is not one SSE event", ev)
		}
	}
}
