package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The official OpenAI and Anthropic SDKs (e2e/sdk, from npm) run their
// tests against the gateway: answers, streams, and errors their classes
// and retry logic must read right.
func TestOfficialSDKs(t *testing.T) {
	node := needSDKs(t)
	dir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	config := filepath.Join(dir, "Caddyfile")
	err := os.WriteFile(config, []byte(fmt.Sprintf(`{
	admin off
}
http://:%d {
	bind 127.0.0.1
	llm_gateway {
		provider mock {
			models mock-* gpt-4o-mini
			# the simulated failures must not open the circuit
			# for the tests that come after them
			circuit_breaker off
		}
		key ck-sdk-main-0123456789 {
			name sdk
		}
		key ck-sdk-limited-0123456789 {
			name sdk-limited
			rpm 2
		}
		retry {
			max_attempts 5
			backoff 10ms
			max_wait 4s
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
	defer runCaddy(t, config, dir, base)()
	test := exec.Command(node, "--test", "--test-reporter=spec", "sdk/sdk.test.mjs")
	test.Env = append(os.Environ(),
		"GATEWAY_URL="+base,
		"GATEWAY_KEY=ck-sdk-main-0123456789",
		"GATEWAY_LIMITED_KEY=ck-sdk-limited-0123456789")
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("the SDK tests failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
