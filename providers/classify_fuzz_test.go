package providers

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/errors/envelopetest"
)

// fuzzSecret stands for a provider key the gateway holds. Planted in an
// answer's body and headers, it must never reach a client.
const fuzzSecret = "sk-proj-FUZZSECRET123456"

// parseFuzzHeader reads "Name: value" lines.
func parseFuzzHeader(s string) http.Header {
	h := http.Header{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h
}

// checkNoLeak renders e in every envelope and fails on anything off: an
// unknown code, a body that is not the contract's shape, or the planted
// key anywhere a client could see it.
func checkNoLeak(t *testing.T, e *llmerrors.Error) {
	t.Helper()
	if !e.Code.Known() {
		t.Fatalf("unknown code %q", e.Code)
	}
	for _, s := range []string{e.Message, e.Suggestion, e.Field, e.Provider} {
		if strings.Contains(s, fuzzSecret) {
			t.Fatalf("the key leaked into %q", s)
		}
	}
	e.RequestID = "req_fuzz"
	for _, f := range llmerrors.Formats() {
		rec := httptest.NewRecorder()
		if err := llmerrors.Write(rec, f, e); err != nil {
			t.Fatal(err)
		}
		body := rec.Body.Bytes()
		if _, err := envelopetest.Check(string(f), rec.Code, body); err != nil {
			t.Fatalf("%s: %v\n%s", f, err, body)
		}
		if strings.Contains(string(body), fuzzSecret) {
			t.Fatalf("%s: the key leaked into the body %s", f, body)
		}
		for k, vs := range rec.Header() {
			for _, v := range vs {
				if strings.Contains(k+v, fuzzSecret) {
					t.Fatalf("%s: the key leaked into header %s: %s", f, k, v)
				}
			}
		}
	}
	for _, anthropic := range []bool{true, false} {
		if strings.Contains(string(llmerrors.StreamEvent(anthropic, e)), fuzzSecret) {
			t.Fatal("the key leaked into a stream event")
		}
	}
}

// FuzzClassify: any status (100..999), headers and bytes classify to a
// known code whose every envelope is valid and of the right shape, and a
// key planted anywhere in the answer never comes out.
//
//	go test ./providers/ -run '^$' -fuzz FuzzClassify -fuzztime 120s
func FuzzClassify(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(upstreamDir, "*.http"))
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		head, body, _ := strings.Cut(string(data), "\r\n\r\n")
		_, hdr, _ := strings.Cut(head, "\r\n")
		reply := readFixture(f, p)
		// Plant the key inside the fixture's first string value.
		plant := strings.Index(body, `": "`) + 4
		f.Add(reply.Status, hdr, []byte(body), uint16(plant), i%2 == 0)
	}
	f.Add(400, "", []byte(`{"error":{"message":"bad key","param":"x"}}`), uint16(25), false)
	f.Add(401, "Retry-After: 1", []byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key "}}`), uint16(83), true)
	f.Add(502, "", []byte(`{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"{\"error\":{\"message\":\"key \"}}","provider_name":"X"}}}`), uint16(100), false)
	f.Add(422, "", []byte(`{"detail":[{"loc":["body",""],"msg":"m"}]}`), uint16(27), false)
	f.Add(200, "", []byte(`{"error":{"message":"","code":429}}`), uint16(23), false)
	f.Fuzz(func(t *testing.T, status int, header string, body []byte, plant uint16, withKeys bool) {
		if status < 0 {
			status = -status
		}
		status = 100 + status%900
		at := int(plant) % (len(body) + 1)
		planted := append(append(append([]byte{}, body[:at]...), fuzzSecret...), body[at:]...)
		h := parseFuzzHeader(header)
		h.Add("X-Echo-Key", fuzzSecret)
		if plant%3 == 0 {
			h.Set("Retry-After", fuzzSecret)
		}
		var keys []string
		if withKeys {
			keys = []string{fuzzSecret}
		}
		for _, b := range [][]byte{body, planted} {
			for _, typ := range []string{"openai", "anthropic", "groq", "gemini", "openrouter"} {
				tp, _ := Lookup(typ)
				e := Classify(tp, typ, Reply{Status: status, Header: h, Body: b, Keys: keys})
				checkNoLeak(t, e)
			}
			checkNoLeak(t, ClassifyStreamError("openrouter", b, nil))
		}
	})
}
