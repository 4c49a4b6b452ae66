package relay

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

func TestPlainAnswerPassesThrough(t *testing.T) {
	s := &script{answer: always(reply(200, chatOK,
		"X-Request-Id", "req_provider_1",
		"Openai-Organization", "org-operator",
		"Openai-Project", "proj_operator",
		"X-Ratelimit-Remaining-Requests", "9999",
		"Set-Cookie", "__cf_bm=abc; path=/",
		"Openai-Processing-Ms", "120",
	))}
	c := call(t, "/v1/chat/completions", chatBody, Route{upstream(t, "openai", "openai", 1, s), "gpt-4o"})
	c.ReadUsage = true
	res, rec := runCall(c)
	if res.Err != nil || !res.Committed || !res.Complete || res.Attempts != 1 {
		t.Fatalf("result %+v", res)
	}
	if rec.Code != 200 || rec.Body.String() != chatOK {
		t.Fatalf("client got %d %s", rec.Code, rec.Body)
	}
	if !res.SawUsage || res.Usage.Input != 5 || res.Usage.Output != 2 {
		t.Errorf("usage %+v seen %v", res.Usage, res.SawUsage)
	}
	h := rec.Header()
	if h.Get("X-Provider-Request-Id") != "req_provider_1" || res.ProviderRequestID != "req_provider_1" {
		t.Errorf("provider request ID: header %q, result %q", h.Get("X-Provider-Request-Id"), res.ProviderRequestID)
	}
	if h.Get("X-Llm-Provider") != "openai" || h.Get("X-Llm-Attempts") != "1" || h.Get("Content-Length") != strconv.Itoa(len(chatOK)) {
		t.Errorf("headers %v", h)
	}
	if h.Get("Openai-Processing-Ms") != "120" {
		t.Error("a harmless provider header was dropped")
	}
	for _, name := range []string{"Openai-Organization", "Openai-Project", "X-Ratelimit-Remaining-Requests", "Set-Cookie"} {
		if v := h.Get(name); v != "" {
			t.Errorf("%s reached the client: %q", name, v)
		}
	}
	got := s.call(t, 0)
	if got.url != "https://openai.example/v1/chat/completions" || gjson.Get(got.body, "model").Str != "gpt-4o" {
		t.Errorf("sent %s with model %s", got.url, gjson.Get(got.body, "model").Str)
	}
}

// failureCase is one provider failure and what the gateway makes of it.
type failureCase struct {
	name   string
	answer func(*http.Request) (*http.Response, error)
	code   llmerrors.Code
	// calls the upstream gets for one client call, with keys keys in the
	// pool and MaxAttempts 3
	keys, calls int
}

