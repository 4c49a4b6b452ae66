package llmgateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/tidwall/gjson"
)

// The integration tests run Caddy in process through caddytest, so they
// share one Caddy instance and are not parallel. Its admin API, the
// gateway's site (gatewayAddr) and fake providers listen on free loopback
// ports picked at start, so the suite runs next to a running gateway or a
// second copy of itself.
var (
	adminPort, httpPort, httpsPort int
	gatewayAddr                    string
	// dataDir is the tests' own Caddy data directory (and storage).
	dataDir string
)

func TestMain(m *testing.M) {
	// Caddy keeps its data (and the memory store its spend) under
	// XDG_DATA_HOME; keep the tests' away from the user's.
	dir, err := os.MkdirTemp("", "llm-gateway-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", dir)
	os.Setenv("XDG_CONFIG_HOME", dir)
	dataDir = dir
	adminPort, httpPort, httpsPort = freePort(), freePort(), freePort()
	caddytest.Default.AdminPort = adminPort
	gatewayAddr = fmt.Sprintf("http://localhost:%d", httpPort)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// loadGateway loads a config whose site on gatewayAddr runs llm_gateway
// with the given body, and returns the tester.
func loadGateway(t *testing.T, body string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(gatewayConfig(body), "caddyfile")
	return tester
}

func gatewayConfig(body string) string {
	return fmt.Sprintf(`{
%s
	grace_period 5s
}
%s {
	llm_gateway {
%s
	}
}
`, globalPorts(), gatewayAddr, body)
}

// globalPorts are the global options that put the test instance on its
// own ports and its own storage (Caddy's default storage is fixed when
// its package loads, before TestMain can move the data directory).
func globalPorts() string {
	return fmt.Sprintf("\tadmin localhost:%d\n\thttp_port %d\n\thttps_port %d\n\tstorage file_system %s", adminPort, httpPort, httpsPort, filepath.Join(dataDir, "caddy"))
}

// freePort is a TCP port nothing listens on now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// recordedRequest is what a fake provider received.
type recordedRequest struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         []byte
}

// fakeProvider is an upstream on loopback that records every request and
// answers with a handler the test chooses.
type fakeProvider struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []recordedRequest
	handler http.HandlerFunc
}

func newFakeProvider(t *testing.T, handler http.HandlerFunc) *fakeProvider {
	t.Helper()
	f := &fakeProvider{handler: handler}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recordedRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Clone(), body})
		h := f.handler
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProvider) requests() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.reqs...)
}

func (f *fakeProvider) last(t *testing.T) recordedRequest {
	t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		t.Fatal("the fake provider received no request")
	}
	return reqs[len(reqs)-1]
}

// jsonAnswer answers 200 with body.
func jsonAnswer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// errorAnswer answers status with headers and body.
func errorAnswer(status int, headers map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

const chatOK = `{"id":"chatcmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`

const messageOK = `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}`

// post sends a JSON body to the gateway and returns the response and its
// body.
func post(t *testing.T, tester *caddytest.Tester, path, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, gatewayAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, tester, req)
}

func get(t *testing.T, tester *caddytest.Tester, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, gatewayAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, tester, req)
}

func do(t *testing.T, tester *caddytest.Tester, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer of %s %s: %v", req.Method, req.URL, err)
	}
	return resp, body
}

// wantStatus fails unless resp has status.
func wantStatus(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body: %s", resp.StatusCode, status, body)
	}
}

// wantJSON fails unless path in body equals want.
func wantJSON(t *testing.T, body []byte, path string, want any) {
	t.Helper()
	got := gjson.GetBytes(body, path)
	if !got.Exists() {
		t.Fatalf("%s missing from %s", path, body)
	}
	if fmt.Sprint(got.Value()) != fmt.Sprint(want) {
		t.Fatalf("%s = %v, want %v; body: %s", path, got.Value(), want, body)
	}
}

// sseEvent is one event a client received, with when it arrived.
type sseEvent struct {
	at   time.Duration
	name string
	data string
}

// readEvents reads a server-sent event stream to its end, timing each
// event's arrival from start.
func readEvents(t *testing.T, body io.Reader, start time.Time) []sseEvent {
	t.Helper()
	events, err := parseEvents(body, start)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return events
}

// parseEvents reads a server-sent event stream to its end; it may be used
// from goroutines other than the test's.
func parseEvents(body io.Reader, start time.Time) ([]sseEvent, error) {
	var events []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" || cur.data != "" {
				cur.at = time.Since(start)
				events = append(events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event:"):
			cur.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			cur.data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	return events, sc.Err()
}
