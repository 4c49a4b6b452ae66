package llmgateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/tidwall/gjson"
)

// admin sends a request to Caddy's admin API.
func admin(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", adminPort, path), strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Client keys through Caddy's admin API, as CONTRACT.md's table says: a
// created key works at once, survives a reload, takes new limits from
// the next request, rotates keeping its spend, and is refused at once
// once revoked; no answer but the creation's shows a secret, and none a
// hash.
func TestKeyManagementAPI(t *testing.T) {
	up := newFakeProvider(t, usageAnswer(300, 200))
	config := fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		price openai:m 1000 1000
		key %s {
			name team-a
		}
		%s`, up.URL, clientKeyA, storeIn(t))
	// The keys this test creates live in Caddy's storage: its own, so
	// that the other tests' gateways never see them.
	storageDir := t.TempDir()
	tester := caddytest.NewTester(t)
	tester.InitServer(strings.Replace(gatewayConfig(config), "\tgrace_period 5s", "\tgrace_period 5s\n\tstorage file_system "+storageDir, 1), "caddyfile")

	status, body := admin(t, "POST", "/llm_gateway/keys", `{"name":"ci","rpm":100,"budget":5,"models":["m"]}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	secret, id := gjson.GetBytes(body, "key").Str, gjson.GetBytes(body, "id").Str
	if !strings.HasPrefix(secret, "ck-") || len(secret) < 40 || !strings.HasPrefix(id, "key_") {
		t.Fatalf("create answered %s", body)
	}
	wantJSON(t, body, "source", "api")
	wantJSON(t, body, "state", "active")
	wantJSON(t, body, "rpm", 100)
	if strings.Contains(string(body), sha256Hex(secret)) {
		t.Error("the creation shows the key's hash")
	}

	// Usable at once.
	resp, answer := chatAs(t, tester, secret, "m")
	wantStatus(t, resp, answer, 200)

	// Listed with the config's keys, without secrets or hashes.
	status, body = admin(t, "GET", "/llm_gateway/keys", "")
	if status != 200 {
		t.Fatalf("list: %d %s", status, body)
	}
	keys := gjson.GetBytes(body, "keys").Array()
	if len(keys) != 2 || keys[0].Get("name").Str != "team-a" || keys[0].Get("source").Str != "config" || keys[1].Get("id").Str != id {
		t.Fatalf("list: %s", body)
	}
	for _, leak := range []string{secret, sha256Hex(secret), clientKeyA, sha256Hex(clientKeyA), sha256Hex(clientKeyA)[:16]} {
		if strings.Contains(string(body), leak) {
			t.Errorf("the list shows %q", leak)
		}
	}
	configID := keys[0].Get("id").Str
	if !strings.HasPrefix(configID, "cfg_") {
		t.Errorf("config key id %q", configID)
	}

	// Shown with its usage, by name or id: one request of 500 tokens at
	// $0.001 is $0.50.
	for _, ref := range []string{"ci", id} {
		status, body = admin(t, "GET", "/llm_gateway/keys/"+ref, "")
		if status != 200 {
			t.Fatalf("show %s: %d %s", ref, status, body)
		}
		wantJSON(t, body, "usage.spend_usd", 0.5)
		wantJSON(t, body, "usage.budget_remaining_usd", 4.5)
		wantJSON(t, body, "usage.in_flight", 0)
		if gjson.GetBytes(body, "usage.requests_remaining").Int() != 99 {
			t.Errorf("requests_remaining: %s", body)
		}
	}

	// New limits apply from the next request.
	status, body = admin(t, "PATCH", "/llm_gateway/keys/ci", `{"rpm":1}`)
	if status != 200 || gjson.GetBytes(body, "rpm").Int() != 1 || gjson.GetBytes(body, "budget").Float() != 5 {
		t.Fatalf("patch: %d %s", status, body)
	}
	resp, answer = chatAs(t, tester, secret, "m")
	wantStatus(t, resp, answer, 200)
	resp, answer = chatAs(t, tester, secret, "m")
	wantStatus(t, resp, answer, 429)
	status, body = admin(t, "PATCH", "/llm_gateway/keys/ci", `{"rpm":null}`)
	if status != 200 || gjson.GetBytes(body, "rpm").Exists() {
		t.Fatalf("patch null: %d %s", status, body)
	}

	// The key survives a reload.
	forceReload(t, strings.Replace(gatewayConfig(config), "\tgrace_period 5s", "\tgrace_period 5s\n\tstorage file_system "+storageDir, 1))
	tester.Client.CloseIdleConnections()
	resp, answer = chatAs(t, tester, secret, "m")
	wantStatus(t, resp, answer, 200)

	// Rotation: a new secret, the old one refused, the spend kept.
	status, body = admin(t, "POST", "/llm_gateway/keys/"+id+"/rotate", "")
	if status != 200 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	newSecret := gjson.GetBytes(body, "key").Str
	if newSecret == "" || newSecret == secret || gjson.GetBytes(body, "id").Str != id {
		t.Fatalf("rotate answered %s", body)
	}
	resp, answer = chatAs(t, tester, secret, "m")
	wantStatus(t, resp, answer, 401)
	resp, answer = chatAs(t, tester, newSecret, "m")
	wantStatus(t, resp, answer, 200)
	_, body = admin(t, "GET", "/llm_gateway/keys/ci", "")
	wantJSON(t, body, "usage.spend_usd", 2) // four requests of $0.50
	if strings.Contains(string(body), "\"key\"") {
		t.Errorf("show shows a secret: %s", body)
	}

	// Revocation applies at once.
	status, body = admin(t, "DELETE", "/llm_gateway/keys/ci", "")
	if status != 200 || gjson.GetBytes(body, "state").Str != "revoked" {
		t.Fatalf("delete: %d %s", status, body)
	}
	resp, answer = chatAs(t, tester, newSecret, "m")
	wantStatus(t, resp, answer, 401)
	_, body = admin(t, "GET", "/llm_gateway/keys/ci", "")
	wantJSON(t, body, "state", "revoked")

	// The error cases of the table.
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/llm_gateway/keys", `{"name":`, 400},
		{"POST", "/llm_gateway/keys", `{"name":"x","colour":"blue"}`, 400},
		{"POST", "/llm_gateway/keys", `{"rpm":5}`, 400},
		{"POST", "/llm_gateway/keys", `{"name":"x","rpm":-7}`, 400},
		{"POST", "/llm_gateway/keys", `{"name":"x","providers":["nope"]}`, 400},
		{"POST", "/llm_gateway/keys", `{"name":"team-a"}`, 409},
		{"POST", "/llm_gateway/keys", `{"name":"ci"}`, 409},
		{"GET", "/llm_gateway/keys/nobody", "", 404},
		{"PATCH", "/llm_gateway/keys/nobody", `{"rpm":1}`, 404},
		{"PATCH", "/llm_gateway/keys/team-a", `{"rpm":1}`, 409},
		{"DELETE", "/llm_gateway/keys/" + configID, "", 409},
		{"POST", "/llm_gateway/keys/team-a/rotate", "", 409},
		{"PUT", "/llm_gateway/keys", `{}`, 405},
	} {
		status, body := admin(t, c.method, c.path, c.body)
		if status != c.status || gjson.GetBytes(body, "error").Str == "" {
			t.Errorf("%s %s %s: %d %s, want %d with an error", c.method, c.path, c.body, status, body, c.status)
		}
	}
	// The config's own key still works, untouched.
	resp, answer = chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, answer, 200)
}
