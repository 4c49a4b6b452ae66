package providers

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Provider messages are passed on to clients where they help them fix a
// request, but a provider may quote the key it was sent ("Incorrect API
// key provided: sk-proj-****abcd"), and a gateway's client must never see
// any part of the gateway's keys. Everything taken from a provider's
// answer goes through scrub first, which is deliberately aggressive: a
// lost request ID is a small price for a key that cannot leak.

// redacted replaces whatever scrub takes out.
const redacted = "[redacted]"

// maxMessage is the most of a provider's message a client is shown, in
// runes.
const maxMessage = 500

// scrub returns s fit to show a client: valid UTF-8 without control or
// invisible formatting characters, with every configured key and every
// token that looks like a credential (a known key prefix, a masked key, a
// long random-looking string, whatever follows "key provided:") replaced
// by [redacted], and at most maxMessage runes long.
func scrub(s string, keys []string) string {
	s = clean(s)
	for _, k := range keys {
		if len(k) >= 8 {
			s = strings.ReplaceAll(s, k, redacted)
		}
	}
	s = redactTokens(s, keys)
	return truncate(s, maxMessage)
}

// clean drops invalid UTF-8 and invisible formatting characters (zero
// width spaces, joiners, byte order marks, bidi controls: they could split
// a key so that no pattern sees it whole), turns control characters and
// line breaks into spaces and collapses runs of white space.
func clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError && n <= 1:
			continue
		case unicode.Is(unicode.Cf, r):
			continue
		case unicode.IsControl(r) || unicode.IsSpace(r):
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// isTokenRune reports whether r can be part of a key, or of the masked
// form of one.
func isTokenRune(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		c := byte(r)
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_.*+/~", c) >= 0
	case r == '…' || r == '•':
		return true
	}
	return false
}

// redactTokens replaces each token of s that looks like a secret.
func redactTokens(s string, keys []string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isTokenRune(r) {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		j := i
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !isTokenRune(r) {
				break
			}
			j += n
		}
		tok := s[i:j]
		// A sentence's full stop is not part of the token.
		core := strings.TrimRight(tok, ".")
		if core != "" && (afterKeyLabel(s[:i]) && !isAuthScheme(core) || looksSecret(core, keys)) {
			b.WriteString(redacted)
			b.WriteString(tok[len(core):])
		} else {
			b.WriteString(tok)
		}
		i = j
	}
	return b.String()
}

// keyLabels end the text that introduces a key ("Incorrect API key
// provided: sk-…"); the token after one is redacted whatever it is.
var keyLabels = []string{"key provided:", "key:", "key=", "token:", "token=", "secret:", "secret=", "password:", "password=", "bearer", "authorization:"}

// isAuthScheme reports the word between "Authorization:" and the secret.
func isAuthScheme(tok string) bool {
	return strings.EqualFold(tok, "bearer") || strings.EqualFold(tok, "basic")
}

func afterKeyLabel(before string) bool {
	before = strings.ToLower(strings.TrimRight(before, " "))
	for _, l := range keyLabels {
		if strings.HasSuffix(before, l) {
			return true
		}
	}
	return false
}

// keyPrefixes open the keys of the providers the gateway knows and of
// common services. A prefix opening a token, or following a character
// that is not a letter, marks a key; see looksSecret for the rest.
var keyPrefixes = []struct {
	prefix     string
	ignoreCase bool
}{
	{"sk-", true}, {"sk_", true}, // OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-), DeepSeek, Stripe-style
	{"gsk_", true},  // Groq
	{"AIza", false}, // Google
	{"xai-", true}, {"pplx-", true}, {"r8_", true}, {"hf_", true},
	{"ghp_", true}, {"gho_", true}, {"github_pat_", true}, {"xoxb-", true}, {"xoxp-", true},
	{"AKIA", false}, {"ya29.", false},
	{"ck-", true}, {"cr_", true}, // the gateway's own client keys (ck-live-…), QCode relay keys
}

// looksSecret reports whether tok could be a key or part of one.
func looksSecret(tok string, keys []string) bool {
	// Masked keys: "sk-abc***xyz", "YOUR_OPE***_KEY", "sk-…1JMA", "••••".
	if strings.Contains(tok, "***") || strings.Contains(tok, "•••") || maskedByEllipsis(tok) {
		return true
	}
	lower := strings.ToLower(tok)
	for _, p := range keyPrefixes {
		hay, needle := tok, p.prefix
		if p.ignoreCase {
			hay, needle = lower, strings.ToLower(p.prefix)
		}
		for off := 0; ; {
			k := strings.Index(hay[off:], needle)
			if k < 0 {
				break
			}
			at := off + k
			rest := keyRun(tok[at+len(needle):])
			if at == 0 || !isLetter(tok[at-1]) {
				if len(rest) >= 3 {
					return true
				}
			} else if (needle == "sk-" || needle == "sk_") && len(rest) >= 12 && strings.ContainsAny(rest, "0123456789") {
				// "xsk-proj-0123…": a key glued to a word. Plain words
				// ("task-specific", "risk-based") have no long, digit-
				// bearing tail.
				return true
			}
			off = at + 1
		}
	}
	// Random-looking strings: a long run of letters and digits mixing
	// both (hex and base62 keys, request and organization IDs), or a
	// long token mixing upper case, lower case and digits (base64 keys
	// with separators).
	upper, lowerc, digit := false, false, false
	run, runLetter, runDigit := 0, false, false
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case '0' <= c && c <= '9':
			digit, runDigit = true, true
			run++
		case 'a' <= c && c <= 'z':
			lowerc, runLetter = true, true
			run++
		case 'A' <= c && c <= 'Z':
			upper, runLetter = true, true
			run++
		default:
			run, runLetter, runDigit = 0, false, false
			continue
		}
		if run >= 20 && runLetter && runDigit {
			return true
		}
	}
	if len(tok) >= 32 && upper && lowerc && digit {
		return true
	}
	// Fragments of a configured key: its tail is what masked forms show.
	for _, k := range keys {
		if len(k) >= 16 && strings.Contains(tok, k[len(k)-8:]) {
			return true
		}
	}
	return false
}

// maskedByEllipsis reports a key shortened with an ellipsis between two
// of its parts ("sk-abc…wxyz", "sk-...1JMA").
func maskedByEllipsis(tok string) bool {
	for _, dots := range []string{"…", "..."} {
		i := strings.Index(tok, dots)
		if i > 0 && i+len(dots) < len(tok) && isAlnum(tok[i-1]) && isAlnum(tok[i+len(dots)]) {
			return true
		}
	}
	return false
}

// keyRun is the leading run of s made of characters keys are made of.
func keyRun(s string) string {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' && s[i] != '_' {
			return s[:i]
		}
	}
	return s
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool  { return isLetter(c) || '0' <= c && c <= '9' }

// truncate shortens s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return strings.TrimRight(s[:i], " ") + "…"
}
