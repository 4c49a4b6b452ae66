package llmgateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// attemptOutcome is how one upstream attempt ended.
type attemptOutcome struct {
	// failure is set when the attempt failed before any byte reached
	// the client, so another attempt may still answer.
	failure *llmerrors.Error
	// clientGone is set when the client left; nothing more is written.
	clientGone bool
	usage      providers.Usage
	sawUsage   bool
}

// noNext is the next handler given to a provider's reverse_proxy, which
// never calls it (no handle_response routes are configured).
var noNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// attempt sends the request once, on route rt with the provider key at
// keyIndex, and reports how it ended. A success and an error that arrives
// mid-stream are written to the client here; a failure before the first
// byte is returned for the caller to retry or write.
func (x *exchange) attempt(rt route, keyIndex int) attemptOutcome {
	p := rt.provider
	body, addedUsage := x.bodyFor(rt)
	ctx, cancel := context.WithCancelCause(x.r.Context())
	defer cancel(nil)
	if x.attempts > 1 {
		ctx = freshVars(ctx)
	}
	if p.typ.NeedsKey {
		ctx = withCredential(ctx, &credential{
			header:           p.typ.Auth.Header(),
			value:            p.typ.Auth.Value(p.keys[keyIndex%len(p.keys)]),
			anthropicVersion: p.typ.Auth == providers.AuthXAPIKey,
		})
	}
	aw := &x.aw
	aw.reset(x, rt, cancel, x.needUsage)
	aw.dropUsageChunk = addedUsage
	err, aborted := serveUpstream(p, aw, x.upstreamRequest(ctx, rt, body))
	aw.stopIdleTimer()
	out := attemptOutcome{}

	switch {
	case x.r.Context().Err() != nil:
		out.clientGone = true
	case aborted || err != nil:
		cause := context.Cause(ctx)
		if cause == nil || errors.Is(cause, context.Canceled) {
			cause = readableDialError(unwrapHandlerError(err))
		}
		if cause == nil {
			cause = io.ErrUnexpectedEOF // reverse_proxy aborted a body it could not finish reading
		}
		fe := providers.ClassifyTransport(p.Name, cause, time.Duration(p.Timeout))
		if !aw.committed {
			out.failure = fe
			break
		}
		if aw.sse == nil {
			// A plain answer cut half way cannot be mended; abort the
			// connection so the client sees a failed read, not a short body.
			panic(http.ErrAbortHandler)
		}
		if !aw.sse.ended {
			aw.sse.end(fe)
		}
	case aw.status == 499 && context.Cause(ctx) == nil:
		// reverse_proxy writes 499 when the request's context ends; the
		// client's is still alive here, so it was not the client.
		out.failure = providers.ClassifyTransport(p.Name, context.Canceled, time.Duration(p.Timeout))
	case aw.status == 499:
		out.failure = providers.ClassifyTransport(p.Name, context.Cause(ctx), time.Duration(p.Timeout))
	case aw.mode == modeCapture:
		out.failure = providers.Classify(p.typ, p.Name, providers.Reply{
			Status:    aw.status,
			Header:    aw.upstream,
			Body:      aw.captured,
			Truncated: aw.overflow,
			Keys:      p.keys,
		})
		if out.failure.Code == llmerrors.ModelNotFound {
			out.failure.AvailableModels = x.availableModels()
		}
	default:
		aw.finish()
	}
	out.usage, out.sawUsage = aw.usage, aw.sawUsage
	if aw.committed {
		x.answered = true
	} else if out.failure != nil || out.clientGone {
		aw.restore() // nothing of a failed attempt reaches the client
	}
	if aw.clientErr != nil {
		out.clientGone = true
	}
	return out
}

// serveUpstream runs the provider's handler, recovering the
// http.ErrAbortHandler panic reverse_proxy raises when an answer breaks
// after its headers were written.
func serveUpstream(p *Provider, aw *attemptWriter, req *http.Request) (err error, aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	return p.upstream.ServeHTTP(aw, req, noNext), false
}

// unwrapHandlerError returns the error inside the caddyhttp.HandlerError
// reverse_proxy wraps its failures in.
func unwrapHandlerError(err error) error {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.Err != nil {
		return he.Err
	}
	return err
}

// freshVars gives a retry its own copy of the request's Caddy variables.
// reverse_proxy writes them as it prepares each attempt, and the dial of an
// earlier attempt, which Go's transport may finish in the background after
// that attempt ended, reads them.
func freshVars(ctx context.Context) context.Context {
	vars, ok := ctx.Value(caddyhttp.VarsCtxKey).(map[string]any)
	if !ok {
		return ctx
	}
	return context.WithValue(ctx, caddyhttp.VarsCtxKey, maps.Clone(vars))
}

// readableDialError makes a reverse_proxy DialError, which hides its cause
// (it has no Unwrap), classifiable again: its text still says whether the
// connection was refused, timed out or found no host.
func readableDialError(err error) error {
	var de reverseproxy.DialError
	if !errors.As(err, &de) {
		return err
	}
	msg := de.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%w (%s)", syscall.ECONNREFUSED, msg)
	case strings.Contains(msg, "no such host") || strings.Contains(msg, "server misbehaving"):
		return &net.DNSError{Err: msg, IsNotFound: true}
	case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded"):
		return fmt.Errorf("%w (%s)", os.ErrDeadlineExceeded, msg)
	case strings.Contains(msg, "unreachable"):
		return fmt.Errorf("%w (%s)", syscall.EHOSTUNREACH, msg)
	}
	return err
}

// upstreamRequest is the request one attempt sends: the client's, minus
// its key and Accept-Encoding (so the transport negotiates compression
// itself and the gateway reads plain bytes), with the provider's path and
// host and the route's body.
func (x *exchange) upstreamRequest(ctx context.Context, rt route, body []byte) *http.Request {
	p := rt.provider
	req := x.r.WithContext(ctx)
	u := new(url.URL)
	if p.base != nil {
		u.Path = p.typ.UpstreamPath(p.base.Path, x.endpoint.Path, x.endpoint.Protocol)
		req.Host = p.base.Host
	} else {
		u.Path = x.endpoint.Path
	}
	u.RawQuery = x.r.URL.RawQuery
	req.URL = u
	req.Header = x.upstreamHeader
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req
}
