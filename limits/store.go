package limits

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// Store keeps every key's counters. Each method is one atomic step, so
// that a shared store (Redis) can do it in one round trip (a script).
type Store interface {
	// Admit checks every limit of k for one request that is estimated
	// to use est, and only when all pass, counts it against all of them
	// (rpm, tpm, concurrency slot, session tokens, budget reservation).
	// A refusal counts nothing.
	//
	// id names this admission: a shared store records it under id, so
	// that a call repeated after a timeout counts once. The gateway makes
	// a new random id for every request; it is never a value a client
	// chose (such as its X-Request-Id), which could be replayed.
	Admit(ctx context.Context, k *Key, id string, est Estimate) (Admission, error)
	// Settle ends an admitted request: releases its concurrency slot,
	// replaces its token and cost estimates with what it really used (a
	// refund when it used less), and records the spend. It is called
	// exactly once per admitted request, also when the request failed or
	// the client left (then used may be zero, or the estimate when the
	// provider may have billed it).
	Settle(ctx context.Context, k *Key, a *Admission, used Usage) error
}

// Estimate is what a request is expected to use, reserved when it is
// admitted: Tokens is the prompt's tokens plus min(max_tokens,
// reserve_output_tokens), and Cost those tokens at the route's price.
type Estimate struct {
	Tokens int64
	// Cost in USD.
	Cost float64
}

// Usage is what a request really used, as the provider reported it:
// prompt plus completion tokens, and their cost in USD.
type Usage struct {
	Tokens int64
	Cost   float64
}

