// Package mock is the built-in provider that needs no network and no key.
//
// The gateway calls it exactly as it calls Caddy's reverse_proxy for a real
// provider, so the mock behaves like reverse_proxy in front of a real API:
// it writes the upstream's status, headers and body to the response writer,
// returns a caddyhttp.HandlerError when no answer could be had at all
// (refused connection, timeout), and panics with http.ErrAbortHandler when
// an answer breaks after its headers were written.
//
// Any model answers successfully, in the shape of the API the request path
// belongs to: OpenAI chat completions, legacy completions, embeddings and
// the Responses API; Anthropic messages and count_tokens. Answers echo the
// last user message, carry usage counted the same way everywhere, and
// streams are paced (about 25ms between content chunks) so a person sees
// them arrive. A request that offers tools gets a tool call, and one that
// ends with a tool result gets text quoting it, so an agent's whole tool
// loop runs offline (tools.go).
//
// The model names below simulate failures instead. Fixed provider answers
// are reproduced from real captures (files in failures/, in raw HTTP
// response form); docs/mock.md says where each comes from.
//
//	model name                 what it does
//	-------------------------  ---------------------------------------------------------------
//	mock-openai-429            429 rate_limit_exceeded, x-ratelimit-* and retry-after headers
//	mock-openai-quota          429 insufficient_quota (account out of credit)
//	mock-openai-401            401 invalid_api_key, "Incorrect API key provided: sk-proj-****…"
//	mock-openai-400            400 unsupported_value with param "temperature"
//	mock-openai-404            404 model_not_found
//	mock-openai-500            500 server_error
//	mock-openai-503            503 "That model is currently overloaded"
//	mock-anthropic-529         529 overloaded_error
//	mock-anthropic-429         429 rate_limit_error, retry-after and anthropic-ratelimit-* headers
//	mock-anthropic-401         401 authentication_error "invalid x-api-key"
//	mock-anthropic-400         400 invalid_request_error
//	mock-anthropic-413         413 request_too_large (edge shape, no "type":"error" wrapper)
//	mock-anthropic-500         500 api_error
//	mock-groq-498              498 capacity_exceeded (Groq flex tier at capacity)
//	mock-gemini-429            429 RESOURCE_EXHAUSTED in a JSON array, RetryInfo retryDelay 20s
//	mock-gemini-400-key        400 INVALID_ARGUMENT "API key not valid" in a JSON array
//	mock-openrouter-402        402 insufficient credits, numeric error.code and metadata
//	mock-openrouter-200-error  200 whose body is an error object (code 502, metadata.raw)
//	mock-mistral-422           422 with top-level "object":"error" and a detail list
//	mock-deepseek-402          402 "Insufficient Balance"
//	mock-html-502              502 with an nginx/Cloudflare HTML page
//	mock-empty-502             502 with an empty body
//	mock-truncated             500 whose JSON body is cut off
//	mock-timeout               no answer until the timeout: HandlerError 504 (net.Error, Timeout)
//	mock-refused               HandlerError 502 wrapping a reverseproxy.DialError (ECONNREFUSED)
//	mock-reset                 HandlerError 502 wrapping a read error (ECONNRESET)
//	mock-stream-error          a few events, then the protocol's error event; no [DONE]
//	mock-stream-cut            a few events, then flush and panic(http.ErrAbortHandler)
//	mock-slow-stream           a few events, then silence longer than the timeout, then the rest
//	mock-flaky                 one request in three fails (429, 500, 529/503 or a reset)
//
// The three mock-stream names answer as a stream on the paths that
// generate text even when the request did not ask for one, since what they
// test only exists in streams.
package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Handler answers like a provider's API behind reverse_proxy.
type Handler struct {
	// timeout is the provider's response-header timeout: how long
	// mock-timeout hangs, and how long mock-slow-stream stays silent
	// (half as long again, so that it trips an idle timeout set to it).
	timeout time.Duration
	// tick is the pause before each content chunk of a stream.
	tick time.Duration
	// intN draws mock-flaky's dice; tests replace it.
	intN func(n int) int
}

