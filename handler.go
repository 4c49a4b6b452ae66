package llmgateway

import (
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/limits"
	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/relay"
	"github.com/llmgateway/caddy-llm-gateway/request"
)

// exchange is one client request on its way through the gateway: what
// the shell learns of it (its ID, envelope, key, body, admission) and the
// result of its trip upstream, which relay returns.
type exchange struct {
	g    *Gateway
	w    http.ResponseWriter
	r    *http.Request
	repl *caddy.Replacer
	id   string

	// anthropicClient is true on Anthropic-protocol paths and requests
	// carrying anthropic-version; it picks the `auto` envelope and the
	// protocol of stream error events.
	anthropicClient bool
	format          llmerrors.Format

	endpoint *providers.Endpoint
	body     *request.Body
	// model is the model the client asked for.
	model string

	// key is the client's key (the anonymous one when none are
	// configured); admission is its admission, to settle when admitted.
	key       *limits.Key
	admission limits.Admission
	admitted  bool
	estimated limits.Estimate
	// outputCap is the output cap a strict budget needs the request sent
	// with, when it set none.
	outputCap int64

	// result is how the trip upstream ended; errCode the code of the
	// error the client got, if any; wrote is set once anything reached
	// the client.
	result  relay.Result
	errCode llmerrors.Code
	wrote   bool
	// start is when the request arrived; cost what its answer cost.
	start time.Time
	cost  float64
}

// ServeHTTP answers the gateway's paths; anything else is not_found.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	x := g.newExchange(w, r)
	defer x.report()
	defer x.recoverPanic()

	switch path := r.URL.Path; {
	case path == "/health":
		if x.allowMethods(http.MethodGet, http.MethodHead) {
			x.serveHealth()
		}
	case path == "/status":
		if x.allowMethods(http.MethodGet, http.MethodHead) {
			x.serveStatus()
		}
	case path == "/v1/models" || strings.HasPrefix(path, "/v1/models/"):
		if x.allowMethods(http.MethodGet, http.MethodHead) {
			x.serveModels(strings.TrimPrefix(strings.TrimPrefix(path, "/v1/models"), "/"))
		}
	default:
		ep, ok := providers.LookupEndpoint(path)
		if !ok {
			x.fail(&llmerrors.Error{
				Code:    llmerrors.NotFound,
				Message: "Unknown endpoint " + r.Method + " " + path + ". The gateway serves the OpenAI (/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses) and Anthropic (/v1/messages) APIs.",
			})
			return nil
		}
		x.endpoint = ep
		if ep.Protocol == providers.Anthropic {
			x.anthropicClient = true
			x.format = g.format.Resolve(true)
		}
		if x.allowMethods(http.MethodPost) {
			x.serveAPI()
		}
	}
	return nil
}

func (g *Gateway) newExchange(w http.ResponseWriter, r *http.Request) *exchange {
	x := &exchange{g: g, w: w, r: r, id: requestID(r), start: time.Now()}
	x.repl, _ = r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	x.anthropicClient = r.Header.Get("Anthropic-Version") != ""
	x.format = g.format.Resolve(x.anthropicClient)
	w.Header().Set("X-Request-Id", x.id)
	if x.repl != nil {
		x.repl.Map(x.placeholder)
	}
	return x
}

// allowMethods answers 405 unless the request uses one of methods.
func (x *exchange) allowMethods(methods ...string) bool {
	for _, m := range methods {
		if x.r.Method == m {
			return true
		}
	}
	x.w.Header().Set("Allow", strings.Join(methods, ", "))
	x.fail(&llmerrors.Error{
		Code:    llmerrors.MethodNotAllowed,
		Message: "Method " + x.r.Method + " is not allowed on " + x.r.URL.Path + "; use " + strings.Join(methods, " or ") + ".",
	})
	return false
}

// recoverPanic turns a bug of the gateway into an internal_error envelope
// rather than a dropped connection, and logs it with its stack. An answer
// already under way cannot be mended: its connection is aborted as
// net/http does.
func (x *exchange) recoverPanic() {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	x.g.logger.Error("the gateway panicked; this is a bug",
		zap.String("request_id", x.id), zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
	if x.wrote || x.result.Committed {
		panic(http.ErrAbortHandler)
	}
	x.fail(&llmerrors.Error{
		Code:    llmerrors.InternalError,
		Message: "The gateway failed unexpectedly. Retry; if it persists, report the request ID to the gateway's operator.",
	})
}

// fail writes e to the client in the request's envelope.
func (x *exchange) fail(e *llmerrors.Error) {
	x.wrote = true
	e.RequestID = x.id
	x.errCode = e.Code
	h := x.w.Header()
	if p := x.providerName(e); p != "" {
		h["X-Llm-Provider"] = []string{p}
	}
	if n := x.result.Attempts; n > 0 {
		h.Set("X-Llm-Attempts", strconv.Itoa(n))
	}
	if err := llmerrors.Write(x.w, x.format, e); err != nil {
		x.g.logger.Debug("writing error envelope", zap.String("request_id", x.id), zap.Error(err))
	}
	x.logFailure(e)
}

// logFailure logs what went wrong, with the request ID and never a key
// (Message and Cause are written for humans and hold no secret; Cause may
// be a transport error naming only hosts).
func (x *exchange) logFailure(e *llmerrors.Error) {
	level := zap.DebugLevel
	if e.Code.Status() >= 500 {
		level = zap.WarnLevel
	}
	if ce := x.g.logger.Check(level, "request failed"); ce != nil {
		fields := []zap.Field{
			zap.String("request_id", x.id),
			zap.String("code", string(e.Code)),
			zap.String("message", e.Message),
		}
		if e.Provider != "" {
			fields = append(fields, zap.String("provider", e.Provider))
		}
		if e.UpstreamStatus != 0 {
			fields = append(fields, zap.Int("upstream_status", e.UpstreamStatus))
		}
		if e.Cause != nil {
			fields = append(fields, zap.Error(e.Cause))
		}
		ce.Write(fields...)
	}
}

// report adds what happened to the access log, in one field (each field
// added costs Caddy an allocation).
func (x *exchange) report() {
	x.recordMetrics()
	if srv, ok := x.r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv.Logs == nil {
		return // this server writes no access log
	}
	if extra, ok := x.r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.Inline(logFields{x}))
	}
}

// providerName is the provider the answer names: the one e concerns, else
// the last one tried.
func (x *exchange) providerName(e *llmerrors.Error) string {
	if e != nil && e.Provider != "" {
		return e.Provider
	}
	if up := x.result.Route.Upstream; up != nil {
		return up.Name
	}
	return ""
}
