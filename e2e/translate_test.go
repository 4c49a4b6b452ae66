package e2e

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const translateKey = "ck-translate-0123456789"

// translatingGateway runs caddy with an OpenAI-protocol provider at
// openaiURL serving gpt-* and an Anthropic one at anthropicURL serving
// claude-*, so a request of either protocol to the other's models is
// translated. It returns the gateway's base URL.
func translatingGateway(t *testing.T, openaiURL, anthropicURL string, extra ...string) string {
	t.Helper()
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
		provider oai {
			type openai
			base_url %s/v1
			api_key %s
			models gpt-*
		}
		provider ant {
			type anthropic
			base_url %s
			api_key %s
			models claude-*
		}
		key %s {
			name translate
		}
		%s
		retry {
			backoff 10ms
			# a Retry-After beyond this is answered, not waited for
			max_wait 2s
		}
	}
}
`, port, openaiURL, fakeOpenAIKey, anthropicURL, fakeAnthropKey, translateKey, strings.Join(extra, "\n\t\t"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runCaddy(t, config, dir, base))
	return base
}

// runNodeTest runs one of e2e/sdk's node test files against the gateway.
func runNodeTest(t *testing.T, node, file string, env ...string) {
	t.Helper()
	test := exec.Command(node, "--test", "--test-reporter=spec", file)
	test.Env = append(os.Environ(), env...)
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", file, err, out)
	}
	t.Logf("%s", out)
}

// The Anthropic SDK, unchanged, on a provider that speaks only OpenAI
// Chat Completions (e2e/sdk/translate_anthropic.test.mjs): text, streams,
// a parallel tool loop, usage with cache reads, and errors before and
// inside a stream, as the SDK's own classes read them. The fake checks
// each translated request (fakes_test.go).
func TestAnthropicSDKOnOpenAIProvider(t *testing.T) {
	node := needSDKs(t)
	fake := newOpenAIFake()
	srv := httptest.NewServer(compressing(fake))
	defer srv.Close()
	base := translatingGateway(t, srv.URL, "http://127.0.0.1:1")
	runNodeTest(t, node, "sdk/translate_anthropic.test.mjs", "GATEWAY_URL="+base, "GATEWAY_KEY="+translateKey, "FAKE_URL="+srv.URL)
	fake.checkNoProblems(t)
}

// The OpenAI SDK, unchanged, on a provider that speaks only Anthropic
// Messages (e2e/sdk/translate_openai.test.mjs).
func TestOpenAISDKOnAnthropicProvider(t *testing.T) {
	node := needSDKs(t)
	fake := newAnthropicFake()
	srv := httptest.NewServer(compressing(fake))
	defer srv.Close()
	base := translatingGateway(t, "http://127.0.0.1:1", srv.URL)
	runNodeTest(t, node, "sdk/translate_openai.test.mjs", "GATEWAY_URL="+base, "GATEWAY_KEY="+translateKey, "FAKE_URL="+srv.URL)
	fake.checkNoProblems(t)
}

// Fallback chains that cross protocols: an Anthropic model that is
// overloaded falls back to an OpenAI-protocol one, translated, and an
// OpenAI model that fails falls back to an Anthropic one; each SDK sees
// its own protocol's answer, plain and streamed
// (e2e/sdk/translate_fallback.test.mjs).
func TestSDKsFallBackAcrossProtocols(t *testing.T) {
	node := needSDKs(t)
	oai, ant := newOpenAIFake(), newAnthropicFake()
	oaiSrv, antSrv := httptest.NewServer(compressing(oai)), httptest.NewServer(compressing(ant))
	defer oaiSrv.Close()
	defer antSrv.Close()
	base := translatingGateway(t, oaiSrv.URL, antSrv.URL,
		"fallback claude-529 oai:gpt-text",
		"fallback gpt-500 ant:claude-text")
	runNodeTest(t, node, "sdk/translate_fallback.test.mjs", "GATEWAY_URL="+base, "GATEWAY_KEY="+translateKey,
		"OPENAI_FAKE_URL="+oaiSrv.URL, "ANTHROPIC_FAKE_URL="+antSrv.URL)
	oai.checkNoProblems(t)
	ant.checkNoProblems(t)
}
