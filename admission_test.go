package llmgateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/tidwall/gjson"
)

const (
	clientKeyA = "ck-live-team-a-0123456789"
	clientKeyB = "ck-live-team-b-0123456789"
)

// usageAnswer answers a chat completion that used prompt+completion tokens.
func usageAnswer(prompt, completion int) http.HandlerFunc {
	return jsonAnswer(fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion))
}

// storeIn keeps a test's counters and spend in its own state file.
func storeIn(t *testing.T) string {
	return fmt.Sprintf("store memory {\n\t\t\tstate_file %s\n\t\t}", filepath.Join(t.TempDir(), "spend.json"))
}

func chatAs(t *testing.T, tester *caddytest.Tester, key, model string, extra ...string) (*http.Response, []byte) {
	t.Helper()
	headers := append([]string{"Authorization", "Bearer " + key}, extra...)
	return post(t, tester, "/v1/chat/completions", `{"model":"`+model+`","max_tokens":100,"messages":[{"role":"user","content":"hello"}]}`, headers...)
}

func TestClientKeys(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key %s
			models gpt-4o gpt-4o-mini o3
		}
		provider mock {
			models mock-a
		}
		key %s {
			name team-a
			providers openai
			models gpt-4o*
		}
		key %s {
			name team-b
		}
		key ck-expired-0123456789 {
			name old-team
			expires 2020-01-01
		}
		key ck-disabled-0123456789 {
			name gone-team
			disabled
		}
		%s`, up.URL, providerKey, clientKeyA, clientKeyB, storeIn(t)))

	// The key is read from each header clients use, and never forwarded.
	for _, h := range [][]string{
		{"Authorization", "Bearer " + clientKeyA},
		{"X-Api-Key", clientKeyA},
		{"X-Goog-Api-Key", clientKeyA},
	} {
		resp, body := post(t, tester, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, h...)
		wantStatus(t, resp, body, 200)
		got := up.last(t)
		if got.Header.Get("Authorization") != "Bearer "+providerKey || got.Header.Get(h[0]) == h[1] {
			t.Errorf("%s: the provider got the client's key or not its own: %v", h[0], got.Header)
		}
	}

	cases := []struct {
		name, key, path, model string
		headers                []string
		status                 int
		typ, message           string
	}{
		{"missing key", "", "/v1/chat/completions", "gpt-4o", nil, 401, "authentication_error", "Missing API key"},
		{"unknown key", "ck-nope", "/v1/chat/completions", "gpt-4o", nil, 401, "authentication_error", "Invalid API key"},
		{"expired key", "ck-expired-0123456789", "/v1/chat/completions", "gpt-4o", nil, 401, "authentication_error", "old-team"},
		{"disabled key", "ck-disabled-0123456789", "/v1/chat/completions", "gpt-4o", nil, 401, "authentication_error", "gone-team"},
		{"provider not allowed", clientKeyA, "/v1/chat/completions", "mock-a", nil, 403, "permission_error", "team-a"},
		{"model not allowed", clientKeyA, "/v1/chat/completions", "o3", nil, 403, "permission_error", "team-a"},
		{"anthropic envelope", "ck-nope", "/v1/messages", "gpt-4o", nil, 401, "authentication_error", "Invalid API key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := `{"model":"` + c.model + `","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
			headers := c.headers
			if c.key != "" {
				headers = append(headers, "Authorization", "Bearer "+c.key)
			}
			resp, answer := post(t, tester, c.path, body, headers...)
			wantStatus(t, resp, answer, c.status)
			wantJSON(t, answer, "error.type", c.typ)
			if msg := gjson.GetBytes(answer, "error.message").Str; !strings.Contains(msg, c.message) {
				t.Errorf("message %q does not say %q", msg, c.message)
			}
			if resp.Header.Get("X-Should-Retry") != "false" {
				t.Errorf("x-should-retry = %q", resp.Header.Get("X-Should-Retry"))
			}
			if c.path == "/v1/messages" {
				wantJSON(t, answer, "type", "error")
				if gjson.GetBytes(answer, "request_id").Str != resp.Header.Get("Request-Id") {
					t.Errorf("request_id does not match the request-id header")
				}
			}
			if c.key != "" && strings.Contains(string(answer), c.key) {
				t.Errorf("the answer quotes the client's key: %s", answer)
			}
		})
	}

	// Each key sees only what it may use.
	_, models := get(t, tester, "/v1/models", "Authorization", "Bearer "+clientKeyA)
	if ids := fmt.Sprint(gjson.GetBytes(models, "data.#.id").Value()); ids != "[gpt-4o gpt-4o-mini]" {
		t.Errorf("team-a's models: %s", ids)
	}
	_, models = get(t, tester, "/v1/models", "Authorization", "Bearer "+clientKeyB)
	if ids := fmt.Sprint(gjson.GetBytes(models, "data.#.id").Value()); ids != "[gpt-4o gpt-4o-mini o3 mock-a]" {
		t.Errorf("team-b's models: %s", ids)
	}
	resp, _ := get(t, tester, "/v1/models")
	if resp.StatusCode != 401 {
		t.Errorf("/v1/models without a key: %d", resp.StatusCode)
	}
	resp, body := post(t, tester, "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, "X-Api-Key", clientKeyA)
	wantStatus(t, resp, body, 404)
	resp, _ = get(t, tester, "/health")
	if resp.StatusCode != 200 {
		t.Errorf("/health must answer without a key")
	}
}

