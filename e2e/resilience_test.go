package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// fakeProvider answers by model name, the way real providers fail, and
// counts the calls each model gets (GET /counts).
type fakeProvider struct {
	mu     sync.Mutex
	counts map[string]int
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/counts" {
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(f.counts)
		return
	}
	body, _ := io.ReadAll(r.Body)
	model := gjson.GetBytes(body, "model").Str
	f.mu.Lock()
	f.counts[model]++
	n := f.counts[model]
	f.mu.Unlock()
	answer := func(status int, text string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
	}
	ok := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"` + model + `","choices":[{"index":0,"message":{"role":"assistant","content":"ok from ` + model + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}`
	switch model {
	case "limited-model":
		w.Header().Set("Retry-After", "20")
		answer(429, `{"error":{"message":"Rate limit reached for limited-model","type":"requests","code":"rate_limit_exceeded"}}`)
	case "refused-once":
		if n == 1 {
			answer(401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		answer(200, ok)
	case "forbidden-model":
		answer(403, `{"error":{"message":"You are not allowed to use this model","type":"permission_error"}}`)
	case "broken-model":
		answer(500, `{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`)
	case "claude-overloaded":
		answer(529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	case "truncated-once":
		if n == 1 {
			answer(200, ok[:len(ok)/2])
			return
		}
		answer(200, ok)
	case "stream-error-once":
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			_, _ = io.WriteString(w, `data: {"error":{"message":"No instances available","code":503}}`+"\n\n")
			return
		}
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"ok from stream-error-once"}}]}`+"\n\n")
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	default:
		answer(200, ok)
	}
}

// The official SDKs meet every provider failure as the contract says
// (e2e/sdk/resilience.test.mjs), through a caddy binary.
func TestSDKsSeeProviderFailuresAsTheContractSays(t *testing.T) {
	node := needSDKs(t)
	fake := httptest.NewServer(&fakeProvider{counts: map[string]int{}})
	defer fake.Close()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir := t.TempDir()
	config := filepath.Join(dir, "Caddyfile")
	err := os.WriteFile(config, []byte(fmt.Sprintf(`{
	admin off
}
http://:%d {
	bind 127.0.0.1
	llm_gateway {
		provider pool {
			type openai
			base_url %s/v1
			api_key sk-fake-1
			models *-model *-once
		}
		provider single {
			type openai
			base_url %s/v1
			api_key sk-fake-single
		}
		provider claude {
			type anthropic
			base_url %s
			api_key sk-ant-fake
			models claude-*
		}
		key ck-resilience-0123456789 {
			name sdk
		}
		retry {
			backoff 10ms
		}
	}
}
`, port, fake.URL, fake.URL, fake.URL)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	stop := runCaddy(t, config, dir, base)
	defer stop()
	test := exec.Command(node, "--test", "--test-reporter=spec", "sdk/resilience.test.mjs")
	test.Env = append(os.Environ(), "GATEWAY_URL="+base, "GATEWAY_KEY=ck-resilience-0123456789", "FAKE_URL="+fake.URL)
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("the SDK tests failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// needSDKs returns node, with the SDKs installed, or skips.
func needSDKs(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the SDK tests need Node.js 20 and npm")
	}
	if _, err := os.Stat("sdk/node_modules"); err != nil {
		out, err := exec.Command("npm", "ci", "--prefix", "sdk", "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return node
}

// runCaddy runs the built caddy on config until the returned stop is
// called, waiting until base answers /health.
func runCaddy(t *testing.T, config, dir, base string) (stop func()) {
	t.Helper()
	cmd := exec.Command(caddyBin, "run", "--config", config)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	logs, _ := os.Create(filepath.Join(dir, "caddy.log"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_, _ = cmd.Process.Wait()
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("caddy log:\n%s", strings.TrimSpace(string(b)))
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("caddy did not start")
		}
	}
}
