package llmgateway

import (
	"math/rand/v2"
	"net/http"
)

// maxRequestIDLen bounds an incoming X-Request-Id the gateway keeps.
const maxRequestIDLen = 128

// requestID keeps a sane incoming X-Request-Id (so a client's or an outer
// proxy's ID follows the request) and otherwise makes a new one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); saneRequestID(id) {
		return id
	}
	return newRequestID()
}

// saneRequestID accepts 1 to 128 characters of letters, digits and
// `-_.:`, so an ID can go into headers, JSON and logs unescaped.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford base32

// newRequestID returns "req_" and 26 characters of 128 random bits. The
// ID needs to be unique, not secret, so the runtime's fast generator is
// enough.
func newRequestID() string {
	var b [4 + 26]byte
	copy(b[:], "req_")
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 13; i++ {
		b[4+i] = idAlphabet[hi&31]
		hi >>= 5
		b[17+i] = idAlphabet[lo&31]
		lo >>= 5
	}
	return string(b[:])
}
