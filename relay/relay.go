// Package relay owns one request's trip upstream: the loop over the keys
// of each provider and the routes of a fallback chain, each attempt, and
// the copying of the answer to the client, plain or streamed. It takes
// what it needs as arguments (a Call) and returns one Result that the
// shell settles limits, fills placeholders and writes logs from; nothing
// in it reaches back into the shell.
//
// While nothing has reached the client, a failed attempt may be retried
// or failed over; after that, a failure is written into the stream in the
// client's protocol. What a provider says is scoped as the provider
// scopes it (CONTRACT.md, "Resilience"): a 429 sets aside that key for
// that model; a refused key is set aside only while another key can
// serve; transport failures count against the provider's circuit, 5xx
// answers against the model's; the same key and route are tried at most
// twice; retries to a provider stay within its retry budget; and one
// request's attempts and waits stay within Policy.MaxDuration.
package relay

import (
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/request"
	"github.com/llmgateway/caddy-llm-gateway/translate"
)

// Call is one client request to relay.
type Call struct {
	// Request is the client's request: its context (the client leaving
	// ends the trip), query string and headers.
	Request *http.Request
	// Endpoint is the API path it was sent to.
	Endpoint *providers.Endpoint
	// Body is the client's body, parsed.
	Body *request.Body
	// Routes is the chain: the model's own route, then its fallbacks. A
	// route whose provider speaks only the other protocol is translated
	// (Anthropic Messages ⇄ OpenAI Chat Completions); the shell keeps
	// out routes of endpoints that do not translate.
	Routes []Route
	// ID is the request's ID, sent to providers as X-Request-Id and put
	// in error events.
	ID string
	// AnthropicClient says a stream's error events are written in the
	// Anthropic protocol (else OpenAI's).
	AnthropicClient bool
	// OutputCap, when > 0, is the output cap a request that sets none is
	// sent with: what the key's strict budget reserved for it.
	OutputCap int64
	// ReadUsage asks for the answer's usage: relay reads it, and asks an
	// OpenAI-compatible provider to report a stream's usage (the client
	// does not see the extra chunk unless it asked for it).
	ReadUsage bool
	Policy    Policy
	Logger    *zap.Logger
	// AvailableModels lists the names the client may send, for a
	// provider's model_not_found.
	AvailableModels func() []string
	// Clock reads the time; nil is time.Now.
	Clock func() time.Time
}

// Result is how the trip ended.
type Result struct {
	// Route is the route that answered, or the last one tried.
	Route Route
	// Attempts is the number of upstream attempts made.
	Attempts int
	// Usage is what the answer reported it used, when SawUsage.
	Usage    providers.Usage
	SawUsage bool
	// Committed is set once an answer's status and headers reached the
	// client, and Complete once the answer reached it whole.
	Committed, Complete bool
	// Written is the number of body bytes written to the client.
	Written int64
	// Err is the failure. Before Committed it is for the shell to write,
	// in the client's envelope; after, relay already wrote it into the
	// stream, and it is reported for logs and settlement.
	Err *llmerrors.Error
	// ClientGone is set when the client left before the answer was
	// complete; nothing more can be written.
	ClientGone bool
	// UpstreamStatus is the status of the last answer a provider gave.
	UpstreamStatus int
	// ProviderRequestID is the provider's ID of the request that
	// answered (from its X-Request-Id or request-id).
	ProviderRequestID string
	// FirstByte is how long after Run began the answer's first byte
	// reached the client.
	FirstByte time.Duration
	// Tries are the attempts made, in order: the route and the code of
	// its failure ("" for the one that answered).
	Tries []Try
	// AbortConnection is set when a plain answer broke after its first
	// byte: the client would read the short body as whole, so the shell
	// must break the connection (panic with http.ErrAbortHandler) once it
	// has settled the request.
	AbortConnection bool
}

// Try is one upstream attempt of a request.
type Try struct {
	Route Route
	Code  llmerrors.Code
}

