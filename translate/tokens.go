package translate

import (
	"encoding/base64"
	"strings"
)

// CountTokens estimates the input tokens of an Anthropic Messages (or
// count_tokens) request body: what /v1/messages/count_tokens answers on
// a route to an OpenAI-protocol provider, which has no such endpoint, and
// what message_start reports before the provider has counted.
//
// The estimate reads only what the model reads (the text of the system
// prompt, of every message, of tool calls and results, and the names,
// descriptions and schemas of the tools), never the request's own JSON
// syntax, and counts each piece the way byte-pair tokenizers split text:
//
//   - a run of letters is a word, split at lower→upper case changes
//     (camelCase identifiers); a part of up to 8 letters is one token,
//     a longer one a token more per 6 letters;
//   - digits come in tokens of up to 3, punctuation likewise;
//   - a run of spaces (past the one that goes with the next word) or of
//     line breaks is a token;
//   - letters outside ASCII of two-byte scripts (accents, Greek,
//     Cyrillic) count as letters; three-byte characters (CJK) four
//     tokens per five; four-byte ones (emoji) a token each.
//
// Calibrated against the o200k tokenizer on English prose, Go and Python
// code, JSON, go.sum hashes, Chinese and the Claude Code request in
// testdata, the raw count is within 16% of o200k's for each (the Claude
// Code request: 8,092 against 8,054; bytes/4 would say 12,210); the
// result adds a tenth (Claude's tokenizer is larger than o200k on the
// same text, and for a context meter an overestimate is the safe side).
// Then the framing: 3 tokens per message, 3 to prime the reply, and when
// tools are offered the 346 tokens of the tool-use system prompt
// Anthropic documents. Images count as Anthropic prices them (width ×
// height / 750, after the API's own downscaling to at most 1568 pixels a
// side and 1.15 megapixels), with the size read from a PNG, GIF or JPEG
// header, else the 1,600 tokens of a full-size image; PDF documents
// 1,500 tokens per 100 KB. Thinking blocks of earlier turns are not
// counted: Anthropic drops them from the context.
//
// The estimate is deterministic, reads the string literals as they are
// in the body (escapes counted as the characters they stand for, nothing
// unescaped), and costs one pass over the body's structure; texts over
// 4 KB are counted on a 4 KB sample of their start and end.
func CountTokens(body []byte) int64 {
	doc := view(body)
	var c tokenCounter
	eachRaw(doc, func(k, v string) bool {
		switch k {
		case `"system"`:
			c.content(v)
		case `"messages"`:
			eachRaw(v, func(_, m string) bool {
				c.fixed += tokensPerMessage
				c.content(getRaw(m, `"content"`))
				return true
			})
		case `"tools"`:
			first := true
			eachRaw(v, func(_, t string) bool {
				if first {
					c.fixed += toolUsePrompt
					first = false
				}
				c.fixed += tokensPerTool
				eachRaw(t, func(k, v string) bool {
					switch k {
					case `"name"`, `"description"`:
						c.literal(v)
					case `"input_schema"`:
						c.text(v)
					}
					return true
				})
				return true
			})
		}
		return true
	})
	return (c.n*claudeRatio+9)/10 + c.fixed + tokensForReply
}

const (
	tokensPerMessage = 3
	tokensForReply   = 3
	tokensPerTool    = 8
	// toolUsePrompt is the system prompt Anthropic adds when tools are
	// offered (346 tokens with tool_choice auto or none, per its tool-use
	// pricing table).
	toolUsePrompt = 346
	// claudeRatio is the tenths of an o200k count Claude's tokenizer is
	// taken to use.
	claudeRatio = 11
	// fullImage is the token cost of an image at the API's largest size.
	fullImage = 1600
)

// tokenCounter adds up text (n, scaled to Claude's tokenizer at the
// end) and counts already in Claude's tokens (fixed: framing, images,
// documents).
type tokenCounter struct{ n, fixed int64 }

// literal counts a raw string literal's text.
func (c *tokenCounter) literal(raw string) {
	if len(raw) >= 2 && raw[0] == '"' {
		c.text(raw[1 : len(raw)-1])
	}
}

