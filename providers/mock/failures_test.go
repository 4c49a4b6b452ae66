package mock

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/tidwall/gjson"
)

// fixtureCase is what one failure model name must answer.
type fixtureCase struct {
	model  string
	status int
	// header values, exact; "*" only asks for presence.
	header map[string]string
	// body values by gjson path, compared with the result's Raw form
	// (so strings are quoted and null is null).
	body map[string]string
	// check runs further checks on the answer.
	check func(t *testing.T, rec *flushRecorder)
}

var fixtureCases = []fixtureCase{
	{
		model: "mock-openai-429", status: 429,
		header: map[string]string{"Content-Type": "application/json", "Retry-After": "3", "X-Request-Id": "*",
			"X-Ratelimit-Limit-Tokens": "30000", "X-Ratelimit-Remaining-Tokens": "191", "X-Ratelimit-Reset-Tokens": "2.108s",
			"X-Ratelimit-Remaining-Requests": "499", "X-Ratelimit-Reset-Requests": "120ms"},
		body: map[string]string{"error.type": `"tokens"`, "error.code": `"rate_limit_exceeded"`, "error.param": "null"},
		check: func(t *testing.T, rec *flushRecorder) {
			if !strings.Contains(gjson.Get(rec.Body(), "error.message").Str, "Please try again in 2.108s.") {
				t.Errorf("message %q", gjson.Get(rec.Body(), "error.message").Str)
			}
			if !strings.HasPrefix(rec.Body(), "{\n    \"error\": {\n        \"message\": ") || !strings.HasSuffix(rec.Body(), "\n    }\n}\n") {
				t.Errorf("body is not pretty-printed as OpenAI's: %q", rec.Body())
			}
		},
	},
	{
		model: "mock-openai-quota", status: 429,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "*"},
		body:   map[string]string{"error.type": `"insufficient_quota"`, "error.code": `"insufficient_quota"`, "error.param": "null"},
		check: func(t *testing.T, rec *flushRecorder) {
			if rec.Header().Get("Retry-After") != "" {
				t.Errorf("an account out of credit names no wait, got Retry-After %q", rec.Header().Get("Retry-After"))
			}
		},
	},
	{
		model: "mock-openai-401", status: 401,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "*"},
		body:   map[string]string{"error.type": `"invalid_request_error"`, "error.code": `"invalid_api_key"`, "error.param": "null"},
		check: func(t *testing.T, rec *flushRecorder) {
			// The real message quotes the key, masked but for its ends;
			// the mock's must have that form and hold no key at all.
			msg := gjson.Get(rec.Body(), "error.message").Str
			if !regexp.MustCompile(`^Incorrect API key provided: sk-proj-\*{20,}M0CK\. You can find your API key at https://platform\.openai\.com/account/api-keys\.$`).MatchString(msg) {
				t.Errorf("message %q", msg)
			}
		},
	},
	{
		model: "mock-openai-400", status: 400,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "*"},
		body:   map[string]string{"error.type": `"invalid_request_error"`, "error.param": `"temperature"`, "error.code": `"unsupported_value"`},
	},
	{
		model: "mock-openai-404", status: 404,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "*"},
		body: map[string]string{"error.type": `"invalid_request_error"`, "error.code": `"model_not_found"`,
			"error.message": "\"The model `mock-openai-404` does not exist or you do not have access to it.\""},
	},
	{
		model: "mock-openai-500", status: 500,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "*"},
		body:   map[string]string{"error.type": `"server_error"`, "error.code": "null", "error.param": "null"},
		check:  messageNamesRequestID("X-Request-Id"),
	},
	{
		model: "mock-openai-503", status: 503,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "*"},
		body:   map[string]string{"error.type": `"server_error"`, "error.code": "null"},
		check:  messageNamesRequestID("X-Request-Id"),
	},
	{
		model: "mock-anthropic-529", status: 529,
		header: map[string]string{"Content-Type": "application/json", "Request-Id": "*", "X-Should-Retry": "true"},
		check: func(t *testing.T, rec *flushRecorder) {
			want := `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"` + rec.Header().Get("Request-Id") + `"}`
			if rec.Body() != want {
				t.Errorf("body %s, want %s", rec.Body(), want)
			}
		},
	},
	{
		model: "mock-anthropic-429", status: 429,
		header: map[string]string{"Content-Type": "application/json", "Request-Id": "*", "Retry-After": "20", "X-Should-Retry": "true",
			"Anthropic-Ratelimit-Requests-Limit": "50", "Anthropic-Ratelimit-Requests-Remaining": "49",
			"Anthropic-Ratelimit-Input-Tokens-Limit": "30000", "Anthropic-Ratelimit-Input-Tokens-Remaining": "0",
			"Anthropic-Ratelimit-Output-Tokens-Limit": "8000", "Anthropic-Ratelimit-Tokens-Limit": "38000"},
		body: map[string]string{"type": `"error"`, "error.type": `"rate_limit_error"`},
		check: func(t *testing.T, rec *flushRecorder) {
			for _, kind := range []string{"Requests", "Input-Tokens", "Output-Tokens", "Tokens"} {
				v := rec.Header().Get("Anthropic-Ratelimit-" + kind + "-Reset")
				reset, err := time.Parse(time.RFC3339, v)
				if err != nil || reset.Before(time.Now().Add(-2*time.Second)) || reset.After(time.Now().Add(21*time.Second)) {
					t.Errorf("%s reset %q: want a time within the next 20s (%v)", kind, v, err)
				}
			}
			if gjson.Get(rec.Body(), "request_id").Str != rec.Header().Get("Request-Id") {
				t.Errorf("body request_id differs from the header")
			}
		},
	},
	{
		model: "mock-anthropic-401", status: 401,
		header: map[string]string{"Content-Type": "application/json", "Request-Id": "*", "X-Should-Retry": "false"},
		body:   map[string]string{"type": `"error"`, "error.type": `"authentication_error"`, "error.message": `"invalid x-api-key"`},
	},
	{
		model: "mock-anthropic-400", status: 400,
		header: map[string]string{"Content-Type": "application/json", "Request-Id": "*", "X-Should-Retry": "false"},
		body:   map[string]string{"type": `"error"`, "error.type": `"invalid_request_error"`},
	},
	{
		model: "mock-anthropic-413", status: 413,
		header: map[string]string{"Content-Type": "application/json"},
		check: func(t *testing.T, rec *flushRecorder) {
			if want := `{"error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}`; rec.Body() != want {
				t.Errorf("body %s, want %s", rec.Body(), want)
			}
		},
	},
	{
		model: "mock-anthropic-500", status: 500,
		header: map[string]string{"Content-Type": "application/json", "Request-Id": "*", "X-Should-Retry": "true"},
		body:   map[string]string{"type": `"error"`, "error.type": `"api_error"`, "error.message": `"Internal server error"`},
	},
	{
		model: "mock-groq-498", status: 498,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "*"},
		body:   map[string]string{"error.code": `"capacity_exceeded"`},
	},
	{
		model: "mock-gemini-429", status: 429,
		header: map[string]string{"Content-Type": "application/json; charset=UTF-8"},
		body: map[string]string{"0.error.code": "429", "0.error.status": `"RESOURCE_EXHAUSTED"`,
			`0.error.details.#(@type=="type.googleapis.com/google.rpc.RetryInfo").retryDelay`: `"20s"`},
		check: googleArray,
	},
	{
		model: "mock-gemini-400-key", status: 400,
		header: map[string]string{"Content-Type": "application/json; charset=UTF-8"},
		body: map[string]string{"0.error.code": "400", "0.error.status": `"INVALID_ARGUMENT"`,
			"0.error.message": `"API key not valid. Please pass a valid API key."`, "0.error.details.0.reason": `"API_KEY_INVALID"`},
		check: googleArray,
	},
	{
		model: "mock-openrouter-402", status: 402,
		header: map[string]string{"Content-Type": "application/json"},
		body:   map[string]string{"error.code": "402", "error.metadata.limit_source": `"openrouter_credits"`},
	},
	{
		model: "mock-openrouter-200-error", status: 200,
		header: map[string]string{"Content-Type": "application/json"},
		body:   map[string]string{"error.code": "502", "error.message": `"Provider returned error"`, "error.metadata.provider_name": `"Anthropic"`},
		check: func(t *testing.T, rec *flushRecorder) {
			if !strings.HasPrefix(rec.Body(), `{"error":`) {
				t.Errorf("body does not open with the error member: %s", rec.Body())
			}
			if raw := gjson.Get(rec.Body(), "error.metadata.raw").Str; gjson.Get(raw, "error.type").Str != "overloaded_error" {
				t.Errorf("metadata.raw %q", raw)
			}
		},
	},
	{
		model: "mock-mistral-422", status: 422,
		header: map[string]string{"Content-Type": "application/json"},
		body: map[string]string{"object": `"error"`, "type": `"invalid_request_error"`, "param": "null", "code": "null",
			"message.detail.0.msg": `"Extra inputs are not permitted"`, "message.detail.0.loc.1": `"max_completion_tokens"`},
	},
	{
		model: "mock-deepseek-402", status: 402,
		header: map[string]string{"Content-Type": "application/json"},
		body:   map[string]string{"error.message": `"Insufficient Balance"`, "error.type": `"unknown_error"`, "error.code": `"invalid_request_error"`},
	},
	{
		model: "mock-html-502", status: 502,
		header: map[string]string{"Content-Type": "text/html", "Server": "cloudflare"},
		check: func(t *testing.T, rec *flushRecorder) {
			if b := rec.Body(); !strings.HasPrefix(b, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n") || !strings.HasSuffix(b, "</html>\r\n") {
				t.Errorf("body %q", b)
			}
		},
	},
	{
		model: "mock-empty-502", status: 502,
		header: map[string]string{"Content-Length": "0"},
		check: func(t *testing.T, rec *flushRecorder) {
			if rec.Body() != "" || rec.Header().Get("Content-Type") != "" {
				t.Errorf("body %q, content type %q", rec.Body(), rec.Header().Get("Content-Type"))
			}
		},
	},
	{
		model: "mock-truncated", status: 500,
		header: map[string]string{"Content-Type": "application/json"},
		check: func(t *testing.T, rec *flushRecorder) {
			if b := rec.Body(); !strings.HasPrefix(b, "{\n    \"error\": {") || gjson.Valid(b) {
				t.Errorf("body %q: want the start of a JSON error, cut off", b)
			}
		},
	},
}

