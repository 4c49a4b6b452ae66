package providers

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// Usage is what a provider reports it consumed for one answer. Input
// counts every prompt token the provider billed, cached or not; of them,
// CacheRead were read from the provider's prompt cache and CacheWrite
// written to it.
type Usage struct {
	Input, Output         int64
	CacheRead, CacheWrite int64
}

// Uncached is the prompt tokens neither read from nor written to a cache.
func (u Usage) Uncached() int64 { return max(u.Input-u.CacheRead-u.CacheWrite, 0) }

// Total is prompt plus completion tokens, what token limits count.
func (u Usage) Total() int64 { return u.Input + u.Output }

// usagePaths are where usage sits in answers and stream events: the top
// level (OpenAI chat, completions, embeddings, Responses; Anthropic
// messages; an Anthropic message_delta), message.usage (Anthropic
// message_start) and response.usage (Responses stream response.completed).
var usagePaths = [...]string{"usage", "message.usage", "response.usage"}

var usageKey = []byte(`"usage"`)

// ReadUsage merges the usage found in one JSON document (a whole answer
// or one stream event's data) into u, field by field, so an Anthropic
// message_delta (output only) keeps the input of its message_start. It
// reports whether the document held any usage.
func ReadUsage(doc []byte, u *Usage) bool {
	if !hasUsageObject(doc) {
		return false
	}
	for _, p := range usagePaths {
		obj := gjson.GetBytes(doc, p)
		if !obj.IsObject() {
			continue
		}
		found := false
		obj.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "prompt_tokens":
				u.Input, found = v.Int(), true
			case "prompt_tokens_details", "input_tokens_details": // OpenAI chat, Responses
				if c := v.Get("cached_tokens"); c.Exists() {
					u.CacheRead = c.Int()
				}
			case "completion_tokens":
				u.Output, found = v.Int(), true
			case "input_tokens":
				// Anthropic counts cached prompt tokens apart; the
				// provider bills them, so they count here too (the
				// Responses API's input_tokens already holds them).
				read, write := obj.Get("cache_read_input_tokens"), obj.Get("cache_creation_input_tokens")
				u.Input = v.Int() + read.Int() + write.Int()
				if read.Exists() || write.Exists() {
					u.CacheRead, u.CacheWrite = read.Int(), write.Int()
				}
				found = true
			case "output_tokens":
				u.Output, found = v.Int(), true
			}
			return true
		})
		if found {
			return true
		}
	}
	return false
}

// hasUsageObject reports whether doc has a "usage" member whose value is
// an object, without parsing it: OpenAI stream chunks under include_usage
// carry "usage":null in every chunk but the last, and most events have no
// usage at all.
func hasUsageObject(doc []byte) bool {
	for rest := doc; ; {
		i := bytes.Index(rest, usageKey)
		if i < 0 {
			return false
		}
		rest = rest[i+len(usageKey):]
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t' || rest[j] == '\r' || rest[j] == '\n') {
			j++
		}
		if j < len(rest) && rest[j] == ':' {
			j++
			for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t' || rest[j] == '\r' || rest[j] == '\n') {
				j++
			}
			if j < len(rest) && rest[j] == '{' {
				return true
			}
		}
	}
}
