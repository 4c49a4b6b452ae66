package errors

import (
	"fmt"
	"time"
)

// Error is the one canonical form of every failure the gateway reports,
// its own or a provider's. Renderers turn it into an envelope; nothing in
// it is ever a secret (messages are written for the client to read).
type Error struct {
	// Code selects status, retryability and the envelope's type names.
	Code Code
	// Message says what happened and what to do. It names the provider
	// where one is involved and never carries a key.
	Message string
	// Provider is the configured provider name the failure concerns.
	Provider string
	// Field is the request field at fault (validation_error): the
	// openai envelope's param, details.field elsewhere.
	Field string
	// RetryAfter is the wait the client should observe, when one is
	// known (a limit's reset, the provider's Retry-After). Zero: unknown.
	RetryAfter time.Duration
	// Limit and Remaining describe the limit that was hit, when
	// HasLimit is set (details.limit, details.remaining).
	Limit, Remaining float64
	HasLimit         bool
	// AvailableModels are the model names the client may send instead
	// (model_not_found); nil leaves the detail out.
	AvailableModels []string
	// Suggestion is a hint for details.suggestion.
	Suggestion string
	// NoRetry forces `x-should-retry: false` on a code that is otherwise
	// retryable (a provider account out of credit; a session limit that
	// resets in more than a minute).
	NoRetry bool
	// RequestID is echoed in the envelope where it has one.
	RequestID string

	// UpstreamStatus is the provider's HTTP status, for logs only.
	UpstreamStatus int
	// Cause is the underlying Go error, for logs only; it is never
	// rendered, since it may say more than a client should see.
	Cause error
}

// New returns an error of code c with a formatted message.
func New(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Error implements the error interface with the code and message.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Unwrap exposes Cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Cause }

// ShouldRetry is what the `x-should-retry` header and client retry logic
// should conclude from e: the code's retryability, unless NoRetry is set,
// or e is a session limit whose reset is more than a minute away (the
// contract's "after reset": a client should not sit in a retry loop for
// hours).
func (e *Error) ShouldRetry() bool {
	if e.NoRetry || !e.Code.Retryable() {
		return false
	}
	if e.Code == SessionLimitExceeded && e.RetryAfter > time.Minute {
		return false
	}
	return true
}

// Status is the HTTP status of e in envelope f: the code's own, except
// Overloaded, which is 529 in the anthropic envelope.
func (e *Error) Status(f Format) int {
	if e.Code == Overloaded && f == Anthropic {
		return 529
	}
	return e.Code.Status()
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up and at
// least 1; 0 when no wait is known.
func (e *Error) RetryAfterSeconds() int64 {
	return roundUp(e.RetryAfter, time.Second)
}

// RetryAfterMillis is RetryAfter in whole milliseconds, rounded up and at
// least 1; 0 when no wait is known.
func (e *Error) RetryAfterMillis() int64 {
	return roundUp(e.RetryAfter, time.Millisecond)
}

// roundUp is d in whole units, rounded up (so a wait is never shortened),
// without overflowing on the largest durations.
func roundUp(d, unit time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	n := int64(d / unit)
	if d%unit != 0 {
		n++
	}
	return n
}
