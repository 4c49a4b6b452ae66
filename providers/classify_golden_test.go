package providers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/errors/envelopetest"
)

// The golden files are the spec of what a client sees when a provider
// fails: for every real provider answer in testdata/upstream (one raw
// HTTP/1.1 response per file), testdata/golden holds the envelope the
// gateway writes in each of the five formats. Regenerate them with
//
//	go test ./providers/ -run TestGolden -update
//
// and review every changed file by hand against CONTRACT.md.
var update = flag.Bool("update", false, "rewrite testdata/golden from the current classification")

const (
	upstreamDir = "../testdata/upstream"
	goldenDir   = "../testdata/golden"
	// goldenRequestID stands for the request ID the gateway gives the
	// request (the handler sets it on every error before writing).
	goldenRequestID = "req_gw_0001"
)

// goldenNow is the clock of every fixture (their Date header), against
// which Retry-After dates and reset timestamps are read.
var goldenNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// useClock makes the package clock read t until the test ends.
func useClock(t testing.TB, at time.Time) {
	t.Helper()
	old := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = old })
}

// fixtureProvider is the configured provider each fixture's answer comes
// from: its name and type, as a Caddyfile `provider <name>` block with the
// default type would give. The answers that are no provider's own shape
// (an HTML page, nothing, half a JSON document) come from "openai", which
// sits behind Cloudflare like most of them.
func fixtureProvider(t testing.TB, fixture string) (string, *Type) {
	t.Helper()
	name, _, _ := strings.Cut(fixture, "_")
	switch name {
	case "html", "empty", "truncated", "text":
		name = "openai"
	}
	typ, ok := Lookup(name)
	if !ok {
		t.Fatalf("fixture %s: no provider type %q", fixture, name)
	}
	return name, typ
}

// readFixture reads one raw HTTP/1.1 answer.
func readFixture(t testing.TB, path string) Reply {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: body: %v", path, err)
	}
	return Reply{Status: res.StatusCode, Header: res.Header, Body: body}
}

// golden is one expected envelope: the status, every header the error
// writer sets but Content-Length (checked against the body instead), and
// the body, whose bytes (key order included) must match.
type golden struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// render classifies reply and writes it as the handler would.
func render(t testing.TB, provider string, typ *Type, reply Reply, f llmerrors.Format) (golden, *llmerrors.Error) {
	t.Helper()
	e := Classify(typ, provider, reply)
	e.RequestID = goldenRequestID
	rec := httptest.NewRecorder()
	if err := llmerrors.Write(rec, f, e); err != nil {
		t.Fatal(err)
	}
	res := rec.Result()
	body := rec.Body.Bytes()
	if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("%s: Content-Length %q for a %d-byte body", f, cl, len(body))
	}
	g := golden{Status: res.StatusCode, Headers: map[string]string{}, Body: body}
	for k := range res.Header {
		if k != "Content-Length" {
			g.Headers[k] = res.Header.Get(k)
		}
	}
	return g, e
}

func encodeGolden(g golden) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(g)
	return buf.Bytes(), err
}

func fixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(upstreamDir, "*.http"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s: %v", upstreamDir, err)
	}
	sort.Strings(paths)
	return paths
}

func TestGoldenEnvelopes(t *testing.T) {
	useClock(t, goldenNow)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".http")
		provider, typ := fixtureProvider(t, name)
		reply := readFixture(t, path)
		for _, f := range llmerrors.Formats() {
			file := filepath.Join(goldenDir, name+"."+string(f)+".json")
			want[filepath.Base(file)] = true
			got, e := render(t, provider, typ, reply, f)
			if !e.Code.Known() {
				t.Errorf("%s: unknown code %q", name, e.Code)
			}
			if _, err := envelopetest.Check(string(f), got.Status, got.Body); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if *update {
				data, err := encodeGolden(got)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, data, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("%s: %v (run with -update to create it)", name, err)
				continue
			}
			var exp golden
			if err := json.Unmarshal(data, &exp); err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			var expBody bytes.Buffer
			if err := json.Compact(&expBody, exp.Body); err != nil {
				t.Errorf("%s: body: %v", file, err)
				continue
			}
			if got.Status != exp.Status {
				t.Errorf("%s.%s: status %d, golden %d", name, f, got.Status, exp.Status)
			}
			if !reflect.DeepEqual(got.Headers, exp.Headers) {
				t.Errorf("%s.%s: headers\n got %v\nwant %v", name, f, got.Headers, exp.Headers)
			}
			if !bytes.Equal(got.Body, expBody.Bytes()) {
				t.Errorf("%s.%s: body\n got %s\nwant %s", name, f, got.Body, expBody.Bytes())
			}
		}
	}
	// A golden file without its fixture specifies nothing any more.
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		if strings.HasSuffix(ent.Name(), ".json") && !want[ent.Name()] {
			if *update {
				_ = os.Remove(filepath.Join(goldenDir, ent.Name()))
				continue
			}
			t.Errorf("%s has no fixture in %s", ent.Name(), upstreamDir)
		}
	}
}

// The worked examples of docs/errors.md are golden files written out as
// HTTP: each `<!-- golden: <fixture>.<format> -->` marker is followed by
// an http block that must be that golden's response, byte for byte.
func TestDocsWorkedExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	const marker = "<!-- golden: "
	found := 0
	for rest := doc; ; {
		i := strings.Index(rest, marker)
		if i < 0 {
			break
		}
		rest = rest[i+len(marker):]
		name, after, _ := strings.Cut(rest, " -->")
		start := strings.Index(after, "```http\n")
		if start < 0 {
			t.Fatalf("%s: no http block after the marker", name)
		}
		block, _, ok := strings.Cut(after[start+len("```http\n"):], "\n```")
		if !ok {
			t.Fatalf("%s: the http block does not end", name)
		}
		found++
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(block)), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Errorf("%s: body: %v", name, err)
			continue
		}
		gdata, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var g golden
		if err := json.Unmarshal(gdata, &g); err != nil {
			t.Fatal(err)
		}
		var gbody bytes.Buffer
		if err := json.Compact(&gbody, g.Body); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != g.Status {
			t.Errorf("%s: status %d, golden %d", name, res.StatusCode, g.Status)
		}
		if !bytes.Equal(body, gbody.Bytes()) {
			t.Errorf("%s: body\n doc %s\nwant %s", name, body, gbody.Bytes())
		}
		headers := map[string]string{}
		for k := range res.Header {
			if k != "Content-Length" {
				headers[k] = res.Header.Get(k)
			}
		}
		if !reflect.DeepEqual(headers, g.Headers) {
			t.Errorf("%s: headers\n doc %v\nwant %v", name, headers, g.Headers)
		}
		if res.ContentLength != int64(len(body)) {
			t.Errorf("%s: Content-Length %d for a %d-byte body", name, res.ContentLength, len(body))
		}
	}
	if found < 5 {
		t.Errorf("docs/errors.md has %d worked examples, want one per envelope", found)
	}
}
