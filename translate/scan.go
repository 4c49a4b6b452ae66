package translate

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// gjson finds a member by parsing every value before it byte by byte, so
// reading a 49 KB Claude Code request member by member, block by block,
// passes over its long strings (system prompt, tool descriptions, file
// contents in tool results) many times. each and get walk an object or
// array once, skipping strings with strings.IndexByte, and hand out
// gjson.Results that the rest of the package reads as before. They are
// made for documents the request layer has checked; on malformed input
// they stop early, never run past the end, and never panic.

// skipString returns the index just past the string literal that opens
// at s[i] (a quote), or len(s) when it is not closed.
func skipString(s string, i int) int {
	j := i + 1
	for {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return len(s)
		}
		j += k
		bs := 0
		for p := j - 1; p > i && s[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1
		}
		j++
	}
}

// skipValue returns the index just past the value that starts at s[i].
func skipValue(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				j = skipString(s, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(s)
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && !isSpace(s[j]) {
		j++
	}
	return j
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// lazyString is the length from which a string with escapes is not
// unescaped by result: long strings (a system prompt, a file in a tool
// result) are only ever copied as their raw literal, and unescaping them
// cost more than the rest of the translation.
const lazyString = 1024

// result is the gjson.Result of the raw value v. For a string of
// lazyString bytes or more with escapes, Str is the raw literal itself,
// not its text: read such values with appendStringValue or appendInner
// (which copy Raw, or decode it), or test Str only for emptiness.
func result(v string) gjson.Result {
	if v == "" {
		return gjson.Result{}
	}
	switch v[0] {
	case '"':
		if len(v) >= 2 && v[len(v)-1] == '"' && strings.IndexByte(v, '\\') < 0 {
			return gjson.Result{Type: gjson.String, Raw: v, Str: v[1 : len(v)-1]}
		}
		if len(v) >= lazyString {
			return gjson.Result{Type: gjson.String, Raw: v, Str: v}
		}
		return gjson.Parse(v)
	case '{', '[':
		return gjson.Result{Type: gjson.JSON, Raw: v}
	case 't':
		return gjson.Result{Type: gjson.True, Raw: v}
	case 'f':
		return gjson.Result{Type: gjson.False, Raw: v}
	case 'n':
		return gjson.Result{Type: gjson.Null, Raw: v}
	}
	n, _ := strconv.ParseFloat(v, 64)
	return gjson.Result{Type: gjson.Number, Raw: v, Num: n}
}

// each calls fn with each member of an object (key, value) or element of
// an array (index, value) until fn returns false.
func each(r gjson.Result, fn func(key, value gjson.Result) bool) {
	s := r.Raw
	if r.Type != gjson.JSON || len(s) < 2 {
		return
	}
	object := s[0] == '{'
	if !object && s[0] != '[' {
		return
	}
	i := skipSpace(s, 1)
	for n := 0; i < len(s) && s[i] != '}' && s[i] != ']'; n++ {
		var key gjson.Result
		if object {
			if s[i] != '"' {
				return
			}
			end := skipString(s, i)
			key = result(s[i:end])
			i = skipSpace(s, end)
			if i >= len(s) || s[i] != ':' {
				return
			}
			i = skipSpace(s, i+1)
		} else {
			key = gjson.Result{Type: gjson.Number, Num: float64(n)}
		}
		end := skipValue(s, i)
		if end == i {
			return
		}
		if !fn(key, result(s[i:end])) {
			return
		}
		i = skipSpace(s, end)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
		}
	}
}

// eachRaw is each over raw text, handing out raw keys (with quotes) and
// raw values, with no gjson.Result built and no string unescaped.
func eachRaw(s string, fn func(key, value string) bool) {
	if len(s) < 2 || (s[0] != '{' && s[0] != '[') {
		return
	}
	object := s[0] == '{'
	i := skipSpace(s, 1)
	for i < len(s) && s[i] != '}' && s[i] != ']' {
		var key string
		if object {
			if s[i] != '"' {
				return
			}
			end := skipString(s, i)
			key = s[i:end]
			i = skipSpace(s, end)
			if i >= len(s) || s[i] != ':' {
				return
			}
			i = skipSpace(s, i+1)
		}
		end := skipValue(s, i)
		if end == i || !fn(key, s[i:end]) {
			return
		}
		i = skipSpace(s, end)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
		}
	}
}

// getRaw is the raw value of member key (given with its quotes, as
// `"type"`) of the raw object s, or "".
func getRaw(s, key string) string {
	var found string
	eachRaw(s, func(k, v string) bool {
		if k == key {
			found = v
			return false
		}
		return true
	})
	return found
}

// get is the member key of object r (the first, as gjson's Get).
func get(r gjson.Result, key string) gjson.Result {
	var found gjson.Result
	each(r, func(k, v gjson.Result) bool {
		if k.Str == key {
			found = v
			return false
		}
		return true
	})
	return found
}
