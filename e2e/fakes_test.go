package e2e

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"
)

// recorder is what both fake providers share: the requests they got,
// the calls per model (GET /counts, for the node tests), and the
// problems they found in the translated requests. A request with a
// problem is answered 400 with the problem as its message, so the SDK
// test fails saying what was wrong; the Go test fails on it too.
type recorder struct {
	mu       sync.Mutex
	counts   map[string]int
	problems []string
	bodies   []string
}

func newRecorder() *recorder { return &recorder{counts: map[string]int{}} }

// record notes one request for model and returns its number for that
// model, from 1.
func (f *recorder) record(model string, body []byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[model]++
	f.bodies = append(f.bodies, string(body))
	return f.counts[model]
}

func (f *recorder) serveCounts(w http.ResponseWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f.counts)
}

// problem records what was wrong with a request.
func (f *recorder) problem(format string, args ...any) string {
	p := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.problems = append(f.problems, p)
	f.mu.Unlock()
	return p
}

// checkNoProblems fails t with every problem the fake found.
func (f *recorder) checkNoProblems(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		t.Errorf("the fake provider found: %s", p)
	}
}

// compressing answers JSON gzipped when the request accepts it, as
// real providers (behind their CDNs) do.
func compressing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.ServeHTTP(w, r)
			return
		}
		gw := &gzipJSON{ResponseWriter: w}
		h.ServeHTTP(gw, r)
		if gw.zw != nil {
			_ = gw.zw.Close()
		}
	})
}

type gzipJSON struct {
	http.ResponseWriter
	zw *gzip.Writer
}

