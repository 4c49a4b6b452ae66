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

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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
	b.Run("key with every limit", func(b *testing.B) {
		g := benchGateway(b, benchProvider+`
		price bench:gpt-4o-mini 0.15 0.60
		key ck-bench-0123456789abcdef {
			rpm 1000000000
			tpm 1000000000000
			concurrency 100000
			session 5h 1000000000000000
			budget 1000000000
		}
		store memory {
			state_file `+b.TempDir()+`/spend.json
		}`, answer)
		b.ReportAllocs()
		for b.Loop() {
			benchRequest(b, g, body, "Authorization", "Bearer ck-bench-0123456789abcdef")
		}
	})
}
