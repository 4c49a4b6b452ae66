package providers

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScrubRedactsKeys(t *testing.T) {
	cases := []struct{ in, want string }{
		// Real providers' texts, with fake keys.
		{"Incorrect API key provided: sk-proj-********************************************Wx9Q. You can find your API key at https://platform.openai.com/account/api-keys.",
			"Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys."},
		{"Incorrect API key provided: sk-VKMIs***************************************wjh3.", "Incorrect API key provided: [redacted]."},
		{"Incorrect API key provided: sk-...1JMA. You can find", "Incorrect API key provided: [redacted]. You can find"},
		{"Incorrect API key provided: YOUR_OPE***_KEY.", "Incorrect API key provided: [redacted]."},
		{"Incorrect API key provided: sk jj.", "Incorrect API key provided: [redacted] jj."},
		{"Incorrect API key provided: na***ys.", "Incorrect API key provided: [redacted]."},
		{"invalid x-api-key sk-ant-api03-AbCdEfGhIjKlMnOp-QrStUvWxYz0123456789-AA", "invalid x-api-key [redacted]"},
		{"key sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef rejected", "key [redacted] rejected"},
		{"sk-0123456789abcdef0123456789abcdef is not valid", "[redacted] is not valid"},
		{"gsk_0123456789ABCDEFGHIJabcdefghij0123456789ABCDEFGHIJ expired", "[redacted] expired"},
		{"API key AIzaSyA-0123456789abcdefghijklmnopqrstu not valid", "API key [redacted] not valid"},
		{"use key=abcdef", "use key=[redacted]"},
		{"Authorization: Bearer abc.def.ghi", "Authorization: Bearer [redacted]"},
		{"client key ck-live-0123456789abcdef unknown", "client key [redacted] unknown"},
		{"masked sk-abc…wxyz here", "masked [redacted] here"},
		{"masked ••••••••abcd here", "masked [redacted] here"},
		// Glued to other text, or hidden by invisible characters.
		{"xsk-proj-FUZZSECRET123456", "[redacted]"},
		{"(sk-proj-FUZZSECRET123456)", "([redacted])"},
		{"\"sk-proj-FUZZSECRET123456\"", "\"[redacted]\""},
		{"sk-\u200bproj-FUZZ\u00adSECRET123456", "[redacted]"},
		{"sk-proj-FUZZ\xffSECRET123456", "[redacted]"},
		{"sk-proj-FUZZ\nSECRET123456", "[redacted] SECRET123456"},
		// Random-looking identifiers go too; that is the price of safety.
		{"request ID 7f3c0e2a9d8b4c1e6f5a4b3c2d1e0f9a in your message", "request ID [redacted] in your message"},
		{"organization `org_01jfakeorg0000000000000000` on tokens", "organization `[redacted]` on tokens"},
	}
	for _, c := range cases {
		if got := scrub(c.in, nil); got != c.want {
			t.Errorf("scrub(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// What helps a client fix its request must survive.
func TestScrubKeepsOrdinaryText(t *testing.T) {
	keep := []string{
		"Invalid 'messages[10].tool_calls[0].id': string too long. Expected a string with maximum length 40, but got a string with length 44 instead.",
		"The model `gpt-5-turbo` does not exist or you do not have access to it.",
		"model: claude-3-5-sonnet-20241022",
		"prompt is too long: 205351 tokens > 200000 maximum",
		"max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-20250514",
		"This is a task-specific, risk-based, desk-bound, back-end check.",
		"Visit https://console.groq.com/docs/rate-limits for more information.",
		"models/gemini-2.0-flash is not found for API version v1beta",
		"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
		"messages[0].content: Field required; max_completion_tokens: Extra inputs are not permitted",
		"Le modèle « mistral-large » n'existe pas — 日本語のメッセージ",
		"This model's maximum context length is 128000 tokens. However, your messages resulted in 204308 tokens.",
		"Request contains an invalid argument.",
		"and so on…",
	}
	for _, s := range keep {
		if got := scrub(s, nil); got != s {
			t.Errorf("scrub changed an ordinary message:\n got %q\nwant %q", got, s)
		}
	}
}

func TestScrubConfiguredKeys(t *testing.T) {
	key := "0123456789abcdefABCDEFghij" // a key with no recognisable prefix (Mistral's look like this)
	cases := []struct{ in, want string }{
		{"key " + key + " is revoked", "key [redacted] is revoked"},
		{"key ****ABCDEFghij is revoked", "key [redacted] is revoked"},
		{"tail ..." + key[len(key)-8:] + " shown", "tail [redacted] shown"},
	}
	for _, c := range cases {
		if got := scrub(c.in, []string{key, "", "short"}); got != c.want {
			t.Errorf("scrub(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestScrubCleansAndTruncates(t *testing.T) {
	if got := scrub("a\tb\r\n\nc\x00d\u2028e\u200bf  g", nil); got != "a b c d ef g" {
		t.Errorf("clean: %q", got)
	}
	long := strings.Repeat("é", maxMessage+10)
	got := scrub(long, nil)
	if !utf8.ValidString(got) || utf8.RuneCountInString(got) != maxMessage+1 || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate: %d runes, valid %v, %q…", utf8.RuneCountInString(got), utf8.ValidString(got), got[:10])
	}
	if scrub("", nil) != "" || scrub(" \n\t ", nil) != "" {
		t.Error("blank text should scrub to nothing")
	}
}