func TestRequestRateLimit(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		error_format ccproxy
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		provider anthropic {
			type mock
			models claude-*
		}
		key %s {
			name team-a
			rpm 3
		}
		%s`, up.URL, clientKeyA, storeIn(t)))

	for i := 0; i < 3; i++ {
		resp, body := chatAs(t, tester, clientKeyA, "m")
		wantStatus(t, resp, body, 200)
		if got := resp.Header.Get("X-Ratelimit-Limit-Requests"); got != "3" {
			t.Errorf("x-ratelimit-limit-requests = %q", got)
		}
		if got := resp.Header.Get("X-Ratelimit-Remaining-Requests"); got != strconv.Itoa(2-i) {
			t.Errorf("request %d: x-ratelimit-remaining-requests = %q, want %d", i, got, 2-i)
		}
	}
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.code", "rate_limit_exceeded")
	wantJSON(t, body, "error.type", "rate_limit_error")
	wantJSON(t, body, "error.details.limit", 3)
	wantJSON(t, body, "error.details.remaining", 0)
	retryAfter, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retryAfter < 1 || retryAfter > 20 {
		t.Errorf("Retry-After = %q, want the ~20s until a request refills", resp.Header.Get("Retry-After"))
	}
	if gjson.GetBytes(body, "error.details.retry_after").Int() != int64(retryAfter) {
		t.Errorf("details.retry_after %v != Retry-After %d", gjson.GetBytes(body, "error.details.retry_after").Value(), retryAfter)
	}
	if ms, _ := strconv.Atoi(resp.Header.Get("Retry-After-Ms")); ms <= 0 || ms > retryAfter*1000 {
		t.Errorf("retry-after-ms = %q", resp.Header.Get("Retry-After-Ms"))
	}
	if len(up.requests()) != 3 {
		t.Errorf("the provider got %d requests; refused ones must not reach it", len(up.requests()))
	}

	// Anthropic paths get Anthropic's headers, in the anthropic envelope
	// when auto.
	tester = loadGateway(t, fmt.Sprintf(`
		provider anthropic {
			type mock
			models claude-*
		}
		key %s {
			rpm 1
		}
		%s`, clientKeyA, storeIn(t)))
	msg := `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
	resp, body = post(t, tester, "/v1/messages", msg, "X-Api-Key", clientKeyA)
	wantStatus(t, resp, body, 200)
	if resp.Header.Get("Anthropic-Ratelimit-Requests-Limit") != "1" || resp.Header.Get("Anthropic-Ratelimit-Requests-Remaining") != "0" {
		t.Errorf("anthropic rate headers: %v", resp.Header)
	}
	if _, err := time.Parse(time.RFC3339, resp.Header.Get("Anthropic-Ratelimit-Requests-Reset")); err != nil {
		t.Errorf("anthropic-ratelimit-requests-reset %q is not RFC 3339", resp.Header.Get("Anthropic-Ratelimit-Requests-Reset"))
	}
	resp, body = post(t, tester, "/v1/messages", msg, "X-Api-Key", clientKeyA)
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.type", "rate_limit_error")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestTokenLimitSettlesWithRealUsage(t *testing.T) {
	up := newFakeProvider(t, usageAnswer(400, 500))
	tester := loadGateway(t, fmt.Sprintf(`
		error_format coollm
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		key %s {
			tpm 1000
		}
		%s`, up.URL, clientKeyA, storeIn(t)))
	// Admitted on its small estimate (~120 tokens), settled at the 900
	// the provider reported: the next estimate no longer fits.
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 200)
	resp, body = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.message", "token limit exceeded")
	wantJSON(t, body, "error.code", 429)
	wantJSON(t, body, "error.details.limit", 1000)
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Ratelimit-Limit-Tokens") != "1000" {
		t.Errorf("headers: %v", resp.Header)
	}

	// A request that could never fit is told not to retry.
	resp, body = post(t, tester, "/v1/chat/completions", `{"model":"m","max_tokens":3000,"messages":[{"role":"user","content":"x"}]}`, "Authorization", "Bearer "+clientKeyA)
	wantStatus(t, resp, body, 429)
	if resp.Header.Get("X-Should-Retry") != "false" {
		t.Errorf("x-should-retry = %q for a request larger than the limit", resp.Header.Get("X-Should-Retry"))
	}
}

