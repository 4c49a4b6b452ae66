package translate

import (
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The translators read with gjson and write by appending to a byte
// slice: no map[string]any trees, no reflection. These helpers are the
// only places that write JSON scalars, so escaping is done right once.

// view is b as a string without copying, for gjson. The caller must not
// change b while the string (or any gjson.Result taken from it) is used.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// safeASCII marks the bytes a JSON string literal may hold as they are.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal.
func appendString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the inside of a JSON string literal for s:
// quotes, backslashes and control characters escaped, invalid UTF-8
// replaced by U+FFFD (so the output is always valid JSON and valid
// UTF-8), everything else as it is (<, > and & too, as the APIs send
// them).
func appendEscaped[T string | []byte](b []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		size := runeLen(s, i)
		if size == 0 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// runeLen is the length of the valid UTF-8 sequence that starts at
// s[i] (a byte of 0x80 or more), or 0 when it is not one: a stray
// continuation byte, an overlong form, a surrogate, a code point past
// U+10FFFF, or a sequence cut short.
func runeLen[T string | []byte](s T, i int) int {
	cont := func(j int) bool { return j < len(s) && s[j]&0xc0 == 0x80 }
	c := s[i]
	switch {
	case c < 0xc2:
		return 0
	case c < 0xe0:
		if cont(i + 1) {
			return 2
		}
	case c < 0xf0:
		if !cont(i+1) || !cont(i+2) {
			return 0
		}
		if (c == 0xe0 && s[i+1] < 0xa0) || (c == 0xed && s[i+1] >= 0xa0) {
			return 0
		}
		return 3
	case c < 0xf5:
		if !cont(i+1) || !cont(i+2) || !cont(i+3) {
			return 0
		}
		if (c == 0xf0 && s[i+1] < 0x90) || (c == 0xf4 && s[i+1] >= 0x90) {
			return 0
		}
		return 4
	}
	return 0
}

// appendStringValue appends a string value read from a document the
// request layer has checked to be JSON: its literal is copied as it is
// when it is valid UTF-8 (no unescaping, no re-escaping), and re-encoded
// otherwise. A value that is not a string is written as its text.
func appendStringValue(b []byte, r gjson.Result) []byte {
	if r.Type == gjson.String && isLiteral(r.Raw) {
		return append(b, r.Raw...)
	}
	return appendString(b, decoded(r))
}

// decoded is the text of a string value, decoded from its raw literal
// (result leaves long ones undecoded).
func decoded(r gjson.Result) string {
	if r.Type == gjson.String && len(r.Raw) >= lazyString {
		return gjson.Parse(r.Raw).Str
	}
	return r.String()
}

// appendInner is appendStringValue without the quotes, for joining
// several strings into one literal.
func appendInner(b []byte, r gjson.Result) []byte {
	if r.Type == gjson.String && isLiteral(r.Raw) {
		return append(b, r.Raw[1:len(r.Raw)-1]...)
	}
	return appendEscaped(b, decoded(r))
}

// isLiteral reports whether raw can be copied as a JSON string literal:
// quoted at both ends, valid UTF-8, no raw control characters. gjson
// hands out what the document holds, and a client may send anything.
func isLiteral(raw string) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	// An escaped final quote (`"abc\"`) is not the end of the literal.
	bs := 0
	for i := len(raw) - 2; i > 0 && raw[i] == '\\'; i-- {
		bs++
	}
	if bs%2 == 1 {
		return false
	}
	// Eight bytes at a time while they are ASCII and none is a control
	// character (the classic "has a byte less than n" test).
	i := 1
	for ; i+8 <= len(raw)-1; i += 8 {
		w := uint64(raw[i]) | uint64(raw[i+1])<<8 | uint64(raw[i+2])<<16 | uint64(raw[i+3])<<24 |
			uint64(raw[i+4])<<32 | uint64(raw[i+5])<<40 | uint64(raw[i+6])<<48 | uint64(raw[i+7])<<56
		if w&0x8080808080808080 != 0 || (w-0x2020202020202020)&^w&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(raw)-1; i++ {
		c := raw[i]
		if c < 0x20 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.ValidString(raw[i : len(raw)-1])
		}
	}
	return true
}

// appendInt appends n in decimal.
func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendKey appends `,"key":` (or without the comma for the first
// member, when b ends with '{').
func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// isNumber reports whether r is a JSON number, the only kind of value
// copied raw into a sampling parameter.
func isNumber(r gjson.Result) bool { return r.Type == gjson.Number }

// appendCompactString appends the JSON text raw as a JSON string literal
// without its insignificant whitespace: a tool call's input object
// becomes OpenAI's arguments string as the API itself writes it
// (compact), whatever indentation the client used.
func appendCompactString(b []byte, raw string) []byte {
	b = append(b, '"')
	inString, escaped := false, false
	start := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			b = appendEscaped(b, raw[start:i])
			start = i + 1
		}
	}
	b = appendEscaped(b, raw[start:])
	return append(b, '"')
}