// messageNamesRequestID checks that the error message quotes the request
// ID of header, as OpenAI's server errors do.
func messageNamesRequestID(header string) func(t *testing.T, rec *flushRecorder) {
	return func(t *testing.T, rec *flushRecorder) {
		id := rec.Header().Get(header)
		if msg := gjson.Get(rec.Body(), "error.message").Str; id == "" || !strings.Contains(msg, id) {
			t.Errorf("message %q does not name request ID %q", msg, id)
		}
	}
}

// googleArray checks the layout of a google.rpc error as Gemini's
// OpenAI-compatible endpoint sends it: pretty-printed, inside an array.
func googleArray(t *testing.T, rec *flushRecorder) {
	b := rec.Body()
	if !strings.HasPrefix(b, "[{\n  \"error\": {\n    \"code\": ") || !strings.HasSuffix(b, "}\n]") || !gjson.Get(b, "@this").IsArray() {
		t.Errorf("body %q", b)
	}
}

func TestFixtures(t *testing.T) {
	tested := map[string]bool{}
	for _, c := range fixtureCases {
		tested[c.model] = true
		for _, path := range []string{pathChat, pathMessages} {
			for _, stream := range []string{"", `"stream":true`} {
				t.Run(c.model+path+stream, func(t *testing.T) {
					res := serve(t, newTestHandler(0), path, chatBody(c.model, "hi", stream))
					if res.err != nil || res.panicked != nil {
						t.Fatalf("err %v, panic %v", res.err, res.panicked)
					}
					rec := res.rec
					if rec.Status() != c.status {
						t.Fatalf("status %d, want %d", rec.Status(), c.status)
					}
					if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(rec.Body())) {
						t.Errorf("Content-Length %q for %d bytes", got, len(rec.Body()))
					}
					for k, want := range c.header {
						if got := rec.Header().Get(k); (want == "*" && got == "") || (want != "*" && got != want) {
							t.Errorf("header %s = %q, want %q", k, got, want)
						}
					}
					for p, want := range c.body {
						if got := gjson.Get(rec.Body(), p).Raw; got != want {
							t.Errorf("body %s = %s, want %s", p, got, want)
						}
					}
					if c.check != nil {
						c.check(t, rec)
					}
				})
			}
		}
	}
	for name := range fixtures {
		if !tested[name] {
			t.Errorf("fixture %s has no test case", name)
		}
	}
}

