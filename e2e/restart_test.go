package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// A key's spend survives a restart of the process: the memory store
// writes it to its state file when Caddy stops, and reads it at start.
func TestSpendSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "Caddyfile")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	err := os.WriteFile(config, []byte(fmt.Sprintf(`{
	admin off
}
http://:%d {
	bind 127.0.0.1
	llm_gateway {
		provider mock {
			models mock-*
		}
		price mock:* 1000 1000
		key ck-restart-test-0123456789 {
			name restart-team
			budget 0.50
		}
		store memory {
			state_file %s
		}
	}
}
`, port, filepath.Join(dir, "spend.json"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(caddyBin, "run", "--config", config)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		logs, _ := os.Create(filepath.Join(dir, "caddy.log"))
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			if resp, err := http.Get(base + "/health"); err == nil {
				resp.Body.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatal("caddy did not start")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stop := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(os.Interrupt)
		if _, err := cmd.Process.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	ask := func() (int, string) {
		req, _ := http.NewRequest("POST", base+"/v1/chat/completions",
			strings.NewReader(`{"model":"mock-a","max_tokens":20,"messages":[{"role":"user","content":"hello"}]}`))
		req.Header.Set("Authorization", "Bearer ck-restart-test-0123456789")
		req.Header.Set("Content-Type", "application/json")
		resp, body := sendRequest(t, http.DefaultClient, req)
		return resp.StatusCode, gjson.GetBytes(body, "error.message").Str
	}

	cmd := start()
	answered := 0
	var refusal string
	for i := 0; i < 50; i++ {
		status, msg := ask()
		if status == 402 {
			refusal = msg
			break
		}
		if status != 200 {
			t.Fatalf("status %d: %s", status, msg)
		}
		answered++
	}
	if answered == 0 || refusal == "" {
		t.Fatalf("the $0.50 budget was never spent (%d answered)", answered)
	}
	stop(cmd)

	cmd = start()
	defer stop(cmd)
	status, msg := ask()
	if status != 402 || msg != refusal {
		t.Fatalf("after a restart: %d %q, want the same refusal %q", status, msg, refusal)
	}
}
