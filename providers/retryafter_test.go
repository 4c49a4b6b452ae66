package providers

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	useClock(t, goldenNow) // 2026-01-01T00:00:00Z
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"nothing", h(), 0},
		{"nil header", nil, 0},
		{"seconds", h("Retry-After", "30"), 30 * time.Second},
		{"fractional seconds", h("Retry-After", "1.5"), 1500 * time.Millisecond},
		{"spaces", h("Retry-After", " 12 "), 12 * time.Second},
		{"zero falls through to nothing", h("Retry-After", "0"), 0},
		{"negative", h("Retry-After", "-5"), 0},
		{"HTTP date", h("Retry-After", "Thu, 01 Jan 2026 00:01:30 GMT"), 90 * time.Second},
		{"HTTP date in the past", h("Retry-After", "Wed, 31 Dec 2025 23:59:00 GMT"), 0},
		{"garbage", h("Retry-After", "soon"), 0},
		{"NaN", h("Retry-After", "NaN"), 0},
		{"infinity is capped", h("Retry-After", "+Inf"), maxRetryAfter},
		{"huge is capped", h("Retry-After", "1e300"), maxRetryAfter},
		{"retry-after-ms first", h("Retry-After-Ms", "250", "Retry-After", "3"), 250 * time.Millisecond},
		{"bad retry-after-ms falls back", h("Retry-After-Ms", "x", "Retry-After", "3"), 3 * time.Second},

		// OpenAI and Groq: durations, read only for an exhausted window.
		{"OpenAI tokens exhausted", h("X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "6m0s"), 6 * time.Minute},
		{"OpenAI requests exhausted", h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "1s"), time.Second},
		{"milliseconds", h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "20ms"), 20 * time.Millisecond},
		{"Groq mixed units", h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "2m59.56s"), 2*time.Minute + 59560*time.Millisecond},
		{"plain seconds (Azure)", h("X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "60"), time.Minute},
		{"not exhausted: no wait", h("X-Ratelimit-Remaining-Tokens", "388", "X-Ratelimit-Reset-Tokens", "1.7s"), 0},
		{"the longest exhausted window", h("X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "1s",
			"X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "7.66s"), 7660 * time.Millisecond},
		{"Retry-After beats the windows", h("Retry-After", "6", "X-Ratelimit-Remaining-Tokens", "0", "X-Ratelimit-Reset-Tokens", "5.2s"), 6 * time.Second},

		// Anthropic: RFC 3339 resets.
		{"Anthropic input tokens", h("Anthropic-Ratelimit-Input-Tokens-Remaining", "0", "Anthropic-Ratelimit-Input-Tokens-Reset", "2026-01-01T00:00:20Z"), 20 * time.Second},
		{"Anthropic not exhausted", h("Anthropic-Ratelimit-Requests-Remaining", "3", "Anthropic-Ratelimit-Requests-Reset", "2026-01-01T00:00:20Z"), 0},

		// OpenRouter: Unix milliseconds.
		{"OpenRouter epoch ms", h("X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "1767225660000"), time.Minute},
		{"epoch seconds", h("X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "1767225630"), 30 * time.Second},
		{"epoch far away is capped", h("X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "99999999999999999"), maxRetryAfter},
		{"reset in the past", h("X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "1767225000000"), 0},
	}
	for _, c := range cases {
		if got := RetryAfter(c.h); got != c.want {
			t.Errorf("%s: RetryAfter = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestHintedWait(t *testing.T) {
	cases := []struct {
		msg  string
		want time.Duration
	}{
		{"Please try again in 1.724s. Visit https://platform.openai.com", 1724 * time.Millisecond},
		{"Please try again in 644ms.", 644 * time.Millisecond},
		{"Please try again in 1m0.363142857s. Visit", time.Minute + 363142857*time.Nanosecond},
		{"Please try again in 6m0s.", 6 * time.Minute},
		{"Please retry in 26.547s.", 26547 * time.Millisecond},
		{"Rate limit exceeded. Retry after 2 seconds.", 2 * time.Second},
		{"Please try again in 50.597142857s.", 50597142857 * time.Nanosecond},
		{"please try again later", 0},
		{"try again in a moment", 0},
		{"Please try again in 99999999999h.", 0},
		{"Please try again in 48h.", maxRetryAfter},
		{"", 0},
	}
	for _, c := range cases {
		if got := hintedWait(c.msg); got != c.want {
			t.Errorf("hintedWait(%q) = %v, want %v", c.msg, got, c.want)
		}
	}
}
