package mock

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func TestUnknownPath(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, "/v1/assistants", `{"model":"m"}`)
	if res.err != nil || res.rec.Status() != http.StatusNotFound {
		t.Fatalf("err %v, status %d", res.err, res.rec.Status())
	}
	if res.rec.Body() != "{\n    \"error\": {\n        \"message\": \"Invalid URL (POST /v1/assistants)\",\n        \"type\": \"invalid_request_error\",\n        \"param\": null,\n        \"code\": null\n    }\n}\n" {
		t.Errorf("body %q", res.rec.Body())
	}

	res = serve(t, h, "/v1/messages/batches", `{"model":"m"}`)
	doc := gjson.Parse(res.rec.Body())
	if res.rec.Status() != http.StatusNotFound || doc.Get("error.type").Str != "not_found_error" || doc.Get("request_id").Str != res.rec.Header().Get("Request-Id") {
		t.Errorf("status %d, body %s", res.rec.Status(), res.rec.Body())
	}
}

func TestClientGoneBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := serveCtx(ctx, newTestHandler(0), newFlushRecorder(), pathChat, chatBody("m", "hi", ""), nil)
	if res.err != nil || res.rec.Status() != 499 || res.rec.Body() != "" {
		t.Errorf("err %v, status %d, body %q: want reverse_proxy's 499", res.err, res.rec.Status(), res.rec.Body())
	}
}

func TestNewDefaults(t *testing.T) {
	h := New(0)
	if h.timeout != defaultTimeout || h.tick != defaultTick || h.intN == nil {
		t.Errorf("New(0) = %+v", h)
	}
	if New(time.Second).timeout != time.Second {
		t.Errorf("New ignored its timeout")
	}
}

func TestReplyEcho(t *testing.T) {
	long := strings.Repeat("abcde ", 20)
	for _, c := range []struct {
		msg, wantEcho string
	}{
		{"  hello\n\tworld  ", "“hello world”"},
		{long, "“abcde abcde abcde abcde abcde abcde…”"},
		{strings.Repeat("x", 100), "“" + strings.Repeat("x", echoRunes) + "…”"},
		{"", "You sent no message text."},
	} {
		rep := newReply(&request{model: "m", lastUser: c.msg})
		if !strings.Contains(rep.text(), c.wantEcho) {
			t.Errorf("reply to %q: %q lacks %q", c.msg, rep.text(), c.wantEcho)
		}
		if n := rep.tokens(); n < 20 || n > 30 {
			t.Errorf("reply to %q has %d chunks", c.msg, n)
		}
	}
}

// TestFailureNamesDocumented keeps the model names in docs/mock.md and the
// package doc in step with the names the mock knows.
func TestFailureNamesDocumented(t *testing.T) {
	docs, err := os.ReadFile("../../docs/mock.md")
	if err != nil {
		t.Fatal(err)
	}
	pkgDoc, err := os.ReadFile("mock.go")
	if err != nil {
		t.Fatal(err)
	}
	tableRow := regexp.MustCompile("(?m)^\\| `(mock-[a-z0-9-]+)` \\|")
	inDocs := map[string]bool{}
	for _, m := range tableRow.FindAllStringSubmatch(string(docs), -1) {
		inDocs[m[1]] = true
	}
	docLine := regexp.MustCompile(`(?m)^//\t(mock-[a-z0-9-]+) `)
	inPkgDoc := map[string]bool{}
	for _, m := range docLine.FindAllStringSubmatch(string(pkgDoc), -1) {
		inPkgDoc[m[1]] = true
	}
	for name := range failures {
		if !inDocs[name] {
			t.Errorf("%s is missing from the table in docs/mock.md", name)
		}
		if !inPkgDoc[name] {
			t.Errorf("%s is missing from the package doc", name)
		}
	}
	for name := range inDocs {
		if failures[name] == nil {
			t.Errorf("docs/mock.md documents %s, which the mock does not know", name)
		}
	}
	for name := range inPkgDoc {
		if failures[name] == nil {
			t.Errorf("the package doc documents %s, which the mock does not know", name)
		}
	}
}
