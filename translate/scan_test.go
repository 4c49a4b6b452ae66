package translate

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/tidwall/gjson"
)

// each and get must read what gjson reads (long escaped strings are
// decoded on demand: decoded).
func TestScanMatchesGJSON(t *testing.T) {
	body, _ := os.ReadFile("../testdata/requests/claude_code.json")
	docs := []string{string(body), `{"a":"x\"y","b":[1,{"c":"\\"},true,null],"d":-1.5e3,"e":{}}`, `[ "s" , 2 ,[] ]`}
	for _, d := range docs {
		var walk func(g gjson.Result)
		walk = func(g gjson.Result) {
			var want []gjson.Result
			g.ForEach(func(k, v gjson.Result) bool { want = append(want, k, v); return true })
			var got []gjson.Result
			each(g, func(k, v gjson.Result) bool { got = append(got, k, v); return true })
			if len(got) != len(want) {
				t.Fatalf("%.80s: each gave %d items, gjson %d", g.Raw, len(got)/2, len(want)/2)
			}
			for i := range got {
				if got[i].Raw != want[i].Raw && !(i%2 == 0 && g.IsArray()) || decoded(got[i]) != want[i].String() || got[i].Type != want[i].Type {
					t.Fatalf("item %d: got %q (%v), want %q (%v)", i, got[i].Raw, got[i].Type, want[i].Raw, want[i].Type)
				}
				if i%2 == 1 && (got[i].IsObject() || got[i].IsArray()) {
					walk(got[i])
				}
			}
			if g.IsObject() {
				g.ForEach(func(k, v gjson.Result) bool {
					if get(g, k.Str).Raw != g.Get(gjson.Escape(k.Str)).Raw {
						t.Fatalf("get(%q) differs", k.Str)
					}
					return true
				})
			}
		}
		walk(gjson.Parse(d))
	}
}

// On malformed input each stops without panicking or looping.
func TestScanMalformed(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	alphabet := []byte(`{}[]":,\ab1 `)
	for range 100000 {
		b := make([]byte, 1+r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		b[0] = "{["[r.IntN(2)]
		var walk func(g gjson.Result, depth int)
		walk = func(g gjson.Result, depth int) {
			each(g, func(_, v gjson.Result) bool {
				if depth < 20 {
					walk(v, depth+1)
				}
				return true
			})
		}
		walk(gjson.Result{Type: gjson.JSON, Raw: string(b)}, 0)
	}
}
