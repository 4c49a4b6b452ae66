package providers

import "strings"

// MatchModel reports whether a model name matches pattern, where `*` matches any
// run of characters, slashes included (`moonshotai/*`).
func MatchModel(pattern, name string) bool {
	for {
		star := strings.IndexByte(pattern, '*')
		if star < 0 {
			return pattern == name
		}
		if !strings.HasPrefix(name, pattern[:star]) {
			return false
		}
		name = name[star:]
		pattern = pattern[star+1:]
		if pattern == "" {
			return true
		}
		// try every position for the rest of the pattern
		for i := 0; i <= len(name); i++ {
			if MatchModel(pattern, name[i:]) {
				return true
			}
		}
		return false
	}
}
