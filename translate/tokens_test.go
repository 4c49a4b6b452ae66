package translate

import (
	"encoding/base64"
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

func TestCountTokensClaudeCode(t *testing.T) {
	body, err := os.ReadFile("../testdata/requests/claude_code.json")
	if err != nil {
		t.Fatal(err)
	}
	n := CountTokens(body)
	// The request's text is 8,054 o200k tokens (counted once with the
	// o200k tokenizer; CountTokens documents the calibration), plus 346
	// for the tool-use prompt and the framing; the estimate adds a
	// tenth. bytes/4 would say 12,210.
	if n < 9000 || n > 10500 {
		t.Errorf("CountTokens = %d, want about 9,700 (o200k 8,054 × 1.1 + tool prompt)", n)
	}
	if again := CountTokens(body); again != n {
		t.Errorf("not deterministic: %d then %d", n, again)
	}
}

func TestCountTokensReadsTextNotSyntax(t *testing.T) {
	plain := CountTokens([]byte(`{"messages":[{"role":"user","content":"hello there"}]}`))
	// The same text in blocks, with cache_control and ids around it,
	// is the same prompt to the model.
	blocks := CountTokens([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"hello there","cache_control":{"type":"ephemeral"}}]}]}`))
	if plain != blocks {
		t.Errorf("string content %d, blocks %d: JSON syntax was counted", plain, blocks)
	}
	if want := int64((2*11+9)/10 + tokensPerMessage + tokensForReply); plain > want+1 {
		t.Errorf("two words counted as %d tokens", plain)
	}
	withTools := CountTokens([]byte(`{"tools":[{"name":"Read","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hello there"}]}`))
	if withTools-plain < toolUsePrompt {
		t.Errorf("offering a tool added %d tokens, want at least the %d of the tool-use prompt", withTools-plain, toolUsePrompt)
	}
	// Thinking of earlier turns is not in the context.
	thinking := CountTokens([]byte(`{"messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":[{"type":"thinking","thinking":"` + strings.Repeat("long thought ", 500) + `"}]}]}`))
	if thinking-plain > tokensPerMessage {
		t.Errorf("thinking counted: %d against %d", thinking, plain)
	}
}

func TestCountTokensText(t *testing.T) {
	for _, tc := range []struct {
		text     string
		min, max int64
	}{
		{"", 0, 0},
		{"hello", 1, 1},
		{"the quick brown fox jumps over the lazy dog", 9, 9},
		{"internationalization", 3, 5},
		{"handleRequestBody", 3, 3},
		{"1234567", 3, 3},
		{"{\"a\": [1, 2]}", 4, 8},
		{"你好世界，这是一个测试", 8, 11},
		{"naïve café déjà vu", 4, 8},
		{"\xff\xfe invalid", 2, 4},
	} {
		var c tokenCounter
		c.text(tc.text)
		if c.n < tc.min || c.n > tc.max {
			t.Errorf("%q: %d tokens, want %d..%d", tc.text, c.n, tc.min, tc.max)
		}
	}
}

func TestCountTokensImages(t *testing.T) {
	png := func(w, h uint32) string {
		b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
		b = binary.BigEndian.AppendUint32(b, w)
		b = binary.BigEndian.AppendUint32(b, h)
		b = append(b, 8, 6, 0, 0, 0)
		return base64.StdEncoding.EncodeToString(b)
	}
	jpeg := func(w, h uint16) string {
		b := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8}
		b = binary.BigEndian.AppendUint16(b, h)
		b = binary.BigEndian.AppendUint16(b, w)
		b = append(b, 3, 0, 0, 0)
		return base64.StdEncoding.EncodeToString(b)
	}
	image := func(data string) int64 {
		return CountTokens([]byte(`{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"`+data+`"}}]}]}`)) -
			CountTokens([]byte(`{"messages":[{"role":"user","content":[]}]}`))
	}
	for _, tc := range []struct {
		name string
		data string
		want int64
	}{
		// Anthropic's table: 200×200 ≈ 54 tokens, 1000×1000 ≈ 1334,
		// 1092×1092 ≈ 1590; larger images are scaled down first.
		{"png 200x200", png(200, 200), 54},
		{"png 1000x1000", png(1000, 1000), 1334},
		{"jpeg 1092x1092", jpeg(1092, 1092), 1590},
		{"png 4000x3000 scaled", png(4000, 3000), 1534},
		{"not an image", base64.StdEncoding.EncodeToString([]byte("hello world, no header")), fullImage},
	} {
		if got := image(tc.data); got < tc.want-tc.want/20 || got > tc.want+tc.want/20 {
			t.Errorf("%s: %d tokens, want about %d", tc.name, got, tc.want)
		}
	}
	// A 500 KB screenshot is an image, not 125,000 tokens of base64.
	big := png(1920, 1080) + strings.Repeat("A", 500_000)
	if got := image(big); got > fullImage {
		t.Errorf("a large image counted %d tokens", got)
	}
}