var failureCases = []failureCase{
	{"400 invalid request", reply(400, `{"error":{"message":"bad temperature","type":"invalid_request_error","param":"temperature"}}`), llmerrors.InvalidRequest, 2, 1},
	{"404 model", reply(404, `{"error":{"message":"The model does not exist","type":"invalid_request_error","code":"model_not_found"}}`), llmerrors.ModelNotFound, 2, 1},
	{"413", reply(413, `{"error":{"message":"too large","type":"invalid_request_error"}}`), llmerrors.RequestTooLarge, 2, 1},
	{"422", reply(422, `{"detail":[{"loc":["body","messages"],"msg":"Field required"}]}`), llmerrors.InvalidRequest, 2, 1},
	{"403 single key", reply(403, `{"error":{"message":"not allowed","type":"permission_error"}}`), llmerrors.PermissionDenied, 1, 1},
	{"403 each key once", reply(403, `{"error":{"message":"not allowed","type":"permission_error"}}`), llmerrors.PermissionDenied, 2, 2},
	{"401 single key", reply(401, `{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}`), llmerrors.InvalidAPIKey, 1, 1},
	{"401 each key once", reply(401, `{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}`), llmerrors.InvalidAPIKey, 3, 3},
	{"out of credit", reply(429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`), llmerrors.ProviderUnavailable, 1, 1},
	{"429 long Retry-After", reply(429, `{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}`, "Retry-After", "20"), llmerrors.ProviderRateLimited, 2, 2},
	{"500 single key", reply(500, `{"error":{"message":"server error","type":"server_error"}}`), llmerrors.ProviderError, 1, 2},
	{"500 two keys", reply(500, `{"error":{"message":"server error","type":"server_error"}}`), llmerrors.ProviderError, 2, 2},
	{"503", reply(503, `{"error":{"message":"overloaded","type":"server_error"}}`), llmerrors.ProviderUnavailable, 1, 2},
	{"529", reply(529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), llmerrors.Overloaded, 1, 2},
	{"HTML 502", reply(502, `<html><body>Bad gateway</body></html>`, "Content-Type", "text/html"), llmerrors.InvalidProviderResponse, 1, 2},
	{"refused", refused, llmerrors.ProviderUnavailable, 1, 2},
	{"reset before headers", func(*http.Request) (*http.Response, error) { return nil, resetErr() }, llmerrors.ProviderUnavailable, 1, 2},
	{"header timeout", headerTimeout, llmerrors.ProviderTimeout, 2, 1},
	{"200 truncated", reply(200, `{"id":"chatcmpl-1","choices":[{"message":{"content":"hi`), llmerrors.InvalidProviderResponse, 1, 2},
	{"200 HTML", reply(200, `<html>maintenance</html>`), llmerrors.InvalidProviderResponse, 1, 2},
	{"200 empty", reply(200, ``), llmerrors.InvalidProviderResponse, 1, 2},
	{"first stream event an error", streamReply(`data: {"error":{"message":"upstream overloaded","code":503}}` + "\n\n"), llmerrors.ProviderUnavailable, 1, 2},
	{"stream of comments only", streamReply(": OPENROUTER PROCESSING\n\n"), llmerrors.InvalidProviderResponse, 1, 2},
	{"stream reset before the first event", brokenStream(": OPENROUTER PROCESSING\n\n"), llmerrors.ProviderUnavailable, 1, 2},
}

// Every failure class before the first byte: the code the client gets,
// nothing written for it (the shell writes the envelope), and how many
// upstream calls one client call costs.
func TestFailuresBeforeTheFirstByte(t *testing.T) {
	for _, fc := range failureCases {
		t.Run(fc.name, func(t *testing.T) {
			s := &script{answer: always(fc.answer)}
			res, rec := runCall(call(t, "/v1/chat/completions", chatBody, Route{upstream(t, "p", "openai", fc.keys, s), "m"}))
			if res.Err == nil || res.Err.Code != fc.code {
				t.Fatalf("error %v, want %s", res.Err, fc.code)
			}
			if res.Committed || rec.Body.Len() != 0 {
				t.Fatalf("something reached the client: %d %q", rec.Code, rec.Body)
			}
			if n := s.count(); n != fc.calls || res.Attempts != n {
				t.Errorf("%d upstream calls (%d attempts reported), want %d", n, res.Attempts, fc.calls)
			}
		})
	}
}

// A failed attempt is retried and the client sees only the good answer.
func TestRetriedFailuresAreHidden(t *testing.T) {
	for _, fc := range failureCases {
		if fc.calls < 2 || fc.code == llmerrors.ProviderRateLimited {
			continue
		}
		t.Run(fc.name, func(t *testing.T) {
			s := &script{answer: answers(fc.answer, reply(200, chatOK))}
			res, rec := runCall(call(t, "/v1/chat/completions", chatBody, Route{upstream(t, "p", "openai", fc.keys, s), "m"}))
			if res.Err != nil || rec.Code != 200 || rec.Body.String() != chatOK || res.Attempts != 2 {
				t.Fatalf("result %+v, client %d %s", res, rec.Code, rec.Body)
			}
			if rec.Header().Get("X-Llm-Attempts") != "2" {
				t.Errorf("X-Llm-Attempts %q", rec.Header().Get("X-Llm-Attempts"))
			}
		})
	}
}

// A timeout is not retried on the same provider (it likely generated,
// and billed, the answer it was too slow to send); the fallback answers.
func TestTimeoutFailsOverWithoutRetry(t *testing.T) {
	slow := &script{answer: always(headerTimeout)}
	backup := &script{answer: always(reply(200, chatOK))}
	res, rec := runCall(call(t, "/v1/chat/completions", chatBody,
		Route{upstream(t, "slow", "openai", 2, slow), "m"}, Route{upstream(t, "backup", "openai", 1, backup), "m"}))
	if res.Err != nil || rec.Header().Get("X-Llm-Provider") != "backup" {
		t.Fatalf("result %+v", res)
	}
	if slow.count() != 1 {
		t.Errorf("the timed-out provider got %d calls", slow.count())
	}
}

func TestFallbackAfterProviderFailure(t *testing.T) {
	down := &script{answer: always(reply(529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))}
	backup := &script{answer: always(reply(200, chatOK))}
	res, _ := runCall(call(t, "/v1/chat/completions", chatBody,
		Route{upstream(t, "down", "openai", 1, down), "m"}, Route{upstream(t, "backup", "openai", 1, backup), "m2"}))
	if res.Err != nil || res.Route.Upstream.Name != "backup" || res.Route.Model != "m2" || res.Attempts != 2 {
		t.Fatalf("result %+v", res)
	}
	if m := gjson.Get(backup.call(t, 0).body, "model").Str; m != "m2" {
		t.Errorf("fallback got model %q", m)
	}
}

// A 429 sets the key aside for that model only: other models keep it.
func TestRateLimitIsScopedToTheModel(t *testing.T) {
	s := &script{answer: func(n int, req *http.Request) (*http.Response, error) {
		if n == 0 {
			return reply(429, `{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}`, "Retry-After", "20")(req)
		}
		return reply(200, chatOK)(req)
	}}
	up := upstream(t, "openai", "openai", 1, s)
	res, _ := runCall(call(t, "/v1/chat/completions", chatBody, Route{up, "gpt-4o"}))
	if res.Err == nil || res.Err.Code != llmerrors.ProviderRateLimited || res.Err.RetryAfterSeconds() != 20 {
		t.Fatalf("first call: %v", res.Err)
	}
	res, _ = runCall(call(t, "/v1/chat/completions", chatBody, Route{up, "gpt-4o-mini"}))
	if res.Err != nil {
		t.Fatalf("another model of the rate-limited key was refused: %v", res.Err)
	}
	// The limited model is refused at once, without a call, until then.
	res, _ = runCall(call(t, "/v1/chat/completions", chatBody, Route{up, "gpt-4o"}))
	if res.Err == nil || res.Err.Code != llmerrors.ProviderRateLimited || res.Err.RetryAfterSeconds() < 19 || s.count() != 2 {
		t.Fatalf("the limited model: %v after %d calls", res.Err, s.count())
	}
}

// A short Retry-After on every key is waited out within max_wait.
func TestShortRetryAfterIsWaitedOut(t *testing.T) {
	s := &script{answer: answers(reply(429, `{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}`, "Retry-After-Ms", "30"), reply(200, chatOK))}
	c := call(t, "/v1/chat/completions", chatBody, Route{upstream(t, "openai", "openai", 1, s), "m"})
	c.Policy.MaxWait = 2 * time.Second
	start := time.Now()
	res, _ := runCall(c)
	if res.Err != nil || s.count() != 2 {
		t.Fatalf("result %+v after %d calls", res.Err, s.count())
	}
	if waited := time.Since(start); waited < time.Second-50*time.Millisecond {
		t.Errorf("retried after %v, before the key's second (a 429 sets a key aside at least a second)", waited)
	}
}

// A refused key is set aside only while another key can serve; the last
// usable key is always tried.
func TestRefusedKeyScope(t *testing.T) {
	refusal := reply(401, `{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}`)
	t.Run("single key", func(t *testing.T) {
		s := &script{answer: always(refusal)}
		up := upstream(t, "p", "openai", 1, s)
		for i := 1; i <= 3; i++ {
			res, _ := runCall(call(t, "/v1/chat/completions", chatBody, Route{up, "m"}))
			if res.Err == nil || res.Err.Code != llmerrors.InvalidAPIKey || s.count() != i {
				t.Fatalf("call %d: %v, upstream calls %d", i, res.Err, s.count())
			}
		}
	})
	t.Run("pool", func(t *testing.T) {
		s := &script{answer: func(n int, req *http.Request) (*http.Response, error) {
			if req.Header.Get("Authorization") == "Bearer p-key-a" {
				return refusal(req)
			}
			return reply(200, chatOK)(req)
		}}
		up := upstream(t, "p", "openai", 2, s)
		for i := 0; i < 6; i++ {
			if res, _ := runCall(call(t, "/v1/chat/completions", chatBody, Route{up, "m"})); res.Err != nil {
				t.Fatalf("call %d: %v", i, res.Err)
			}
		}
		refused := 0
		for i := range s.count() {
			if s.call(t, i).header.Get("Authorization") == "Bearer p-key-a" {
				refused++
			}
		}
		if refused != 1 {
			t.Errorf("the refused key was tried %d times; it should be set aside after once", refused)
		}
	})
}

func TestCircuitOpensAndProbes(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := &script{answer: always(refused)}
	up := upstream(t, "p", "openai", 1, s)
	up.Breaker.Failures = 4
	for range 2 {
		c := call(t, "/v1/chat/completions", chatBody, Route{up, "m"})
		c.Clock = clock
		runCall(c)
	}
	if s.count() != 4 {
		t.Fatalf("%d calls before the circuit opened", s.count())
	}
	c := call(t, "/v1/chat/completions", chatBody, Route{up, "m"})
	c.Clock = clock
	res, _ := runCall(c)
	if s.count() != 4 || res.Err == nil || res.Err.Code != llmerrors.ProviderUnavailable || res.Err.RetryAfterSeconds() != 60 {
		t.Fatalf("open circuit: %v after %d calls", res.Err, s.count())
	}
	// After open_for, one probe; it succeeds and the circuit closes.
	now = now.Add(time.Minute)
	s.answer = always(reply(200, chatOK))
	c = call(t, "/v1/chat/completions", chatBody, Route{up, "m"})
	c.Clock = clock
	if res, _ := runCall(c); res.Err != nil || s.count() != 5 {
		t.Fatalf("probe: %v after %d calls", res.Err, s.count())
	}
	if up.Health.CircuitOpen() {
		t.Error("the circuit stayed open after a good probe")
	}
}

// A probe whose client leaves is given up, not kept forever.
func TestAbandonedProbeFreesTheCircuit(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := &script{answer: always(refused)}
	up := upstream(t, "p", "openai", 1, s)
	up.Breaker.Failures = 2
	c := call(t, "/v1/chat/completions", chatBody, Route{up, "m"})
	c.Clock = clock
	runCall(c)
	now = now.Add(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	s.answer = always(func(req *http.Request) (*http.Response, error) {
		cancel()
		<-req.Context().Done()
		return nil, req.Context().Err()
	})
	c = call(t, "/v1/chat/completions", chatBody, Route{up, "m"})
	c.Request = c.Request.WithContext(ctx)
	c.Clock = clock
	if res, _ := runCall(c); !res.ClientGone {
		t.Fatalf("result %+v", res)
	}
	s.answer = always(reply(200, chatOK))
	c = call(t, "/v1/chat/completions", chatBody, Route{up, "m"})
	c.Clock = clock
	if res, _ := runCall(c); res.Err != nil {
		t.Fatalf("the next request could not probe: %v", res.Err)
	}
}

// max_duration bounds a request's time before its answer begins.
func TestMaxDuration(t *testing.T) {
	s := &script{answer: always(func(req *http.Request) (*http.Response, error) {
		<-req.Context().Done()
		return nil, req.Context().Err()
	})}
	c := call(t, "/v1/chat/completions", chatBody, Route{upstream(t, "p", "openai", 1, s), "m"})
	c.Policy.MaxDuration = 50 * time.Millisecond
	start := time.Now()
	res, _ := runCall(c)
	if res.Err == nil || res.Err.Code != llmerrors.ProviderTimeout || s.count() != 1 {
		t.Fatalf("%v after %d calls", res.Err, s.count())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// A plain answer that trickles, or stops, is cut by the idle timeout: it
// holds no request, slot or reservation for longer.
func TestIdleTimeoutOnPlainAndErrorBodies(t *testing.T) {
	for _, status := range []int{200, 500} {
		s := &script{answer: always(func(req *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {"application/json"}}
			return &http.Response{StatusCode: status, Header: h, Body: &pieceReader{ctx: req.Context(), pieces: []string{`{"id":`, hang}}, ContentLength: -1}, nil
		})}
		up := upstream(t, "p", "openai", 1, s)
		up.IdleTimeout = 40 * time.Millisecond
		res, _ := runCall(call(t, "/v1/chat/completions", chatBody, Route{up, "m"}))
		if res.Err == nil || res.Committed {
			t.Fatalf("%d: %+v", status, res)
		}
		if status == 200 && (res.Err.Code != llmerrors.ProviderTimeout || s.count() != 1) {
			t.Errorf("200 that stalls: %v after %d calls, want provider_timeout, not retried", res.Err, s.count())
		}
		if status == 500 && res.Err.Code != llmerrors.InvalidProviderResponse {
			t.Errorf("500 that stalls: %v", res.Err)
		}
	}
}

// An error body past its cap is not read on.
func TestHugeErrorBody(t *testing.T) {
	s := &script{answer: always(reply(500, `{"error":{"message":"`+strings.Repeat("x", 200<<10)+`"}}`))}
	res, _ := runCall(call(t, "/v1/chat/completions", chatBody, Route{upstream(t, "p", "openai", 1, s), "m"}))
	if res.Err == nil || res.Err.Code != llmerrors.InvalidProviderResponse {
		t.Fatalf("%v", res.Err)
	}
}

// OpenRouter reports some failures inside a 200.
func TestErrorInside200(t *testing.T) {
	s := &script{answer: answers(reply(200, `{"error":{"code":502,"message":"Provider returned error","metadata":{"raw":"upstream timeout","provider_name":"Fireworks"}}}`), reply(200, chatOK))}
	res, _ := runCall(call(t, "/v1/chat/completions", chatBody, Route{upstream(t, "openrouter", "openrouter", 1, s), "m"}))
	if res.Err != nil || s.count() != 2 {
		t.Fatalf("%v after %d calls", res.Err, s.count())
	}
}

func TestRequestHeaderPolicy(t *testing.T) {
	s := &script{answer: always(reply(200, chatOK))}
	up := upstream(t, "openai", "openai", 1, s)
	up.Header.Set("Openai-Organization", "org-from-config")
	c := call(t, "/v1/chat/completions", chatBody, Route{up, "m"})
	h := c.Request.Header
	for name, v := range map[string]string{
		"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "OpenAI/JS 7.0",
		"Openai-Beta": "assistants=v2", "X-Stainless-Lang": "js", "X-Stainless-Retry-Count": "1", "Idempotency-Key": "stainless-1",
		"Anthropic-Beta": "tools-2024", "Cookie": "session=1", "Forwarded": "for=1.2.3.4", "X-Forwarded-For": "1.2.3.4",
		"X-Real-Ip": "1.2.3.4", "True-Client-Ip": "1.2.3.4", "Cf-Connecting-Ip": "1.2.3.4", "Openai-Organization": "org-tenant",
		"Openai-Project": "proj_tenant", "Accept-Encoding": "br", "X-Request-Id": "client-id", "Authorization": "Bearer ck-client",
	} {
		h.Set(name, v)
	}
	runCall(c)
	got := s.call(t, 0).header
	want := map[string]string{
		"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "OpenAI/JS 7.0",
		"Openai-Beta": "assistants=v2", "X-Stainless-Lang": "js", "X-Stainless-Retry-Count": "1", "Idempotency-Key": "stainless-1",
		"Openai-Organization": "org-from-config", "X-Request-Id": "req_test", "Authorization": "Bearer openai-key-a",
	}
	for name, v := range want {
		if got.Get(name) != v {
			t.Errorf("%s = %q, want %q", name, got.Get(name), v)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s was sent to the provider: %q", name, got.Get(name))
		}
	}
}

// Anthropic's request options go to Anthropic, with a default version.
func TestAnthropicHeaders(t *testing.T) {
	s := &script{answer: always(reply(200, `{"id":"msg_1","type":"message","content":[],"usage":{"input_tokens":1,"output_tokens":1}}`))}
	up := upstream(t, "anthropic", "anthropic", 1, s)
	up.Header.Set("Anthropic-Version", "2023-06-01")
	c := call(t, "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, Route{up, "claude"})
	c.Request.Header.Set("Anthropic-Beta", "prompt-caching-2024-07-31")
	c.Request.Header.Set("Openai-Beta", "x")
	runCall(c)
	got := s.call(t, 0)
	if got.url != "https://anthropic.example/v1/messages" || got.header.Get("X-Api-Key") != "anthropic-key-a" ||
		got.header.Get("Anthropic-Version") != "2023-06-01" || got.header.Get("Anthropic-Beta") != "prompt-caching-2024-07-31" || got.header.Get("Openai-Beta") != "" {
		t.Fatalf("sent %s %v", got.url, got.header)
	}
	// The client's own version wins.
	c = call(t, "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, Route{up, "claude"})
	c.Request.Header.Set("Anthropic-Version", "2024-01-01")
	runCall(c)
	if v := s.call(t, 1).header.Get("Anthropic-Version"); v != "2024-01-01" {
		t.Errorf("anthropic-version %q, want the client's", v)
	}
}

func TestRetryBudget(t *testing.T) {
	var b RetryBudget
	for range 40 {
		if !b.start(false) {
			t.Fatal("a first attempt was refused")
		}
	}
	allowed := 0
	for range 20 {
		if b.start(true) {
			allowed++
		}
	}
	// 20% of what is in flight, the retries included as they start.
	if allowed < 8 || allowed > 12 {
		t.Fatalf("%d retries allowed with 40 requests in flight", allowed)
	}
	var idle RetryBudget
	for range MinRetries {
		if !idle.start(true) {
			t.Fatal("fewer than MinRetries retries allowed")
		}
	}
	if idle.start(true) {
		t.Fatal("more than MinRetries retries allowed with nothing else in flight")
	}
}

// An answer too long to hold back is passed on as it comes, whole; one
// that breaks after its first byte asks the shell to break the
// connection (the client would read a short body as whole).
func TestLongPlainAnswer(t *testing.T) {
	long := `{"object":"list","data":"` + strings.Repeat("x", maxPlainBody+100) + `"}`
	s := &script{answer: always(reply(200, long))}
	res, rec := runCall(call(t, "/v1/embeddings", `{"model":"m","input":"x"}`, Route{upstream(t, "p", "openai", 1, s), "m"}))
	if res.Err != nil || !res.Complete || rec.Body.Len() != len(long) || rec.Body.String() != long {
		t.Fatalf("result %+v, %d bytes of %d", res, rec.Body.Len(), len(long))
	}
	s = &script{answer: always(func(req *http.Request) (*http.Response, error) {
		h := http.Header{"Content-Type": {"application/json"}}
		return &http.Response{StatusCode: 200, Header: h, ContentLength: int64(len(long)),
			Body: &pieceReader{ctx: req.Context(), pieces: []string{long[:maxPlainBody+10]}, end: resetErr()}}, nil
	})}
	res, _ = runCall(call(t, "/v1/embeddings", `{"model":"m","input":"x"}`, Route{upstream(t, "p", "openai", 1, s), "m"}))
	if !res.Committed || res.Complete || !res.AbortConnection || res.Err == nil {
		t.Fatalf("result %+v", res)
	}
}