// Pacing and defaults.
const (
	// defaultTick paces streams at about 40 chunks a second: slow enough
	// to watch, fast enough not to bore.
	defaultTick = 25 * time.Millisecond
	// defaultTimeout is the gateway's default provider timeout, used when
	// New is given none.
	defaultTimeout = 120 * time.Second
	// maxBody caps how much of a request the mock reads; the gateway has
	// already enforced its own max_request_body.
	maxBody = 64 << 20
)

// New returns a mock provider. timeout is the provider's configured
// response-header timeout: mock-timeout gives up after it, as
// reverse_proxy would, and mock-slow-stream stays silent for longer.
func New(timeout time.Duration) *Handler {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Handler{timeout: timeout, tick: defaultTick, intN: rand.IntN}
}

// ServeHTTP answers one request: a simulated failure when the body's
// model names one, otherwise a successful answer in the shape of the API
// of r.URL.Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if err := r.Context().Err(); err != nil {
		return upstreamCanceled(w, err)
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, maxBody))
	}
	req := parseRequest(r.URL.Path, body)
	if fail, ok := failures[req.model]; ok {
		return fail(h, w, r, req)
	}
	return h.answer(w, r, req, fault{})
}

// answer writes a successful answer for the request's path, with f
// injected into it when the answer is a stream.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, req *request, f fault) error {
	if f.kind != faultNone && generates(r.URL.Path) {
		req.stream = true
	}
	switch r.URL.Path {
	case pathChat:
		h.chatCompletion(w, r, req, f)
	case pathCompletions:
		h.completion(w, r, req, f)
	case pathEmbeddings:
		embeddings(w, req)
	case pathResponses:
		h.response(w, r, req, f)
	case pathMessages:
		h.message(w, r, req, f)
	case pathCountTokens:
		countTokens(w, req)
	default:
		notFound(w, r)
	}
	return nil
}

// The API paths the mock serves.
const (
	pathChat        = "/v1/chat/completions"
	pathCompletions = "/v1/completions"
	pathEmbeddings  = "/v1/embeddings"
	pathResponses   = "/v1/responses"
	pathMessages    = "/v1/messages"
	pathCountTokens = "/v1/messages/count_tokens"
)

// generates reports whether path produces text, and so can stream.
func generates(path string) bool {
	switch path {
	case pathChat, pathCompletions, pathResponses, pathMessages:
		return true
	}
	return false
}

// anthropicRequest reports whether r is spoken to the Anthropic API, for
// answers (such as an unknown path) that exist in both protocols.
func anthropicRequest(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, pathMessages) || r.Header.Get("Anthropic-Version") != ""
}

// notFound answers an unknown path as the real API does.
func notFound(w http.ResponseWriter, r *http.Request) {
	if anthropicRequest(r) {
		id := anthropicRequestID()
		w.Header().Set("Request-Id", id)
		writeJSON(w, http.StatusNotFound, `{"type":"error","error":{"type":"not_found_error","message":"Not Found"},"request_id":"`+id+`"}`)
		return
	}
	w.Header().Set("X-Request-Id", openAIRequestID())
	writeJSON(w, http.StatusNotFound, "{\n    \"error\": {\n        \"message\": \"Invalid URL ("+r.Method+" "+jsonEscape(r.URL.Path)+")\",\n        \"type\": \"invalid_request_error\",\n        \"param\": null,\n        \"code\": null\n    }\n}\n")
}

// writeJSON writes a whole JSON answer with its length, as APIs send
// non-streamed answers.
func writeJSON[T string | []byte](w http.ResponseWriter, status int, body T) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// marshal encodes v as compact JSON without escaping <, > and & (the APIs
// send them as they are). The values the mock encodes always marshal.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("mock: encoding an answer: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// jsonEscape escapes s for use inside a JSON string literal.
func jsonEscape(s string) string {
	b := marshal(s)
	return string(b[1 : len(b)-1])
}

// upstreamCanceled does what reverse_proxy does when the request's context
// ends before the upstream answered: a cancellation (the client left, or
// the gateway gave up on the attempt) is recorded as status 499 with
// nothing else written and no error; a deadline is a timeout, 504.
func upstreamCanceled(w http.ResponseWriter, err error) error {
	if errors.Is(err, context.Canceled) {
		w.WriteHeader(499)
		return nil
	}
	return caddyhttp.Error(http.StatusGatewayTimeout, err)
}
