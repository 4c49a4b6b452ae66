package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llmgateway/caddy-llm-gateway/limits/redistest"
)

// adminCall sends a request to a caddy's admin API.
func adminCall(t *testing.T, adminBase, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, adminBase+path, strings.NewReader(body))
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

// keysGatewayConfig is a gateway on port with its admin API on adminPort,
// the mock provider at $0.001 a token, and store.
func keysGatewayConfig(port, adminPort int, store string) string {
	return fmt.Sprintf(`{
	admin localhost:%d
	persist_config off
}
http://:%d {
	bind 127.0.0.1
	llm_gateway {
		provider mock {
			models mock-*
		}
		price mock:* 1000 1000
		key ck-e2e-config-key-0123456789 {
			name from-config
		}
		%s
	}
}
`, adminPort, port, store)
}

// A key created through the admin API survives a restart of the process
// (it lives in Caddy's storage), and so does its spend.
func TestAPIKeySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	port, adminPort := freePort(t), freePort(t)
	base, adminBase := fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://localhost:%d", adminPort)
	config := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(config, []byte(keysGatewayConfig(port, adminPort, "store memory {\n\t\t\tstate_file "+filepath.Join(dir, "spend.json")+"\n\t\t}")), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := runCaddy(t, config, dir, base)
	status, body := adminCall(t, adminBase, "POST", "/llm_gateway/keys", `{"name":"restartable","budget":2}`)
	if status != 201 {
		stop()
		t.Fatalf("create: %d %s", status, body)
	}
	secret := gjson.GetBytes(body, "key").Str
	chat := func() int {
		req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(`{"model":"mock-a","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, _ := sendRequest(t, http.DefaultClient, req)
		return resp.StatusCode
	}
	if chat() != 200 {
		stop()
		t.Fatal("the new key does not work")
	}
	_, body = adminCall(t, adminBase, "GET", "/llm_gateway/keys/restartable", "")
	spent := gjson.GetBytes(body, "usage.spend_usd").Float()
	stop()

	stop = runCaddy(t, config, dir, base)
	defer stop()
	if chat() != 200 {
		t.Fatal("the key did not survive the restart")
	}
	_, body = adminCall(t, adminBase, "GET", "/llm_gateway/keys/restartable", "")
	if after := gjson.GetBytes(body, "usage.spend_usd").Float(); spent <= 0 || after <= spent {
		t.Errorf("spend %v before the restart, %v after one more request", spent, after)
	}
	// The storage holds the hash, never the secret.
	var leaked []string
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), secret) {
				leaked = append(leaked, path)
			}
		}
		return nil
	})
	if len(leaked) > 0 {
		t.Errorf("the secret is stored in %v", leaked)
	}
}

// With two gateways on one Redis, a key created on one works on the
// other, and a revocation on the other reaches the first, within a
// second.
func TestAPIKeysAcrossGateways(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t, redistest.Options{})
	store := "store redis " + srv.URL()
	type gw struct{ base, admin string }
	var gws []gw
	for range 2 {
		dir := t.TempDir()
		port, adminPort := freePort(t), freePort(t)
		g := gw{fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://localhost:%d", adminPort)}
		config := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(config, []byte(keysGatewayConfig(port, adminPort, store)), 0o644); err != nil {
			t.Fatal(err)
		}
		defer runCaddy(t, config, dir, g.base)()
		gws = append(gws, g)
	}
	status, body := adminCall(t, gws[0].admin, "POST", "/llm_gateway/keys", `{"name":"shared","rpm":100}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	secret := gjson.GetBytes(body, "key").Str
	chatOn := func(g gw) int {
		req, _ := http.NewRequest("POST", g.base+"/v1/chat/completions", strings.NewReader(`{"model":"mock-a","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, _ := sendRequest(t, http.DefaultClient, req)
		return resp.StatusCode
	}
	if chatOn(gws[0]) != 200 {
		t.Fatal("the key does not work where it was created")
	}
	waitFor := func(g gw, status int, what string) {
		t.Helper()
		start := time.Now()
		for chatOn(g) != status {
			if time.Since(start) > 3*time.Second {
				t.Fatalf("%s: not after %v", what, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s after %v, want within a second", what, d)
		}
	}
	waitFor(gws[1], 200, "the key works on the other gateway")
	// The other gateway lists it too.
	_, body = adminCall(t, gws[1].admin, "GET", "/llm_gateway/keys", "")
	if !strings.Contains(string(body), `"shared"`) {
		t.Errorf("the other gateway's list: %s", body)
	}
	if status, body := adminCall(t, gws[1].admin, "DELETE", "/llm_gateway/keys/shared", ""); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if chatOn(gws[1]) != 401 {
		t.Error("the revoked key still works where it was revoked")
	}
	waitFor(gws[0], 401, "the revocation reaches the first gateway")
}
