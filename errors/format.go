package errors

import "fmt"

// Format names an error envelope.
type Format string

// The envelopes of CONTRACT.md. Auto is resolved per request: anthropic on
// Anthropic-protocol paths and requests with an anthropic-version header,
// openai everywhere else.
const (
	Auto      Format = "auto"
	OpenAI    Format = "openai"
	Anthropic Format = "anthropic"
	CCProxy   Format = "ccproxy"
	CooLLM    Format = "coollm"
	Proxed    Format = "proxed"
)

// Formats lists the concrete envelopes (every Format but Auto).
func Formats() []Format { return []Format{OpenAI, Anthropic, CCProxy, CooLLM, Proxed} }

// ParseFormat checks s names a format; "" means Auto.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return Auto, nil
	case Auto, OpenAI, Anthropic, CCProxy, CooLLM, Proxed:
		return f, nil
	}
	return "", fmt.Errorf("unknown error_format %q: want auto, openai, anthropic, ccproxy, coollm or proxed", s)
}

// Resolve turns Auto into the envelope of the client's protocol; any other
// format is returned as is.
func (f Format) Resolve(anthropicClient bool) Format {
	if f != Auto && f != "" {
		return f
	}
	if anthropicClient {
		return Anthropic
	}
	return OpenAI
}

// Type is the envelope's type name for e (CONTRACT.md, "type per
// envelope"). Proxed has no type; it returns the proxed code.
func (e *Error) Type(f Format) string {
	status := e.Code.Status()
	switch f {
	case Proxed:
		return e.Code.ProxedCode()
	case Anthropic:
		switch status {
		case 400, 405:
			return "invalid_request_error"
		case 413:
			return "request_too_large"
		case 401:
			return "authentication_error"
		case 402:
			return "billing_error"
		case 403:
			return "permission_error"
		case 404:
			return "not_found_error"
		case 429:
			return "rate_limit_error"
		case 503, 529:
			return "overloaded_error"
		case 504:
			return "timeout_error"
		}
		return "api_error"
	case CCProxy, CooLLM:
		switch status {
		case 400, 405, 413:
			return "invalid_request_error"
		case 401:
			return "authentication_error"
		case 402:
			return "insufficient_quota"
		case 403:
			return "permission_error"
		case 404:
			if f == CCProxy && e.Code == ModelNotFound {
				return "provider_error"
			}
			return "not_found_error"
		case 429:
			return "rate_limit_error"
		case 500:
			return "api_error"
		}
		return "provider_error"
	}
	// openai, and anything unresolved
	switch status {
	case 400, 405, 413:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "insufficient_quota"
	case 403:
		return "permission_error"
	case 404:
		return "not_found"
	case 429:
		return "rate_limit_error"
	case 502:
		return "upstream_error"
	case 503, 529:
		return "service_unavailable"
	case 504:
		return "timeout"
	}
	return "server_error"
}
