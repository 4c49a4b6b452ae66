package errors

import (
	"net/http"
	"strconv"
)

// Write sends e to the client in envelope f (resolved, not Auto) with the
// headers of the contract: Content-Type and Content-Length, the request ID
// (X-Request-Id, and request-id in the anthropic envelope), Retry-After and
// retry-after-ms on 429/503/529 (and store_error) when a wait is known, and
// `x-should-retry: false` when the client should not retry.
//
// Headers already set on w (rate-limit headers, the request ID) are kept;
// headers that describe a body (Content-Encoding and the like) are removed,
// since the envelope replaces whatever body they described.
func Write(w http.ResponseWriter, f Format, e *Error) error {
	body := e.Body(f)
	status := e.Status(f)
	SetHeaders(w.Header(), f, e, status)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// SetHeaders sets the contract's error headers on h (all of Write's but
// Content-Length).
func SetHeaders(h http.Header, f Format, e *Error, status int) {
	for _, k := range bodyHeaders {
		delete(h, k)
	}
	h.Set("Content-Type", "application/json")
	if e.RequestID != "" {
		h.Set("X-Request-Id", e.RequestID)
		if f == Anthropic {
			h.Set("Request-Id", e.RequestID)
		}
	}
	if s := e.RetryAfterSeconds(); s > 0 && (status == 429 || status == 503 || status == 529 || e.Code == StoreError) {
		h.Set("Retry-After", strconv.FormatInt(s, 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfterMillis(), 10))
	}
	if !e.ShouldRetry() {
		h.Set("X-Should-Retry", "false")
	}
}

// bodyHeaders describe a body the envelope replaces.
var bodyHeaders = []string{"Content-Encoding", "Content-Length", "Content-Range", "Etag", "Last-Modified", "Transfer-Encoding", "Trailer"}

// StreamEvent renders e as one server-sent event in the client's own
// protocol, for an error that happens after the stream began: an Anthropic
// client gets `event: error` with the anthropic envelope, an OpenAI client
// a `data:` line with the openai envelope.
func StreamEvent(anthropicClient bool, e *Error) []byte {
	if anthropicClient {
		b := append([]byte("event: error\ndata: "), e.Body(Anthropic)...)
		return append(b, "\n\n"...)
	}
	b := append([]byte("data: "), e.Body(OpenAI)...)
	return append(b, "\n\n"...)
}
