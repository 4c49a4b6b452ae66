package providers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// timeoutError is a net.Error that timed out, as the HTTP transport's
// response-header timeout reports.
type timeoutError struct{}

func (timeoutError) Error() string   { return "net/http: timeout awaiting response headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func opErr(op, syscallName string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Err: &os.SyscallError{Syscall: syscallName, Err: errno}}
}

func TestClassifyTransport(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		timeout time.Duration
		code    llmerrors.Code
		message string
	}{
		{"connection refused", opErr("dial", "connect", syscall.ECONNREFUSED), 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (connection refused)"},
		{"refused, wrapped by url.Error", &url.Error{Op: "Post", URL: "https://api.groq.com", Err: opErr("dial", "connect", syscall.ECONNREFUSED)}, 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (connection refused)"},
		{"connection reset", opErr("read", "read", syscall.ECONNRESET), 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (connection reset)"},
		{"broken pipe", opErr("write", "write", syscall.EPIPE), 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (connection reset)"},
		{"server closed the connection", fmt.Errorf("readLoopPeekFailLocked: %w", io.EOF), 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (connection reset)"},
		{"body cut short", io.ErrUnexpectedEOF, 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (connection reset)"},
		{"host unreachable", opErr("dial", "connect", syscall.EHOSTUNREACH), 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (network unreachable)"},
		{"response header timeout", timeoutError{}, 120 * time.Second,
			llmerrors.ProviderTimeout, "Request timed out after 120 seconds waiting for provider 'groq'. Retry, raise the provider's timeout, or stream the answer."},
		{"deadline, one second", fmt.Errorf("round trip: %w", context.DeadlineExceeded), time.Second,
			llmerrors.ProviderTimeout, "Request timed out after 1 second waiting for provider 'groq'. Retry, raise the provider's timeout, or stream the answer."},
		{"deadline with no timeout configured", context.DeadlineExceeded, 0,
			llmerrors.ProviderTimeout, "Request timed out waiting for provider 'groq'. Retry, or stream the answer."},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}, 90 * time.Second,
			llmerrors.ProviderTimeout, ""},
		{"stream went quiet", fmt.Errorf("copy: %w", ErrIdleTimeout), 120 * time.Second,
			llmerrors.ProviderTimeout, "Provider 'groq' stopped sending data mid-answer; the gateway gave up waiting. Retry the request."},
		{"no such host", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "api.groq.invalid", IsNotFound: true}}, 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (its host name could not be resolved)"},
		{"DNS timeout is no provider timeout", &net.DNSError{Err: "i/o timeout", Name: "api.groq.com", IsTimeout: true}, 120 * time.Second,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable (its host name could not be resolved)"},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is unavailable: its TLS connection could not be verified. The gateway operator should check the provider's base_url."},
		{"wrong host name", x509.HostnameError{Host: "api.groq.com", Certificate: &x509.Certificate{}}, 0,
			llmerrors.ProviderUnavailable, ""},
		{"expired certificate", x509.CertificateInvalidError{Reason: x509.Expired}, 0,
			llmerrors.ProviderUnavailable, ""},
		{"TLS to a plain HTTP port", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, 0,
			llmerrors.ProviderUnavailable, ""},
		{"anything else", errors.New("proxy: something odd"), 0,
			llmerrors.ProviderUnavailable, "Provider 'groq' is temporarily unavailable"},
	}
	for _, c := range cases {
		e := ClassifyTransport("groq", c.err, c.timeout)
		if e.Code != c.code {
			t.Errorf("%s: code %q, want %q (%q)", c.name, e.Code, c.code, e.Message)
			continue
		}
		if c.message != "" && e.Message != c.message {
			t.Errorf("%s: message\n got %q\nwant %q", c.name, e.Message, c.message)
		}
		if !strings.Contains(e.Message, "'groq'") || e.Provider != "groq" {
			t.Errorf("%s: provider not named: %q", c.name, e.Message)
		}
		if e.Cause != c.err {
			t.Errorf("%s: Cause not kept", c.name)
		}
		if !e.ShouldRetry() {
			t.Errorf("%s: a transport failure should be retryable", c.name)
		}
	}
}

// A real refused connection, on loopback, reads as the table says.
func TestClassifyTransportRealRefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		t.Skip("the closed port accepted a connection")
	}
	e := ClassifyTransport("local", err, time.Minute)
	if e.Code != llmerrors.ProviderUnavailable || !strings.Contains(e.Message, "connection refused") {
		t.Errorf("refused dial: %s %q (%v)", e.Code, e.Message, err)
	}
}
