package providers

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// now is the clock Retry-After dates and reset timestamps are read
// against; tests replace it.
var now = time.Now

// maxRetryAfter caps any wait read from a provider: a daily quota resets
// within a day, and a larger number is a provider's bug (or an attacker's
// header) that must not overflow a time.Duration.
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads the wait a provider's headers ask for, in this order:
//
//   - retry-after-ms (milliseconds; OpenAI's SDKs honour it first);
//   - Retry-After, in seconds or as an HTTP date;
//   - the reset of a rate-limit window whose remaining count is 0:
//     OpenAI's and Groq's x-ratelimit-remaining-{requests,tokens} with
//     x-ratelimit-reset-* as a Go-style duration ("1s", "6m0s", "20ms",
//     "2m59.56s") or plain seconds; Anthropic's
//     anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//     remaining with -reset as an RFC 3339 time; OpenRouter's
//     X-RateLimit-Remaining with X-RateLimit-Reset as a Unix time in
//     milliseconds. The longest exhausted window wins.
//
// It returns 0 when the headers name no wait, and never more than a day.
func RetryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return secondsWait(ms / 1000)
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				return secondsWait(s)
			}
		} else if t, err := http.ParseTime(v); err == nil {
			if d := until(t); d > 0 {
				return d
			}
		}
	}
	var wait time.Duration
	for _, kind := range [...]string{"requests", "tokens", "input-tokens", "output-tokens"} {
		if exhausted(h.Get("X-Ratelimit-Remaining-" + kind)) {
			wait = max(wait, resetIn(h.Get("X-Ratelimit-Reset-"+kind)))
		}
		if exhausted(h.Get("Anthropic-Ratelimit-" + kind + "-Remaining")) {
			wait = max(wait, resetIn(h.Get("Anthropic-Ratelimit-"+kind+"-Reset")))
		}
	}
	if exhausted(h.Get("X-Ratelimit-Remaining")) {
		wait = max(wait, resetIn(h.Get("X-Ratelimit-Reset")))
	}
	return wait
}

func exhausted(remaining string) bool { return strings.TrimSpace(remaining) == "0" }

// resetIn reads a rate-limit reset in any of the forms providers use: a
// duration ("6m0s"), seconds ("60"), a Unix time in seconds or
// milliseconds, or an RFC 3339 time.
func resetIn(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return clampWait(d)
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case n >= 1e12: // Unix milliseconds (OpenRouter)
			return until(time.UnixMilli(int64(min(n, 1e15))))
		case n >= 1e9: // Unix seconds
			return until(time.Unix(int64(n), 0))
		}
		return secondsWait(n)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return until(t)
	}
	return 0
}

// secondsWait converts s seconds to a wait: 0 unless s is a positive
// number, at most maxRetryAfter.
func secondsWait(s float64) time.Duration {
	if !(s > 0) || math.IsInf(s, 0) || s >= maxRetryAfter.Seconds() {
		if s > 0 {
			return maxRetryAfter
		}
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

func until(t time.Time) time.Duration { return clampWait(t.Sub(now())) }

func clampWait(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return 0
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	return d
}

// retryHint finds the wait a provider wrote into its message: OpenAI and
// Groq say "Please try again in 1.724s" (or "in 1m0.363s", "in 644ms"),
// Gemini "Please retry in 26.5s", others "retry after 2 seconds".
var retryHint = regexp.MustCompile(`(?i)(?:try again|retry)(?: after| in) (?:(\d+(?:\.\d+)?(?:ms|h|m|s)(?:\d+(?:\.\d+)?(?:ms|h|m|s))*)\b|(\d+(?:\.\d+)?) ?(?:seconds?|secs?)\b)`)

// hintedWait is the wait retryHint finds in msg, or 0.
func hintedWait(msg string) time.Duration {
	m := retryHint.FindStringSubmatch(msg)
	switch {
	case m == nil:
		return 0
	case m[1] != "":
		if d, err := time.ParseDuration(m[1]); err == nil {
			return clampWait(d)
		}
		return 0
	}
	s, _ := strconv.ParseFloat(m[2], 64)
	return secondsWait(s)
}
