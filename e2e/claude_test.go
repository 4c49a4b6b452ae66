package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
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

// claudeCodeFake is an OpenAI-protocol provider that plays the model for
// Claude Code's tool loop: a request offering Read whose conversation has
// no tool result yet gets a call to Read of file; a request carrying the
// tool result gets text quoting the phrase it found there; anything else
// (the small-model calls Claude Code makes on the side) gets a short
// text. Plain or streamed, as asked.
type claudeCodeFake struct {
	file, phrase string

	mu       sync.Mutex
	requests []fakeRequest
}

// fakeRequest is what the test wants to know of one request.
// String shows it with the tool result shortened.
type fakeRequest struct {
	Model      string
	Stream     bool
	Tools      int
	HasRead    bool
	ToolResult string // the content of the last role "tool" message
	Answer     string // "tool_call", "quote" or "text"
	// ReasoningEcho is set when an assistant turn sent back holds the
	// reasoning the fake gave: thinking must not come back as text.
	ReasoningEcho bool
}

func (f *claudeCodeFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := fakeRequest{
		Model:  gjson.GetBytes(body, "model").Str,
		Stream: gjson.GetBytes(body, "stream").Bool(),
	}
	for _, tool := range gjson.GetBytes(body, "tools").Array() {
		req.Tools++
		if tool.Get("function.name").Str == "Read" {
			req.HasRead = true
		}
	}
	for _, m := range gjson.GetBytes(body, "messages").Array() {
		if m.Get("role").Str == "tool" {
			req.ToolResult = textOf(m.Get("content"))
		}
		if m.Get("role").Str == "assistant" && strings.Contains(m.Raw, "wants the file read") {
			req.ReasoningEcho = true
		}
	}
	if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+fakeOpenAIKey {
		f.note(req)
		writeJSON(w, 404, `{"error":{"message":"Invalid URL (POST `+r.URL.Path+`)","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	// Claude Code's own headers (its key, the Anthropic API's options,
	// its session) are for Anthropic; an OpenAI provider gets none.
	for name := range r.Header {
		if lower := strings.ToLower(name); lower == "x-api-key" || strings.HasPrefix(lower, "anthropic-") || strings.HasPrefix(lower, "x-claude-code") || lower == "x-app" {
			req.Answer = "refused: " + name
			f.note(req)
			writeJSON(w, 400, `{"error":{"message":"fake provider: header `+name+` reached an OpenAI provider","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
	}
	if strings.Contains(gjson.GetBytes(body, "messages").Raw, "please-fail-400") {
		req.Answer = "400"
		f.note(req)
		writeJSON(w, 400, `{"error":{"message":"Invalid 'messages': the fake provider refuses this conversation.","type":"invalid_request_error","param":"messages","code":"invalid_value"}}`)
		return
	}
	var rp reply
	switch {
	case strings.Contains(req.ToolResult, f.phrase):
		req.Answer = "quote"
		rp = reply{text: []string{"The", " file", " says:", " " + f.phrase}, prompt: 9000, cached: 8000, output: 12}
	case req.HasRead && req.ToolResult == "":
		req.Answer = "tool_call"
		args, _ := json.Marshal(map[string]string{"file_path": f.file})
		// With reasoning first, as Claude Code gets it from DeepSeek,
		// Kimi or GPT-OSS.
		rp = reply{reasoning: []string{"The user", " wants the", " file read."}, text: []string{"I'll", " read", " it."},
			calls: []toolCall{{"call_read_1", "Read", string(args)}}, prompt: 9000, output: 20}
	default:
		req.Answer = "text"
		rp = reply{text: []string{"Reading", " a", " file"}, prompt: 300, output: 3}
	}
	f.note(req)
	(&openaiFake{}).answer(w, req.Model, req.Stream, rp)
}

func (r fakeRequest) String() string {
	result := r.ToolResult
	if len(result) > 60 {
		result = result[:60] + "…"
	}
	return fmt.Sprintf("model %s, stream %v, %d tools (Read: %v), tool result %q → %s", r.Model, r.Stream, r.Tools, r.HasRead, result, r.Answer)
}

func (f *claudeCodeFake) note(r fakeRequest) {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.mu.Unlock()
}

// count is how many requests the fake answered with answer.
func (f *claudeCodeFake) count(answer string) int {
	n := 0
	for _, r := range f.seen() {
		if r.Answer == answer {
			n++
		}
	}
	return n
}

func (f *claudeCodeFake) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

// needClaudeCode returns the claude binary of e2e/claude (the pinned
// @anthropic-ai/claude-code from npm), installing it with npm ci when it
// is absent; without Node.js it skips, except in CI.
func needClaudeCode(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm is not installed: the Claude Code tests need Node.js and npm")
		}
		t.Skip("npm is not installed; the Claude Code tests need Node.js and npm")
	}
	bin, err := filepath.Abs("claude/node_modules/.bin/claude")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		out, err := exec.Command("npm", "ci", "--prefix", "claude", "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			t.Fatalf("npm ci (e2e/claude): %v\n%s", err, out)
		}
	}
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err != nil || !strings.Contains(string(out), "Claude Code") {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	return bin
}

// claudeEnv is the environment Claude Code runs in: the test's, without
// any ANTHROPIC_*, CLAUDE_* or OPENAI_* variable it may hold, then the
// gateway's address and key, a fresh HOME, and no traffic but the API's.
func claudeEnv(home string, vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ANTHROPIC_") || strings.HasPrefix(name, "CLAUDE") || strings.HasPrefix(name, "OPENAI_") || name == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1",
	)
	return append(env, vars...)
}

