package providers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// ErrIdleTimeout is the cause the gateway gives when it cuts an upstream
// stream that went quiet for longer than the provider's idle timeout.
var ErrIdleTimeout = errors.New("stream idle timeout")

// ClassifyTransport turns a failure to get an answer at all (what
// reverse_proxy returns instead of writing: dial failures, resets,
// timeouts) into the canonical error. timeout is the provider's
// response-header timeout, which the message quotes.
func ClassifyTransport(provider string, err error, timeout time.Duration) *llmerrors.Error {
	e := &llmerrors.Error{Provider: provider, Cause: err}
	var netErr net.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	switch {
	case errors.Is(err, ErrIdleTimeout):
		e.Code = llmerrors.ProviderTimeout
		e.Message = fmt.Sprintf("Provider '%s' stopped sending data mid-answer; the gateway gave up waiting. Retry the request.", provider)
	case errors.As(err, &dnsErr):
		// Before the timeout case: a DNS lookup that timed out never
		// reached the provider, so it is unavailable, not slow.
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is temporarily unavailable (its host name could not be resolved)", provider)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		e.Code = llmerrors.ProviderTimeout
		if timeout > 0 {
			// Seed 003's wording: "Request timed out after 120 seconds".
			e.Message = fmt.Sprintf("Request timed out after %s waiting for provider '%s'. Retry, raise the provider's timeout, or stream the answer.", seconds(timeout), provider)
		} else {
			e.Message = fmt.Sprintf("Request timed out waiting for provider '%s'. Retry, or stream the answer.", provider)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is temporarily unavailable (connection refused)", provider)
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is temporarily unavailable (connection reset)", provider)
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidCert) || errors.As(err, &recordErr):
		// Retryable as the contract's table says: a certificate can be
		// mid-rotation, and the gateway's own fallbacks may still answer.
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is unavailable: its TLS connection could not be verified. The gateway operator should check the provider's base_url.", provider)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is temporarily unavailable (network unreachable)", provider)
	default:
		e.Code = llmerrors.ProviderUnavailable
		e.Message = fmt.Sprintf("Provider '%s' is temporarily unavailable", provider)
	}
	return e
}

// seconds writes d as "120 seconds" (the form seed 003 uses).
func seconds(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", s)
}
