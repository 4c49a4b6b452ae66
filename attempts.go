package llmgateway

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// proxy sends the request along its chain of routes until one answers,
// and writes the last failure when none does.
//
// While nothing has reached the client, a failed attempt is retried. A
// failure of the key (401, a rate limit, an account out of credit) sets the
// key aside and tries the provider's next key at once; a failure of the
// provider itself (5xx, overloaded, connection failure, timeout) counts
// against its circuit breaker and moves on to the next route of the
// fallback chain. When the whole chain has been tried, the next pass
// starts after a jittered exponential backoff that honours the provider's
// Retry-After; a request waits at most retry.max_wait in all. A failure
// that is the client's own (400, 404, 413, 422) is never retried. Attempts
// stop at retry.max_attempts.
func (x *exchange) proxy(chain []route) {
	x.upstreamHeader = x.buildUpstreamHeader()
	rp := x.g.Retry
	var last *llmerrors.Error
	var blockedUntil time.Time // when the first route or key set aside returns
	waitLeft := time.Duration(rp.MaxWait)

	for pass := 1; x.attempts < rp.MaxAttempts; pass++ {
		blockedUntil = time.Time{}
		attempted := false
		for _, rt := range chain {
			if x.attempts >= rp.MaxAttempts {
				break
			}
			p := rt.provider
			if p.typ.NeedsKey && len(p.keys) == 0 {
				last = pick(last, missingProviderKey(p))
				continue
			}
			admission, retryAt := p.health.Allow(time.Now)
			if admission == providers.Open {
				last = pick(last, circuitOpen(p, time.Until(retryAt)))
				blockedUntil = earliest(blockedUntil, retryAt)
				continue
			}
			done, failed := x.tryKeys(rt, &admission, &last, &blockedUntil, &attempted)
			if done {
				return
			}
			if failed != nil {
				x.fail(failed)
				return
			}
		}
		if x.attempts >= rp.MaxAttempts {
			break
		}
		// Wait before the next pass: a backoff after failed attempts, or
		// until the first key or circuit returns when nothing could be
		// tried; never more than retry.max_wait in all.
		var wait time.Duration
		switch {
		case attempted:
			wait = x.backoffDelay(pass, last)
		case !blockedUntil.IsZero():
			wait = time.Until(blockedUntil)
		default:
			wait = waitLeft + 1 // nothing will ever be tried
		}
		if wait > waitLeft {
			break
		}
		waitLeft -= wait
		if !x.sleep(wait) {
			return
		}
	}
	if last == nil {
		last = &llmerrors.Error{Code: llmerrors.InternalError, Message: "The gateway made no attempt to reach a provider."}
	}
	if last.RetryAfter == 0 && !blockedUntil.IsZero() {
		last.RetryAfter = time.Until(blockedUntil)
	}
	x.fail(last)
}

// tryKeys tries route rt with each ready key of its provider in turn,
// starting where the rotation stands, until one answers, the provider
// itself fails, or the keys run out. done means the client has its answer
// (or left); clientFault is a failure to write at once.
func (x *exchange) tryKeys(rt route, admission *providers.Admission, last **llmerrors.Error, soonest *time.Time, attempted *bool) (done bool, clientFault *llmerrors.Error) {
	p := rt.provider
	n := max(1, p.keyPool.Len())
	start := p.keyPool.Start()
	for i := 0; i < n && x.attempts < x.g.Retry.MaxAttempts; i++ {
		key := (start + i) % n
		if p.keyPool.Len() > 0 {
			if ok, until, reason := p.keyPool.Ready(key, time.Now); !ok {
				*last = pick(*last, keyAside(p, reason, until))
				*soonest = earliest(*soonest, until)
				continue
			}
		}
		x.attempts++
		*attempted = true
		x.provider, x.upstreamModel = p.Name, rt.model
		out := x.attempt(rt, key)
		if out.clientGone {
			p.health.Abandon(*admission)
			x.clientLeft()
			return true, nil
		}
		x.usage, x.sawUsage = out.usage, out.sawUsage
		if out.failure == nil {
			p.health.Succeeded(*admission)
			return true, nil
		}
		e := out.failure
		*last = e
		switch faultOf(e) {
		case faultClient:
			p.health.Succeeded(*admission)
			return false, e
		case faultKey:
			p.health.Succeeded(*admission) // the provider answered
			*admission = providers.Closed
			if until, ok := x.cooldown(p, e); ok && p.keyPool.Len() > 0 {
				p.keyPool.SetAside(key, until, e)
				*soonest = earliest(*soonest, until)
			}
		case faultProvider:
			p.health.Failed(*admission, p.breaker, time.Now(), e)
			x.logRetry(rt, e)
			return false, nil // on to the next route
		}
		x.logRetry(rt, e)
	}
	return false, nil
}

// fault says where a failed attempt's fault lies, which decides what is
// tried next.
type fault uint8

const (
	// faultClient: the request itself; retrying cannot help.
	faultClient fault = iota
	// faultKey: this provider key; try the next key.
	faultKey
	// faultProvider: the provider; count it against its circuit and try
	// the fallbacks.
	faultProvider
)

func faultOf(e *llmerrors.Error) fault {
	switch e.Code {
	case llmerrors.InvalidAPIKey, llmerrors.PermissionDenied, llmerrors.ProviderRateLimited:
		return faultKey
	case llmerrors.ProviderUnavailable:
		if e.NoRetry { // the key's account is out of credit
			return faultKey
		}
		return faultProvider
	case llmerrors.InvalidProviderResponse:
		// An unreadable 401 or 429 (Mistral may send them empty) is
		// still about the key.
		if e.UpstreamStatus == 401 || e.UpstreamStatus == 429 {
			return faultKey
		}
		return faultProvider
	case llmerrors.ProviderError, llmerrors.ProviderTimeout, llmerrors.Overloaded:
		return faultProvider
	}
	return faultClient
}