// claudeResult is the JSON Claude Code prints with --output-format json.
type claudeResult struct {
	Type     string  `json:"type"`
	Subtype  string  `json:"subtype"`
	IsError  bool    `json:"is_error"`
	Result   string  `json:"result"`
	NumTurns int     `json:"num_turns"`
	CostUSD  float64 `json:"total_cost_usd"`
}

// runClaude runs `claude -p prompt --output-format json` in dir and
// returns what it printed, read as its result.
func runClaude(t *testing.T, bin, dir string, env []string, prompt string, args ...string) claudeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args = append([]string{"-p", prompt, "--output-format", "json", "--allowedTools", "Read"}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var res claudeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("claude -p (%v) printed no JSON result: %v\n%s\nstderr: %s", runErr, err, out, stderr.String())
	}
	if runErr != nil && !res.IsError {
		t.Fatalf("claude -p: %v, with a result that is no error: %s\nstderr: %s", runErr, out, stderr.String())
	}
	t.Logf("claude -p: %s", out)
	return res
}

// accessEntry is one line of the gateway's JSON access log.
type accessEntry struct {
	Request struct {
		Method string `json:"method"`
		URI    string `json:"uri"`
	} `json:"request"`
	Status int `json:"status"`
}

// readAccessLog reads the gateway's access log, waiting (with a deadline)
// until it holds at least min entries: caddy writes each when its
// response ends.
func readAccessLog(t *testing.T, path string, min int) []accessEntry {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var entries []accessEntry
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var e accessEntry
				if json.Unmarshal(sc.Bytes(), &e) == nil && e.Request.URI != "" {
					entries = append(entries, e)
				}
			}
			f.Close()
		}
		if len(entries) >= min || time.Now().After(deadline) {
			return entries
		}
	}
}

// phraseFile writes, in a new directory, a source file of about 100 KB
// whose first line holds a phrase made up for this run, which only
// reading the file can tell. (Claude Code asks count_tokens for a file
// that large before it reads it in.)
func phraseFile(t *testing.T, name string) (dir, path, phrase string) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	phrase = "violet-otter-" + hex.EncodeToString(b)
	dir = t.TempDir()
	path = filepath.Join(dir, name)
	var text strings.Builder
	text.WriteString("// " + phrase + "\n")
	for i := range 1400 {
		fmt.Fprintf(&text, "func step%04d(x int) int { return x*%d + %d } // keeps the file large\n", i, i%7+1, i)
	}
	if err := os.WriteFile(path, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path, phrase
}