// The gateway asks an OpenAI provider for stream usage when the key's
// limits count tokens, and hides the extra chunk from a client that did
// not ask for it.
func TestStreamUsageIsCounted(t *testing.T) {
	var sawOption atomic.Bool
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		include := gjson.GetBytes(b, "stream_options.include_usage").Bool()
		sawOption.Store(include)
		evs := openAIChunks(2)
		if include {
			evs = append(evs[:2:2], `data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":600,"completion_tokens":300,"total_tokens":900}}`+"\n\n", "data: [DONE]\n\n")
		}
		pacedStream(evs, 0)(w, r)
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		key %s {
			tpm 1000
		}
		%s`, up.URL, clientKeyA, storeIn(t)))
	stream := `{"model":"m","stream":true,"max_tokens":200,"messages":[{"role":"user","content":"x"}]}`
	resp, body := post(t, tester, "/v1/chat/completions", stream, "Authorization", "Bearer "+clientKeyA)
	wantStatus(t, resp, body, 200)
	if !sawOption.Load() {
		t.Fatal("the provider was not asked for stream usage")
	}
	if strings.Contains(string(body), `"usage"`) {
		t.Errorf("the client got a usage chunk it did not ask for: %s", body)
	}
	if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("stream does not end with [DONE]: %s", body)
	}
	// The 900 tokens were counted: the next request does not fit.
	resp, body = post(t, tester, "/v1/chat/completions", stream, "Authorization", "Bearer "+clientKeyA)
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.type", "rate_limit_error")

	// A client that asked for usage gets it.
	tester = loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		key %s {
			tpm 100000
		}
		%s`, up.URL, clientKeyA, storeIn(t)))
	resp, body = post(t, tester, "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, "Authorization", "Bearer "+clientKeyA)
	wantStatus(t, resp, body, 200)
	if !strings.Contains(string(body), `"total_tokens":900`) {
		t.Errorf("the client asked for usage and did not get it: %s", body)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int64
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
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
		key %s {
			concurrency 2
		}
		%s`, up.URL, clientKeyA, storeIn(t)))

	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := tester.Client.Do(chatRequest(context.Background(), clientKeyA))
			if err == nil {
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		}()
	}
	waitFor(t, func() bool { return inFlight.Load() == 2 })
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.type", "rate_limit_error")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After on a concurrency refusal")
	}
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("an admitted request got %d", s)
		}
	}

	// Slots come back on completion and when the client leaves.
	release = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if resp, err := tester.Client.Do(chatRequest(ctx, clientKeyA)); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return inFlight.Load() == 1 })
	cancel()
	waitFor(t, func() bool { return inFlight.Load() == 0 })
	close(release)
	for i := 0; i < 4; i++ {
		resp, body := chatAs(t, tester, clientKeyA, "m")
		wantStatus(t, resp, body, 200)
	}
}

func chatRequest(ctx context.Context, key string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, "POST", gatewayAddr+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSessionLimit(t *testing.T) {
	up := newFakeProvider(t, usageAnswer(500, 400))
	tester := loadGateway(t, fmt.Sprintf(`
		error_format proxed
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		key %s {
			session 5h 1000
		}
		%s`, up.URL, clientKeyA, storeIn(t)))
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 200)
	resp, body = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error", "TOO_MANY_REQUESTS")
	if gjson.GetBytes(body, "requestId").Str != resp.Header.Get("X-Request-Id") {
		t.Errorf("requestId does not match X-Request-Id")
	}
	// The session resets five hours after it opened: retrying sooner is
	// pointless, and the client is told so.
	if resp.Header.Get("X-Should-Retry") != "false" {
		t.Errorf("x-should-retry = %q", resp.Header.Get("X-Should-Retry"))
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 4*3600 || ra > 5*3600 {
		t.Errorf("Retry-After = %q, want about 5h", resp.Header.Get("Retry-After"))
	}
}

// balanceMessage is seed 003's 402 message.
var balanceMessage = regexp.MustCompile(`^Insufficient balance\. Current: -?\$\d+\.\d\d+, Required: \$\d+\.\d\d+$`)

func TestBudget(t *testing.T) {
	up := newFakeProvider(t, usageAnswer(300, 300))
	config := fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		price openai:m 1000 1000
		key %s {
			budget 1.00
		}
		%s`, up.URL, clientKeyA, storeIn(t))
	tester := loadGateway(t, config)
	// $0.001 a token: 600 tokens cost $0.60, leaving $0.40; the next
	// request reserves ~$0.10 for its prompt and max_tokens, and after it
	// settles at $0.60 too the balance is spent.
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 200)

	// Spend carries over a reload.
	tester = loadGateway(t, config)
	resp, body = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 200)
	resp, body = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 402)
	wantJSON(t, body, "error.type", "insufficient_quota")
	wantJSON(t, body, "error.code", "402")
	// $1.20 spent of $1.00: settled spend may pass the budget by what a
	// request used beyond its reservation, and the balance says so.
	if msg := gjson.GetBytes(body, "error.message").Str; !balanceMessage.MatchString(msg) {
		t.Errorf("message %q is not seed 003's", msg)
	}
	if resp.Header.Get("X-Should-Retry") != "false" {
		t.Error("a 402 must not be retried")
	}
	resp, body = chatAs(t, tester, clientKeyA, "m", "Anthropic-Version", "2023-06-01")
	wantStatus(t, resp, body, 402)
	wantJSON(t, body, "error.type", "billing_error")
}

