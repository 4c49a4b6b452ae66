package relay

import (
	"fmt"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// fault says what a failed attempt tells about the request, the key, the
// model or the provider, which decides what is tried next (CONTRACT.md,
// "Resilience").
type fault uint8

const (
	// faultClient: the request itself (400, 404, 413, 422): no retry
	// can help.
	faultClient fault = iota
	// faultPermission: 403. Often about one model or key; each other
	// key of the pool is tried once, then the fallbacks.
	faultPermission
	// faultKey: the provider refused the key (401) or its account is
	// out of credit: the key is set aside while another key can serve.
	faultKey
	// faultRateLimit: 429: the key is set aside for this model until
	// its Retry-After.
	faultRateLimit
	// faultModel: the provider answered with its own failure (5xx,
	// overloaded, an unreadable answer): the model's circuit counts it,
	// and the fallbacks are tried.
	faultModel
	// faultTransport: no answer at all (refused, reset, no headers in
	// time): the provider's circuit counts it.
	faultTransport
)

func faultOf(e *llmerrors.Error) fault {
	switch e.Code {
	case llmerrors.InvalidAPIKey:
		return faultKey
	case llmerrors.PermissionDenied:
		return faultPermission
	case llmerrors.ProviderRateLimited:
		return faultRateLimit
	case llmerrors.ProviderUnavailable:
		if e.NoRetry { // the key's account is out of credit
			return faultKey
		}
		if e.UpstreamStatus == 0 {
			return faultTransport
		}
		return faultModel
	case llmerrors.InvalidProviderResponse:
		// An unreadable 401 or 429 (Mistral may send them empty) is
		// still about the key.
		switch e.UpstreamStatus {
		case 401:
			return faultKey
		case 429:
			return faultRateLimit
		}
		return faultModel
	case llmerrors.ProviderTimeout:
		if e.UpstreamStatus == 0 {
			return faultTransport
		}
		return faultModel
	case llmerrors.ProviderError, llmerrors.Overloaded:
		return faultModel
	}
	return faultClient
}

// outcome is what the fault tells the provider's circuits.
func (f fault) outcome() providers.Outcome {
	switch f {
	case faultTransport:
		return providers.TransportFailed
	case faultModel:
		return providers.ModelFailed
	}
	return providers.Answered
}

// noRetryOnProvider reports whether e ends the request's attempts on this
// provider: a timeout means the provider most likely generated (and
// billed) an answer it was too slow to send, and another try would bill
// it again and likely time out again.
func noRetryOnProvider(e *llmerrors.Error) bool {
	return e.Code == llmerrors.ProviderTimeout && e.UpstreamStatus == 0
}

// pick keeps the more telling of two failures: one from an attempt over
// one made up from state (a key set aside, an open circuit).
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

func missingProviderKey(up *Upstream) *llmerrors.Error {
	return &llmerrors.Error{
		Code:       llmerrors.MissingAPIKey,
		Provider:   up.Name,
		Message:    fmt.Sprintf("API key not configured for provider '%s'", up.Name),
		Suggestion: fmt.Sprintf("Set the api_key of provider '%s' in the gateway configuration (is its environment variable set?).", up.Name),
	}
}

func circuitOpen(up *Upstream, wait time.Duration, openedBy *llmerrors.Error) *llmerrors.Error {
	e := &llmerrors.Error{
		Code:       llmerrors.ProviderUnavailable,
		Provider:   up.Name,
		RetryAfter: max(wait, time.Second),
		Message:    fmt.Sprintf("Provider '%s' is temporarily unavailable: it failed repeatedly, so the gateway is giving it a rest. Retry after the time in Retry-After.", up.Name),
	}
	if openedBy != nil {
		e.UpstreamStatus = openedBy.UpstreamStatus
	}
	return e
}

// keyAside is the failure to report for a key set aside: the error that
// put it there, with the wait until it returns.
func keyAside(up *Upstream, reason *llmerrors.Error, wait time.Duration) *llmerrors.Error {
	if reason == nil {
		reason = &llmerrors.Error{Code: llmerrors.ProviderRateLimited, Provider: up.Name,
			Message: fmt.Sprintf("Provider '%s' rate-limited the request. Retry after the time in Retry-After.", up.Name)}
	}
	e := *reason
	e.RetryAfter = max(wait, time.Second)
	return &e
}

func retryBudgetSpent(up *Upstream, last *llmerrors.Error) *llmerrors.Error {
	if last != nil {
		return last
	}
	return &llmerrors.Error{
		Code:       llmerrors.ProviderUnavailable,
		Provider:   up.Name,
		RetryAfter: time.Second,
		Message:    fmt.Sprintf("Provider '%s' is failing many requests at once; the gateway is not retrying more of them. Retry shortly.", up.Name),
	}
}
