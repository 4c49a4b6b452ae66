package mock

import (
	"net"
	"os"
	"syscall"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// The errors below are the ones reverse_proxy returns (inside a
// caddyhttp.HandlerError) when it gets no answer from an upstream, built
// the way Go's net and net/http packages build them, so that the gateway
// meets the same types and messages as it would in production.

// The addresses the errors name: documentation ranges (RFC 5737) that no
// real host uses, standing for the provider and the gateway's side of the
// connection.
var (
	upstreamAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}
	localAddr    = &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 51234}
)

// refusedCause is the dialer's error for a closed port:
// "dial tcp 192.0.2.1:443: connect: connection refused".
func refusedCause() error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: upstreamAddr, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// refusedError is what reverse_proxy's transport returns for a refused
// connection: the dialer's error inside a reverseproxy.DialError. Note
// that DialError has no Unwrap method, so errors.Is does not see the
// ECONNREFUSED inside it; only its message tells.
func refusedError() error {
	return reverseproxy.NewDialError(refusedCause())
}

// resetCause is the read error of a connection the upstream reset:
// "read tcp 198.51.100.7:51234->192.0.2.1:443: read: connection reset by peer".
func resetCause() error {
	return &net.OpError{Op: "read", Net: "tcp", Source: localAddr, Addr: upstreamAddr, Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

// resetError is what net/http's transport returns when the connection is
// reset while it waits for the response: a reset happens on an open
// connection, so unlike a refusal it is not a DialError, and its cause
// unwraps.
func resetError() error {
	return readFromServerError{resetCause()}
}

// readFromServerError mirrors net/http's unexported
// transportReadFromServerError, message and Unwrap alike.
type readFromServerError struct{ err error }

func (e readFromServerError) Error() string {
	return "net/http: Transport failed to read from server: " + e.err.Error()
}

func (e readFromServerError) Unwrap() error { return e.err }

// errResponseHeaderTimeout mirrors the error net/http's transport returns
// when response_header_timeout passes: a net.Error whose Timeout is true,
// which reverse_proxy turns into status 504.
var errResponseHeaderTimeout net.Error = responseHeaderTimeout{}

type responseHeaderTimeout struct{}

func (responseHeaderTimeout) Error() string   { return "net/http: timeout awaiting response headers" }
func (responseHeaderTimeout) Timeout() bool   { return true }
func (responseHeaderTimeout) Temporary() bool { return true }
