package llmgateway

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// Fault injection against fake providers on loopback. Timing bounds are
// generous: these tests must pass on a loaded 2-core machine.

const chatBody = `{"model":"m","messages":[{"role":"user","content":"x"}]}`

// resetConnection drops the connection without an answer, as a provider
// (or a load balancer in front of it) that resets does.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tcp, ok := conn.(interface{ SetLinger(int) error }); ok {
		_ = tcp.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

// byKey answers by the provider key the request carries.
func byKey(answers map[string]http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		answers[key](w, r)
	}
}

func TestRetriesNextKeyWhenRateLimited(t *testing.T) {
	up := newFakeProvider(t, byKey(map[string]http.HandlerFunc{
		"sk-limited": errorAnswer(429, map[string]string{"Retry-After": "30", "Content-Type": "application/json"},
			`{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`),
		"sk-fine": jsonAnswer(chatOK),
	}))
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-limited sk-fine
			models m
		}
		retry {
			backoff 10ms
		}`, up.URL))

	for i := 0; i < 6; i++ {
		resp, body := post(t, tester, "/v1/chat/completions", chatBody)
		wantStatus(t, resp, body, 200)
		if resp.Header.Get("X-Llm-Provider") != "openai" {
			t.Errorf("X-Llm-Provider = %q", resp.Header.Get("X-Llm-Provider"))
		}
	}
	// The limited key answered once; then it was set aside for its
	// Retry-After, and every later request went to the other key.
	limited := 0
	for _, r := range up.requests() {
		if r.Header.Get("Authorization") == "Bearer sk-limited" {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("the rate-limited key was tried %d times, want once", limited)
	}
	// Providers rate-limit per model: the key is aside for model m only,
	// and serves every other model meanwhile.
	_, status := get(t, tester, "/status")
	wantJSON(t, status, "providers.0.keys.0.state", "healthy")
	wantJSON(t, status, "providers.0.keys.0.rate_limited_models", []any{"m"})
	wantJSON(t, status, "providers.0.keys.1.state", "healthy")
	if strings.Contains(string(status), "sk-limited") {
		t.Errorf("/status shows a key")
	}
}

func TestEveryKeyAndFallbackRateLimited(t *testing.T) {
	limited := errorAnswer(429, map[string]string{"Retry-After": "7", "Content-Type": "application/json"},
		`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
	a := newFakeProvider(t, limited)
	b := newFakeProvider(t, limited)
	tester := loadGateway(t, fmt.Sprintf(`
		provider a {
			type openai
			base_url %s/v1
			api_key sk-1 sk-2
			models m
		}
		provider b {
			type openai
			base_url %s/v1
			api_key sk-3
		}
		fallback m b:m2
		retry {
			max_wait 2s
		}`, a.URL, b.URL))
	// Every key and the fallback ask for 7s, longer than the gateway may
	// wait: the client gets the 429 at once, with the wait.
	start := time.Now()
	resp, body := post(t, tester, "/v1/chat/completions", chatBody)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v; a wait longer than max_wait must not be waited", d)
	}
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.type", "rate_limit_error")
	if got := resp.Header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q, want the providers' 7", got)
	}
	if resp.Header.Get("X-Llm-Attempts") != "3" {
		t.Errorf("attempts = %q, want 3 (two keys, one fallback)", resp.Header.Get("X-Llm-Attempts"))
	}
	if len(a.requests()) != 2 || len(b.requests()) != 1 {
		t.Errorf("requests: a %d, b %d; want each key tried once", len(a.requests()), len(b.requests()))
	}
	if m := gjson.GetBytes(b.last(t).Body, "model").Str; m != "m2" {
		t.Errorf("fallback sent model %q, want m2", m)
	}
}

