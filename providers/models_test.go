package providers

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatchModel(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"claude-*", "claude-sonnet-4-5", true},
		{"claude-*", "claude-", true},
		{"claude-*", "claud", false},
		{"moonshotai/*", "moonshotai/kimi-k2-instruct", true},
		{"*-instruct", "moonshotai/kimi-k2-instruct", true},
		{"*-instruct", "kimi-k2", false},
		{"claude-*-4-*-latest", "claude-sonnet-4-5-latest", true},
		{"claude-*-4-*-latest", "claude-sonnet-4-latest", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"a**b", "ab", true},
		{"*ab*ab*", "abab", true},
		{"*ab*ab*", "aab", false},
		{"groq:*", "groq:llama-3.1-70b", true},
	}
	for _, c := range cases {
		if got := MatchModel(c.pattern, c.name); got != c.want {
			t.Errorf("MatchModel(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

// globRegexp is the pattern as a regular expression, the reference the
// fuzz test checks MatchModel against.
func globRegexp(pattern string) *regexp.Regexp {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^(?s:` + strings.Join(parts, ".*") + `)$`)
}

func FuzzMatchModel(f *testing.F) {
	f.Add("claude-*-4-*-latest", "claude-sonnet-4-5-latest")
	f.Add("*a*b*", "xxaxxbxx")
	f.Add("a*", "b")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		// The reference works on UTF-8 text; model names are UTF-8.
		if len(pattern) > 64 || len(name) > 512 || !utf8.ValidString(pattern) || !utf8.ValidString(name) {
			return
		}
		if want := globRegexp(pattern).MatchString(name); MatchModel(pattern, name) != want {
			t.Fatalf("MatchModel(%q, %q) = %v, want %v", pattern, name, !want, want)
		}
	})
}

// A 40 KB name against a two-star pattern that fails at its last byte
// cost main 2.4 s of CPU; the match is linear now (and names are capped
// at 256 bytes before any match runs).
func BenchmarkMatchModelLongName(b *testing.B) {
	name := "claude-" + strings.Repeat("-4-", 40<<10/3) + "x"
	b.SetBytes(int64(len(name)))
	for b.Loop() {
		if MatchModel("claude-*-4-*-latest", name) {
			b.Fatal("matched")
		}
	}
}
