package llmgateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmgateway/caddy-llm-gateway/limits"
	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/relay"
	"github.com/llmgateway/caddy-llm-gateway/request"
)

// benchGateway provisions a gateway from a Caddyfile body outside Caddy's
// server, in front of an upstream on loopback answering answer.
func benchGateway(b *testing.B, body string, answer []byte) *Gateway {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(up.Close)
	text := ":0 {\n\tllm_gateway {\n" + strings.ReplaceAll(body, "UPSTREAM", up.URL) + "\n\t}\n}\n"
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	if err != nil {
		b.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		b.Fatal(err)
	}
	g := new(Gateway)
	if err := json.Unmarshal(cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0], g); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	if err := g.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	if err := g.Validate(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Cleanup() })
	return g
}

// benchRequest serves one request through g as Caddy would hand it over.
func benchRequest(b *testing.B, g *Gateway, body []byte, headers ...string) {
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	repl := caddy.NewReplacer()
	ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	rec := httptest.NewRecorder()
	if err := g.ServeHTTP(rec, req.WithContext(ctx), nil); err != nil || rec.Code != 200 {
		b.Fatalf("%d %v %s", rec.Code, err, rec.Body)
	}
}

const benchProvider = `
		provider bench {
			type openai
			base_url UPSTREAM/v1
			api_key sk-bench
			models gpt-4o-mini
		}`

// The gateway's own cost per request, upstream on loopback included (run
// with -benchmem; bench/run.sh measures it against plain Caddy).
func BenchmarkServeChat(b *testing.B) {
	body, _ := os.ReadFile("testdata/requests/chat_1k.json")
	answer := []byte(chatOK)
	b.Run("no keys", func(b *testing.B) {
		g := benchGateway(b, benchProvider, answer)
		b.ReportAllocs()
		for b.Loop() {
			benchRequest(b, g, body)
		}
	})
	keyed := benchProvider + `
		price bench:gpt-4o-mini 0.15 0.60
		key ck-bench-0123456789abcdef {
			rpm 1000000000
			tpm 1000000000000
			concurrency 100000
			session 5h 1000000000000000
			budget 1000000000
		}`
	for _, c := range []struct{ name, extra string }{
		{"key with every limit", ""},
		// what the metrics cost: the same, with metrics off
		{"key with every limit, metrics off", "\n\t\tmetrics off"},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := benchGateway(b, keyed+c.extra+"\n\t\tstore memory {\n\t\t\tstate_file "+b.TempDir()+"/spend.json\n\t\t}", answer)
			b.ReportAllocs()
			for b.Loop() {
				benchRequest(b, g, body, "Authorization", "Bearer ck-bench-0123456789abcdef")
			}
		})
	}
}

// What the metrics cost one request (README figure): recording a
// streamed, answered request with usage, a cost and a key.
func BenchmarkRecordMetrics(b *testing.B) {
	up := &relay.Upstream{Name: "bench"}
	rt := relay.Route{Upstream: up, Model: "gpt-4o-mini"}
	ep, _ := providers.LookupEndpoint("/v1/chat/completions")
	body, _ := request.Parse([]byte(`{"model":"gpt-4o-mini","stream":true,"messages":[1]}`), request.Messages)
	g := &Gateway{modelLabels: map[string]bool{"gpt-4o-mini": true}}
	x := &exchange{g: g, endpoint: ep, body: body, start: time.Now(), cost: 0.0001,
		key: &limits.Key{Name: "bench-team"},
		result: relay.Result{Route: rt, Attempts: 1, Tries: []relay.Try{{Route: rt}}, Committed: true, Complete: true,
			SawUsage: true, Usage: providers.Usage{Input: 100, Output: 20}, FirstByte: time.Millisecond}}
	x.recordMetrics() // the first call makes the children
	b.ReportAllocs()
	for b.Loop() {
		x.recordMetrics()
	}
}