// content counts a message's raw content: a string or an array of
// blocks.
func (c *tokenCounter) content(raw string) {
	if raw == "" {
		return
	}
	if raw[0] == '"' {
		c.literal(raw)
		return
	}
	eachRaw(raw, func(_, b string) bool {
		switch getRaw(b, `"type"`) {
		case `"text"`:
			c.literal(getRaw(b, `"text"`))
		case `"image"`:
			c.fixed += imageTokens(getRaw(b, `"source"`))
		case `"document"`:
			src := getRaw(b, `"source"`)
			switch getRaw(src, `"type"`) {
			case `"text"`:
				c.literal(getRaw(src, `"data"`))
			case `"base64"`:
				c.fixed += (int64(len(getRaw(src, `"data"`)))*3/4/100_000 + 1) * 1500
			default:
				c.fixed += 1500
			}
		case `"tool_use"`, `"server_tool_use"`:
			c.literal(getRaw(b, `"name"`))
			c.text(getRaw(b, `"input"`))
		case `"tool_result"`, `"web_search_tool_result"`:
			c.content(getRaw(b, `"content"`))
		}
		return true
	})
}

// Byte classes of the tokenizer estimate.
const (
	classLetter = iota
	classUpper
	classDigit
	classSpace
	classNewline
	classPunct
	classCont // a UTF-8 continuation byte: part of the character before
	classWide // the first byte of a three-byte character (CJK)
	classEmoji
	classBad
	classEscape // a backslash inside a literal
	numClasses
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z':
			t[c] = classLetter
		case 'A' <= c && c <= 'Z':
			t[c] = classUpper
		case '0' <= c && c <= '9':
			t[c] = classDigit
		case c == ' ' || c == '\t':
			t[c] = classSpace
		case c == '\n' || c == '\r':
			t[c] = classNewline
		case c == '\\':
			t[c] = classEscape
		case c < 0x80:
			t[c] = classPunct
		case c < 0xc0:
			t[c] = classCont
		case c < 0xc2:
			t[c] = classBad
		case c < 0xe0:
			t[c] = classLetter // two-byte scripts: letters
		case c < 0xf0:
			t[c] = classWide
		case c < 0xf5:
			t[c] = classEmoji
		default:
			t[c] = classBad
		}
	}
	return t
}()

// tokenAt[class][run] is 1 when the run-th byte (from 1) of a run of
// one class starts a token; wrapAt and wrapTo make the pattern repeat
// (letters: a token at 1, 9, 15, 21, …; digits and punctuation at 1, 4,
// 7, …; spaces at 2 only; CJK at 1, 2, 3, 4 of every 5).
var tokenAt, wrapAt, wrapTo = func() (at [numClasses][32]uint8, wrap, to [numClasses]uint8) {
	for c := range numClasses {
		wrap[c], to[c] = 31, 30
	}
	at[classLetter][1], at[classLetter][9], at[classLetter][15] = 1, 1, 1
	wrap[classLetter], to[classLetter] = 16, 10
	for _, c := range []int{classDigit, classPunct} {
		at[c][1] = 1
		wrap[c], to[c] = 4, 1
	}
	at[classSpace][2] = 1
	wrap[classSpace], to[classSpace] = 4, 3
	at[classNewline][1] = 1
	wrap[classNewline], to[classNewline] = 3, 2
	at[classWide][1], at[classWide][2], at[classWide][3], at[classWide][4] = 1, 1, 1, 1
	wrap[classWide], to[classWide] = 6, 1
	at[classEmoji][1], at[classBad][1] = 1, 1
	wrap[classEmoji], to[classEmoji], wrap[classBad], to[classBad] = 2, 1, 2, 1
	return at, wrap, to
}()

// sampleBytes bounds the bytes of one text counted in full: a longer
// text (a file in a tool result, a long system prompt) is counted on its
// first and last sampleBytes/2 and the count scaled to its length. Such
// texts are uniform enough that this moves the Claude Code request's
// estimate by under 1%, and it keeps CountTokens from growing with a
// 10 MB body.
const sampleBytes = 4096

