package providers

import "strings"

// MatchModel reports whether a model name matches pattern, where `*` matches any
// run of characters, slashes included (`moonshotai/*`).
//
// It runs in time linear in the name for a given pattern: the text before
// the first star must start the name and the text after the last star end
// it; each piece between stars is matched at its first place after the
// previous one. Taking the first place is always right with `*` as the only
// wildcard (a later place could only leave less room for what follows), so
// nothing is ever tried twice.
func MatchModel(pattern, name string) bool {
	first := strings.IndexByte(pattern, '*')
	if first < 0 {
		return pattern == name
	}
	last := strings.LastIndexByte(pattern, '*')
	prefix, suffix := pattern[:first], pattern[last+1:]
	if len(name) < len(prefix)+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return false
	}
	rest := name[len(prefix) : len(name)-len(suffix)]
	for middle := pattern[first+1 : last+1]; middle != ""; {
		star := strings.IndexByte(middle, '*')
		piece := middle[:star]
		middle = middle[star+1:]
		if piece == "" {
			continue
		}
		at := strings.Index(rest, piece)
		if at < 0 {
			return false
		}
		rest = rest[at+len(piece):]
	}
	return true
}