// A short Retry-After is waited out inside the gateway, so the client
// never sees the 429.
func TestShortRetryAfterIsWaitedOut(t *testing.T) {
	var calls atomic.Int64
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			errorAnswer(429, map[string]string{"Retry-After": "1", "Content-Type": "application/json"},
				`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)(w, r)
			return
		}
		jsonAnswer(chatOK)(w, r)
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-only
			models m
		}`, up.URL))
	start := time.Now()
	resp, body := post(t, tester, "/v1/chat/completions", chatBody)
	wantStatus(t, resp, body, 200)
	if d := time.Since(start); d < time.Second {
		t.Errorf("answered after %v, before the provider's Retry-After of 1s", d)
	}
	if resp.Header.Get("X-Llm-Attempts") != "2" {
		t.Errorf("attempts %q, want 2", resp.Header.Get("X-Llm-Attempts"))
	}
}

func TestCircuitOpensOnOverloadStormAndFallsBack(t *testing.T) {
	overloaded := newFakeProvider(t, errorAnswer(529, map[string]string{"Content-Type": "application/json"},
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	backup := newFakeProvider(t, jsonAnswer(messageOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key sk-ant-1
			models claude-*
			circuit_breaker 3 1s
		}
		provider backup {
			type anthropic
			base_url %s
			api_key sk-ant-2
		}
		fallback claude-sonnet-4-5 backup:claude-sonnet-4-5`, overloaded.URL, backup.URL))
	msg := `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`

	for i := 0; i < 6; i++ {
		resp, body := post(t, tester, "/v1/messages", msg)
		wantStatus(t, resp, body, 200)
		if p := resp.Header.Get("X-Llm-Provider"); p != "backup" {
			t.Fatalf("answered by %q, want the fallback", p)
		}
	}
	if n := len(overloaded.requests()); n != 3 {
		t.Errorf("the overloaded provider got %d requests; the circuit should open after 3", n)
	}
	// 5xx answers open the model's circuit, not the provider's: its
	// other models are still served.
	_, status := get(t, tester, "/status")
	wantJSON(t, status, "providers.0.state", "healthy")
	wantJSON(t, status, "providers.0.circuit_open_models", []any{"claude-sonnet-4-5"})
	wantJSON(t, status, "status", "degraded")

	// After open_for, one probe goes through; it fails, and the circuit
	// opens again.
	time.Sleep(1100 * time.Millisecond)
	resp, body := post(t, tester, "/v1/messages", msg)
	wantStatus(t, resp, body, 200)
	if n := len(overloaded.requests()); n != 4 {
		t.Errorf("after open_for the provider got %d requests, want one probe (4)", n)
	}

	// Without a fallback, the client gets the overloaded envelope: 529 on
	// Anthropic's protocol, with retry guidance.
	overloaded2 := newFakeProvider(t, errorAnswer(529, map[string]string{"Content-Type": "application/json"},
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	tester = loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key sk-ant-1
			models claude-*
		}
		retry {
			max_attempts 2
			backoff 10ms
		}`, overloaded2.URL))
	resp, body = post(t, tester, "/v1/messages", msg)
	wantStatus(t, resp, body, 529)
	wantJSON(t, body, "error.type", "overloaded_error")
	if n := len(overloaded2.requests()); n != 2 {
		t.Errorf("attempts %d, want 2", n)
	}
}

func TestConnectionResetBeforeHeaders(t *testing.T) {
	var calls atomic.Int64
	flaky := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			resetConnection(w)
			return
		}
		jsonAnswer(chatOK)(w, r)
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		retry {
			backoff 10ms
		}`, flaky.URL))
	resp, body := post(t, tester, "/v1/chat/completions", chatBody)
	wantStatus(t, resp, body, 200)
	if resp.Header.Get("X-Llm-Attempts") != "2" {
		t.Errorf("attempts %q, want 2 (the reset one retried)", resp.Header.Get("X-Llm-Attempts"))
	}

	// A provider that always resets gives a provider_unavailable envelope.
	down := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) { resetConnection(w) })
	tester = loadGateway(t, fmt.Sprintf(`
		error_format ccproxy
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		retry {
			max_attempts 3
			backoff 10ms
		}`, down.URL))
	resp, body = post(t, tester, "/v1/chat/completions", chatBody)
	wantStatus(t, resp, body, 503)
	wantJSON(t, body, "error.code", "provider_unavailable")
	wantJSON(t, body, "error.details.provider", "openai")
	// The same route is tried at most twice, whatever max_attempts says:
	// retries must not multiply a failing provider's load.
	if n := len(down.requests()); n != 2 {
		t.Errorf("attempts %d, want 2", n)
	}
}

// A stream that breaks after it began cannot be retried: the client gets
// the events so far, then an error event in its own protocol, and the
// stream ends cleanly.
func TestConnectionResetMidStream(t *testing.T) {
	cut := func(events []string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, ev := range events {
				_, _ = io.WriteString(w, ev)
			}
			_ = http.NewResponseController(w).Flush()
			time.Sleep(50 * time.Millisecond)
			resetConnection(w)
		}
	}
	openai := newFakeProvider(t, cut(openAIChunks(3)[:3]))
	anthropic := newFakeProvider(t, cut(anthropicEvents(2)[:3]))
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models gpt-4o
		}
		provider anthropic {
			base_url %s
			api_key sk-b
			models claude-*
		}`, openai.URL, anthropic.URL))

	resp, body := post(t, tester, "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	wantStatus(t, resp, body, 200)
	events := readEvents(t, strings.NewReader(string(body)), time.Now())
	if len(events) != 4 {
		t.Fatalf("events %d, want the 3 sent and an error: %s", len(events), body)
	}
	errEv := events[3].data
	if gjson.Get(errEv, "error.type").Str != "service_unavailable" || gjson.Get(errEv, "error.code").Str != "503" {
		t.Errorf("error event %s, want the openai envelope of provider_unavailable", errEv)
	}
	if strings.Contains(string(body), "[DONE]") {
		t.Errorf("[DONE] after an error")
	}

	resp, body = post(t, tester, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	wantStatus(t, resp, body, 200)
	events = readEvents(t, strings.NewReader(string(body)), time.Now())
	last := events[len(events)-1]
	if last.name != "error" || gjson.Get(last.data, "type").Str != "error" || gjson.Get(last.data, "error.type").Str != "overloaded_error" {
		t.Errorf("last event %+v, want an Anthropic error event", last)
	}
	if id := gjson.Get(last.data, "request_id").Str; id == "" || id != resp.Header.Get("X-Request-Id") {
		t.Errorf("error event request_id %q, want the response's X-Request-Id %q", id, resp.Header.Get("X-Request-Id"))
	}
}

func TestHangingProviderTimesOut(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	slow := newFakeProvider(t, hang)
	backup := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider slow {
			type openai
			base_url %s/v1
			api_key sk-a
			models m
			timeout 1s
		}
		provider backup {
			type openai
			base_url %s/v1
			api_key sk-b
		}
		fallback m backup:m`, slow.URL, backup.URL))
	start := time.Now()
	resp, body := post(t, tester, "/v1/chat/completions", chatBody)
	wantStatus(t, resp, body, 200)
	if resp.Header.Get("X-Llm-Provider") != "backup" {
		t.Errorf("answered by %q, want the fallback", resp.Header.Get("X-Llm-Provider"))
	}
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Errorf("took %v, want the 1s timeout and then the fallback", d)
	}

	tester = loadGateway(t, fmt.Sprintf(`
		provider slow {
			type openai
			base_url %s/v1
			api_key sk-a
			models m
			timeout 1s
		}
		retry {
			max_attempts 1
		}`, slow.URL))
	start = time.Now()
	resp, body = post(t, tester, "/v1/chat/completions", chatBody)
	wantStatus(t, resp, body, 504)
	wantJSON(t, body, "error.type", "timeout")
	if msg := gjson.GetBytes(body, "error.message").Str; !strings.HasPrefix(msg, "Request timed out after 1 second") || !strings.Contains(msg, "slow") {
		t.Errorf("message %q", msg)
	}
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Errorf("took %v, want about the 1s timeout", d)
	}
}

// A stream that goes quiet for longer than stream_idle_timeout is cut with
// a protocol-native timeout event.
func TestStreamThatStopsMidway(t *testing.T) {
	stalls := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range anthropicEvents(1)[:3] {
			_, _ = io.WriteString(w, ev)
		}
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			base_url %s
			api_key sk-a
			models claude-*
			stream_idle_timeout 500ms
		}`, stalls.URL))
	start := time.Now()
	resp, body := post(t, tester, "/v1/messages", `{"model":"claude-x","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	wantStatus(t, resp, body, 200)
	events := readEvents(t, strings.NewReader(string(body)), start)
	if len(events) != 4 {
		t.Fatalf("%d events, want 3 and an error: %s", len(events), body)
	}
	if events[3].name != "error" || gjson.Get(events[3].data, "error.type").Str != "timeout_error" {
		t.Errorf("last event %+v, want a timeout_error event", events[3])
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 10*time.Second {
		t.Errorf("took %v, want about the 500ms idle timeout", d)
	}
}

func TestClientFaultIsNotRetried(t *testing.T) {
	for _, status := range []int{400, 404, 413, 422} {
		up := newFakeProvider(t, errorAnswer(status, map[string]string{"Content-Type": "application/json"},
			`{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature","code":null}}`))
		tester := loadGateway(t, fmt.Sprintf(`
			provider openai {
				base_url %s/v1
				api_key sk-a sk-b
				models m
			}`, up.URL))
		resp, body := post(t, tester, "/v1/chat/completions", chatBody)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%d: client got %d", status, resp.StatusCode)
		}
		if n := len(up.requests()); n != 1 {
			t.Errorf("%d: %d attempts, want 1: %s", status, n, body)
		}
	}
}

