package request

import "math/bits"

// MaxDepth is how deeply a request body's arrays and objects may nest.
// Real requests nest a few levels (a tool's JSON schema perhaps a dozen);
// the cap keeps the one pass over the body bounded in memory, and a body
// nested deeper is refused as invalid_json.
const MaxDepth = 256

// scanner validates JSON in one iterative pass (no recursion, so no input
// can exhaust the stack) and reports each member of the top-level object,
// and each member of the objects a caller asks to look into, as it
// completes.
type scanner struct {
	data []byte
	pos  int
	// stack holds the open containers, innermost last: '{' or '['.
	stack [MaxDepth]byte
	depth int
	err   syntaxError
}

// syntaxError says why a body is not JSON, for the message.
type syntaxError uint8

const (
	noError syntaxError = iota
	errSyntax
	errTooDeep
)

// IsJSON reports whether data is one JSON value, nested at most MaxDepth
// deep, checked in one pass in linear time.
func IsJSON(data []byte) bool {
	s := scanner{data: data}
	s.scan(nil)
	return s.err == noError
}

// lookup bits for bytes: whitespace, and bytes a string holds without
// escaping.
var (
	isSpace [256]bool
	isDigit [256]bool
)

func init() {
	for _, c := range []byte(" \t\r\n") {
		isSpace[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		isDigit[c] = true
	}
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) && isSpace[s.data[s.pos]] {
		s.pos++
	}
}

// Bit tricks over eight bytes at a time (SWAR): a string's bytes are
// checked for a quote, a backslash or a control character eight at once,
// which keeps the pass over a long prompt fast.
const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialBytes has the high bit set in each byte of x that is '"', '\\'
// or below 0x20.
func specialBytes(x uint64) uint64 {
	quote := x ^ (lows * '"')
	slash := x ^ (lows * '\\')
	return ((quote - lows) &^ quote & highs) |
		((slash - lows) &^ slash & highs) |
		((x - lows*0x20) &^ x & highs)
}

func load64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// scanString reads the string that starts at s.pos (its opening quote)
// and leaves s.pos after its closing quote. escaped reports whether it
// holds escapes (so its text differs from its bytes).
func (s *scanner) scanString() (start, end int, escaped, ok bool) {
	d := s.data
	i := s.pos + 1
	start = i
	for {
		for i+8 <= len(d) {
			if m := specialBytes(load64(d[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(d) {
			return 0, 0, false, false
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return start, i, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return 0, 0, false, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return 0, 0, false, false
				}
				i += 6
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default:
			i++
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber reads a JSON number at s.pos.
func (s *scanner) scanNumber() bool {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && isDigit[d[i]] {
			i++
		}
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit[d[i]] {
			return false
		}
		for i < len(d) && isDigit[d[i]] {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit[d[i]] {
			return false
		}
		for i < len(d) && isDigit[d[i]] {
			i++
		}
	}
	s.pos = i
	return true
}

func (s *scanner) scanLiteral(lit string) bool {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

// frame is an object whose members are being reported, with the member
// being read at the moment.
type frame struct {
	depth      int
	key        []byte
	keyEscaped bool
	valueStart int
}

// scan validates the whole body and reports members to v as each value
// completes: those of the top-level object (depth 1), and those of the
// objects v.enter asked to look into. A body that is not JSON sets s.err.
func (s *scanner) scan(v *visitor) {
	// watched are the objects whose members are reported, outermost
	// first; a few levels at most.
	var watchedBuf [4]frame
	watched := watchedBuf[:0]
	s.skipSpace()
	if s.pos >= len(s.data) {
		s.err = errSyntax
		return
	}
	var keyStart, keyEnd int
	var keyEscaped bool
	for {
		// A value starts at s.pos.
		s.skipSpace()
		if s.pos >= len(s.data) {
			s.err = errSyntax
			return
		}
		switch c := s.data[s.pos]; {
		case c == '{' || c == '[':
			if s.depth >= MaxDepth {
				s.err = errTooDeep
				return
			}
			report := false
			if c == '{' {
				// The top-level object is always reported; a member's
				// object when the visitor asks.
				if s.depth == 0 {
					report = v != nil
				} else if n := len(watched); n > 0 && watched[n-1].depth == s.depth && s.stack[s.depth-1] == '{' {
					report = len(watched) < cap(watchedBuf) && v.enter(s.depth, s.data[keyStart:keyEnd], keyEscaped)
				}
			}
			s.stack[s.depth] = c
			s.depth++
			if report {
				watched = append(watched, frame{depth: s.depth})
			}
			s.pos++
			s.skipSpace()
			if s.pos < len(s.data) && s.data[s.pos] == c+2 { // '}' or ']'
				s.pos++
				s.depth--
				if report {
					watched = watched[:len(watched)-1]
				}
				break
			}
			if c == '[' {
				continue // a value follows
			}
			// a key follows
			if !s.readKey(&keyStart, &keyEnd, &keyEscaped) {
				return
			}
			if n := len(watched); n > 0 && watched[n-1].depth == s.depth {
				watched[n-1].valueStart = s.pos
				watched[n-1].key, watched[n-1].keyEscaped = s.data[keyStart:keyEnd], keyEscaped
			}
			continue
		case c == '"':
			if _, _, _, ok := s.scanString(); !ok {
				s.err = errSyntax
				return
			}
		case c == 't':
			if !s.scanLiteral("true") {
				s.err = errSyntax
				return
			}
		case c == 'f':
			if !s.scanLiteral("false") {
				s.err = errSyntax
				return
			}
		case c == 'n':
			if !s.scanLiteral("null") {
				s.err = errSyntax
				return
			}
		case c == '-' || isDigit[c]:
			if !s.scanNumber() {
				s.err = errSyntax
				return
			}
		default:
			s.err = errSyntax
			return
		}
		// A value ended at s.pos: close the containers it ends, and
		// report the members it completes.
		for {
			if n := len(watched); n > 0 && watched[n-1].depth == s.depth {
				f := &watched[n-1]
				v.member(f.depth, f.key, f.keyEscaped, f.valueStart, s.pos)
			}
			if s.depth == 0 {
				s.skipSpace()
				if s.pos != len(s.data) {
					s.err = errSyntax
				}
				return
			}
			s.skipSpace()
			if s.pos >= len(s.data) {
				s.err = errSyntax
				return
			}
			c := s.data[s.pos]
			open := s.stack[s.depth-1]
			if c == ',' {
				s.pos++
				if open == '{' {
					s.skipSpace()
					if !s.readKey(&keyStart, &keyEnd, &keyEscaped) {
						return
					}
					if n := len(watched); n > 0 && watched[n-1].depth == s.depth {
						watched[n-1].valueStart = s.pos
						watched[n-1].key, watched[n-1].keyEscaped = s.data[keyStart:keyEnd], keyEscaped
					}
				}
				break // a value follows
			}
			if c != open+2 {
				s.err = errSyntax
				return
			}
			s.pos++
			if n := len(watched); n > 0 && watched[n-1].depth == s.depth {
				watched = watched[:n-1]
			}
			s.depth--
			// the container was a value: loop to close what it ends
		}
	}
}

// readKey reads `"key" :` at s.pos, leaving s.pos at the value.
func (s *scanner) readKey(start, end *int, escaped *bool) bool {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		s.err = errSyntax
		return false
	}
	var ok bool
	*start, *end, *escaped, ok = s.scanString()
	if !ok {
		s.err = errSyntax
		return false
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		s.err = errSyntax
		return false
	}
	s.pos++
	s.skipSpace()
	return true
}
