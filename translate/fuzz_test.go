package translate

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// The stream translators must turn any upstream event sequence into a
// well-formed stream of the client's protocol (or an End error, after
// which the relay writes an error event), and never panic. FuzzStream
// reads its input as a program: each byte picks an upstream event
// (text, reasoning, tool-call fragments with or without index and id,
// finish, usage, ping, block starts and stops at any index, malformed
// data, a mid-stream error...) and the following bytes fill it in, so
// the fuzzer reaches deep states of the machines instead of being
// stopped by JSON syntax.

// script feeds bytes to the event generators.
type script struct {
	b []byte
	i int
}

func (s *script) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	c := s.b[s.i]
	s.i++
	return c
}

func (s *script) done() bool { return s.i >= len(s.b) }

// text is a short string of the script's bytes, any bytes (quotes,
// control characters, invalid UTF-8 included).
func (s *script) text() string {
	n := int(s.next() % 8)
	b := make([]byte, 0, n)
	for range n {
		b = append(b, s.next())
	}
	return string(b)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// openAIUpstream is the next upstream chunk for an Anthropic client.
func (s *script) openAIUpstream() (name, data string, fail bool) {
	const head = `{"id":"chatcmpl-f","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":`
	switch s.next() % 12 {
	case 0:
		return "", head + `{"role":"assistant","content":""},"finish_reason":null}]}`, false
	case 1:
		return "", head + `{"content":` + jsonString(s.text()) + `},"finish_reason":null}]}`, false
	case 2:
		return "", head + `{"reasoning_content":` + jsonString(s.text()) + `},"finish_reason":null}]}`, false
	case 3, 4:
		c := s.next()
		call := `{`
		if c&1 != 0 {
			call += `"index":` + strconv.Itoa(int(c>>1)%4) + `,`
		}
		switch c >> 4 % 4 {
		case 1:
			call += `"id":"",`
		case 2:
			call += `"id":"call_` + strconv.Itoa(int(c)%5) + `","type":"function",`
		case 3:
			call += `"id":"x.y:` + strconv.Itoa(int(c)%3) + `",`
		}
		call += `"function":{`
		if c&0x40 != 0 {
			call += `"name":` + jsonString([]string{"Read", "Bash", "", "a.b"}[c%4]) + `,`
		}
		call += `"arguments":` + jsonString(s.text()) + `}}`
		if s.next()%3 == 0 {
			call += `,` + call
		}
		return "", head + `{"tool_calls":[` + call + `]},"finish_reason":null}]}`, false
	case 5:
		f := []string{"stop", "tool_calls", "length", "content_filter", "function_call", ""}[s.next()%6]
		return "", head + `{},"finish_reason":"` + f + `"}]}`, false
	case 6:
		return "", `{"id":"chatcmpl-f","choices":[],"usage":{"prompt_tokens":` + strconv.Itoa(int(s.next())) + `,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":` + strconv.Itoa(int(s.next())) + `}}}`, false
	case 7:
		return "", s.text(), false
	case 8:
		return "", "[DONE]", false
	case 9:
		return "", head + `{"content":"x","tool_calls":[]},"finish_reason":null}],"usage":null}`, false
	case 10:
		return "", `{"error":{"message":"boom"}}`, true
	default:
		return "", head + `{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}`, false
	}
}

// anthropicUpstream is the next upstream event for an OpenAI client.
func (s *script) anthropicUpstream() (name, data string, fail bool) {
	idx := func() string {
		c := s.next()
		switch c % 16 {
		case 14:
			return "-1"
		case 15:
			return "99999999"
		}
		return strconv.Itoa(int(c % 5))
	}
	switch s.next() % 14 {
	case 0:
		return "message_start", `{"type":"message_start","message":{"id":"msg_f","model":"claude","usage":{"input_tokens":` + strconv.Itoa(int(s.next())) + `,"output_tokens":1}}}`, false
	case 1:
		return "content_block_start", `{"type":"content_block_start","index":` + idx() + `,"content_block":{"type":"text","text":` + jsonString(s.text()) + `}}`, false
	case 2:
		return "content_block_start", `{"type":"content_block_start","index":` + idx() + `,"content_block":{"type":"thinking","thinking":""}}`, false
	case 3:
		return "content_block_start", `{"type":"content_block_start","index":` + idx() + `,"content_block":{"type":"tool_use","id":"toolu_` + strconv.Itoa(int(s.next())) + `","name":"T","input":{}}}`, false
	case 4:
		return "content_block_delta", `{"type":"content_block_delta","index":` + idx() + `,"delta":{"type":"text_delta","text":` + jsonString(s.text()) + `}}`, false
	case 5:
		return "content_block_delta", `{"type":"content_block_delta","index":` + idx() + `,"delta":{"type":"thinking_delta","thinking":` + jsonString(s.text()) + `}}`, false
	case 6:
		return "content_block_delta", `{"type":"content_block_delta","index":` + idx() + `,"delta":{"type":"input_json_delta","partial_json":` + jsonString(s.text()) + `}}`, false
	case 7:
		return "content_block_stop", `{"type":"content_block_stop","index":` + idx() + `}`, false
	case 8:
		r := []string{"end_turn", "tool_use", "max_tokens", "refusal", "pause_turn"}[s.next()%5]
		return "message_delta", `{"type":"message_delta","delta":{"stop_reason":"` + r + `"},"usage":{"output_tokens":7}}`, false
	case 9:
		return "message_stop", `{"type":"message_stop"}`, false
	case 10:
		return "ping", `{"type": "ping"}`, false
	case 11:
		return "content_block_delta", s.text(), false
	case 12:
		return "error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, true
	default:
		return "content_block_start", `{"type":"content_block_start","index":` + idx() + `,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}`, false
	}
}

// runScript drives a fresh stream translator with the script's events,
// as the relay would, and returns what the client received.
func runScript(t *testing.T, toAnthropic bool, program []byte) []byte {
	client, upstream := providers.OpenAI, providers.Anthropic
	if toAnthropic {
		client, upstream = providers.Anthropic, providers.OpenAI
	}
	x := New(client, upstream, Target{ProviderType: "openai", Model: "m"})
	req := plainRequest(client)
	if len(program) > 0 && program[0]&1 == 1 {
		req = []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	}
	if _, err := x.Request(req); err != nil {
		t.Fatal(err)
	}
	s := x.Stream()
	sc := &script{b: program}
	var out []byte
	for !sc.done() {
		var name, data string
		var fail bool
		if toAnthropic {
			name, data, fail = sc.openAIUpstream()
		} else {
			name, data, fail = sc.anthropicUpstream()
		}
		if fail {
			if s.Done() {
				break
			}
			out = s.Fail(out)
			return append(out, llmerrors.StreamEvent(toAnthropic, llmerrors.New(llmerrors.ProviderError, "boom"))...)
		}
		out = s.Event([]byte(name), []byte(data), out)
	}
	out, err := s.End(out)
	if err != nil {
		out = append(out, llmerrors.StreamEvent(toAnthropic, llmerrors.New(llmerrors.ProviderError, "%s", err.Error()))...)
	}
	// Nothing may follow the end, whatever arrives.
	if more := s.Event([]byte(""), []byte(`{"choices":[{"delta":{"content":"late"}}]}`), nil); len(more) > 0 {
		t.Fatalf("events after the end: %s", more)
	}
	return out
}

func checkScript(t *testing.T, toAnthropic bool, program []byte) {
	t.Helper()
	out := runScript(t, toAnthropic, program)
	evs, err := parseSSE(string(out))
	if err == nil {
		if toAnthropic {
			err = checkAnthropicStream(evs)
		} else {
			includeUsage := len(program) == 0 || program[0]&1 == 0
			err = checkOpenAIStream(evs, includeUsage)
		}
	}
	if err != nil {
		t.Fatalf("program %q: %v\n%s", program, err, out)
	}
}

func FuzzStream(f *testing.F) {
	f.Add(true, []byte{0, 1, 5, 5, 6, 9, 9})
	f.Add(true, []byte{0, 3, 0x41, 2, 'a', 'b', 3, 0x43, 1, '"', 5, 1, 6, 1, 2})
	f.Add(false, []byte{0, 0, 1, 1, 0, 3, 2, 0, 6, 2, 1, '{', 7, 2, 8, 1, 9})
	f.Add(false, []byte{1, 4, 0, 1, 'x', 8, 0})
	// The golden upstream transcripts' shapes are covered by the
	// programs above; seed also with the bytes of each transcript so
	// the fuzzer starts from realistic sizes.
	files, _ := filepath.Glob(filepath.Join(goldenDir, "streams", "*", "*.upstream.sse"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && len(b) < 4096 {
			f.Add(filepath.Base(filepath.Dir(file)) == "openai_to_anthropic", b)
		}
	}
	f.Fuzz(func(t *testing.T, toAnthropic bool, program []byte) {
		checkScript(t, toAnthropic, program)
	})
}

// TestStreamGrammarRandom runs the fuzz programs from a seeded source on
// every test run, so the grammar holds without -fuzz too.
func TestStreamGrammarRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 2026))
	for i := range 3000 {
		program := make([]byte, r.IntN(120))
		for j := range program {
			program[j] = byte(r.Uint32())
		}
		checkScript(t, i%2 == 0, program)
	}
}
