package llmgateway

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/net/http/httpguts"
)

// validateNumbers checks every number and duration of the config (the
// Caddyfile adapter already refuses bad ones; a JSON config may hold
// anything): a negative timeout would silently turn a deadline off, and a
// negative backoff would make every retried request fail.
func (g *Gateway) validateNumbers() error {
	if g.MaxRequestBody < 0 {
		return fmt.Errorf("max_request_body: %d is negative; want a size such as 10MB", g.MaxRequestBody)
	}
	if g.ReserveOutputTokens < 0 {
		return fmt.Errorf("reserve_output_tokens: %d is negative; want a number of tokens such as 4096", g.ReserveOutputTokens)
	}
	if rp := g.Retry; rp != nil {
		if rp.MaxAttempts < 0 {
			return fmt.Errorf("retry max_attempts: %d is negative; want a number of attempts such as 3", rp.MaxAttempts)
		}
		for _, d := range []struct {
			name string
			v    caddy.Duration
		}{{"backoff", rp.Backoff}, {"max_wait", rp.MaxWait}, {"max_duration", rp.MaxDuration}} {
			if err := nonNegative("retry "+d.name, d.v); err != nil {
				return err
			}
		}
	}
	for name, price := range g.Prices {
		for _, v := range []float64{price.Input, price.Output} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("price %s: %v is not a price; want non-negative USD per million tokens", name, v)
			}
		}
	}
	for _, p := range g.Providers {
		if err := p.validateNumbers(); err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
	}
	return nil
}

func (p *Provider) validateNumbers() error {
	for _, d := range []struct {
		name string
		v    caddy.Duration
	}{
		{"timeout", p.Timeout}, {"dial_timeout", p.DialTimeout},
		{"stream_idle_timeout", p.StreamIdleTimeout}, {"key_cooldown", p.KeyCooldown},
	} {
		if err := nonNegative(d.name, d.v); err != nil {
			return err
		}
	}
	if p.MaxTokens < 0 {
		return fmt.Errorf("max_tokens: %d is negative; want a number of tokens such as 16384", p.MaxTokens)
	}
	if p.DefaultMaxTokens < 0 {
		return fmt.Errorf("default_max_tokens: %d is negative; want a number of tokens such as 4096", p.DefaultMaxTokens)
	}
	if cb := p.CircuitBreaker; cb != nil {
		if cb.Failures < -1 {
			return fmt.Errorf("circuit_breaker: %d failures is negative; want a number of failures such as 10, or -1 (off)", cb.Failures)
		}
		if err := nonNegative("circuit_breaker open_for", cb.OpenFor); err != nil {
			return err
		}
	}
	for _, m := range p.Models {
		if strings.TrimSpace(m) == "" {
			return fmt.Errorf("models: an empty model name")
		}
	}
	for name, v := range p.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("headers: %q is not a header name", name)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("headers %s: the value holds characters a header cannot", name)
		}
	}
	return nil
}

func nonNegative(name string, d caddy.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s: %s is negative; want a positive duration such as 30s", name, time.Duration(d))
	}
	return nil
}