// Counters carry over a reload, of the same config and of a changed one.
func TestLimitsSurviveReload(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	store := storeIn(t)
	config := func(rpm int, alias string) string {
		return fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		alias %s openai:m
		key %s {
			rpm %d
		}
		%s`, up.URL, alias, clientKeyA, rpm, store)
	}
	tester := loadGateway(t, config(3, "a"))
	for i := 0; i < 2; i++ {
		resp, body := chatAs(t, tester, clientKeyA, "m")
		wantStatus(t, resp, body, 200)
	}
	tester = loadGateway(t, config(3, "b"))
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 200)
	resp, body = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 429)

	// A changed limit applies to the counters as they stand: the bucket
	// is still empty, and now refills at 5 a minute (one every 12s).
	tester = loadGateway(t, config(5, "c"))
	resp, body = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 429)
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > 12 {
		t.Errorf("Retry-After = %q, want at most the 12s of rpm 5", resp.Header.Get("Retry-After"))
	}
}

// Under 200 concurrent requests, the budget holds within its documented
// bound and every slot comes back.
func TestBudgetAndConcurrencyUnderLoad(t *testing.T) {
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
		usageAnswer(50, 50)(w, r)
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		price openai:m 1000 1000
		key %s {
			budget 2.00
			concurrency 8
		}
		%s`, up.URL, clientKeyA, storeIn(t)))
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := tester.Client.Do(chatRequest(context.Background(), clientKeyA))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 402, 429:
				refused.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	// Then one at a time until the budget refuses. Each answered request
	// cost $0.10 and reserved ~$0.07, so the $2.00 budget answers 20 in
	// all, and at most 8 more (one overrun per concurrency slot, the
	// documented bound). Fewer than 20 would mean reservations were never
	// returned; a 429 would mean a leaked concurrency slot.
	for i := 0; i < 40; i++ {
		resp, body := do(t, tester, chatRequest(context.Background(), clientKeyA))
		if resp.StatusCode == 402 {
			break
		}
		if resp.StatusCode != 200 {
			t.Fatalf("one request at a time got %d: %s", resp.StatusCode, body)
		}
		ok.Add(1)
	}
	if n := ok.Load(); n < 20 || n > 28 {
		t.Errorf("%d requests answered in all ($%.2f), want the $2.00 budget used within its bound ($2.80)", n, float64(n)*0.10)
	}
	if refused.Load() == 0 {
		t.Error("200 concurrent requests against concurrency 8 were never refused")
	}
}

