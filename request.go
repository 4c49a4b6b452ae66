package llmgateway

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unsafe"

	"github.com/dustin/go-humanize"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// serveAPI handles a POST to a provider API path.
func (x *exchange) serveAPI() {
	if !x.authenticate() {
		return
	}
	if e := x.checkContentType(); e != nil {
		x.fail(e)
		return
	}
	if e := x.readBody(); e != nil {
		x.fail(e)
		return
	}
	if e := x.parseBody(); e != nil {
		x.fail(e)
		return
	}
	rt, ok := x.g.router.resolve(x.model)
	if !ok {
		x.fail(x.modelNotFound())
		return
	}
	x.provider, x.upstreamModel = rt.provider.Name, rt.model
	if !rt.provider.typ.Speaks(x.endpoint.Protocol) {
		x.fail(&llmerrors.Error{
			Code:     llmerrors.InvalidRequest,
			Provider: rt.provider.Name,
			Message: fmt.Sprintf("Model '%s' is served by provider '%s', which speaks the %s protocol, but this request uses the %s protocol (%s). Send it to the provider's own path, or pick a model of a provider that speaks %s.",
				x.model, rt.provider.Name, rt.provider.typ.Protocols[0], x.endpoint.Protocol, x.endpoint.Path, x.endpoint.Protocol),
		})
		return
	}
	if e := x.key.Allows(rt.provider.Name, rt.model); e != nil {
		x.fail(e)
		return
	}
	chain := x.allowedChain(rt)
	x.needUsage = x.key.CountsTokens()
	if !x.admit(chain) {
		return
	}
	defer x.settle()
	x.proxy(chain)
}

// allowedChain is the route's chain of fallbacks, without those the key
// may not use.
func (x *exchange) allowedChain(rt route) []route {
	chain := x.g.router.chain(x.model, rt)
	if len(chain) == 1 {
		return chain
	}
	allowed := chain[:1:1]
	for _, fb := range chain[1:] {
		if x.mayUse(fb) {
			allowed = append(allowed, fb)
		}
	}
	return allowed
}

// checkContentType accepts JSON bodies (application/json and
// application/*+json) and requests that name no type.
func (x *exchange) checkContentType() *llmerrors.Error {
	ct := x.r.Header.Get("Content-Type")
	if ct == "" || hasMediaType(ct, "application/json") {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	return &llmerrors.Error{
		Code:    llmerrors.UnsupportedContentType,
		Message: fmt.Sprintf("Content-Type %q is not supported; send the body as JSON with Content-Type: application/json.", ct),
	}
}

// readBody reads the whole body once, within max_request_body.
func (x *exchange) readBody() *llmerrors.Error {
	limit := x.g.MaxRequestBody
	tooLarge := func() *llmerrors.Error {
		return &llmerrors.Error{
			Code:    llmerrors.RequestTooLarge,
			Message: fmt.Sprintf("Request body is larger than the gateway's limit of %s; send a shorter request.", humanize.IBytes(uint64(limit))),
		}
	}
	if x.r.ContentLength > limit {
		return tooLarge()
	}
	size := x.r.ContentLength
	if size < 0 {
		size = 4096
	}
	buf := make([]byte, 0, size+1)
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if over := int64(len(buf)+len(room)) - (limit + 1); over > 0 {
			room = room[:int64(len(room))-over]
		}
		n, err := x.r.Body.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge()
			}
			return &llmerrors.Error{Code: llmerrors.InvalidRequest, Message: "The request body could not be read; resend the request.", Cause: err}
		}
	}
	if int64(len(buf)) > limit {
		return tooLarge()
	}
	x.body = buf
	return nil
}

// parseBody checks the body is a JSON object with the fields the endpoint
// needs, and reads model and stream. The body is never unmarshalled whole.
func (x *exchange) parseBody() *llmerrors.Error {
	if !gjson.ValidBytes(x.body) {
		return &llmerrors.Error{Code: llmerrors.InvalidJSON, Message: "The request body is not valid JSON."}
	}
	// Read in place: the body is never changed (a rewrite makes a new one),
	// and copying a long prompt only to look at three fields would cost
	// more than the rest of the request.
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(x.body), len(x.body)))
	if !doc.IsObject() {
		return &llmerrors.Error{Code: llmerrors.InvalidJSON, Message: "The request body must be a JSON object."}
	}
	fields := doc.Get("model")
	if fields.Type != gjson.String || fields.Str == "" {
		return invalidField("model", "model is required and must be a non-empty string, such as \"provider:model\" or a name from GET /v1/models.")
	}
	x.model = fields.Str
	if req := x.endpoint.Required; req != "" {
		if v := doc.Get(req); !v.IsArray() || strings.TrimSpace(v.Raw[1:len(v.Raw)-1]) == "" {
			return invalidField(req, req+" is required and must be a non-empty array.")
		}
	}
	if s := doc.Get("stream"); s.Exists() {
		if s.Type != gjson.True && s.Type != gjson.False {
			return invalidField("stream", "stream must be true or false.")
		}
		x.stream = s.Type == gjson.True
	}
	return nil
}

func invalidField(field, msg string) *llmerrors.Error {
	return &llmerrors.Error{Code: llmerrors.ValidationError, Field: field, Message: msg}
}

// modelNotFound lists every name the client may send instead.
func (x *exchange) modelNotFound() *llmerrors.Error {
	e := &llmerrors.Error{
		Code:            llmerrors.ModelNotFound,
		Message:         fmt.Sprintf("Model '%s' not found", x.model),
		AvailableModels: x.availableModels(),
		Suggestion:      "Use one of available_models, or name the provider as provider:model.",
	}
	if len(x.g.Providers) == 1 {
		e.Provider = x.g.Providers[0].Name
	}
	return e
}

// bodyFor is the body sent on route rt: the client's, with the model
// rewritten when the route names it differently, and stream usage asked
// for when the key's limits need it (addedUsage).
func (x *exchange) bodyFor(rt route) (body []byte, addedUsage bool) {
	body = x.body
	if rt.model != x.model {
		if b, err := sjson.SetBytes(body, "model", rt.model); err == nil {
			body = b
		}
	}
	withUsage := x.withStreamUsage(body, rt)
	return withUsage, len(withUsage) != len(body)
}
