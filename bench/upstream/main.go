// Command upstream is the fake OpenAI-compatible provider the benchmark
// proxies to. It listens on 127.0.0.1 and answers
// POST /v1/chat/completions (and any path ending in /chat/completions)
// with a fixed, realistic chat.completion of about 1 KB, or, when the
// request body asks for "stream": true, with a server-sent event stream of
// chat.completion.chunk events, each flushed as it is written, ending in
// `data: [DONE]`.
//
// Everything it sends is built once at start, so that per request it only
// reads the body and writes prepared bytes: the benchmark measures the
// proxies in front of it, not this server.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	port := flag.Int("port", 18080, "TCP port to listen on, on 127.0.0.1")
	chunks := flag.Int("chunks", 20, "content chunks in a streamed answer")
	delay := flag.Duration("chunk-delay", 0, "pause before each streamed chunk (0: none)")
	flag.Parse()

	u := newUpstream(*chunks, *delay)
	mux := http.NewServeMux()
	mux.HandleFunc("/", u.serve)

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("fake upstream on http://%s/v1 (json %d bytes, stream %d events)", ln.Addr(), len(u.completion), len(u.events))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

type upstream struct {
	completion []byte   // the non-streamed answer
	events     [][]byte // the streamed answer, one SSE event each
	usageEvent []byte   // the usage-only chunk sent under include_usage
	delay      time.Duration
}

// Model and the texts of the answers.
const (
	model   = "gpt-4o-mini"
	created = 1732252800
	answer  = "Caddy is an extensible web server written in Go. It obtains and renews TLS certificates automatically, " +
		"serves HTTP/1.1, HTTP/2 and HTTP/3, and is configured through a JSON API or a Caddyfile. Its reverse proxy " +
		"balances load across upstreams, checks their health, retries failed requests and streams responses as they " +
		"arrive, which makes it a good front for services such as large language model APIs. Modules extend it: " +
		"handlers, matchers, storage backends and DNS providers are all plugged in at build time with xcaddy."
)

// The answer's JSON, with its members in the order OpenAI sends them.
type (
	completion struct {
		ID                string   `json:"id"`
		Object            string   `json:"object"`
		Created           int64    `json:"created"`
		Model             string   `json:"model"`
		Choices           []choice `json:"choices"`
		Usage             *usage   `json:"usage,omitempty"`
		ServiceTier       string   `json:"service_tier,omitempty"`
		SystemFingerprint string   `json:"system_fingerprint"`
	}
	choice struct {
		Index        int      `json:"index"`
		Message      *message `json:"message,omitempty"`
		Delta        *message `json:"delta,omitempty"`
		Logprobs     any      `json:"logprobs"`
		FinishReason any      `json:"finish_reason"`
	}
	message struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
		Refusal *string `json:"refusal,omitempty"`
	}
	usage struct {
		PromptTokens            int             `json:"prompt_tokens"`
		CompletionTokens        int             `json:"completion_tokens"`
		TotalTokens             int             `json:"total_tokens"`
		PromptTokensDetails     *map[string]int `json:"prompt_tokens_details,omitempty"`
		CompletionTokensDetails *map[string]int `json:"completion_tokens_details,omitempty"`
	}
)

func newUpstream(chunks int, delay time.Duration) *upstream {
	u := &upstream{delay: delay}
	const (
		id = "chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012"
		fp = "fp_0ba0d124f1"
	)
	str := func(s string) *string { return &s }
	empty := ""

	u.completion = mustJSON(completion{
		ID: id, Object: "chat.completion", Created: created, Model: model + "-2024-07-18",
		Choices: []choice{{
			Message:      &message{Role: "assistant", Content: str(answer), Refusal: nil},
			FinishReason: "stop",
		}},
		Usage: &usage{
			PromptTokens: 64, CompletionTokens: 96, TotalTokens: 160,
			PromptTokensDetails:     &map[string]int{"cached_tokens": 0, "audio_tokens": 0},
			CompletionTokensDetails: &map[string]int{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
		},
		ServiceTier:       "default",
		SystemFingerprint: fp,
	})

	chunk := func(choices []choice, u *usage) []byte {
		return sse(mustJSON(completion{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: model + "-2024-07-18",
			Choices: choices, Usage: u, SystemFingerprint: fp,
		}))
	}
	u.events = append(u.events, chunk([]choice{{Delta: &message{Role: "assistant", Content: &empty}}}, nil))
	for _, piece := range split(answer, chunks) {
		u.events = append(u.events, chunk([]choice{{Delta: &message{Content: str(piece)}}}, nil))
	}
	u.events = append(u.events, chunk([]choice{{Delta: &message{}, FinishReason: "stop"}}, nil))
	u.usageEvent = chunk([]choice{}, &usage{PromptTokens: 64, CompletionTokens: 96, TotalTokens: 160})
	return u
}

var (
	doneEvent    = []byte("data: [DONE]\n\n")
	streamTrue   = []byte(`"stream":true`)
	streamTrueSp = []byte(`"stream": true`)
	includeUsage = []byte(`"include_usage"`)
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		writeError(w, http.StatusNotFound, "invalid_request_error", "Unknown request URL: "+r.Method+" "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "Use POST.")
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, 16<<20)); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "Could not read the body.")
		return
	}
	body := buf.Bytes()
	// A substring test is enough for the bodies the benchmark sends, and
	// keeps this server cheap; it does not parse JSON.
	if bytes.Contains(body, streamTrue) || bytes.Contains(body, streamTrueSp) {
		u.stream(w, bytes.Contains(body, includeUsage))
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(u.completion))}
	w.Write(u.completion)
}

func (u *upstream) stream(w http.ResponseWriter, withUsage bool) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream; charset=utf-8"}
	h["Cache-Control"] = []string{"no-cache"}
	w.WriteHeader(http.StatusOK)
	send := func(ev []byte) bool {
		if u.delay > 0 {
			time.Sleep(u.delay)
		}
		if _, err := w.Write(ev); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for _, ev := range u.events {
		if !send(ev) {
			return
		}
	}
	if withUsage && !send(u.usageEvent) {
		return
	}
	send(doneEvent)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(mustJSON(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}}))
}

// split cuts s into n pieces at word boundaries, as a model's tokens
// would arrive.
func split(s string, n int) []string {
	words := strings.SplitAfter(s, " ")
	if n < 1 {
		n = 1
	}
	if n > len(words) {
		n = len(words)
	}
	pieces := make([]string, 0, n)
	for i := 0; i < n; i++ {
		lo, hi := i*len(words)/n, (i+1)*len(words)/n
		pieces = append(pieces, strings.Join(words[lo:hi], ""))
	}
	return pieces
}

func sse(data []byte) []byte {
	return []byte(fmt.Sprintf("data: %s\n\n", data))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
