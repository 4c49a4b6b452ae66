package request

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

func TestParseReadsMembers(t *testing.T) {
	b, e := Parse([]byte(` {"model":"gpt-4o","stream":true,"max_tokens":300,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"tools":[]} `), Messages)
	if e != nil {
		t.Fatal(e)
	}
	if b.Model != "gpt-4o" || !b.Stream || b.OutputCap != 300 || !b.IncludeUsage {
		t.Fatalf("got model %q stream %v cap %d include_usage %v", b.Model, b.Stream, b.OutputCap, b.IncludeUsage)
	}
	if got := string(b.Value(Messages)); got != `[{"role":"user","content":"hi"}]` {
		t.Errorf("messages = %s", got)
	}
	if got := string(b.Value(Tools)); got != `[]` {
		t.Errorf("tools = %s", got)
	}
	if b.Has(System) || b.Value(Input) != nil {
		t.Error("absent members reported present")
	}
}

func TestParseDecodesEscapedModel(t *testing.T) {
	b, e := Parse([]byte(`{"model":"gpt\u002d4o","messages":[1]}`), Messages)
	if e != nil || b.Model != "gpt-4o" {
		t.Fatalf("model %q, error %v", b.Model, e)
	}
	// A key written with escapes is the same key: providers decode it.
	b, e = Parse([]byte(`{"\u006dodel":"a","messages":[1]}`), Messages)
	if e != nil || b.Model != "a" {
		t.Fatalf("escaped key: model %q, error %v", b.Model, e)
	}
}

func TestParseOutputCaps(t *testing.T) {
	for body, want := range map[string]int64{
		`{"model":"m","max_tokens":100}`:                              100,
		`{"model":"m","max_completion_tokens":200}`:                   200,
		`{"model":"m","max_output_tokens":300}`:                       300,
		`{"model":"m","max_tokens":0,"max_completion_tokens":50}`:     50,
		`{"model":"m","max_tokens":"100"}`:                            0,
		`{"model":"m","max_tokens":-5}`:                               0,
		`{"model":"m","max_tokens":1.5}`:                              0,
		`{"model":"m","max_tokens":1e3}`:                              1000,
		`{"model":"m","max_tokens":1e400}`:                            1<<63 - 1,
		`{"model":"m","max_tokens":99999999999999999999999999999999}`: 1<<63 - 1,
	} {
		b, e := Parse([]byte(body), NoRequired)
		if e != nil {
			t.Fatalf("%s: %v", body, e)
		}
		if b.OutputCap != want {
			t.Errorf("%s: output cap %d, want %d", body, b.OutputCap, want)
		}
	}
}

// Every member the gateway reads, given twice or in a spelling some
// provider's decoder takes for it, is refused with the member named: the
// gateway must decide on what the provider will read.
func TestParseRefusesDuplicates(t *testing.T) {
	cases := []struct {
		name, body, field string
	}{
		{"model twice", `{"model":"meta-llama/llama-3-8b","model":"openai/o1-pro","messages":[1]}`, "model"},
		{"model in capitals", `{"model":"meta-llama/llama-3-8b","MODEL":"openai/o1-pro","messages":[1]}`, "model"},
		{"model escaped twice", `{"model":"a","\u006dodel":"b","messages":[1]}`, "model"},
		{"stream twice", `{"model":"m","stream":false,"stream":true,"messages":[1]}`, "stream"},
		{"Stream alone", `{"model":"m","Stream":true,"messages":[1]}`, "stream"},
		{"long s", `{"model":"m","ſtream":true,"messages":[1]}`, "stream"},
		{"max_tokens twice", `{"model":"m","max_tokens":10,"max_tokens":100000,"messages":[1]}`, "max_tokens"},
		{"Max_Tokens", `{"model":"m","Max_Tokens":100000,"messages":[1]}`, "max_tokens"},
		{"max_completion_tokens twice", `{"model":"m","max_completion_tokens":1,"max_completion_tokens":2,"messages":[1]}`, "max_completion_tokens"},
		{"max_output_tokens twice", `{"model":"m","max_output_tokens":1,"max_output_tokens":2}`, "max_output_tokens"},
		{"stream_options twice", `{"model":"m","stream_options":{},"stream_options":{"include_usage":true},"messages":[1]}`, "stream_options"},
		{"include_usage twice", `{"model":"m","stream_options":{"include_usage":false,"include_usage":true},"messages":[1]}`, "stream_options.include_usage"},
		{"Include_Usage", `{"model":"m","stream_options":{"Include_Usage":true},"messages":[1]}`, "stream_options.include_usage"},
		{"messages twice", `{"model":"m","messages":[1],"messages":[2]}`, "messages"},
		{"input twice", `{"model":"m","input":"a","input":"b"}`, "input"},
		{"prompt twice", `{"model":"m","prompt":"a","prompt":"b"}`, "prompt"},
		{"tools twice", `{"model":"m","tools":[],"tools":[],"messages":[1]}`, "tools"},
		{"system twice", `{"model":"m","system":"a","system":"b","messages":[1]}`, "system"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, e := Parse([]byte(c.body), NoRequired)
			if e == nil {
				t.Fatal("accepted")
			}
			if e.Code != llmerrors.ValidationError || e.Field != c.field {
				t.Fatalf("got %s field %q (%s), want validation_error naming %q", e.Code, e.Field, e.Message, c.field)
			}
			if !strings.Contains(e.Message, c.field) {
				t.Errorf("message does not name %s: %s", c.field, e.Message)
			}
		})
	}
	// Members the gateway does not read may repeat: they reach the
	// provider as sent, and the gateway decides nothing on them.
	if _, e := Parse([]byte(`{"model":"m","temperature":1,"temperature":0,"messages":[{"a":1,"a":2}]}`), Messages); e != nil {
		t.Errorf("a repeated member the gateway does not read was refused: %v", e)
	}
}