// text counts one piece of text, the inside of a string literal or raw
// JSON (see CountTokens for the rules).
func (c *tokenCounter) text(s string) {
	if len(s) > sampleBytes {
		var head, tail tokenCounter
		head.count(s[:sampleBytes/2])
		tail.count(s[len(s)-sampleBytes/2:])
		c.n += (head.n + tail.n) * int64(len(s)) / sampleBytes
		return
	}
	c.count(s)
}

// count counts s in full.
func (c *tokenCounter) count(s string) {
	var n int64
	prev, run := uint8(numClasses), uint8(0)
	for i := 0; i < len(s); i++ {
		cl := byteClass[s[i]]
		switch cl {
		case classCont:
			continue
		case classEscape:
			// An escape stands for one character: \n and \r a line
			// break, \t a space, \uXXXX a character outside ASCII,
			// the others punctuation.
			if i+1 < len(s) {
				i++
				switch s[i] {
				case 'n', 'r':
					cl = classNewline
				case 't':
					cl = classSpace
				case 'u':
					cl = classWide
					i = min(i+4, len(s)-1)
				default:
					cl = classPunct
				}
			} else {
				cl = classPunct
			}
		case classUpper:
			// camelCase: a capital after a lower-case letter starts
			// a word part; within capitals and letters it continues.
			if prev == classLetter && i > 0 && byteClass[s[i-1]] == classLetter {
				run = 0
			}
			cl = classLetter
		}
		if cl != prev {
			prev, run = cl, 0
		}
		run++
		if run >= wrapAt[cl] {
			run = wrapTo[cl]
		}
		n += int64(tokenAt[cl][run])
	}
	c.n += n
}

// imageTokens is what Anthropic charges for a raw image source.
func imageTokens(src string) int64 {
	if getRaw(src, `"type"`) != `"base64"` {
		return fullImage
	}
	data := strings.Trim(getRaw(src, `"data"`), `"`)
	// The header of any of the three formats is in the first 48 KiB
	// for all but JPEGs with large metadata; those count as full size.
	head := data[:min(len(data), 64<<10)]
	head = head[:len(head)/4*4]
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(head)))
	n, _ := base64.StdEncoding.Decode(buf, []byte(head))
	w, h := imageSize(buf[:n])
	if w <= 0 || h <= 0 {
		return fullImage
	}
	return scaledImageTokens(w, h)
}

// scaledImageTokens is width × height / 750 after the downscaling the
// API applies to large images.
func scaledImageTokens(w, h int64) int64 {
	const maxSide, maxPixels = 1568, 1_150_000
	if w > maxSide || h > maxSide {
		if w >= h {
			h, w = h*maxSide/w, maxSide
		} else {
			w, h = w*maxSide/h, maxSide
		}
	}
	if w*h > maxPixels {
		// Scale both sides by sqrt(maxPixels / (w*h)), in integers.
		for w*h > maxPixels {
			w, h = w*99/100, h*99/100
		}
	}
	return min(max(1, (w*h+749)/750), fullImage)
}

// imageSize reads the pixel size from a PNG, GIF or JPEG header.
func imageSize(b []byte) (w, h int64) {
	be16 := func(p []byte) int64 { return int64(p[0])<<8 | int64(p[1]) }
	switch {
	case len(b) >= 24 && string(b[:8]) == "\x89PNG\r\n\x1a\n" && string(b[12:16]) == "IHDR":
		return be16(b[16:18])<<16 | be16(b[18:20]), be16(b[20:22])<<16 | be16(b[22:24])
	case len(b) >= 10 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return int64(b[6]) | int64(b[7])<<8, int64(b[8]) | int64(b[9])<<8
	case len(b) >= 4 && b[0] == 0xff && b[1] == 0xd8:
		for i := 2; i+9 < len(b); {
			if b[i] != 0xff {
				return 0, 0
			}
			marker := b[i+1]
			if marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7) {
				i += 2
				continue
			}
			seg := int(be16(b[i+2 : i+4]))
			// SOF0..SOF15 but DHT, JPG and DAC carry the frame size.
			if marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc {
				return be16(b[i+7 : i+9]), be16(b[i+5 : i+7])
			}
			i += 2 + seg
		}
	}
	return 0, 0
}