// A client that leaves mid-stream cancels the upstream request at once.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	canceled := make(chan time.Time, 1)
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"t"+strconv.Itoa(i)+"\"}}]}\n\n")
			_ = http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				canceled <- time.Now()
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}`, up.URL))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", gatewayAddr+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	cancel()
	resp.Body.Close()
	select {
	case at := <-canceled:
		if d := at.Sub(left); d > 2*time.Second {
			t.Errorf("upstream canceled %v after the client left", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not canceled when the client left")
	}
}

// After every kind of fault, the gateway's goroutines return to their
// baseline: nothing keeps running for a request that ended.
func TestNoGoroutineLeakAfterFaults(t *testing.T) {
	faulty := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		switch gjson.GetBytes(mustRead(r), "model").Str {
		case "reset":
			resetConnection(w)
		case "hang":
			<-r.Context().Done()
		case "cut":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, openAIChunks(1)[0])
			_ = http.NewResponseController(w).Flush()
			resetConnection(w)
		case "stall":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, openAIChunks(1)[0])
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done()
		case "slow":
			w.Header().Set("Content-Type", "text/event-stream")
			for {
				_, _ = io.WriteString(w, openAIChunks(1)[0])
				_ = http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		default:
			errorAnswer(529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)(w, r)
		}
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a sk-b
			models *
			timeout 300ms
			stream_idle_timeout 300ms
			circuit_breaker off
		}
		retry {
			max_attempts 2
			backoff 5ms
		}`, faulty.URL))
	send := func(model string, stream bool) {
		body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"x"}]}`, model, stream)
		post(t, tester, "/v1/chat/completions", body)
	}
	send("warmup", false)
	tester.Client.CloseIdleConnections()

	for i := 0; i < 3; i++ {
		send("reset", false)
		send("hang", false)
		send("cut", true)
		send("stall", true)
		send("overloaded", false)
		// a client that leaves mid-stream
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "POST", gatewayAddr+"/v1/chat/completions",
			strings.NewReader(`{"model":"slow","stream":true,"messages":[{"role":"user","content":"x"}]}`))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := tester.Client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
	}
	tester.Client.CloseIdleConnections()
	// Only the gateway's own goroutines count (the fake provider's, the
	// test client's and Caddy's come and go on their own), as goleak
	// filters by frame.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := gatewayGoroutines()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the gateway still run:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gatewayFrames are the functions of the gateway's own packages that a
// goroutine left running for a request that ended would show.
var gatewayFrames = []string{
	"caddy-llm-gateway/relay.",
	"caddy-llm-gateway/providers",
	"caddy-llm-gateway/request.",
	"caddy-llm-gateway.(*Gateway)",
	"caddy-llm-gateway.(*exchange)",
}

// gatewayGoroutines are the stacks of the goroutines running the
// gateway's code, other than this test's own.
func gatewayGoroutines() []string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "gatewayGoroutines") {
			continue
		}
		for _, f := range gatewayFrames {
			if strings.Contains(g, f) {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

func mustRead(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

// The yardstick: against providers that fail a third of their
// requests with 429, 5xx, 529 and resets, a client with a pool of two
// provider keys and one fallback sees almost no errors, and those it sees
// are correct envelopes with retry guidance.
func TestFlakyProvidersAreHidden(t *testing.T) {
	// Seeded: the failures come in the same sequence on every run (which
	// request meets which depends on scheduling, not on luck).
	var diceMu sync.Mutex
	dice := rand.New(rand.NewPCG(1, 2))
	roll := func() int {
		diceMu.Lock()
		defer diceMu.Unlock()
		return dice.IntN(12)
	}
	flaky := func(w http.ResponseWriter, r *http.Request) {
		switch roll() {
		case 0:
			errorAnswer(429, map[string]string{"Retry-After": "1", "Content-Type": "application/json"},
				`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)(w, r)
		case 1:
			errorAnswer(500, map[string]string{"Content-Type": "application/json"},
				`{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`)(w, r)
		case 2:
			errorAnswer(529, map[string]string{"Content-Type": "application/json"},
				`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)(w, r)
		case 3:
			resetConnection(w)
		default:
			jsonAnswer(chatOK)(w, r)
		}
	}
	primary := newFakeProvider(t, flaky)
	backup := newFakeProvider(t, flaky)
	loadGateway(t, fmt.Sprintf(`
		provider primary {
			type openai
			base_url %s/v1
			api_key sk-1 sk-2
			models m
		}
		provider backup {
			type openai
			base_url %s/v1
			api_key sk-3
		}
		fallback m backup:m
		retry {
			max_attempts 5
			backoff 10ms
			max_wait 3s
		}`, primary.URL, backup.URL))
	// A request may wait out Retry-After more than once: give the client
	// the patience of an SDK, not caddytest's 5s; and retry as the SDKs
	// do (twice, when the answer says it may), since the gateway bounds
	// its own retries so as not to multiply a failing provider's load.
	client := &http.Client{Timeout: 30 * time.Second}
	sdkPost := func() (*http.Response, error) {
		for attempt := 0; ; attempt++ {
			resp, err := client.Post(gatewayAddr+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
			if err != nil || resp.StatusCode < 500 && resp.StatusCode != 429 || resp.Header.Get("X-Should-Retry") == "false" || attempt == 2 {
				return resp, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
		}
	}

	const requests, workers = 300, 8
	var ok, failed atomic.Int64
	var bad atomic.Value
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				resp, err := sdkPost()
				if err != nil {
					bad.Store(err.Error())
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				// every error is a correct envelope with retry guidance
				if !gjson.ValidBytes(body) || gjson.GetBytes(body, "error.type").Str == "" || resp.Header.Get("X-Request-Id") == "" {
					bad.Store(fmt.Sprintf("not an envelope: %d %s", resp.StatusCode, body))
				}
				if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
					bad.Store(fmt.Sprintf("%d without Retry-After: %s", resp.StatusCode, body))
				}
			}
		}()
	}
	for i := 0; i < requests; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Error(b)
	}
	rate := float64(failed.Load()) / requests
	t.Logf("%d of %d requests failed (%.1f%%); the providers failed about a third of %d attempts",
		failed.Load(), requests, 100*rate, len(primary.requests())+len(backup.requests()))
	if rate > 0.02 {
		t.Errorf("%.1f%% of requests failed; the gateway should hide almost all provider failures", 100*rate)
	}
}