func TestParseFixtureRejectsGarbage(t *testing.T) {
	if _, err := loadFixtures(fstest.MapFS{"failures/bad.http": {Data: []byte("not an HTTP response\n\n")}}); err == nil {
		t.Fatal("a file that is no HTTP response loaded")
	}
	fx, err := parseFixture([]byte("HTTP/1.1 503 Service Unavailable\nRetry-After: 2\n\nbody\r\n"))
	if err != nil || fx.status != 503 || fx.header.Get("Retry-After") != "2" || string(fx.body) != "body\r\n" {
		t.Fatalf("parsed %+v, %v", fx, err)
	}
}

func TestTimeout(t *testing.T) {
	const timeout = 50 * time.Millisecond
	res := serve(t, newTestHandler(timeout), pathChat, chatBody("mock-timeout", "hi", ""))
	var he caddyhttp.HandlerError
	if !errors.As(res.err, &he) || he.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("err %#v, want a HandlerError with status 504", res.err)
	}
	var ne net.Error
	if !errors.As(he.Err, &ne) || !ne.Timeout() {
		t.Errorf("cause %v is not a net.Error that timed out", he.Err)
	}
	if res.took < timeout || res.took > 20*timeout {
		t.Errorf("gave up after %v, want the timeout of %v", res.took, timeout)
	}
	if res.rec.Status() != 0 || res.rec.Body() != "" {
		t.Errorf("wrote status %d, body %q: a timeout writes nothing", res.rec.Status(), res.rec.Body())
	}
}

func TestTimeoutClientLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(20*time.Millisecond, cancel)
	res := serveCtx(ctx, newTestHandler(10*time.Second), newFlushRecorder(), pathChat, chatBody("mock-timeout", "hi", ""), nil)
	if res.err != nil || res.panicked != nil {
		t.Fatalf("err %v, panic %v: reverse_proxy records a cancellation as 499 and returns nil", res.err, res.panicked)
	}
	if res.rec.Status() != 499 || res.rec.Body() != "" {
		t.Errorf("status %d, body %q, want 499 and nothing else", res.rec.Status(), res.rec.Body())
	}
	if res.took > time.Second {
		t.Errorf("took %v to notice the client left", res.took)
	}
}

func TestTimeoutDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := serveCtx(ctx, newTestHandler(10*time.Second), newFlushRecorder(), pathChat, chatBody("mock-timeout", "hi", ""), nil)
	var he caddyhttp.HandlerError
	if !errors.As(res.err, &he) || he.StatusCode != http.StatusGatewayTimeout || !errors.Is(res.err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want 504 wrapping context.DeadlineExceeded", res.err)
	}
}

func TestRefused(t *testing.T) {
	res := serve(t, newTestHandler(0), pathMessages, messagesBody("mock-refused", "hi", ""))
	var he caddyhttp.HandlerError
	if !errors.As(res.err, &he) || he.StatusCode != http.StatusBadGateway {
		t.Fatalf("err %#v, want a HandlerError with status 502", res.err)
	}
	var de reverseproxy.DialError
	if !errors.As(he.Err, &de) {
		t.Fatalf("cause %T is not a reverseproxy.DialError", he.Err)
	}
	// DialError hides its cause from errors.Is (it has no Unwrap); the
	// cause it carries is the dialer's, which does satisfy it.
	cause := refusedCause()
	if !errors.Is(cause, syscall.ECONNREFUSED) || de.Error() != cause.Error() {
		t.Errorf("DialError %q, cause %q", de.Error(), cause.Error())
	}
	if de.Error() != "dial tcp 192.0.2.1:443: connect: connection refused" {
		t.Errorf("message %q", de.Error())
	}
	if res.rec.Status() != 0 || res.rec.Body() != "" {
		t.Errorf("a refused connection writes nothing; got status %d", res.rec.Status())
	}
}

