package providers

import "strings"

// HasMediaType reports whether the Content-Type value ct is of media
// type mt, whatever its parameters, without the allocations of a full
// parse (it runs on every request and every answer).
func HasMediaType(ct, mt string) bool {
	ct = strings.TrimLeft(ct, " ")
	if len(ct) < len(mt) || !strings.EqualFold(ct[:len(mt)], mt) {
		return false
	}
	rest := strings.TrimLeft(ct[len(mt):], " ")
	return rest == "" || rest[0] == ';'
}