func TestParseRefusesBadBodies(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		code  llmerrors.Code
		field string
	}{
		{"empty", ``, llmerrors.InvalidJSON, ""},
		{"truncated", `{"model":`, llmerrors.InvalidJSON, ""},
		{"trailing", `{"model":"m","messages":[1]} x`, llmerrors.InvalidJSON, ""},
		{"array", `[{"model":"m"}]`, llmerrors.InvalidJSON, ""},
		{"string", `"model"`, llmerrors.InvalidJSON, ""},
		{"control character", "{\"model\":\"a\x01\"}", llmerrors.InvalidJSON, ""},
		{"bad escape", `{"model":"a\q"}`, llmerrors.InvalidJSON, ""},
		{"leading zero", `{"model":"m","n":01}`, llmerrors.InvalidJSON, ""},
		{"missing model", `{"messages":[1]}`, llmerrors.ValidationError, "model"},
		{"empty model", `{"model":"","messages":[1]}`, llmerrors.ValidationError, "model"},
		{"number model", `{"model":5,"messages":[1]}`, llmerrors.ValidationError, "model"},
		{"long model", `{"model":"` + strings.Repeat("a", MaxModelLen+1) + `","messages":[1]}`, llmerrors.ValidationError, "model"},
		{"invalid utf-8 model", "{\"model\":\"a\xff\",\"messages\":[1]}", llmerrors.ValidationError, "model"},
		{"no messages", `{"model":"m"}`, llmerrors.ValidationError, "messages"},
		{"empty messages", `{"model":"m","messages":[ ]}`, llmerrors.ValidationError, "messages"},
		{"messages not array", `{"model":"m","messages":{}}`, llmerrors.ValidationError, "messages"},
		{"stream not bool", `{"model":"m","messages":[1],"stream":"yes"}`, llmerrors.ValidationError, "stream"},
		{"too deep", `{"model":"m","messages":[` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `]}`, llmerrors.InvalidJSON, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, e := Parse([]byte(c.body), Messages)
			if e == nil {
				t.Fatal("accepted")
			}
			if e.Code != c.code || e.Field != c.field {
				t.Fatalf("got %s field %q (%s), want %s field %q", e.Code, e.Field, e.Message, c.code, c.field)
			}
		})
	}
	// The deepest nesting accepted.
	deep := `{"model":"m","messages":[` + strings.Repeat("[", MaxDepth-2) + strings.Repeat("]", MaxDepth-2) + `]}`
	if _, e := Parse([]byte(deep), Messages); e != nil {
		t.Errorf("nesting of exactly %d levels refused: %v", MaxDepth, e)
	}
	// A model of exactly the cap.
	if _, e := Parse([]byte(`{"model":"`+strings.Repeat("a", MaxModelLen)+`","messages":[1]}`), Messages); e != nil {
		t.Errorf("a model of %d bytes refused: %v", MaxModelLen, e)
	}
}

