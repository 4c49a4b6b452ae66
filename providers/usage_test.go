package providers

import "testing"

func TestReadUsage(t *testing.T) {
	cases := []struct {
		name string
		docs []string
		want Usage
		seen bool
	}{
		{"openai chat", []string{`{"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100}}}`}, Usage{Input: 120, Output: 30, CacheRead: 100}, true},
		{"openai usage null", []string{`{"choices":[{"delta":{}}],"usage":null}`}, Usage{}, false},
		{"python spacing", []string{`{"usage": {"prompt_tokens": 5, "completion_tokens": 2}}`}, Usage{Input: 5, Output: 2}, true},
		{"anthropic message", []string{`{"type":"message","usage":{"input_tokens":20,"cache_read_input_tokens":1000,"cache_creation_input_tokens":50,"output_tokens":7}}`}, Usage{Input: 1070, Output: 7, CacheRead: 1000, CacheWrite: 50}, true},
		{"anthropic stream", []string{
			`{"type":"message_start","message":{"usage":{"input_tokens":9,"cache_read_input_tokens":3,"output_tokens":1}}}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}}`,
		}, Usage{Input: 12, Output: 12, CacheRead: 3}, true},
		{"responses", []string{`{"type":"response.completed","response":{"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":32},"output_tokens":5}}}`}, Usage{Input: 40, Output: 5, CacheRead: 32}, true},
		{"a usage word in text", []string{`{"choices":[{"delta":{"content":"\"usage\": {"}}]}`}, Usage{}, false},
	}
	for _, c := range cases {
		var u Usage
		seen := false
		for _, d := range c.docs {
			if ReadUsage([]byte(d), &u) {
				seen = true
			}
		}
		if u != c.want || seen != c.seen {
			t.Errorf("%s: %+v (seen %v), want %+v (seen %v)", c.name, u, seen, c.want, c.seen)
		}
	}
	if u := (Usage{Input: 1070, CacheRead: 1000, CacheWrite: 50}); u.Uncached() != 20 {
		t.Errorf("uncached %d", u.Uncached())
	}
}