// run is one Call under way.
type run struct {
	c     *Call
	w     http.ResponseWriter
	res   Result
	clock func() time.Time
	start time.Time
	// deadline is when Policy.MaxDuration runs out; zero: never.
	deadline time.Time
	// routes holds what each route's attempts share, built on first use.
	routes []routeState
	// headers are the client headers forwarded, per protocol.
	headers [3]http.Header
	// rc flushes to the client.
	rc *http.ResponseController
	// committed mirrors res.Committed for the timers of attempts, which
	// run on other goroutines.
	committed atomic.Bool
}

// routeState is what a route's attempts share: its body and URL, built
// once however many attempts the route gets, and how often each of its
// keys has been tried.
type routeState struct {
	body      []byte
	addsUsage bool
	url       *url.URL
	// protocol is the one the route is spoken in upstream; xl
	// translates it to the client's and back, nil when they are the
	// same; refusal is set when the client's request cannot be said in
	// the route's protocol.
	protocol providers.Protocol
	xl       *translate.Exchange
	refusal  *llmerrors.Error
	// tried counts each key's attempts; failed counts the attempts the
	// provider or model failed, whatever the key (another key cannot
	// mend a 5xx).
	tried  []uint8
	failed uint8
}

// Run takes the call's request upstream and its answer back to w. It
// writes the answer, or an error inside a stream that had begun; a
// failure before anything reached the client is returned in Result.Err,
// unwritten.
func Run(c *Call, w http.ResponseWriter) Result {
	r := &run{c: c, w: w, clock: c.Clock, rc: http.NewResponseController(w)}
	if r.clock == nil {
		r.clock = time.Now
	}
	r.start = r.clock()
	if d := c.Policy.MaxDuration; d > 0 {
		r.deadline = r.start.Add(d)
	}
	r.routes = make([]routeState, len(c.Routes))
	r.loop()
	return r.res
}

// step is what trying a route led to.
type step uint8

const (
	// stepNext: on to the next route.
	stepNext step = iota
	// stepDone: the client has its answer (or an error in its stream),
	// or left.
	stepDone
	// stepStop: a failure no other attempt can mend; Result.Err has it.
	stepStop
)

// loop tries the routes in order, and the chain again after a backoff,
// until an attempt answers, a failure must be told, or attempts, waits or
// time run out.
func (r *run) loop() {
	p := r.c.Policy
	waitLeft := p.MaxWait
	var last *llmerrors.Error
	for pass := 1; ; pass++ {
		attemptedBefore := r.res.Attempts
		// soonest is when a key set aside for a Retry-After, or a
		// keyless provider's Retry-After, lets another attempt go;
		// waiting for it is worth it when it is short. Open circuits are
		// not waited for: they answer at once with their Retry-After.
		var soonest time.Time
		for i := range r.c.Routes {
			if r.res.Attempts >= p.MaxAttempts || r.pastDeadline() {
				break
			}
			switch r.tryRoute(i, &last, &soonest) {
			case stepDone:
				return
			case stepStop:
				r.res.Err = last
				return
			}
		}
		if r.res.Attempts >= p.MaxAttempts || r.pastDeadline() {
			break
		}
		var wait time.Duration
		switch {
		case r.res.Attempts > attemptedBefore:
			wait = p.backoff(pass)
			if last != nil && last.RetryAfter > wait && faultOf(last) >= faultModel {
				wait = last.RetryAfter // the provider asked for a longer wait
			}
			if !soonest.IsZero() {
				wait = max(wait, soonest.Sub(r.clock()))
			}
		case !soonest.IsZero():
			wait = soonest.Sub(r.clock())
		default:
			wait = -1 // nothing more will ever be tried
		}
		if wait < 0 || wait > waitLeft || (!r.deadline.IsZero() && r.clock().Add(wait).After(r.deadline)) {
			break
		}
		waitLeft -= wait
		if !r.sleep(wait) {
			return
		}
	}
	if last == nil {
		last = &llmerrors.Error{Code: llmerrors.InternalError, Message: "The gateway made no attempt to reach a provider."}
	}
	r.res.Err = last
}