// keys_file is read again on every config load.
func TestKeysFileIsReadOnReload(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	file := filepath.Join(t.TempDir(), "keys.json")
	writeKeys := func(secret, name string) {
		sum := sha256.Sum256([]byte(secret))
		body := fmt.Sprintf(`[{"key_sha256":%q,"name":%q,"rpm":100}]`, hex.EncodeToString(sum[:]), name)
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		keys_file %s
		%s`, up.URL, file, storeIn(t))
	writeKeys(clientKeyA, "from-file-a")
	tester := loadGateway(t, config)
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 200)

	// `caddy reload --force` (the same config, loaded again) reads the
	// file again; a reload with an unchanged config is skipped by Caddy.
	writeKeys(clientKeyB, "from-file-b")
	forceReload(t, gatewayConfig(config))
	// The old server closes its idle connections as the new one takes
	// over; a request racing that close gets EOF, which SDKs retry. Start
	// from fresh connections rather than race it.
	tester.Client.CloseIdleConnections()
	resp, body = chatAs(t, tester, clientKeyB, "m")
	wantStatus(t, resp, body, 200)
	resp, body = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 401)
}

// The key policy refusals, in a second envelope: anthropic (the request
// carries anthropic-version) and proxed.
func TestKeyRefusalsInOtherEnvelopes(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	for _, format := range []string{"auto", "proxed"} {
		tester := loadGateway(t, fmt.Sprintf(`
		error_format %s
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m o3
		}
		provider other {
			type openai
			base_url %s/v1
			api_key sk-b
			models x
		}
		key %s {
			name team-a
			providers openai
			models m
			concurrency 1
		}
		%s`, format, up.URL, up.URL, clientKeyA, storeIn(t)))
		for _, c := range []struct {
			model, code string
		}{{"x", "provider_not_allowed"}, {"o3", "model_not_allowed"}} {
			resp, body := chatAs(t, tester, clientKeyA, c.model, "Anthropic-Version", "2023-06-01")
			wantStatus(t, resp, body, 403)
			if format == "auto" {
				wantJSON(t, body, "type", "error")
				wantJSON(t, body, "error.type", "permission_error")
			} else {
				wantJSON(t, body, "error", "FORBIDDEN")
			}
			if !strings.Contains(string(body), "team-a") {
				t.Errorf("%s: the message does not name the key: %s", c.code, body)
			}
		}
	}
}

// forceReload loads a Caddyfile config even when it is unchanged, as
// `caddy reload --force` does.
func forceReload(t *testing.T, caddyfileText string) {
	t.Helper()
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://localhost:%d/load", adminPort), bytes.NewReader(adapted))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("reload: %d %s", resp.StatusCode, b)
	}
}

// A budget_strict key reserves the most a request can cost: all of its
// max_tokens (a request asking more than the balance covers is refused
// before it runs), and a request that sets none is sent with
// max_tokens = reserve_output_tokens, so its answer cannot outgrow what
// was reserved. Spend never passes the budget.
func TestStrictBudget(t *testing.T) {
	up := newFakeProvider(t, usageAnswer(10, 90))
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		price openai:m 1000 1000
		reserve_output_tokens 100
		key %s {
			budget 1.00
			budget_strict
		}
		%s`, up.URL, clientKeyA, storeIn(t)))
	ask := func(maxTokens string) (*http.Response, []byte) {
		return post(t, tester, "/v1/chat/completions", `{"model":"m",`+maxTokens+`"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+clientKeyA)
	}
	// 32000 output tokens at $0.001 would cost $32: refused whole.
	resp, body := ask(`"max_tokens":32000,`)
	wantStatus(t, resp, body, 402)
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d requests went upstream", n)
	}
	// No max_tokens: sent with the reserve as its cap.
	resp, body = ask(``)
	wantStatus(t, resp, body, 200)
	if got := gjson.GetBytes(up.last(t).Body, "max_tokens").Int(); got != 100 {
		t.Errorf("upstream max_tokens %d, want the reserve (100)", got)
	}
	// Each request spends $0.10; the tenth leaves nothing for an eleventh,
	// whose reservation ($0.05 of prompt bytes + $0.10) no longer fits.
	for i := 0; i < 8; i++ {
		resp, body = ask(`"max_tokens":100,`)
		wantStatus(t, resp, body, 200)
	}
	for i := 0; i < 3; i++ {
		resp, body = ask(`"max_tokens":100,`)
		if resp.StatusCode == 402 {
			break
		}
	}
	wantStatus(t, resp, body, 402)
	if msg := gjson.GetBytes(body, "error.message").Str; strings.Contains(msg, "Current: -") {
		t.Errorf("a strict budget was overspent: %s", msg)
	}
}
