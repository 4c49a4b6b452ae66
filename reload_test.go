package llmgateway

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// Streams in flight survive config reloads: Caddy's graceful reload lets
// them finish on the old config, and new requests go to the new one. Not
// one request may fail.
//
// Only a stream that broke after it began would be a request lost by
// the gateway; that must never happen.
//
// The client sends an Idempotency-Key, as the OpenAI and Anthropic SDKs do
// on retries: a keep-alive connection that is idle at the instant of a
// reload is closed by the old server, and a request the client had just
// written on it was never read; with the key, Go's client sends it again
// on a new connection, as the SDKs do on any connection error.
func TestReloadUnderLoad(t *testing.T) {
	up := newFakeProvider(t, pacedStream(openAIChunks(8), 40*time.Millisecond))
	config := func(alias string) string {
		return fmt.Sprintf(`
		provider openai {
			base_url %s/v1
			api_key sk-a
			models m
		}
		alias %s openai:m`, up.URL, alias)
	}
	tester := loadGateway(t, config("first"))

	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := streamRequest(tester)
				if err != nil {
					// A connection the old config's server closed as it
					// shut down, before answering: reset at dial, or
					// closed with the request unread. Clients (the SDKs)
					// retry connection errors; so does this one, once.
					resp, err = streamRequest(tester)
				}
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				events, err := parseEvents(resp.Body, time.Now())
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(events) != 9 || events[8].data != "[DONE]" {
					failed.Add(1)
					failures.Store(fmt.Sprintf("status %d, %d events, %v", resp.StatusCode, len(events), err), true)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i := 0; i < 6; i++ {
		time.Sleep(250 * time.Millisecond)
		tester.InitServer(gatewayConfig(config(fmt.Sprintf("alias%d", i))), "caddyfile")
	}
	time.Sleep(250 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		var reasons []string
		failures.Range(func(k, _ any) bool { reasons = append(reasons, k.(string)); return true })
		t.Fatalf("%d of %d streamed requests failed across reloads: %v", failed.Load(), failed.Load()+ok.Load(), reasons)
	}
	if ok.Load() < 20 {
		t.Fatalf("only %d requests completed", ok.Load())
	}
}

func streamRequest(tester *caddytest.Tester) (*http.Response, error) {
	req, _ := http.NewRequest("POST", gatewayAddr+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "reload-test")
	return tester.Client.Do(req)
}
