package providers

import "strings"

// MatchModel reports whether a model name matches pattern, where `*` matches any
// run of characters, slashes included (`moonshotai/*`).
func MatchModel(pattern, name string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == name
	}
	if !strings.HasPrefix(name, pattern[:star]) {
		return false
	}
	name, rest := name[star:], pattern[star+1:]
	if rest == "" {
		return true
	}
	// the star takes any run of characters: try every place the rest of
	// the pattern could start
	for i := 0; i <= len(name); i++ {
		if MatchModel(rest, name[i:]) {
			return true
		}
	}
	return false
}