// RateInfo describes one per-minute limit for the rate-limit headers.
type RateInfo struct {
	// Limit is the limit per minute; 0 when the key has none.
	Limit int64
	// Remaining is what is left now (after this request, when admitted).
	Remaining int64
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// refusal says which limit refused a request.
type refusal uint8

const (
	notRefused refusal = iota
	refusedRPM
	refusedTPM
	refusedConcurrency
	refusedSession
	refusedBudget
)

// Admission is a Store's answer to Admit. It is a value, not a pointer, so
// the memory store's hot path allocates nothing; keep it with the request
// and pass its address to Settle.
//
// When Admitted, Settle must be called exactly once. When refused, Err
// says why, and nothing was counted.
type Admission struct {
	// Admitted is true when every limit passed and the request counts.
	Admitted bool

	// Requests and Tokens describe the key's rpm and tpm buckets, after
	// this request when it was admitted, for SetRateHeaders. A zero
	// Limit means the key has no such limit.
	Requests, Tokens RateInfo

	key *Key
	// id is the admission's id, as given to Admit.
	id  string
	est Estimate

	// The refusal, when there was one.
	why refusal
	// never: the estimate exceeds the limit's whole capacity, so no
	// amount of waiting admits it.
	never bool
	// wait is how long until the refusing limit would admit the request.
	wait             time.Duration
	limit, remaining float64
	// used is what the refusing limit had used: session tokens, or the
	// budget's spend plus reservations.
	used float64
	// resetAt is when the session window closes.
	resetAt time.Time

	// What Admit counted, so Settle undoes exactly that even when a
	// reload changed the key's limits in between.
	slot         bool      // holds a concurrency slot
	tpm          bool      // est.Tokens was taken from the tpm bucket
	sessionStart time.Time // the session window est.Tokens was reserved in
	settled      bool
	// uncounted: admitted without counting, because the store failed
	// and its policy is to fail open. Settle counts its usage after the
	// fact, as best it can. maybeRan: the failed call may have reached
	// the store, and may yet run there; its settlement cancels it.
	uncounted, maybeRan bool
}

// Estimate is what the request was admitted (or refused) for.
func (a *Admission) Estimate() Estimate { return a.est }

// ID is the id the admission was made under.
func (a *Admission) ID() string { return a.id }

// Uncounted reports whether the request was admitted without being
// counted against its key's limits: the store failed, and its policy
// (`on_error open`) lets requests through. Its rate-limit headers are
// absent (nothing is known), and its settlement counts its usage after
// the fact, as well as the store can.
func (a *Admission) Uncounted() bool { return a.uncounted }

// Err is the error to answer a refused request with, nil when admitted.
// Every 429 carries a RetryAfter of at least a second (the real wait where
// the limit knows it) and HasLimit, Limit and Remaining; the message names
// the key and says what to do.
func (a *Admission) Err() *llmerrors.Error {
	if a.Admitted || a.why == notRefused {
		return nil
	}
	name := AnonymousID
	if a.key != nil {
		name = a.key.Name
	}
	e := &llmerrors.Error{
		HasLimit:   true,
		Limit:      a.limit,
		Remaining:  math.Max(a.remaining, 0),
		RetryAfter: max(a.wait, time.Second),
	}
	limit := int64(a.limit)
	switch a.why {
	case refusedRPM:
		e.Code = llmerrors.RateLimitExceeded
		e.Message = fmt.Sprintf("Rate limit exceeded. Retry after %s. API key %s allows %d requests per minute.",
			secondsText(e.RetryAfter), name, limit)
	case refusedTPM:
		e.Code = llmerrors.TokenLimitExceeded
		if a.never {
			e.NoRetry = true
			e.Message = fmt.Sprintf("This request is estimated at %d tokens, more than the %d tokens per minute API key %s allows, so it can never be admitted. Lower max_tokens or shorten the prompt.",
				a.est.Tokens, limit, name)
			break
		}
		e.Message = fmt.Sprintf("Token limit exceeded. Retry after %s. API key %s allows %d tokens per minute; this request is estimated at %d tokens.",
			secondsText(e.RetryAfter), name, limit, a.est.Tokens)
	case refusedConcurrency:
		e.Code = llmerrors.ConcurrencyLimitExceeded
		e.Message = fmt.Sprintf("Concurrency limit exceeded. API key %s allows %d requests in flight at once; retry when one of them has finished.",
			name, limit)
	case refusedSession:
		e.Code = llmerrors.SessionLimitExceeded
		if a.never {
			e.NoRetry = true
			e.Message = fmt.Sprintf("This request is estimated at %d tokens, more than the %d tokens per session API key %s allows, so it can never be admitted. Lower max_tokens or shorten the prompt.",
				a.est.Tokens, limit, name)
			break
		}
		// A client should not sit retrying for hours: beyond a minute,
		// x-should-retry says no and the message says when.
		e.NoRetry = a.wait > time.Minute
		e.Message = fmt.Sprintf("Session limit exceeded. API key %s has used %d of its %d tokens in this session, which resets at %s. Retry after %s.",
			name, int64(a.used), limit, a.resetAt.UTC().Format(time.RFC3339), durationText(e.RetryAfter))
	case refusedBudget:
		e.Code = llmerrors.InsufficientQuota
		e.RetryAfter = 0 // a budget does not refill by waiting
		// The message keeps the exact form of the seed (003); the
		// details name the key and what to do.
		e.Message = "Insufficient balance. Current: " + usd(a.remaining) + ", Required: " + usd(a.est.Cost)
		if a.never {
			e.Suggestion = fmt.Sprintf("API key %s has a budget of %s, less than this request's estimated cost; lower max_tokens or shorten the prompt.",
				name, usd(a.limit))
		} else {
			e.Suggestion = fmt.Sprintf("API key %s has spent or reserved %s of its %s budget. Ask the gateway's administrator to raise the budget; a lower max_tokens reserves less.",
				name, usd(a.used), usd(a.limit))
		}
	}
	return e
}

// SetRateHeaders writes the rate-limit headers of the key's rpm and tpm
// limits (only those it has) to h, on successes and 429s alike: OpenAI's
// x-ratelimit-{limit,remaining,reset}-{requests,tokens}, with resets as
// durations the way OpenAI writes them ("1s", "6m0s", "20ms"), or, when
// anthropic is set, Anthropic's
// anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}, with
// resets as the RFC 3339 time the bucket is full again.
func (a *Admission) SetRateHeaders(h http.Header, anthropic bool, now time.Time) {
	style := 0
	if anthropic {
		style = 1
	}
	if a.Requests.Limit > 0 {
		setRate(h, &rateHeaders[style][0], anthropic, now, a.Requests)
	}
	if a.Tokens.Limit > 0 {
		setRate(h, &rateHeaders[style][1], anthropic, now, a.Tokens)
	}
}

// rateHeaders are the header names by style (OpenAI, Anthropic) and
// limit (requests, tokens), in canonical form so Set need not rewrite them.
var rateHeaders = [2][2]struct{ limit, remaining, reset string }{
	{
		{"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
		{"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
	},
	{
		{"Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset"},
		{"Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset"},
	},
}

func setRate(h http.Header, names *struct{ limit, remaining, reset string }, anthropic bool, now time.Time, r RateInfo) {
	h.Set(names.limit, strconv.FormatInt(r.Limit, 10))
	h.Set(names.remaining, strconv.FormatInt(max(r.Remaining, 0), 10))
	if anthropic {
		// Round up, so a client waiting until then finds it full.
		at := now.Add(r.Reset + time.Second - 1).Truncate(time.Second)
		h.Set(names.reset, at.UTC().Format(time.RFC3339))
		return
	}
	h.Set(names.reset, resetText(r.Reset))
}

// resetText writes d as OpenAI's x-ratelimit-reset-* headers do: Go
// duration syntax, to the millisecond under a minute ("20ms", "1.5s") and
// to the second above ("6m0s").
func resetText(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return "1ms"
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// secondsText is d as "N seconds", rounded up, at least 1.
func secondsText(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s <= 1 {
		return "1 second"
	}
	return strconv.FormatInt(s, 10) + " seconds"
}

// durationText is a wait for a person to read: seconds under a minute,
// else hours and minutes ("3h12m0s" reads poorly; "3h12m" does not).
func durationText(d time.Duration) string {
	if d < time.Minute {
		return secondsText(d)
	}
	d = (d + time.Minute - 1).Truncate(time.Minute)
	s := d.String() // e.g. "3h12m0s"
	return s[:len(s)-2]
}

// usd writes v as dollars: to the cent, or, for a positive amount under a
// cent, to two significant digits, so a real cost never reads $0.00.
func usd(v float64) string {
	sign := ""
	if v < 0 {
		sign = "-"
		v = -v
	}
	if v == 0 || v >= 0.01 {
		return sign + "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	prec := int(-math.Floor(math.Log10(v))) + 1
	t := strings.TrimRight(strconv.FormatFloat(v, 'f', prec, 64), "0")
	return sign + "$" + t
}
