package errors_test

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/errors/envelopetest"
)

// perByteValid is s as the renderer promises to carry it: each byte that
// is not part of valid UTF-8 becomes U+FFFD.
func perByteValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// FuzzRender: whatever text and numbers an error carries, every envelope
// is valid JSON of the contract's shape, carries the text intact, and
// nothing panics.
//
//	go test ./errors/ -run '^$' -fuzz FuzzRender -fuzztime 60s
func FuzzRender(f *testing.F) {
	f.Add("rate_limit_exceeded", "ccproxy", "Rate limit exceeded", "groq", "", "", "req_1", int64(60*time.Second), 5000.0, 0.0, true, "a\x00b", false)
	f.Add("overloaded", "anthropic", "Provider 'anthropic' is overloaded", "anthropic", "", "", "", int64(0), 0.0, 0.0, false, "", false)
	f.Add("validation_error", "openai", "bad \xff\xfe \"quoted\" \\ \n\t\u2028\x00", "", "messages[0]", "fix it", "r", int64(-1), math.NaN(), math.Inf(-1), true, "", true)
	f.Add("no_such_code", "auto", "", "", "", "", "", int64(math.MaxInt64), 1e300, math.Copysign(0, -1), true, "\x00", false)
	f.Add("session_limit_exceeded", "coollm", "m", "p", "f", "s", "id\r\nInjected: 1", int64(2*time.Hour), 0.5, 1.5, true, "x", false)
	f.Fuzz(func(t *testing.T, code, format, message, provider, field, suggestion, requestID string,
		retryNanos int64, limit, remaining float64, hasLimit bool, models string, noRetry bool) {
		e := &llmerrors.Error{
			Code: llmerrors.Code(code), Message: message, Provider: provider, Field: field,
			Suggestion: suggestion, RequestID: requestID, RetryAfter: time.Duration(retryNanos),
			Limit: limit, Remaining: remaining, HasLimit: hasLimit, NoRetry: noRetry,
		}
		if models != "" {
			e.AvailableModels = strings.Split(models, "\x00")
		}
		formats := append(llmerrors.Formats(), llmerrors.Format(format))
		for _, f := range formats {
			shape := f
			switch f {
			case llmerrors.OpenAI, llmerrors.Anthropic, llmerrors.CCProxy, llmerrors.CooLLM, llmerrors.Proxed:
			default:
				shape = llmerrors.OpenAI // anything unresolved renders as openai
			}
			status := e.Status(f)
			body := e.Body(f)
			if !json.Valid(body) {
				t.Fatalf("%s: invalid JSON %q", f, body)
			}
			doc, err := envelopetest.Check(string(shape), status, body)
			if err != nil {
				t.Fatalf("%s: %v\n%s", f, err, body)
			}
			wantMsg := perByteValid(message)
			gotMsg := doc.Get("error", "message")
			switch shape {
			case llmerrors.Proxed:
				gotMsg = doc.Get("message")
			case llmerrors.CooLLM:
				if s := e.Code.ShortText(); s != "" {
					wantMsg = s
				}
			}
			if gotMsg == nil || gotMsg.Str != wantMsg {
				t.Fatalf("%s: message %v, want %q", f, gotMsg, wantMsg)
			}
			rec := httptest.NewRecorder()
			if err := llmerrors.Write(rec, f, e); err != nil {
				t.Fatal(err)
			}
			if rec.Code != status || rec.Body.String() != string(body) {
				t.Fatalf("%s: Write gave %d %q, Body %d %q", f, rec.Code, rec.Body.String(), status, body)
			}
			if ra := rec.Header().Get("Retry-After"); ra != "" && status != 429 && status != 503 && status != 529 {
				t.Fatalf("%s: Retry-After %q on a %d", f, ra, status)
			}
		}
		for _, anthropic := range []bool{true, false} {
			ev := string(llmerrors.StreamEvent(anthropic, e))
			if !strings.HasSuffix(ev, "\n\n") || strings.Count(ev, "\n\n") != 1 {
				t.Fatalf("stream event is not one event: %q", ev)
			}
			data := ev[strings.Index(ev, "data: ")+len("data: ") : len(ev)-2]
			if !json.Valid([]byte(data)) {
				t.Fatalf("stream event data is not JSON: %q", data)
			}
		}
	})
}