func (r *run) pastDeadline() bool {
	return !r.deadline.IsZero() && !r.clock().Before(r.deadline)
}

// tryRoute tries route i with each usable key of its provider, starting
// where the rotation stands, until one answers, the failure is the
// client's, or the route has nothing more to try.
func (r *run) tryRoute(i int, last **llmerrors.Error, soonest *time.Time) step {
	rt := r.c.Routes[i]
	up := rt.Upstream
	if up.Type.NeedsKey && len(up.Credentials) == 0 {
		*last = pick(*last, missingProviderKey(up))
		return stepNext
	}
	st := r.prepare(i)
	if st.refusal != nil {
		*last = pick(*last, st.refusal)
		if i == 0 {
			*last = st.refusal
			return stepStop // the model's own route: the client must change its request
		}
		return stepNext
	}
	keys := max(1, len(up.Credentials))
	if st.tried == nil {
		st.tried = make([]uint8, keys)
	}
	if st.failed >= 2 {
		return stepNext // a route the provider failed twice has had its chance
	}
	for _, key := range r.keyOrder(rt, last, soonest) {
		if r.res.Attempts >= r.c.Policy.MaxAttempts || r.pastDeadline() {
			return stepNext
		}
		if st.tried[key] >= 2 {
			continue // the same key and route are tried at most twice
		}
		pass, ok, retryAt, openedBy := up.Health.Allow(rt.Model, r.clock, up.Breaker)
		if !ok {
			*last = pick(*last, circuitOpen(up, retryAt.Sub(r.clock()), openedBy))
			return stepNext
		}
		retry := r.res.Attempts > 0
		if !up.Budget.start(retry) {
			pass.Resolve(providers.NoVerdict, up.Breaker, time.Time{}, nil)
			*last = retryBudgetSpent(up, *last)
			return stepNext
		}
		st.tried[key]++
		r.res.Attempts++
		r.res.Route = rt
		out := r.attempt(i, key, pass)
		up.Budget.end(retry)
		try := Try{Route: rt}
		if out.failure != nil {
			try.Code = out.failure.Code
		} else if r.res.Err != nil {
			try.Code = r.res.Err.Code
		}
		r.res.Tries = append(r.res.Tries, try)
		if out.done {
			return stepDone
		}
		e := out.failure
		*last = e
		r.logRetry(rt, e)
		switch faultOf(e) {
		case faultClient:
			return stepStop
		case faultPermission:
			st.tried[key] = 2 // each key once for a 403
		case faultKey:
			st.tried[key] = 2
			now := r.clock()
			if up.Pool.Len() > 0 && up.Pool.OthersReady(key, now) {
				up.Pool.SetAside(key, now.Add(up.KeyCooldown), e)
			}
		case faultRateLimit:
			now := r.clock()
			until := now.Add(max(e.RetryAfter, time.Second))
			if up.Pool.Len() > 0 {
				up.Pool.SetAsideFor(key, rt.Model, until, e, now)
			}
			*soonest = earliest(*soonest, until)
		case faultModel, faultTransport:
			st.failed++
			if noRetryOnProvider(e) {
				r.exhaust(up)
			}
			return stepNext // on to the fallbacks
		}
	}
	return stepNext
}

// exhaust marks every route of up as tried out for this request.
func (r *run) exhaust(up *Upstream) {
	for i, rt := range r.c.Routes {
		if rt.Upstream == up {
			r.routes[i].failed = 2
		}
	}
}