// Claude Code, as users run it with ANTHROPIC_BASE_URL, through the
// gateway to a provider that speaks only OpenAI Chat Completions: a
// whole tool round trip. The fake calls Read on a file whose phrase only
// the file holds; Claude Code runs the tool and sends its result; the
// fake quotes it; Claude Code prints it. Claude Code's other calls
// (count_tokens for the large file, answered by the gateway's estimate)
// must succeed too; the loop runs on Claude Code's default model and on
// `--model haiku`. A provider's 400 reaches Claude Code readable, and is
// not retried by the gateway.
func TestClaudeCodeToolLoopOnOpenAIProvider(t *testing.T) {
	bin := needClaudeCode(t)
	work, file, phrase := phraseFile(t, "notes.go")
	fake := &claudeCodeFake{file: file, phrase: phrase}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir := t.TempDir()
	accessLog := filepath.Join(dir, "access.log")
	config := filepath.Join(dir, "Caddyfile")
	err := os.WriteFile(config, []byte(fmt.Sprintf(`{
	admin off
}
http://:%d {
	bind 127.0.0.1
	log {
		output file %s
		format json
	}
	llm_gateway {
		provider oai {
			type openai
			base_url %s/v1
			api_key %s
			models claude-*
		}
		key ck-claude-code-0123456789 {
			name claude-code
		}
	}
}
`, port, accessLog, srv.URL, fakeOpenAIKey)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer runCaddy(t, config, dir, base)()
	env := claudeEnv(t.TempDir(), "ANTHROPIC_BASE_URL="+base, "ANTHROPIC_API_KEY=ck-claude-code-0123456789")

	logged := 0
	for _, model := range []string{"", "haiku"} {
		name := model
		if name == "" {
			name = "default-model"
		}
		t.Run(name, func(t *testing.T) {
			from := len(fake.seen())
			args := []string{}
			if model != "" {
				args = append(args, "--model", model)
			}
			res := runClaude(t, bin, work, env, "What is the phrase in notes.go? Read the file and quote it.", args...)
			seen := fake.seen()[from:]
			for _, r := range seen {
				t.Logf("the fake got: %s", r)
			}
			if res.IsError || res.Subtype != "success" || !strings.Contains(res.Result, phrase) {
				t.Errorf("Claude Code's result is not the phrase %q: %+v", phrase, res)
			}
			var called, quoted bool
			for _, r := range seen {
				if r.ReasoningEcho {
					t.Errorf("the provider's reasoning came back in an assistant turn: %s", r)
				}
				if model != "" && !strings.Contains(r.Model, model) {
					t.Errorf("a request for %s under --model %s", r.Model, model)
				}
				called = called || r.Answer == "tool_call"
				if r.Answer == "quote" {
					quoted = true
					if !r.HasRead {
						t.Errorf("the tool-result turn no longer offered Read: %s", r)
					}
				}
			}
			if !called || !quoted {
				t.Errorf("the fake did not see the round trip (a call to Read, then its result holding the phrase)")
			}

			entries := readAccessLog(t, accessLog, logged+len(seen)+1)[logged:]
			logged += len(entries)
			messages, counts := 0, 0
			for _, e := range entries {
				t.Logf("Claude Code → gateway: %s %s → %d", e.Request.Method, e.Request.URI, e.Status)
				if e.Status >= 400 {
					t.Errorf("the gateway answered %s %s with %d", e.Request.Method, e.Request.URI, e.Status)
				}
				switch path, _, _ := strings.Cut(e.Request.URI, "?"); path {
				case "/v1/messages":
					messages++
				case "/v1/messages/count_tokens":
					counts++
				}
			}
			if messages < 2 || counts < 1 {
				t.Errorf("%d calls to /v1/messages and %d to count_tokens in the access log, want the two turns and a count of the file", messages, counts)
			}
		})
	}
	// A provider's error reaches Claude Code in the Anthropic
	// envelope, which it shows as it shows Anthropic's own.
	t.Run("provider-error", func(t *testing.T) {
		res := runClaude(t, bin, work, env, "Say please-fail-400.")
		if !res.IsError || !strings.Contains(res.Result, "400") || !strings.Contains(res.Result, "the fake provider refuses this conversation") {
			t.Errorf("Claude Code does not show the provider's 400: %+v", res)
		}
		if strings.Contains(res.Result, fakeOpenAIKey) || strings.Contains(res.Result, "ck-claude-code") {
			t.Errorf("a key in Claude Code's output: %q", res.Result)
		}
		// Claude Code sends a refused request again a few times
		// (6 with 2.1.332), trying without some of its features;
		// the gateway passes each on once.
		entries := readAccessLog(t, accessLog, logged+fake.count("400"))[logged:]
		refused := 0
		for _, e := range entries {
			t.Logf("Claude Code → gateway: %s %s → %d", e.Request.Method, e.Request.URI, e.Status)
			if e.Status == 400 {
				refused++
			}
		}
		if n := fake.count("400"); refused == 0 || n != refused {
			t.Errorf("the gateway answered %d requests 400 after %d provider calls: a 400 is not retried", refused, n)
		}
	})
}

// Claude Code offline, as a user first tries the gateway and as
// Caddyfile.example tells them to: the example as shipped, whose
// `openai-compatible` mock speaks only the OpenAI protocol, so that Claude
// Code's Anthropic requests are translated to Chat Completions and the
// mock's answers back; no provider at all. The mock plays the model: it
// calls Read on the file the prompt names, then quotes what the tool
// returned, which Claude Code prints. On Claude Code's default model and
// on `--model haiku`, both routed by the example's claude-*.
func TestClaudeCodeOnOfflineMock(t *testing.T) {
	bin := needClaudeCode(t)
	dir := t.TempDir()
	config, httpPort, _ := exampleOnFreePorts(t, dir)
	example, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	const command = `claude -p "read Caddyfile.example"`
	if !strings.Contains(string(example), command) {
		t.Fatalf("Caddyfile.example no longer tells users to run %s; update the test", command)
	}
	// The user runs it where Caddyfile.example is; its first line is
	// what the mock will quote.
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "Caddyfile.example"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	firstLine, _, _ := strings.Cut(string(example), "\n")
	quoted := strings.Join(strings.Fields(firstLine)[:3], " ")
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	defer runCaddy(t, config, dir, base)()

	// The example asks no client key; Claude Code wants one all the same.
	env := claudeEnv(t.TempDir(), "ANTHROPIC_BASE_URL="+base, "ANTHROPIC_AUTH_TOKEN=any")
	logged := 0
	for _, c := range []struct {
		name, prompt, model, quote string
	}{
		{"default-model", "read Caddyfile.example", "", quoted},
		{"haiku", "read Caddyfile.example", "haiku", quoted},
		// No file named: the mock calls a tool all the same (Bash,
		// which -p refuses without --allowedTools Bash), then quotes
		// the refusal; the loop ends.
		{"no-file", "hello", "", "Error:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var args []string
			if c.model != "" {
				args = []string{"--model", c.model}
			}
			res := runClaude(t, bin, work, env, c.prompt, args...)
			if res.IsError || res.Subtype != "success" || res.NumTurns < 2 {
				t.Errorf("Claude Code did not finish a tool loop: %+v", res)
			}
			if !strings.Contains(res.Result, "The tool returned:") || !strings.Contains(res.Result, c.quote) {
				t.Errorf("Claude Code's result does not quote %q: %q", c.quote, res.Result)
			}
			entries := readAccessLog(t, filepath.Join(dir, "caddy.log"), logged+2)[logged:]
			logged += len(entries)
			messages := 0
			for _, e := range entries {
				t.Logf("Claude Code → gateway: %s %s → %d", e.Request.Method, e.Request.URI, e.Status)
				if e.Status >= 400 {
					t.Errorf("the gateway answered %s %s with %d", e.Request.Method, e.Request.URI, e.Status)
				}
				if path, _, _ := strings.Cut(e.Request.URI, "?"); path == "/v1/messages" {
					messages++
				}
			}
			if messages != 2 {
				t.Errorf("%d calls to /v1/messages in the access log, want the two turns of one tool round trip", messages)
			}
		})
	}
}
