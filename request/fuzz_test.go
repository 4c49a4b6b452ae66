package request

import (
	"encoding/json"
	"os"
	"testing"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// FuzzParseBody: any bytes give a Body or an error, never a panic; the
// pass agrees with encoding/json on what is JSON (short of the depth cap);
// an accepted body's model is what a provider decoding it reads; and its
// rewrite is JSON again.
func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false},"max_tokens":5}`,
		`{"model":"a","model":"b"}`,
		`{"\u006dodel":"x","MODEL":"y"}`,
		`[[[[[[`,
		`{"model":"m\ud83d\ude00","input":"x"}`,
		`{"model":"m","n":-0.5e+10,"x":[true,false,null,{}]}`,
	} {
		f.Add([]byte(s))
	}
	if raw, err := os.ReadFile("../testdata/requests/chat_1k.json"); err == nil {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, e := Parse(data, NoRequired)
		valid := json.Valid(data)
		if e != nil {
			if e.Code == llmerrors.InvalidJSON && valid && depthOf(data) <= MaxDepth && firstByte(data) == '{' {
				t.Fatalf("valid JSON refused as invalid: %s (%s)", data, e.Message)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON accepted: %q", data)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			t.Fatalf("accepted a body that is not an object: %q", data)
		}
		var model string
		if err := json.Unmarshal(top["model"], &model); err != nil || model != b.Model {
			t.Fatalf("model %q, but a provider reads %q (%v)", b.Model, model, err)
		}
		out := b.Rewrite("other/model", true, MaxTokens, 100)
		if err := json.Unmarshal(out, &top); err != nil {
			t.Fatalf("rewrite of %q is not JSON: %q", data, out)
		}
		if err := json.Unmarshal(top["model"], &model); err != nil || model != "other/model" {
			t.Fatalf("rewrite of %q has model %q", data, model)
		}
	})
}

// depthOf is the deepest nesting of arrays and objects in data.
func depthOf(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}
