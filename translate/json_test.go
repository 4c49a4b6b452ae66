package translate

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/tidwall/gjson"
)

// appendString must write what encoding/json reads back as the same
// text json.Marshal would give, for any bytes: invalid UTF-8 becomes
// U+FFFD exactly as encoding/json replaces it.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	alphabet := []byte("ab\"\\\n\t\x00\x1f\x7f<>&é你\xff\xc3\xe4\xbd\xa0\xf0\x9f\x98\x80\xed\xa0\x80")
	for range 20000 {
		b := make([]byte, r.IntN(16))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		out := appendString(nil, string(b))
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q: %s is not a JSON string: %v", b, out, err)
		}
		ref, _ := json.Marshal(string(b))
		var want string
		json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("%q: got %q, want %q", b, got, want)
		}
		if byteOut := appendString(nil, b); string(byteOut) != string(out) {
			t.Fatalf("string and []byte forms differ for %q", b)
		}
	}
}

func TestAppendStringValueCopiesOnlySafeLiterals(t *testing.T) {
	for _, raw := range []string{`"plain"`, `"esc\"aped\n"`, "\"bad \xff utf8\"", `"ends with \\"`} {
		r := gjson.Parse(raw)
		out := appendStringValue(nil, r)
		if !json.Valid(out) {
			t.Errorf("%q → invalid %q", raw, out)
		}
	}
	if !isLiteral(`"a\\"`) || isLiteral(`"a\"`) || isLiteral("\"a\x01\"") {
		t.Error("isLiteral misjudges escapes or control characters")
	}
}

func TestAppendCompactString(t *testing.T) {
	in := "{\n  \"a\": \"x y\\\" z\",\n\t\"b\": [1, 2]\n}"
	out := appendCompactString(nil, in)
	var s string
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s != `{"a":"x y\" z","b":[1,2]}` {
		t.Errorf("compacted to %s", s)
	}
}