func (g *gzipJSON) WriteHeader(status int) {
	if strings.HasPrefix(g.Header().Get("Content-Type"), "application/json") {
		g.Header().Set("Content-Encoding", "gzip")
		g.Header().Del("Content-Length")
		g.zw = gzip.NewWriter(g.ResponseWriter)
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *gzipJSON) Write(b []byte) (int, error) {
	if g.zw != nil {
		return g.zw.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

func (g *gzipJSON) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// sse writes server-sent events, each flushed as a provider does.
type sse struct {
	w http.ResponseWriter
}

func startSSE(w http.ResponseWriter) sse {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	return sse{w}
}

// data writes one `data:` event (OpenAI).
func (s sse) data(payload string) {
	_, _ = io.WriteString(s.w, "data: "+payload+"\n\n")
	_ = http.NewResponseController(s.w).Flush()
}

// event writes one named event (Anthropic).
func (s sse) event(name, payload string) {
	_, _ = io.WriteString(s.w, "event: "+name+"\ndata: "+payload+"\n\n")
	_ = http.NewResponseController(s.w).Flush()
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// toolCall is one call a fake answers.
type toolCall struct {
	id, name, args string
}

// reply is a successful answer, rendered by each fake in its protocol,
// plain or streamed.
type reply struct {
	// reasoning is the model's reasoning before its text, as DeepSeek,
	// Groq and OpenRouter send it (reasoning_content).
	reasoning []string
	text      []string // pieces of text, one per streamed delta
	calls     []toolCall
	// usage: prompt tokens (OpenAI: all of them; Anthropic: the
	// uncached ones), cached ones, cache writes (Anthropic), output.
	prompt, cached, cacheWrite, output int
	// streamUsage is where an OpenAI stream carries its usage: "" in a
	// last chunk without choices (OpenAI's include_usage), "finish" on
	// the finish_reason chunk (DeepSeek, vLLM), "none" nowhere (servers
	// that ignore stream_options).
	streamUsage string
}

// The texts the tests look for.
const (
	systemPrompt   = "You are a terse assistant."
	weatherResult  = "18°C and sunny"
	timeResult     = "14:05 CET"
	weatherTool    = "get_weather"
	timeTool       = "get_time"
	fakeOpenAIKey  = "sk-fake-openai-7d1c93a0"
	fakeAnthropKey = "sk-ant-fake-4b8e21f6"
)

// openaiFake speaks OpenAI Chat Completions as a real provider does,
// scripted by model name, and checks that what the gateway translated
// from an Anthropic client is what an OpenAI provider expects.
//
//	gpt-text      system + one user turn → text (plain or streamed)
//	gpt-tools     tools offered → two parallel tool calls; with both
//	              results in role "tool" messages → text quoting them
//	gpt-cached    text, usage with prompt_tokens_details.cached_tokens
//	gpt-usage-on-finish, gpt-no-stream-usage
//	              text, streamed with the usage on the finish chunk, or
//	              with none
//	gpt-reasoning reasoning_content, then text
//	gpt-params    sampling, stop, user, tool_choice any without parallel
//	              calls, an image: checked, then a tool call
//	gpt-429       429 with Retry-After: 7
//	gpt-400       400 invalid_request_error on temperature
//	gpt-500       500 server_error
//	gpt-crlf      a stream with comments, CRLF line ends and "data:"
//	              without a space
//	gpt-cut       a stream whose connection breaks after two text chunks
//	gpt-midstream a stream: three text chunks, then an error chunk
type openaiFake struct {
	*recorder
}

func newOpenAIFake() *openaiFake { return &openaiFake{newRecorder()} }

func (f *openaiFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/counts" {
		f.serveCounts(w)
		return
	}
	body, _ := io.ReadAll(r.Body)
	model := gjson.GetBytes(body, "model").Str
	f.record(model, body)
	// What OpenAI says of the operator's account, which clients must
	// not see.
	for k, v := range map[string]string{
		"openai-organization":            "org-fakeaccount",
		"openai-project":                 "proj_fakeaccount",
		"x-ratelimit-limit-requests":     "500",
		"x-ratelimit-remaining-requests": "499",
		"set-cookie":                     "__cf_bm=fakecookie; path=/; HttpOnly",
	} {
		w.Header().Set(k, v)
	}
	refuse := func(p string) {
		writeJSON(w, 400, `{"error":{"message":`+quote("fake provider: "+p)+`,"type":"invalid_request_error","param":null,"code":null}}`)
	}
	if p := f.checkCommon(r, body); p != "" {
		refuse(f.problem("%s: %s", model, p))
		return
	}
	stream := gjson.GetBytes(body, "stream").Bool()
	switch model {
	case "gpt-text", "gpt-cached", "gpt-usage-on-finish", "gpt-no-stream-usage":
		if p := checkTextTurn(body); p != "" {
			refuse(f.problem("%s: %s", model, p))
			return
		}
		rp := reply{text: []string{"Hello", " from", " the", " OpenAI", " fake", "."}, prompt: 24, output: 6}
		switch model {
		case "gpt-cached":
			rp.prompt, rp.cached = 2000, 1500
		case "gpt-usage-on-finish":
			rp.streamUsage = "finish"
		case "gpt-no-stream-usage":
			rp.streamUsage = "none"
		}
		f.answer(w, model, stream, rp)
	case "gpt-reasoning":
		if p := checkTextTurn(body); p != "" {
			refuse(f.problem("%s: %s", model, p))
			return
		}
		if gjson.GetBytes(body, "reasoning_effort").Exists() {
			// gpt-reasoning is no model the gateway knows to take it
			refuse(f.problem("%s: reasoning_effort sent to a model that does not take it", model))
			return
		}
		f.answer(w, model, stream, reply{reasoning: []string{"The user", " wants a", " greeting."}, text: []string{"Hello", "."}, prompt: 24, output: 9})
	case "gpt-tools":
		f.tools(w, model, stream, body, refuse)
	case "gpt-params":
		if p := checkOpenAIParams(body); p != "" {
			refuse(f.problem("%s: %s", model, p))
			return
		}
		f.answer(w, model, stream, reply{calls: []toolCall{{"call_weather_9", weatherTool, `{"city":"Paris"}`}}, prompt: 900, output: 10})
	case "gpt-429":
		w.Header().Set("Retry-After", "7")
		writeJSON(w, 429, `{"error":{"message":"Rate limit reached for gpt-429 in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
	case "gpt-400":
		writeJSON(w, 400, `{"error":{"message":"Invalid value for 'temperature': the fake accepts none.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`)
	case "gpt-500":
		writeJSON(w, 500, `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`)
	case "gpt-crlf":
		// What OpenRouter and some servers send: comments while the
		// model starts, CRLF line ends, no space after "data:".
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		rc := http.NewResponseController(w)
		write := func(s string) { _, _ = io.WriteString(w, s); _ = rc.Flush() }
		write(": OPENROUTER PROCESSING\r\n\r\n")
		write(": OPENROUTER PROCESSING\r\n\r\n")
		write("data:" + chunk(model, `{"role":"assistant","content":""}`, "null", false) + "\r\n\r\n")
		for _, piece := range []string{"Hello", " over", " CRLF", "."} {
			write("data:" + chunk(model, `{"content":`+quote(piece)+`}`, "null", false) + "\r\n\r\n")
		}
		write("data:" + chunk(model, `{}`, `"stop"`, false) + "\r\n\r\n")
		write(`data:{"id":"chatcmpl-fake1","object":"chat.completion.chunk","created":1764590000,"model":"` + model + `","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":4,"total_tokens":28}}` + "\r\n\r\n")
		write("data:[DONE]\r\n\r\n")
	case "gpt-cut":
		// The connection breaks mid-stream: no finish_reason, no [DONE].
		s := startSSE(w)
		s.data(chunk(model, `{"role":"assistant","content":""}`, "null", true))
		for _, piece := range []string{"Partial", " answer"} {
			s.data(chunk(model, `{"content":`+quote(piece)+`}`, "null", true))
		}
		panic(http.ErrAbortHandler)
	case "gpt-midstream":
		s := startSSE(w)
		s.data(chunk(model, `{"role":"assistant","content":""}`, "null", false))
		for _, piece := range []string{"Partial", " answer", " then"} {
			s.data(chunk(model, `{"content":`+quote(piece)+`}`, "null", false))
		}
		s.data(`{"error":{"message":"The fake provider failed in the middle of the stream.","type":"server_error","param":null,"code":null}}`)
	default:
		refuse(f.problem("unknown model %q", model))
	}
}

// checkCommon checks what every request to an OpenAI provider must be.
func (f *openaiFake) checkCommon(r *http.Request, body []byte) string {
	switch {
	case r.Method != "POST" || r.URL.Path != "/v1/chat/completions":
		return fmt.Sprintf("%s %s: want POST /v1/chat/completions", r.Method, r.URL.Path)
	case r.Header.Get("Authorization") != "Bearer "+fakeOpenAIKey:
		return fmt.Sprintf("Authorization %q: want the provider's key", r.Header.Get("Authorization"))
	case r.Header.Get("X-Api-Key") != "":
		return "an x-api-key header reached an OpenAI provider"
	case r.Header.Get("Anthropic-Version") != "" || r.Header.Get("Anthropic-Beta") != "":
		return "an anthropic-* header reached an OpenAI provider"
	case !gjson.ValidBytes(body):
		return "the body is not JSON"
	case gjson.GetBytes(body, "system").Exists():
		return "a top-level system member (Anthropic) reached an OpenAI provider"
	case gjson.GetBytes(body, "stop_sequences").Exists() || gjson.GetBytes(body, "metadata").Exists():
		return "Anthropic members reached an OpenAI provider"
	case gjson.GetBytes(body, "stream").Bool() && !gjson.GetBytes(body, "stream_options.include_usage").Bool():
		return "a stream without stream_options.include_usage: the gateway would get no usage"
	}
	for _, m := range gjson.GetBytes(body, "messages").Array() {
		if !m.Get("content").IsArray() {
			continue
		}
		for _, part := range m.Get("content").Array() {
			if t := part.Get("type").Str; t != "text" && t != "image_url" && t != "file" {
				return fmt.Sprintf("a content part of type %q (not OpenAI's)", t)
			}
		}
	}
	return ""
}

// checkTextTurn checks the text scenario: the system prompt as the first
// message, then the user's text.
func checkTextTurn(body []byte) string {
	msgs := gjson.GetBytes(body, "messages").Array()
	if len(msgs) != 2 {
		return fmt.Sprintf("%d messages, want system + user: %s", len(msgs), gjson.GetBytes(body, "messages").Raw)
	}
	if msgs[0].Get("role").Str != "system" || msgs[0].Get("content").Str != systemPrompt {
		return "the system prompt is not a first system message: " + msgs[0].Raw
	}
	if msgs[1].Get("role").Str != "user" || textOf(msgs[1].Get("content")) != "Say hello." {
		return "the user turn is not the user's text: " + msgs[1].Raw
	}
	if gjson.GetBytes(body, "max_tokens").Int() != 64 && gjson.GetBytes(body, "max_completion_tokens").Int() != 64 {
		return "max_tokens 64 was not passed on"
	}
	return ""
}

// checkOpenAIParams checks the gpt-params scenario: what the Anthropic
// client's parameters and image became.
func checkOpenAIParams(body []byte) string {
	b := gjson.ParseBytes(body)
	switch {
	case b.Get("temperature").Float() != 0.3 || b.Get("top_p").Float() != 0.9:
		return "temperature and top_p not passed on: " + b.Get("temperature").Raw + " " + b.Get("top_p").Raw
	case b.Get("stop").Raw != `["END"]`:
		return "stop_sequences did not become stop: " + b.Get("stop").Raw
	case b.Get("user").Str != "user-42":
		return "metadata.user_id did not become user: " + b.Get("user").Raw
	case b.Get("tool_choice").Str != "required":
		return "tool_choice any did not become required: " + b.Get("tool_choice").Raw
	case b.Get("parallel_tool_calls").Raw != "false":
		return "disable_parallel_tool_use did not become parallel_tool_calls false: " + b.Get("parallel_tool_calls").Raw
	case b.Get("top_k").Exists():
		return "top_k reached OpenAI, which has none"
	}
	parts := b.Get("messages.0.content").Array()
	if len(parts) != 2 || parts[0].Get("type").Str != "text" || parts[1].Get("type").Str != "image_url" ||
		parts[1].Get("image_url.url").Str != "data:image/png;base64,"+pixelPNG {
		return "the text and base64 image did not become a text part and an image_url data URL: " + b.Get("messages.0").Raw
	}
	return ""
}

// pixelPNG is a 1×1 PNG, base64.
const pixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

// textOf is a content's text, whether a string or text parts.
func textOf(c gjson.Result) string {
	if c.Type == gjson.String {
		return c.Str
	}
	var b strings.Builder
	for _, p := range c.Array() {
		b.WriteString(p.Get("text").Str)
	}
	return b.String()
}

// tools plays gpt-tools: two parallel calls, then text quoting both
// results.
func (f *openaiFake) tools(w http.ResponseWriter, model string, stream bool, body []byte, refuse func(string)) {
	msgs := gjson.GetBytes(body, "messages").Array()
	last := msgs[len(msgs)-1]
	tools := gjson.GetBytes(body, "tools").Array()
	if len(tools) != 2 || tools[0].Get("type").Str != "function" || tools[0].Get("function.name").Str != weatherTool ||
		tools[0].Get("function.parameters.properties.city.type").Str != "string" ||
		tools[0].Get("function.parameters.required.0").Str != "city" || tools[1].Get("function.name").Str != timeTool {
		refuse(f.problem("%s: the tools are not the client's as function tools: %s", model, gjson.GetBytes(body, "tools").Raw))
		return
	}
	if tc := gjson.GetBytes(body, "tool_choice"); tc.Exists() && tc.Str != "auto" {
		refuse(f.problem("%s: tool_choice %s, want auto", model, tc.Raw))
		return
	}
	if len(msgs) == 1 && last.Get("role").Str == "user" {
		f.answer(w, model, stream, reply{text: []string{"I'll", " check", " both."}, calls: []toolCall{
			{"call_weather_1", weatherTool, `{"city":"Paris"}`},
			{"call_time_2", timeTool, `{"city":"Paris","timezone":"Europe/Paris"}`},
		}, prompt: 80, output: 30})
		return
	}
	// The second turn: user, assistant with both calls, then a tool
	// message for each, in order, with its call's id.
	if len(msgs) != 5 {
		refuse(f.problem("%s: %d messages in the tool-result turn, want user, assistant, tool, tool, user: %s", model, len(msgs), gjson.GetBytes(body, "messages").Raw))
		return
	}
	a := msgs[1]
	if a.Get("role").Str != "assistant" || a.Get("tool_calls.#").Int() != 2 ||
		a.Get("tool_calls.0.id").Str != "call_weather_1" || a.Get("tool_calls.0.type").Str != "function" ||
		a.Get("tool_calls.0.function.name").Str != weatherTool || a.Get("tool_calls.1.id").Str != "call_time_2" ||
		textOf(a.Get("content")) != "I'll check both." {
		refuse(f.problem("%s: the assistant turn does not hold the two calls: %s", model, a.Raw))
		return
	}
	var args map[string]string
	if err := json.Unmarshal([]byte(a.Get("tool_calls.0.function.arguments").Str), &args); err != nil || args["city"] != "Paris" {
		refuse(f.problem("%s: the call's arguments are not the JSON string it was given: %s", model, a.Get("tool_calls.0.function").Raw))
		return
	}
	for i, want := range []struct{ id, text string }{{"call_weather_1", weatherResult}, {"call_time_2", timeResult}} {
		m := msgs[2+i]
		if m.Get("role").Str != "tool" || m.Get("tool_call_id").Str != want.id || textOf(m.Get("content")) != want.text {
			refuse(f.problem("%s: message %d is not the tool result of %s: %s", model, 2+i, want.id, m.Raw))
			return
		}
	}
	if u := msgs[4]; u.Get("role").Str != "user" || textOf(u.Get("content")) != "Answer in one line." {
		refuse(f.problem("%s: the user's text of the tool-result turn is not a user message after the tool messages: %s", model, u.Raw))
		return
	}
	f.answer(w, model, stream, reply{text: []string{"In Paris it is ", weatherResult, " at ", timeResult, "."}, prompt: 140, output: 12})
}

// chunk is one chat.completion.chunk.
func chunk(model, delta, finish string, withUsage bool) string {
	s := `{"id":"chatcmpl-fake1","object":"chat.completion.chunk","created":1764590000,"model":"` + model +
		`","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + `}]`
	if withUsage {
		s += `,"usage":null`
	}
	return s + "}"
}

func (rp reply) openaiUsage() string {
	return fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`,
		rp.prompt, rp.output, rp.prompt+rp.output, rp.cached)
}

// answer writes rp as OpenAI does, plain or streamed; a stream carries
// `"usage": null` on every chunk and the usage in a last chunk with no
// choices, as include_usage makes OpenAI send it.
func (f *openaiFake) answer(w http.ResponseWriter, model string, stream bool, rp reply) {
	finish := `"stop"`
	if len(rp.calls) > 0 {
		finish = `"tool_calls"`
	}
	if !stream {
		var calls []string
		for _, c := range rp.calls {
			calls = append(calls, `{"id":"`+c.id+`","type":"function","function":{"name":"`+c.name+`","arguments":`+quote(c.args)+`}}`)
		}
		msg := `{"role":"assistant","content":` + quote(strings.Join(rp.text, "")) + `,"refusal":null,"annotations":[]`
		if len(rp.reasoning) > 0 {
			msg += `,"reasoning_content":` + quote(strings.Join(rp.reasoning, ""))
		}
		if len(calls) > 0 {
			msg += `,"tool_calls":[` + strings.Join(calls, ",") + `]`
		}
		msg += "}"
		writeJSON(w, 200, `{"id":"chatcmpl-fake1","object":"chat.completion","created":1764590000,"model":"`+model+
			`","choices":[{"index":0,"message":`+msg+`,"logprobs":null,"finish_reason":`+finish+`}],"usage":`+rp.openaiUsage()+
			`,"service_tier":"default","system_fingerprint":"fp_fake"}`)
		return
	}
	s := startSSE(w)
	s.data(chunk(model, `{"role":"assistant","content":"","refusal":null}`, "null", true))
	for _, piece := range rp.reasoning {
		s.data(chunk(model, `{"content":null,"reasoning_content":`+quote(piece)+`}`, "null", true))
	}
	for _, piece := range rp.text {
		s.data(chunk(model, `{"content":`+quote(piece)+`}`, "null", true))
	}
	for i, c := range rp.calls {
		s.data(chunk(model, fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":"%s","type":"function","function":{"name":"%s","arguments":""}}]}`, i, c.id, c.name), "null", true))
		for _, piece := range pieces(c.args, 7) {
			s.data(chunk(model, fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, quote(piece)), "null", true))
		}
	}
	switch rp.streamUsage {
	case "finish":
		last := chunk(model, `{}`, finish, false)
		s.data(last[:len(last)-1] + `,"usage":` + rp.openaiUsage() + `}`)
	case "none":
		s.data(chunk(model, `{}`, finish, false))
	default:
		s.data(chunk(model, `{}`, finish, true))
		s.data(`{"id":"chatcmpl-fake1","object":"chat.completion.chunk","created":1764590000,"model":"` + model +
			`","system_fingerprint":"fp_fake","choices":[],"usage":` + rp.openaiUsage() + `}`)
	}
	s.data("[DONE]")
}

// pieces cuts s into pieces of n bytes, as providers split arguments.
func pieces(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// anthropicFake speaks Anthropic Messages as the real API does, scripted
// by model name, and checks what the gateway translated from an OpenAI
// client.
//
//	claude-text      system + one user turn → text (plain or streamed)
//	claude-tools     tools offered → text and two tool_use blocks; with
//	                 both tool_result blocks in one user message → text
//	claude-cached    text, usage with cache reads and writes
//	claude-params    sampling, stop, user, max_completion_tokens,
//	                 tool_choice required without parallel calls, an
//	                 image: checked, then a tool call
//	claude-529       529 overloaded_error
//	claude-cut       a stream whose connection breaks after two text deltas
//	claude-midstream a stream: message_start, text deltas, then event: error
type anthropicFake struct {
	*recorder
}

func newAnthropicFake() *anthropicFake { return &anthropicFake{newRecorder()} }

func (f *anthropicFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/counts" {
		f.serveCounts(w)
		return
	}
	body, _ := io.ReadAll(r.Body)
	model := gjson.GetBytes(body, "model").Str
	f.record(model, body)
	w.Header().Set("request-id", "req_011CFakeAnthropic")
	for k, v := range map[string]string{
		"anthropic-organization-id":              "0f8c3a52-fake-account",
		"anthropic-ratelimit-requests-limit":     "50",
		"anthropic-ratelimit-requests-remaining": "49",
		"set-cookie":                             "_cfuvid=fakecookie; path=/; HttpOnly",
	} {
		w.Header().Set(k, v)
	}
	refuse := func(p string) {
		writeJSON(w, 400, `{"type":"error","error":{"type":"invalid_request_error","message":`+quote("fake provider: "+p)+`},"request_id":"req_011CFakeAnthropic"}`)
	}
	if p := f.checkCommon(r, body); p != "" {
		refuse(f.problem("%s: %s", model, p))
		return
	}
	stream := gjson.GetBytes(body, "stream").Bool()
	switch model {
	case "claude-text", "claude-cached":
		if p := checkAnthropicTextTurn(body); p != "" {
			refuse(f.problem("%s: %s", model, p))
			return
		}
		rp := reply{text: []string{"Hello", " from", " the", " Anthropic", " fake", "."}, prompt: 20, output: 7}
		if model == "claude-cached" {
			rp.prompt, rp.cached, rp.cacheWrite = 500, 1500, 100
		}
		f.answer(w, model, stream, rp)
	case "claude-tools":
		f.tools(w, model, stream, body, refuse)
	case "claude-params":
		if p := checkAnthropicParams(body); p != "" {
			refuse(f.problem("%s: %s", model, p))
			return
		}
		f.answer(w, model, stream, reply{text: []string{"Checking."}, calls: []toolCall{{"toolu_09ParamsFake", weatherTool, `{"city":"Paris"}`}}, prompt: 900, output: 10})
	case "claude-529":
		w.Header().Set("x-should-retry", "true")
		writeJSON(w, 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CFakeAnthropic"}`)
	case "claude-cut":
		s := startSSE(w)
		s.event("message_start", `{"type":"message_start","message":{"id":"msg_01Fake","type":"message","role":"assistant","model":"`+model+`","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}`)
		s.event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		for _, piece := range []string{"Partial", " answer"} {
			s.event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+quote(piece)+`}}`)
		}
		panic(http.ErrAbortHandler)
	case "claude-midstream":
		s := startSSE(w)
		s.event("message_start", `{"type":"message_start","message":{"id":"msg_01Fake","type":"message","role":"assistant","model":"`+model+`","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}`)
		s.event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		for _, piece := range []string{"Partial", " answer", " then"} {
			s.event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+quote(piece)+`}}`)
		}
		s.event("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	default:
		refuse(f.problem("unknown model %q", model))
	}
}

// checkCommon checks what every request to Anthropic must be.
func (f *anthropicFake) checkCommon(r *http.Request, body []byte) string {
	switch {
	case r.Method != "POST" || r.URL.Path != "/v1/messages":
		return fmt.Sprintf("%s %s: want POST /v1/messages", r.Method, r.URL.Path)
	case r.Header.Get("X-Api-Key") != fakeAnthropKey:
		return fmt.Sprintf("x-api-key %q: want the provider's key", r.Header.Get("X-Api-Key"))
	case r.Header.Get("Authorization") != "":
		return "an Authorization header reached Anthropic (the client's key?)"
	case r.Header.Get("Anthropic-Version") == "":
		return "no anthropic-version header"
	case !gjson.ValidBytes(body):
		return "the body is not JSON"
	case gjson.GetBytes(body, "max_tokens").Int() <= 0:
		return "no max_tokens (Anthropic requires one)"
	case gjson.GetBytes(body, "stream_options").Exists() || gjson.GetBytes(body, "tool_calls").Exists():
		return "OpenAI members reached Anthropic"
	}
	msgs := gjson.GetBytes(body, "messages").Array()
	for i, m := range msgs {
		role := m.Get("role").Str
		if role != "user" && role != "assistant" {
			return fmt.Sprintf("message %d has role %q (Anthropic has user and assistant only)", i, role)
		}
		if i > 0 && msgs[i-1].Get("role").Str == role {
			return fmt.Sprintf("messages %d and %d have the same role: Anthropic requires them to alternate", i-1, i)
		}
		if m.Get("tool_calls").Exists() || m.Get("tool_call_id").Exists() {
			return fmt.Sprintf("message %d carries OpenAI tool members", i)
		}
	}
	return ""
}

// checkAnthropicParams checks the claude-params scenario: what the
// OpenAI client's parameters and image became.
func checkAnthropicParams(body []byte) string {
	b := gjson.ParseBytes(body)
	switch {
	case b.Get("temperature").Float() != 1:
		return "temperature 1.5 (OpenAI's range is 0–2) was not lowered to Anthropic's 1: " + b.Get("temperature").Raw
	case b.Get("top_p").Float() != 0.9:
		return "top_p not passed on: " + b.Get("top_p").Raw
	case b.Get("stop_sequences").Raw != `["END"]`:
		return "stop did not become stop_sequences without the whitespace one: " + b.Get("stop_sequences").Raw
	case b.Get("metadata.user_id").Str != "user-42":
		return "user did not become metadata.user_id: " + b.Get("metadata").Raw
	case b.Get("max_tokens").Int() != 100:
		return "max_completion_tokens did not become max_tokens: " + b.Get("max_tokens").Raw
	case b.Get("tool_choice.type").Str != "any" || !b.Get("tool_choice.disable_parallel_tool_use").Bool():
		return "tool_choice required without parallel calls did not become any with disable_parallel_tool_use: " + b.Get("tool_choice").Raw
	case b.Get("frequency_penalty").Exists() || b.Get("seed").Exists():
		return "OpenAI-only sampling fields reached Anthropic"
	}
	blocks := b.Get("messages.0.content").Array()
	if len(blocks) != 2 || blocks[0].Get("type").Str != "text" || blocks[1].Get("type").Str != "image" ||
		blocks[1].Get("source.type").Str != "base64" || blocks[1].Get("source.media_type").Str != "image/png" ||
		blocks[1].Get("source.data").Str != pixelPNG {
		return "the text and the data-URL image did not become a text and a base64 image block: " + b.Get("messages.0").Raw
	}
	return ""
}

// systemText is the Anthropic system prompt's text, a string or blocks.
func systemText(body []byte) string { return textOf(gjson.GetBytes(body, "system")) }

func checkAnthropicTextTurn(body []byte) string {
	msgs := gjson.GetBytes(body, "messages").Array()
	if systemText(body) != systemPrompt {
		return "the system message is not the system prompt: " + gjson.GetBytes(body, "system").Raw
	}
	if len(msgs) != 1 || msgs[0].Get("role").Str != "user" || textOf(msgs[0].Get("content")) != "Say hello." {
		return "want one user message: " + gjson.GetBytes(body, "messages").Raw
	}
	return ""
}

// tools plays claude-tools.
func (f *anthropicFake) tools(w http.ResponseWriter, model string, stream bool, body []byte, refuse func(string)) {
	msgs := gjson.GetBytes(body, "messages").Array()
	tools := gjson.GetBytes(body, "tools").Array()
	if len(tools) != 2 || tools[0].Get("name").Str != weatherTool || tools[0].Get("input_schema.type").Str != "object" ||
		tools[0].Get("input_schema.properties.city.type").Str != "string" || tools[1].Get("name").Str != timeTool ||
		tools[0].Get("function").Exists() {
		refuse(f.problem("%s: the tools are not the client's functions as Anthropic tools: %s", model, gjson.GetBytes(body, "tools").Raw))
		return
	}
	if len(msgs) == 1 {
		f.answer(w, model, stream, reply{text: []string{"I'll", " check", " both."}, calls: []toolCall{
			{"toolu_01WeatherFake", weatherTool, `{"city":"Paris"}`},
			{"toolu_02TimeFake", timeTool, `{"city":"Paris","timezone":"Europe/Paris"}`},
		}, prompt: 400, output: 60})
		return
	}
	// The second turn: user, assistant with the text and both
	// tool_use blocks, then one user message of both tool_result
	// blocks.
	if len(msgs) != 3 {
		refuse(f.problem("%s: %d messages in the tool-result turn, want user, assistant, user: %s", model, len(msgs), gjson.GetBytes(body, "messages").Raw))
		return
	}
	var uses []gjson.Result
	for _, b := range msgs[1].Get("content").Array() {
		if b.Get("type").Str == "tool_use" {
			uses = append(uses, b)
		}
	}
	if len(uses) != 2 || uses[0].Get("id").Str != "toolu_01WeatherFake" || uses[0].Get("name").Str != weatherTool ||
		uses[0].Get("input.city").Str != "Paris" || uses[1].Get("id").Str != "toolu_02TimeFake" {
		refuse(f.problem("%s: the assistant turn does not hold the two tool_use blocks: %s", model, msgs[1].Raw))
		return
	}
	results := msgs[2].Get("content").Array()
	if len(results) != 3 || results[2].Get("type").Str != "text" || results[2].Get("text").Str != "Answer in one line." {
		refuse(f.problem("%s: want both tool results, then the user's text, in one user message: %s", model, msgs[2].Raw))
		return
	}
	for i, want := range []struct{ id, text string }{{"toolu_01WeatherFake", weatherResult}, {"toolu_02TimeFake", timeResult}} {
		b := results[i]
		if b.Get("type").Str != "tool_result" || b.Get("tool_use_id").Str != want.id || textOf(b.Get("content")) != want.text {
			refuse(f.problem("%s: block %d is not the tool_result of %s: %s", model, i, want.id, b.Raw))
			return
		}
	}
	f.answer(w, model, stream, reply{text: []string{"In Paris it is ", weatherResult, " at ", timeResult, "."}, prompt: 520, output: 14})
}

func (rp reply) anthropicUsage(output int) string {
	return fmt.Sprintf(`{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":%d,"service_tier":"standard"}`,
		rp.prompt, rp.cacheWrite, rp.cached, output)
}

// answer writes rp as Anthropic does, plain or streamed.
func (f *anthropicFake) answer(w http.ResponseWriter, model string, stream bool, rp reply) {
	stop := "end_turn"
	if len(rp.calls) > 0 {
		stop = "tool_use"
	}
	text := strings.Join(rp.text, "")
	if !stream {
		blocks := []string{`{"type":"text","text":` + quote(text) + `}`}
		for _, c := range rp.calls {
			blocks = append(blocks, `{"type":"tool_use","id":"`+c.id+`","name":"`+c.name+`","input":`+c.args+`}`)
		}
		writeJSON(w, 200, `{"id":"msg_01Fake","type":"message","role":"assistant","model":"`+model+`","content":[`+strings.Join(blocks, ",")+
			`],"stop_reason":"`+stop+`","stop_sequence":null,"usage":`+rp.anthropicUsage(rp.output)+`}`)
		return
	}
	s := startSSE(w)
	s.event("message_start", `{"type":"message_start","message":{"id":"msg_01Fake","type":"message","role":"assistant","model":"`+model+
		`","content":[],"stop_reason":null,"stop_sequence":null,"usage":`+rp.anthropicUsage(1)+`}}`)
	s.event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	s.event("ping", `{"type": "ping"}`)
	for _, piece := range rp.text {
		s.event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+quote(piece)+`}}`)
	}
	s.event("content_block_stop", `{"type":"content_block_stop","index":0}`)
	for i, c := range rp.calls {
		s.event("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":"%s","name":"%s","input":{}}}`, i+1, c.id, c.name))
		s.event("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":""}}`, i+1))
		for _, piece := range pieces(c.args, 7) {
			s.event("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%s}}`, i+1, quote(piece)))
		}
		s.event("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i+1))
	}
	s.event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"output_tokens":`+fmt.Sprint(rp.output)+`}}`)
	s.event("message_stop", `{"type":"message_stop"}`)
}
