// Package errors holds the gateway's error contract: the table of error
// codes (each with its HTTP status and whether a client should retry), the
// one canonical error value every failure becomes, and the five envelopes
// it is rendered in (openai, anthropic, ccproxy, coollm, proxed).
//
// The package is named errors because that is what it holds; import it
// under an alias (llmerrors) next to the standard library's errors.
package errors

// Code names one kind of failure. Its status, retryability and short text
// come from the table below and never vary with the envelope, except that
// Overloaded is 529 in the anthropic envelope (the status Anthropic's own
// API uses) and 503 in the others.
type Code string

// The error codes of the gateway's contract (CONTRACT.md, "Error codes").
const (
	InvalidRequest           Code = "invalid_request"
	InvalidJSON              Code = "invalid_json"
	ValidationError          Code = "validation_error"
	UnsupportedContentType   Code = "unsupported_content_type"
	MissingAPIKey            Code = "missing_api_key"
	InvalidAPIKey            Code = "invalid_api_key"
	InsufficientQuota        Code = "insufficient_quota"
	ProviderNotAllowed       Code = "provider_not_allowed"
	ModelNotAllowed          Code = "model_not_allowed"
	PermissionDenied         Code = "permission_denied"
	ModelNotFound            Code = "model_not_found"
	NotFound                 Code = "not_found"
	MethodNotAllowed         Code = "method_not_allowed"
	RequestTooLarge          Code = "request_too_large"
	RateLimitExceeded        Code = "rate_limit_exceeded"
	TokenLimitExceeded       Code = "token_limit_exceeded"
	SessionLimitExceeded     Code = "session_limit_exceeded"
	ConcurrencyLimitExceeded Code = "concurrency_limit_exceeded"
	ProviderRateLimited      Code = "provider_rate_limited"
	InternalError            Code = "internal_error"
	StoreError               Code = "store_error"
	ProviderError            Code = "provider_error"
	InvalidProviderResponse  Code = "invalid_provider_response"
	ProviderUnavailable      Code = "provider_unavailable"
	ProviderTimeout          Code = "provider_timeout"
	Overloaded               Code = "overloaded"
)

// spec is one row of the code table.
type spec struct {
	status    int
	retryable bool
	// short is the fixed lower-case message the coollm envelope uses
	// where its documentation (seed 001) lists one; empty means the
	// coollm envelope carries the full message.
	short string
	// proxed is the code string of the proxed envelope (seed 002).
	proxed string
}

// table is the single source of each code's status and retryability.
var table = map[Code]spec{
	InvalidRequest:           {400, false, "", "BAD_REQUEST"},
	InvalidJSON:              {400, false, "", "INVALID_REQUEST"},
	ValidationError:          {400, false, "", "VALIDATION_ERROR"},
	UnsupportedContentType:   {400, false, "", "INVALID_REQUEST"},
	MissingAPIKey:            {401, false, "api key not found", "UNAUTHORIZED"},
	InvalidAPIKey:            {401, false, "invalid api key", "INVALID_TOKEN"},
	InsufficientQuota:        {402, false, "", "FORBIDDEN"},
	ProviderNotAllowed:       {403, false, "provider not allowed", "FORBIDDEN"},
	ModelNotAllowed:          {403, false, "", "FORBIDDEN"},
	PermissionDenied:         {403, false, "", "FORBIDDEN"},
	ModelNotFound:            {404, false, "model not found", "BAD_REQUEST"},
	NotFound:                 {404, false, "", "BAD_REQUEST"},
	MethodNotAllowed:         {405, false, "", "BAD_REQUEST"},
	RequestTooLarge:          {413, false, "", "VALIDATION_ERROR"},
	RateLimitExceeded:        {429, true, "rate limit exceeded", "TOO_MANY_REQUESTS"},
	TokenLimitExceeded:       {429, true, "token limit exceeded", "TOO_MANY_REQUESTS"},
	SessionLimitExceeded:     {429, true, "session limit exceeded", "TOO_MANY_REQUESTS"},
	ConcurrencyLimitExceeded: {429, true, "", "TOO_MANY_REQUESTS"},
	ProviderRateLimited:      {429, true, "", "TOO_MANY_REQUESTS"},
	InternalError:            {500, true, "", "INTERNAL_ERROR"},
	StoreError:               {500, true, "", "DATABASE_ERROR"},
	ProviderError:            {502, true, "provider error", "PROVIDER_ERROR"},
	InvalidProviderResponse:  {502, true, "invalid provider response", "PROVIDER_ERROR"},
	ProviderUnavailable:      {503, true, "", "PROVIDER_ERROR"},
	ProviderTimeout:          {504, true, "provider timeout", "PROVIDER_ERROR"},
	Overloaded:               {503, true, "", "PROVIDER_ERROR"},
}

// Codes lists every code of the contract, in the order of its table.
func Codes() []Code {
	return []Code{
		InvalidRequest, InvalidJSON, ValidationError, UnsupportedContentType,
		MissingAPIKey, InvalidAPIKey, InsufficientQuota, ProviderNotAllowed,
		ModelNotAllowed, PermissionDenied, ModelNotFound, NotFound,
		MethodNotAllowed, RequestTooLarge, RateLimitExceeded, TokenLimitExceeded,
		SessionLimitExceeded, ConcurrencyLimitExceeded, ProviderRateLimited,
		InternalError, StoreError, ProviderError, InvalidProviderResponse,
		ProviderUnavailable, ProviderTimeout, Overloaded,
	}
}

// Known reports whether c is a code of the contract.
func (c Code) Known() bool {
	_, ok := table[c]
	return ok
}

// Status is the HTTP status of c outside the anthropic envelope; an
// unknown code is an internal error.
func (c Code) Status() int {
	if s, ok := table[c]; ok {
		return s.status
	}
	return 500
}

// Retryable reports whether the contract tells clients to retry c.
func (c Code) Retryable() bool {
	if s, ok := table[c]; ok {
		return s.retryable
	}
	return true
}

// ShortText is the fixed lower-case message of the coollm envelope, or ""
// where its documentation lists none.
func (c Code) ShortText() string { return table[c].short }

// ProxedCode is the upper-case code of the proxed envelope.
func (c Code) ProxedCode() string {
	if s, ok := table[c]; ok {
		return s.proxed
	}
	return "INTERNAL_ERROR"
}
