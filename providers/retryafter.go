package providers

import (
	"net/http"
	"strconv"
	"time"
)

// now is the clock Retry-After dates are read against; tests replace it.
var now = time.Now

// RetryAfter reads the wait a provider asked for: retry-after-ms,
// Retry-After (seconds or an HTTP date), then the reset of OpenAI's
// x-ratelimit-* headers when the matching remaining count is 0. It returns
// 0 when the answer names no wait.
func RetryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				return time.Duration(s * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now()); d > 0 {
				return d
			}
		}
	}
	var wait time.Duration
	for _, kind := range [...]string{"requests", "tokens"} {
		if h.Get("X-Ratelimit-Remaining-"+kind) != "0" {
			continue
		}
		if d, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-" + kind)); err == nil && d > wait {
			wait = d
		}
	}
	return wait
}
