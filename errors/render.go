package errors

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Body renders e in envelope f (which must be resolved, not Auto). Keys
// come in the order the envelope's documentation shows them.
func (e *Error) Body(f Format) []byte {
	b := make([]byte, 0, 256+len(e.Message))
	switch f {
	case Anthropic:
		b = append(b, `{"type":"error","error":{"type":`...)
		b = appendString(b, e.Type(f))
		b = append(b, `,"message":`...)
		b = appendString(b, e.Message)
		b = append(b, `},"request_id":`...)
		b = appendStringOrNull(b, e.RequestID)
		b = append(b, '}')
	case CCProxy:
		b = append(b, `{"error":{"type":`...)
		b = appendString(b, e.Type(f))
		b = append(b, `,"message":`...)
		b = appendString(b, e.Message)
		b = append(b, `,"code":`...)
		b = appendString(b, string(e.Code))
		b = e.appendDetails(b, `,"details":`)
		b = append(b, "}}"...)
	case CooLLM:
		msg := e.Code.ShortText()
		if msg == "" {
			msg = e.Message
		}
		b = append(b, `{"error":{"message":`...)
		b = appendString(b, msg)
		b = append(b, `,"type":`...)
		b = appendString(b, e.Type(f))
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(e.Status(f)), 10)
		b = e.appendDetails(b, `,"details":`)
		b = append(b, "}}"...)
	case Proxed:
		b = append(b, `{"error":`...)
		b = appendString(b, e.Code.ProxedCode())
		b = append(b, `,"message":`...)
		b = appendString(b, e.Message)
		b = append(b, `,"requestId":`...)
		b = appendStringOrNull(b, e.RequestID)
		b = e.appendDetails(b, `,"details":`)
		b = append(b, '}')
	default:
		b = append(b, `{"error":`...)
		b = e.appendOpenAIObject(b)
		b = append(b, '}')
	}
	return b
}

// appendOpenAIObject appends the inner object of the openai envelope, which
// is also the payload of an OpenAI stream's error event.
func (e *Error) appendOpenAIObject(b []byte) []byte {
	b = append(b, `{"message":`...)
	b = appendString(b, e.Message)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type(OpenAI))
	b = append(b, `,"param":`...)
	b = appendStringOrNull(b, e.Field)
	b = append(b, `,"code":`...)
	b = appendString(b, strconv.Itoa(e.Status(OpenAI)))
	return append(b, '}')
}

// appendDetails appends prefix and the details object, or nothing when e
// has no details. The key order agrees with every example of seeds 000 and
// 001: provider, retry_after, limit, remaining, available_models, field,
// suggestion.
func (e *Error) appendDetails(b []byte, prefix string) []byte {
	start := len(b)
	b = append(b, prefix...)
	b = append(b, '{')
	empty := len(b)
	comma := func() {
		if len(b) > empty {
			b = append(b, ',')
		}
	}
	if e.Provider != "" {
		comma()
		b = append(b, `"provider":`...)
		b = appendString(b, e.Provider)
	}
	if s := e.RetryAfterSeconds(); s > 0 {
		comma()
		b = append(b, `"retry_after":`...)
		b = strconv.AppendInt(b, s, 10)
	}
	if e.HasLimit {
		comma()
		b = append(b, `"limit":`...)
		b = appendNumber(b, e.Limit)
		b = append(b, `,"remaining":`...)
		b = appendNumber(b, e.Remaining)
	}
	if e.AvailableModels != nil {
		comma()
		b = append(b, `"available_models":[`...)
		for i, m := range e.AvailableModels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m)
		}
		b = append(b, ']')
	}
	if e.Field != "" {
		comma()
		b = append(b, `"field":`...)
		b = appendString(b, e.Field)
	}
	if e.Suggestion != "" {
		comma()
		b = append(b, `"suggestion":`...)
		b = appendString(b, e.Suggestion)
	}
	if len(b) == empty {
		return b[:start]
	}
	return append(b, '}')
}

// appendNumber writes integral values without a fraction (5000, not 5000.0)
// and others in the shortest form that reads back exactly. JSON has no
// NaN or infinity: a limit that is not a finite number is written as null
// rather than as invalid JSON.
func appendNumber(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(b, "null"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// whatever bytes a provider sent, the envelope stays valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
