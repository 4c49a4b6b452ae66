package relay

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tidwall/gjson"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/request"
)

// maxPlainBody is how much of a non-streamed answer is held back and
// checked before the client sees any of it. Answers are almost always far
// shorter; a longer one (a large batch of embeddings) is passed on as it
// comes, unchecked.
const maxPlainBody = 16 << 20

var errClientGone = errors.New("the client left")

// plain copies a non-streamed 2xx answer. It is read whole first, so
// that an answer that breaks off, is not the JSON its endpoint answers,
// or is an error dressed as a 200 (OpenRouter) is a failure before the
// first byte, retried or failed over like a 5xx, never a 200 the client's
// SDK cannot parse.
func (a *attempt) plain(resp *http.Response) *llmerrors.Error {
	buf := getBuffer()
	defer putBuffer(buf)
	body, tooLong, err := a.readBody(resp.Body, buf, maxPlainBody)
	if err != nil {
		return a.brokenBody(err, resp.StatusCode)
	}
	up := a.rt.Upstream
	if tooLong {
		if a.st.xl != nil {
			return &llmerrors.Error{Code: llmerrors.InvalidProviderResponse, Provider: up.Name, UpstreamStatus: resp.StatusCode,
				Message: fmt.Sprintf("Provider '%s' answered with more than the gateway translates (%d MiB). Stream the answer, or ask for less.", up.Name, maxPlainBody>>20)}
		}
		return a.passLong(resp, body)
	}
	if up.Type.ErrorsIn200 && gjson.GetBytes(body, "error").IsObject() {
		return providers.Classify(up.Type, up.Name, providers.Reply{Status: resp.StatusCode, Header: resp.Header, Body: body, Keys: up.Keys})
	}
	if !request.IsJSON(body) {
		return &llmerrors.Error{
			Code: llmerrors.InvalidProviderResponse, Provider: up.Name, UpstreamStatus: resp.StatusCode,
			Message: fmt.Sprintf("Provider '%s' answered %d with a body that is not the JSON its API answers (%s). Retry; if it persists, check the provider's status page.",
				up.Name, resp.StatusCode, describe(body)),
		}
	}
	if a.r.c.ReadUsage {
		a.r.res.SawUsage = providers.ReadUsage(body, &a.r.res.Usage)
	}
	if a.st.xl != nil {
		translated, err := a.st.xl.Answer(body)
		if err != nil {
			e := asError(err, llmerrors.InvalidProviderResponse)
			e.Provider, e.UpstreamStatus = up.Name, resp.StatusCode
			return e
		}
		body = translated
	}
	a.commit(resp.StatusCode, resp.Header, len(body))
	if a.write(body) {
		a.r.res.Complete = true
	}
	return nil
}

// passLong passes on an answer too long to hold back: what was read, then
// the rest as it comes. A break after the first byte can only be told by
// cutting the connection.
func (a *attempt) passLong(resp *http.Response, head []byte) *llmerrors.Error {
	length := -1
	if resp.ContentLength >= 0 {
		length = int(resp.ContentLength)
	}
	a.commit(resp.StatusCode, resp.Header, length)
	if !a.write(head) {
		return nil
	}
	chunk := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(chunk)
		if n > 0 {
			a.idle.touch()
			if !a.write(chunk[:n]) {
				return nil
			}
		}
		if err == io.EOF {
			a.r.res.Complete = true
			return nil
		}
		if err != nil {
			if a.r.c.Request.Context().Err() != nil {
				a.r.res.ClientGone = true
				return nil
			}
			// The client would read a short body as whole: the shell
			// must break the connection.
			a.r.res.AbortConnection = true
			return a.transportFailure(err)
		}
	}
}

// brokenBody is the failure of an answer that broke off before it was
// whole: nil when the client left.
func (a *attempt) brokenBody(err error, status int) *llmerrors.Error {
	if a.r.c.Request.Context().Err() != nil {
		a.r.res.ClientGone = true
		return nil
	}
	e := a.transportFailure(err)
	if e != nil && e.Code != llmerrors.ProviderTimeout {
		up := a.rt.Upstream
		e = &llmerrors.Error{
			Code: llmerrors.InvalidProviderResponse, Provider: up.Name, UpstreamStatus: status, Cause: err,
			Message: fmt.Sprintf("Provider '%s' answered %d but its answer broke off before it was complete. Retry the request.", up.Name, status),
		}
	}
	return e
}

// describe says what kind of unreadable body a provider sent, without
// quoting it.
func describe(body []byte) string {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '<':
			return "an HTML page"
		case '{', '[':
			return "truncated or malformed JSON"
		}
		return "not JSON"
	}
	return "an empty body"
}
