package mock

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"testing"

	"github.com/tidwall/gjson"
)

func vectorOf(v gjson.Result) []float64 {
	var out []float64
	for _, x := range v.Array() {
		out = append(out, x.Float())
	}
	return out
}

func TestEmbeddings(t *testing.T) {
	h := newTestHandler(0)
	res := serve(t, h, pathEmbeddings, `{"model":"text-embedding-3-small","input":["the cat","the dog"]}`)
	if res.err != nil || res.rec.Status() != 200 {
		t.Fatalf("err %v, status %d", res.err, res.rec.Status())
	}
	doc := gjson.Parse(res.rec.Body())
	checkString(t, doc, "object", "list")
	checkString(t, doc, "model", "text-embedding-3-small")
	data := doc.Get("data").Array()
	if len(data) != 2 {
		t.Fatalf("%d embeddings for 2 inputs", len(data))
	}
	var vecs [][]float64
	for i, d := range data {
		checkString(t, d, "object", "embedding")
		if d.Get("index").Int() != int64(i) {
			t.Errorf("item %d has index %d", i, d.Get("index").Int())
		}
		v := vectorOf(d.Get("embedding"))
		if len(v) != defaultDimensions {
			t.Fatalf("vector of %d dimensions", len(v))
		}
		var norm float64
		for _, x := range v {
			norm += x * x
		}
		if math.Abs(norm-1) > 1e-4 {
			t.Errorf("vector %d has norm² %f, want 1", i, norm)
		}
		vecs = append(vecs, v)
	}
	if vecs[0][0] == vecs[1][0] && vecs[0][1] == vecs[1][1] {
		t.Errorf("different inputs embed alike: %v %v", vecs[0], vecs[1])
	}
	if u := doc.Get("usage"); u.Get("prompt_tokens").Int() != 4 || u.Get("total_tokens").Int() != 4 {
		t.Errorf("usage %s, want 2 tokens per input", u.Raw)
	}

	// The same text always gets the same vector, alone or in a batch.
	again := gjson.Parse(serve(t, h, pathEmbeddings, `{"model":"m","input":"the dog"}`).rec.Body())
	if got := vectorOf(again.Get("data.0.embedding")); len(got) != len(vecs[1]) || got[0] != vecs[1][0] || got[7] != vecs[1][7] {
		t.Errorf("\"the dog\" embedded to %v, then %v", vecs[1], got)
	}
}

func TestEmbeddingsForms(t *testing.T) {
	h := newTestHandler(0)
	cases := []struct {
		body          string
		items, dims   int
		promptTokens  int64
		base64Encoded bool
	}{
		{`{"model":"m","input":[1,2,3,4,5]}`, 1, defaultDimensions, 5, false},
		{`{"model":"m","input":[[1,2],[3,4,5]]}`, 2, defaultDimensions, 5, false},
		{`{"model":"m","input":"abc","dimensions":32}`, 1, 32, 1, false},
		{`{"model":"m","input":"abc","encoding_format":"base64"}`, 1, defaultDimensions, 1, true},
	}
	for _, c := range cases {
		doc := gjson.Parse(serve(t, h, pathEmbeddings, c.body).rec.Body())
		data := doc.Get("data").Array()
		if len(data) != c.items || doc.Get("usage.prompt_tokens").Int() != c.promptTokens {
			t.Errorf("%s: %d items, usage %s", c.body, len(data), doc.Get("usage").Raw)
			continue
		}
		e := data[0].Get("embedding")
		if !c.base64Encoded {
			if n := len(e.Array()); n != c.dims {
				t.Errorf("%s: %d dimensions, want %d", c.body, n, c.dims)
			}
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(e.String())
		if err != nil || len(raw) != 4*c.dims {
			t.Fatalf("%s: base64 %q: %v", c.body, e.String(), err)
		}
		plain := vectorOf(gjson.Get(serve(t, h, pathEmbeddings, `{"model":"m","input":"abc"}`).rec.Body(), "data.0.embedding"))
		for i := range c.dims {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != float32(plain[i]) {
				t.Fatalf("base64 component %d is %v, plain %v", i, got, plain[i])
			}
		}
	}
}