// keyOrder lists the keys of rt's provider to try, in rotation order,
// without those set aside. Keys set aside for this model are noted in
// soonest (when they return). When every key is set aside as a whole
// (refused, out of credit), the one that returns first is tried anyway:
// the last usable key is always tried, so the gateway never refuses on
// its own bookkeeping a request the provider might serve.
func (r *run) keyOrder(rt Route, last **llmerrors.Error, soonest *time.Time) []int {
	up := rt.Upstream
	n := up.Pool.Len()
	if n == 0 {
		return []int{0}
	}
	start := up.Pool.Start()
	order := make([]int, 0, n)
	fallback, fallbackUntil := -1, time.Time{}
	for j := range n {
		key := (start + j) % n
		aside, until, reason := up.Pool.Ready(key, rt.Model, r.clock)
		switch aside {
		case providers.NotAside:
			order = append(order, key)
		case providers.ModelAside:
			*last = pick(*last, keyAside(up, reason, until.Sub(r.clock())))
			*soonest = earliest(*soonest, until)
		case providers.KeyAside:
			if fallback < 0 || until.Before(fallbackUntil) {
				fallback, fallbackUntil = key, until
			}
		}
	}
	if len(order) == 0 && fallback >= 0 {
		order = append(order, fallback)
	}
	return order
}

// sleep waits d, or less if the client leaves; it reports whether the
// client is still there.
func (r *run) sleep(d time.Duration) bool {
	ctx := r.c.Request.Context()
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		r.res.ClientGone = true
		return false
	}
}

func (r *run) logRetry(rt Route, e *llmerrors.Error) {
	if r.c.Logger == nil {
		return
	}
	if ce := r.c.Logger.Check(zap.DebugLevel, "attempt failed"); ce != nil {
		ce.Write(zap.String("request_id", r.c.ID), zap.String("route", rt.String()),
			zap.String("code", string(e.Code)), zap.Int("attempt", r.res.Attempts))
	}
}

// prepare builds, on the route's first attempt, what all of its attempts
// share: its protocol and translation, its body and its URL.
func (r *run) prepare(i int) *routeState {
	st := &r.routes[i]
	if st.url != nil || st.refusal != nil {
		return st
	}
	rt := r.c.Routes[i]
	up := rt.Upstream
	client := r.c.Endpoint.Protocol
	st.protocol = rt.Protocol(client)
	ep := r.c.Endpoint
	b := r.c.Body
	if st.protocol == client {
		ask := r.c.ReadUsage && b.Stream && !b.IncludeUsage && ep.StreamUsage && up.Type.StreamUsageOption
		st.body = b.Rewrite(rt.Model, ask, outputCapField(ep), r.c.OutputCap)
		st.addsUsage = ask
	} else {
		ep = ep.Translated()
		target := translate.Target{
			ProviderType:     up.Type.Name,
			Model:            rt.Model,
			MaxTokensCap:     up.MaxTokensCap,
			DefaultMaxTokens: up.DefaultMaxTokens,
		}
		if r.c.OutputCap > 0 {
			target.DefaultMaxTokens = r.c.OutputCap // what the budget reserved
		}
		st.xl = translate.New(client, st.protocol, target)
		body, err := st.xl.Request(b.Raw)
		if err != nil {
			st.refusal = asError(err, llmerrors.InvalidRequest)
			st.refusal.Provider = up.Name
			return st
		}
		st.body = body
	}
	u := *up.Base
	u.Path = up.Type.UpstreamPath(up.Base.Path, ep.Path, st.protocol)
	u.RawPath = ""
	u.RawQuery = r.c.Request.URL.RawQuery
	st.url = &u
	return st
}

// outputCapField is the member that caps an endpoint's output.
func outputCapField(ep *providers.Endpoint) request.Member {
	if ep.Path == "/v1/responses" {
		return request.MaxOutputTokens
	}
	return request.MaxTokens
}

// asError is err as the gateway's error, code c when it is not one.
func asError(err error, c llmerrors.Code) *llmerrors.Error {
	var e *llmerrors.Error
	if errors.As(err, &e) {
		cp := *e
		return &cp
	}
	return &llmerrors.Error{Code: c, Message: err.Error(), Cause: err}
}

// forwardedHeader is the client's headers a provider of protocol p gets.
func (r *run) forwardedHeader(p providers.Protocol) http.Header {
	if r.headers[p] == nil {
		r.headers[p] = providers.UpstreamHeader(r.c.Request.Header, p)
	}
	return r.headers[p]
}