func TestReset(t *testing.T) {
	res := serve(t, newTestHandler(0), pathChat, chatBody("mock-reset", "hi", `"stream":true`))
	var he caddyhttp.HandlerError
	if !errors.As(res.err, &he) || he.StatusCode != http.StatusBadGateway {
		t.Fatalf("err %#v, want a HandlerError with status 502", res.err)
	}
	if !errors.Is(res.err, syscall.ECONNRESET) {
		t.Errorf("errors.Is(%v, ECONNRESET) is false", res.err)
	}
	var de reverseproxy.DialError
	if errors.As(res.err, &de) {
		t.Errorf("a reset is not a dial error")
	}
	if res.rec.Status() != 0 || res.rec.Body() != "" {
		t.Errorf("a reset connection writes nothing; got status %d", res.rec.Status())
	}
}

func TestFlakyOutcomes(t *testing.T) {
	cases := []struct {
		dice      []int // the draws: fail or not, then which failure
		path      string
		status    int
		reset     bool
		errorType string // gjson error.type
	}{
		{[]int{1}, pathChat, 200, false, ""},
		{[]int{2}, pathMessages, 200, false, ""},
		{[]int{0, 0}, pathChat, 429, false, "tokens"},
		{[]int{0, 0}, pathMessages, 429, false, "rate_limit_error"},
		{[]int{0, 1}, pathChat, 500, false, "server_error"},
		{[]int{0, 1}, pathMessages, 500, false, "api_error"},
		{[]int{0, 2}, pathChat, 503, false, "server_error"},
		{[]int{0, 2}, pathMessages, 529, false, "overloaded_error"},
		{[]int{0, 3}, pathChat, 0, true, ""},
	}
	for _, c := range cases {
		h := newTestHandler(0)
		dice := c.dice
		h.intN = func(int) int { d := dice[0]; dice = dice[1:]; return d }
		body := chatBody("mock-flaky", "hi", "")
		if c.path == pathMessages {
			body = messagesBody("mock-flaky", "hi", "")
		}
		res := serve(t, h, c.path, body)
		if len(dice) != 0 {
			t.Errorf("%v: %d draws unused", c.dice, len(dice))
		}
		if c.reset {
			if !errors.Is(res.err, syscall.ECONNRESET) || res.rec.Status() != 0 {
				t.Errorf("%v: err %v, status %d, want a reset", c.dice, res.err, res.rec.Status())
			}
			continue
		}
		if res.err != nil || res.rec.Status() != c.status {
			t.Errorf("%v on %s: err %v, status %d, want %d", c.dice, c.path, res.err, res.rec.Status(), c.status)
			continue
		}
		if c.status == 429 && res.rec.Header().Get("Retry-After") != "1" {
			t.Errorf("%v: Retry-After %q, want 1", c.dice, res.rec.Header().Get("Retry-After"))
		}
		if got := gjson.Get(res.rec.Body(), "error.type").Str; got != c.errorType {
			t.Errorf("%v on %s: error type %q, want %q", c.dice, c.path, got, c.errorType)
		}
	}
}

func TestFlakyFailsAboutAThird(t *testing.T) {
	h := newTestHandler(0)
	h.intN = rand.New(rand.NewPCG(7, 11)).IntN
	failed := 0
	const n = 300
	for range n {
		res := serve(t, h, pathChat, chatBody("mock-flaky", "hi", ""))
		if res.err != nil || res.rec.Status() != 200 {
			failed++
		}
	}
	if failed < n/5 || failed > n/2 {
		t.Errorf("%d of %d requests failed, want about a third", failed, n)
	}
}
