package llmgateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// No body, however built, stops the server: eight megabytes of '[' (which
// crashed the whole Caddy process through a recursive JSON validator) get
// a 400, and the next request is served.
func TestDeepNestingKeepsServing(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models gpt-4o
		}`, up.URL))
	for _, body := range []string{
		strings.Repeat("[", 8<<20),
		`{"model":"gpt-4o","messages":` + strings.Repeat(`[{"a":`, 1<<20),
	} {
		req, _ := http.NewRequest("POST", gatewayAddr+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, answer := do(t, tester, req)
		wantStatus(t, resp, answer, 400)
		wantJSON(t, answer, "error.type", "invalid_request_error")
	}
	resp, answer := post(t, tester, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`)
	wantStatus(t, resp, answer, 200)
	if n := len(up.requests()); n != 1 {
		t.Errorf("the provider got %d requests", n)
	}
}

// A key's policy decides on what the provider will read: a second
// `model`, or one in other capitals, is refused before anything goes
// upstream, as are a second max_tokens or stream, and an overlong model.
func TestDuplicateMembersCannotBypassPolicy(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	tester := loadGateway(t, fmt.Sprintf(`
		provider openrouter {
			base_url %s/v1
			api_key sk-or
			models *
		}
		price openrouter:meta-llama/* 0.05 0.08
		price openrouter:openai/o1-pro 150 600
		key ck-llama-only-0123456789 {
			name llama-team
			models meta-llama/*
			budget 1.00
		}`, up.URL))
	msgs := `"messages":[{"role":"user","content":"x"}]`
	for name, body := range map[string]string{
		"model twice":        `{"model":"meta-llama/llama-3-8b","model":"openai/o1-pro",` + msgs + `}`,
		"model in capitals":  `{"model":"meta-llama/llama-3-8b","MODEL":"openai/o1-pro",` + msgs + `}`,
		"model escaped":      `{"model":"meta-llama/llama-3-8b","\u006dodel":"openai/o1-pro",` + msgs + `}`,
		"max_tokens twice":   `{"model":"meta-llama/llama-3-8b","max_tokens":10,"max_tokens":1000000,` + msgs + `}`,
		"stream twice":       `{"model":"meta-llama/llama-3-8b","stream":false,"stream":true,` + msgs + `}`,
		"model of 300 bytes": `{"model":"meta-llama/` + strings.Repeat("a", 300) + `",` + msgs + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			resp, answer := post(t, tester, "/v1/chat/completions", body, "Authorization", "Bearer ck-llama-only-0123456789")
			wantStatus(t, resp, answer, 400)
			wantJSON(t, answer, "error.type", "invalid_request_error")
			if p := gjson.GetBytes(answer, "error.param").Str; p != "model" && p != "max_tokens" && p != "stream" {
				t.Errorf("param %q does not name the member: %s", p, answer)
			}
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the provider got %d requests", n)
	}
	// The same key's own model works.
	resp, answer := post(t, tester, "/v1/chat/completions", `{"model":"meta-llama/llama-3-8b",`+msgs+`}`, "Authorization", "Bearer ck-llama-only-0123456789")
	wantStatus(t, resp, answer, 200)
}

// The header policy through the gateway, both ways: what a client sends
// that selects an account or identifies it never reaches the provider;
// what describes the operator's account never reaches the client.
func TestHeaderPolicyThroughTheGateway(t *testing.T) {
	up := newFakeProvider(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for name, v := range map[string]string{
			"Openai-Organization":              "org-operator",
			"Openai-Project":                   "proj_operator",
			"Anthropic-Organization-Id":        "0c2f-operator",
			"X-Ratelimit-Limit-Requests":       "10000",
			"X-Ratelimit-Remaining-Tokens":     "1999000",
			"Anthropic-Ratelimit-Tokens-Limit": "400000",
			"Set-Cookie":                       "__cf_bm=secret-cookie; path=/; domain=api.openai.com",
			"Alt-Svc":                          `h3=":443"; ma=86400`,
			"Strict-Transport-Security":        "max-age=31536000",
			"Openai-Processing-Ms":             "321",
			"X-Request-Id":                     "req_provider_abc",
		} {
			h.Set(name, v)
		}
		jsonAnswer(chatOK)(w, r)
	})
	tester := loadGateway(t, fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models gpt-4o
			headers {
				OpenAI-Organization org-from-config
			}
		}`, up.URL))
	sentHeaders := map[string]string{
		"Cookie": "session=tenant", "Forwarded": "for=203.0.113.9", "X-Real-Ip": "203.0.113.9",
		"True-Client-Ip": "203.0.113.9", "X-Forwarded-For": "203.0.113.9", "Cf-Connecting-Ip": "203.0.113.9",
		"Openai-Organization": "org-tenant-pick", "Openai-Project": "proj_tenant_pick",
		"Openai-Beta": "assistants=v2", "X-Stainless-Lang": "js", "X-Stainless-Package-Version": "7.0.0",
		"Idempotency-Key": "stainless-node-retry-1", "User-Agent": "OpenAI/JS 7.0.0",
	}
	var pairs []string
	for k, v := range sentHeaders {
		pairs = append(pairs, k, v)
	}
	resp, answer := post(t, tester, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, pairs...)
	wantStatus(t, resp, answer, 200)

	got := up.last(t).Header
	for _, c := range []struct{ name, want string }{
		{"Cookie", ""}, {"Forwarded", ""}, {"X-Real-Ip", ""}, {"True-Client-Ip", ""}, {"X-Forwarded-For", ""},
		{"Cf-Connecting-Ip", ""}, {"Openai-Project", ""}, {"Via", ""}, {"X-Forwarded-Host", ""}, {"X-Forwarded-Proto", ""},
		{"Openai-Organization", "org-from-config"},
		{"Openai-Beta", "assistants=v2"}, {"X-Stainless-Lang", "js"}, {"X-Stainless-Package-Version", "7.0.0"},
		{"Idempotency-Key", "stainless-node-retry-1"}, {"User-Agent", "OpenAI/JS 7.0.0"},
		{"Authorization", "Bearer sk-a"},
	} {
		if v := got.Get(c.name); v != c.want {
			t.Errorf("to the provider: %s = %q, want %q", c.name, v, c.want)
		}
	}
	for _, c := range []struct{ name, want string }{
		{"Openai-Organization", ""}, {"Openai-Project", ""}, {"Anthropic-Organization-Id", ""},
		{"X-Ratelimit-Limit-Requests", ""}, {"X-Ratelimit-Remaining-Tokens", ""}, {"Anthropic-Ratelimit-Tokens-Limit", ""},
		{"Set-Cookie", ""}, {"Strict-Transport-Security", ""},
		{"Openai-Processing-Ms", "321"}, {"X-Provider-Request-Id", "req_provider_abc"},
	} {
		if v := resp.Header.Get(c.name); v != c.want {
			t.Errorf("to the client: %s = %q, want %q", c.name, v, c.want)
		}
	}
	if resp.Header.Get("Alt-Svc") == `h3=":443"; ma=86400` {
		t.Error("the provider's Alt-Svc reached the client")
	}
	if id := resp.Header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") || id == "req_provider_abc" {
		t.Errorf("X-Request-Id = %q, want the gateway's", id)
	}
}

// A client still sending a body over max_request_body reads the 413
// envelope, not a reset: with a declared length and without, with Go's
// client and with curl.
func TestOversizedBodyIsAnsweredReadably(t *testing.T) {
	up := newFakeProvider(t, jsonAnswer(chatOK))
	loadGateway(t, fmt.Sprintf(`
		max_request_body 64KB
		provider openai {
			base_url %s/v1
			api_key sk-a
			models gpt-4o
		}`, up.URL))
	big := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 4<<20) + `"}]}`
	check := func(t *testing.T, status int, body []byte) {
		t.Helper()
		if status != 413 || gjson.GetBytes(body, "error.code").Str != "413" {
			t.Fatalf("got %d %s", status, body)
		}
	}
	// A fresh connection each time: the answer races the upload.
	for i := range 5 {
		t.Run("go declared length "+strconv.Itoa(i), func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			resp, err := client.Post(gatewayAddr+"/v1/chat/completions", "application/json", strings.NewReader(big))
			if err != nil {
				t.Fatalf("the client got a connection error, not the envelope: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check(t, resp.StatusCode, body)
		})
		t.Run("go chunked "+strconv.Itoa(i), func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			resp, err := client.Post(gatewayAddr+"/v1/chat/completions", "application/json", io.MultiReader(strings.NewReader(big)))
			if err != nil {
				t.Fatalf("the client got a connection error, not the envelope: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check(t, resp.StatusCode, body)
		})
	}
	// A raw client that writes the whole body before reading anything, as
	// simple HTTP clients do.
	t.Run("raw writer", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(gatewayAddr, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(big))
			_, _ = io.Copy(conn, strings.NewReader(big))
		}()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		check(t, resp.StatusCode, body)
	})
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Log("curl is not installed; its cases are skipped")
		return
	}
	for _, expect := range []string{"", "Expect:"} { // curl's default 100-continue, and without it
		t.Run("curl "+expect, func(t *testing.T) {
			args := []string{"-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "--data-binary", "@-", gatewayAddr + "/v1/chat/completions"}
			if expect != "" {
				args = append(args, "-H", expect)
			}
			cmd := exec.Command(curl, args...)
			cmd.Stdin = strings.NewReader(big)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("curl failed (a reset?): %v\n%s", err, out)
			}
			body, code, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
			if i := bytes.LastIndexByte(out[:len(out)-1], '\n'); i >= 0 {
				body, code = out[:i], bytes.TrimSpace(out[i:])
			}
			status, _ := strconv.Atoi(string(code))
			check(t, status, body)
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the provider got %d requests", n)
	}
}

// count_tokens is free: it counts against rpm and concurrency, never the
// key's tokens or budget.
func TestCountTokensIsNotCharged(t *testing.T) {
	tester := loadGateway(t, `
		provider mock {
			models claude-*
		}
		price mock:* 1000 1000
		key ck-count-0123456789 {
			name counter
			tpm 1000
			budget 1.00
		}`)
	body := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"` + strings.Repeat("word ", 400) + `"}]}`
	for range 20 {
		resp, answer := post(t, tester, "/v1/messages/count_tokens", body, "X-Api-Key", "ck-count-0123456789")
		wantStatus(t, resp, answer, 200)
		if gjson.GetBytes(answer, "input_tokens").Int() < 100 {
			t.Fatalf("answer %s", answer)
		}
	}
	// 20 count_tokens calls of ~500 tokens would have spent the tpm and
	// the budget many times over; a real call still fits.
	resp, answer := post(t, tester, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key", "ck-count-0123456789")
	wantStatus(t, resp, answer, 200)
}