// cooldown is how long a key that failed with e stays out of rotation: a
// rate-limited key until its Retry-After (a second when the provider named
// none), a refused key or one out of credit for the provider's
// key_cooldown. A 403 is left in rotation: it is often about one model,
// not the key.
func (x *exchange) cooldown(p *Provider, e *llmerrors.Error) (time.Time, bool) {
	switch {
	case e.Code == llmerrors.ProviderRateLimited || e.UpstreamStatus == 429:
		return time.Now().Add(max(e.RetryAfter, time.Second)), true
	case e.Code == llmerrors.InvalidAPIKey || e.UpstreamStatus == 401 || e.NoRetry:
		return time.Now().Add(time.Duration(p.KeyCooldown)), true
	}
	return time.Time{}, false
}

// backoffDelay is the wait after the n-th pass over the chain failed: the
// retry backoff doubled for each pass, with jitter (between half and one
// and a half times), or the Retry-After of a provider's own failure when
// longer. A key's Retry-After needs no wait here: the key is set aside
// until then, and the others are tried meanwhile (a provider without keys,
// such as the mock, is waited for like any other).
func (x *exchange) backoffDelay(n int, last *llmerrors.Error) time.Duration {
	rp := x.g.Retry
	d := time.Duration(rp.MaxWait)
	if shift := n - 1; shift < 20 && time.Duration(rp.Backoff)<<shift < d {
		d = time.Duration(rp.Backoff) << shift
	}
	d = d/2 + rand.N(d+1)
	if last != nil && last.RetryAfter > d && (faultOf(last) == faultProvider || x.keyless(last.Provider)) {
		d = last.RetryAfter
	}
	return d
}

// keyless reports whether the named provider takes no key, so that a rate
// limit it sends cannot be waited out by setting a key aside.
func (x *exchange) keyless(provider string) bool {
	p := x.g.router.providers[provider]
	return p != nil && p.keyPool.Len() == 0
}

// sleep waits d, or less if the client leaves; it reports whether the
// client is still there.
func (x *exchange) sleep(d time.Duration) bool {
	if d <= 0 {
		return x.r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.r.Context().Done():
		x.clientLeft()
		return false
	}
}

func (x *exchange) logRetry(rt route, e *llmerrors.Error) {
	x.g.logger.Debug("attempt failed",
		zap.String("request_id", x.id), zap.String("route", rt.String()),
		zap.String("code", string(e.Code)), zap.Int("attempt", x.attempts))
}

// pick keeps the more telling of two failures: one from an attempt over
// one synthesised from state (a key set aside, an open circuit).
func pick(last, next *llmerrors.Error) *llmerrors.Error {
	if last == nil {
		return next
	}
	return last
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func missingProviderKey(p *Provider) *llmerrors.Error {
	return &llmerrors.Error{
		Code:       llmerrors.MissingAPIKey,
		Provider:   p.Name,
		Message:    fmt.Sprintf("API key not configured for provider '%s'", p.Name),
		Suggestion: fmt.Sprintf("Set the api_key of provider '%s' in the gateway configuration (is its environment variable set?).", p.Name),
	}
}

func circuitOpen(p *Provider, wait time.Duration) *llmerrors.Error {
	e := &llmerrors.Error{
		Code:       llmerrors.ProviderUnavailable,
		Provider:   p.Name,
		RetryAfter: wait,
		Message:    fmt.Sprintf("Provider '%s' is temporarily unavailable: it failed repeatedly, so the gateway is giving it a rest. Retry after the time in Retry-After.", p.Name),
	}
	if cause := p.health.OpenedBy(); cause != nil {
		e.UpstreamStatus = cause.UpstreamStatus
	}
	return e
}

// keyAside is the failure to report for a key that is set aside: the
// error that put it there, with the wait until it returns.
func keyAside(p *Provider, reason *llmerrors.Error, until time.Time) *llmerrors.Error {
	if reason == nil {
		reason = &llmerrors.Error{Code: llmerrors.ProviderRateLimited, Provider: p.Name,
			Message: fmt.Sprintf("Provider '%s' rate-limited the request. Retry after the time in Retry-After.", p.Name)}
	}
	e := *reason
	e.RetryAfter = time.Until(until)
	return &e
}

// clientLeft records a request whose client went away before its answer
// was complete.
func (x *exchange) clientLeft() {
	x.gone = true
	x.g.logger.Debug("client closed the request", zap.String("request_id", x.id))
}

// buildUpstreamHeader prepares, once per request, the headers every
// attempt sends: the client's, minus its key headers (already removed) and
// Accept-Encoding (so the transport negotiates compression itself and the
// gateway reads plain bytes), plus the request ID. The client's header map
// is used as is: Caddy logs a copy taken before any handler ran, and
// reverse_proxy copies it again before changing anything, so attempts can
// share it.
func (x *exchange) buildUpstreamHeader() http.Header {
	h := x.r.Header
	delete(h, "Accept-Encoding")
	h.Set("X-Request-Id", x.id)
	return h
}

// setRouteHeaders tells the client which provider answered and after how
// many attempts.
func (x *exchange) setRouteHeaders(h http.Header) {
	if x.provider != "" {
		h.Set("X-Llm-Provider", x.provider)
	}
	if x.attempts > 0 {
		h.Set("X-Llm-Attempts", strconv.Itoa(x.attempts))
	}
}
