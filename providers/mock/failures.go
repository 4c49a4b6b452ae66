package mock

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// failureFunc answers a request whose model names a simulated failure.
type failureFunc func(h *Handler, w http.ResponseWriter, r *http.Request, req *request) error

// failures maps each failure model name to what it does: the fixed
// provider answers of failures/*.http, and the behaviours no fixed answer
// can show (hangs, broken connections, broken streams, chance).
var failures = buildFailures()

func buildFailures() map[string]failureFunc {
	m := map[string]failureFunc{
		"mock-timeout":      (*Handler).hang,
		"mock-refused":      refuse,
		"mock-reset":        reset,
		"mock-stream-error": streamFault(faultError),
		"mock-stream-cut":   streamFault(faultCut),
		"mock-slow-stream":  streamFault(faultStall),
		"mock-flaky":        (*Handler).flaky,
	}
	for name, fx := range fixtures {
		m[name] = func(_ *Handler, w http.ResponseWriter, _ *http.Request, _ *request) error {
			fx.write(w, nil)
			return nil
		}
	}
	return m
}

// fixture is a provider's error answer as it arrives on the wire, kept in
// failures/<model name>.http in raw HTTP response form (status line,
// headers, blank line, body byte for byte).
//
// A header value of the form ${now+20s} is written as the time that far
// from now, in RFC 3339: Anthropic's rate-limit reset headers are
// timestamps, and a fixed one would always lie in the past.
type fixture struct {
	status int
	header http.Header
	body   []byte
}

//go:embed failures/*.http
var fixtureFiles embed.FS

// fixtures are the parsed failures/*.http files, by model name. A file
// that does not parse stops the program at start: it is a build defect,
// and the package's tests parse every file.
var fixtures = mustLoadFixtures(fixtureFiles)

func mustLoadFixtures(fsys fs.FS) map[string]*fixture {
	m, err := loadFixtures(fsys)
	if err != nil {
		panic("mock: " + err.Error())
	}
	return m
}

func loadFixtures(fsys fs.FS) (map[string]*fixture, error) {
	names, err := fs.Glob(fsys, "failures/*.http")
	if err != nil {
		return nil, err
	}
	m := make(map[string]*fixture, len(names))
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		fx, err := parseFixture(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m[strings.TrimSuffix(path.Base(name), ".http")] = fx
	}
	return m, nil
}

// parseFixture reads a raw HTTP response. The body is everything after
// the blank line that ends the headers.
func parseFixture(raw []byte) (*fixture, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &fixture{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// write sends the fixture as reverse_proxy relays an upstream answer:
// headers, status, body. override replaces headers (mock-flaky shortens
// Retry-After).
func (fx *fixture) write(w http.ResponseWriter, override map[string]string) {
	now := time.Now()
	h := w.Header()
	for k, vs := range fx.header {
		for _, v := range vs {
			h.Add(k, expandTime(v, now))
		}
	}
	for k, v := range override {
		h.Set(k, v)
	}
	h.Set("Content-Length", strconv.Itoa(len(fx.body)))
	w.WriteHeader(fx.status)
	_, _ = w.Write(fx.body)
}

// expandTime writes a ${now+<duration>} header value as a timestamp.
func expandTime(v string, now time.Time) string {
	rest, ok := strings.CutPrefix(v, "${now+")
	if !ok {
		return v
	}
	d, err := time.ParseDuration(strings.TrimSuffix(rest, "}"))
	if err != nil {
		return v
	}
	return now.Add(d).UTC().Format(time.RFC3339)
}

// hang is mock-timeout: no answer at all until reverse_proxy's response
// header timeout fires, or the request's context ends first.
func (h *Handler) hang(w http.ResponseWriter, r *http.Request, _ *request) error {
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return upstreamCanceled(w, r.Context().Err())
	case <-t.C:
		return caddyhttp.Error(http.StatusGatewayTimeout, errResponseHeaderTimeout)
	}
}

// refuse is mock-refused: the upstream's port is closed.
func refuse(_ *Handler, _ http.ResponseWriter, _ *http.Request, _ *request) error {
	return caddyhttp.Error(http.StatusBadGateway, refusedError())
}

// reset is mock-reset: the upstream accepted the request, then reset the
// connection instead of answering.
func reset(_ *Handler, _ http.ResponseWriter, _ *http.Request, _ *request) error {
	return caddyhttp.Error(http.StatusBadGateway, resetError())
}

// streamFault answers normally, as a stream, with kind injected after a
// few content chunks.
func streamFault(kind faultKind) failureFunc {
	return func(h *Handler, w http.ResponseWriter, r *http.Request, req *request) error {
		return h.answer(w, r, req, fault{kind: kind, after: faultAfter})
	}
}

// flaky is mock-flaky: one request in three fails before its first byte,
// with a rate limit (Retry-After: 1), a server error, an overload or a
// reset connection, in the protocol of the request; the rest succeed.
func (h *Handler) flaky(w http.ResponseWriter, r *http.Request, req *request) error {
	if h.intN(3) != 0 {
		return h.answer(w, r, req, fault{})
	}
	anthropic := anthropicRequest(r)
	pick := func(openAI, anthropicName string) *fixture {
		if anthropic {
			return fixtures[anthropicName]
		}
		return fixtures[openAI]
	}
	switch h.intN(4) {
	case 0:
		pick("mock-openai-429", "mock-anthropic-429").write(w, map[string]string{"Retry-After": "1"})
	case 1:
		pick("mock-openai-500", "mock-anthropic-500").write(w, nil)
	case 2:
		// OpenAI has no 529: its overload is a 503.
		pick("mock-openai-503", "mock-anthropic-529").write(w, nil)
	default:
		return caddyhttp.Error(http.StatusBadGateway, resetError())
	}
	return nil
}