// Eight megabytes of '[' (what crashed the process through gjson's
// recursive validation) are refused in one bounded pass.
func TestParseHugeNesting(t *testing.T) {
	for _, body := range [][]byte{
		bytes.Repeat([]byte("["), 8<<20),
		append([]byte(`{"model":"m","messages":`), bytes.Repeat([]byte(`[{"a":`), 1<<20)...),
	} {
		_, e := Parse(body, Messages)
		if e == nil || e.Code != llmerrors.InvalidJSON {
			t.Fatalf("got %v, want invalid_json", e)
		}
	}
}

func TestRealRequestsParse(t *testing.T) {
	for file, want := range map[string]string{
		"../testdata/requests/claude_code.json": "claude-sonnet-4-5-20250929",
		"../testdata/requests/chat_1k.json":     "gpt-4o-mini",
	} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b, e := Parse(raw, Messages)
		if e != nil {
			t.Fatalf("%s: %v", file, e)
		}
		if b.Model != want {
			t.Errorf("%s: model %q", file, b.Model)
		}
	}
}

func TestRewrite(t *testing.T) {
	cases := []struct {
		name, body, model string
		askUsage          bool
		want              string
	}{
		{"unchanged", `{"model":"m","stream":true}`, "m", false, `{"model":"m","stream":true}`},
		{"model", `{"model":"alias" , "stream":true}`, "real/model", false, `{"model":"real/model" , "stream":true}`},
		{"model needing escapes", `{"model":"a"}`, `x"<y>`, false, `{"model":"x\"\u003cy\u003e"}`},
		{"usage added", `{"model":"m","stream":true}`, "m", true, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{"usage into options", `{"stream_options":{"foo":1},"model":"m"}`, "m", true, `{"stream_options":{"include_usage":true,"foo":1},"model":"m"}`},
		{"usage into empty options", `{"stream_options":{ },"model":"m"}`, "m", true, `{"stream_options":{"include_usage":true },"model":"m"}`},
		{"usage false set", `{"model":"m","stream_options":{"include_usage":false}}`, "m", true, `{"model":"m","stream_options":{"include_usage":true}}`},
		{"usage null options", `{"model":"m","stream_options":null}`, "m", true, `{"model":"m","stream_options":{"include_usage":true}}`},
		{"usage already", `{"model":"m","stream_options":{"include_usage":true}}`, "m", true, `{"model":"m","stream_options":{"include_usage":true}}`},
		{"both, options first", `{"stream_options":{"x":1},"model":"a"}`, "b", true, `{"stream_options":{"include_usage":true,"x":1},"model":"b"}`},
		{"both, model first", `{"model":"a","stream":true}`, "b", true, `{"model":"b","stream":true,"stream_options":{"include_usage":true}}`},
	}
	for _, c := range []struct{ body, want string }{
		{`{"model":"m"}`, `{"model":"m","max_tokens":4096}`},
		{`{"model":"m","max_tokens":10}`, `{"model":"m","max_tokens":10}`},
		{`{"model":"m","max_completion_tokens":10}`, `{"model":"m","max_completion_tokens":10}`},
		{`{"model":"m","max_tokens":null}`, `{"model":"m","max_tokens":null}`},
	} {
		b, _ := Parse([]byte(c.body), NoRequired)
		if got := string(b.Rewrite("m", false, MaxTokens, 4096)); got != c.want {
			t.Errorf("output cap on %s: got %s, want %s", c.body, got, c.want)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, e := Parse([]byte(c.body), NoRequired)
			if e != nil {
				t.Fatal(e)
			}
			raw := string(b.Raw)
			got := b.Rewrite(c.model, c.askUsage, MaxTokens, 0)
			if string(got) != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			if string(b.Raw) != raw {
				t.Fatal("the client's body was changed")
			}
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatalf("rewritten body is not JSON: %s: %v", got, err)
			}
			if v["model"] != c.model {
				t.Errorf("model = %v, want %s", v["model"], c.model)
			}
			if c.askUsage {
				if so, _ := v["stream_options"].(map[string]any); so["include_usage"] != true {
					t.Errorf("include_usage not set: %s", got)
				}
			}
		})
	}
}
