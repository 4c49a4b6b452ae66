package mock

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"

	"github.com/tidwall/gjson"
)

// Embedding sizes: small by default (the mock's vectors mean nothing, and
// small answers read well in a terminal), or the requested "dimensions".
const (
	defaultDimensions = 8
	maxDimensions     = 3072
)

type (
	embeddingList struct {
		Object string          `json:"object"`
		Data   []embeddingItem `json:"data"`
		Model  string          `json:"model"`
		Usage  embeddingUsage  `json:"usage"`
	}
	embeddingItem struct {
		Object string `json:"object"`
		Index  int    `json:"index"`
		// Embedding is a []float32, or a base64 string of little-endian
		// float32s under encoding_format "base64".
		Embedding any `json:"embedding"`
	}
	embeddingUsage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	}
)

// embeddings answers /v1/embeddings with one deterministic unit vector per
// input: the same text always embeds to the same vector, so clients and
// caches can be tested against it.
func embeddings(w http.ResponseWriter, req *request) {
	dims := int(req.doc.Get("dimensions").Int())
	if dims <= 0 || dims > maxDimensions {
		dims = defaultDimensions
	}
	asBase64 := req.doc.Get("encoding_format").String() == "base64"
	inputs := embeddingInputs(req.doc.Get("input"))
	out := embeddingList{Object: "list", Data: make([]embeddingItem, len(inputs)), Model: req.model}
	for i, in := range inputs {
		vec := embedVector(in.key, dims)
		var e any = vec
		if asBase64 {
			e = base64Floats(vec)
		}
		out.Data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: e}
		out.Usage.PromptTokens += in.tokens
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	writeAnswer(w, providerHeaders(false), marshal(out))
}

// embeddingInput is one text to embed: its identity and its token count.
type embeddingInput struct {
	key    string
	tokens int
}

// embeddingInputs reads "input" in each form the API takes: a string, an
// array of strings, an array of token IDs, or an array of such arrays.
func embeddingInputs(input gjson.Result) []embeddingInput {
	if !input.IsArray() {
		return []embeddingInput{{key: input.String(), tokens: estimateTokens(input.String())}}
	}
	items := input.Array()
	if len(items) > 0 && items[0].Type == gjson.Number {
		return []embeddingInput{{key: input.Raw, tokens: len(items)}} // one text, as token IDs
	}
	ins := make([]embeddingInput, 0, len(items))
	for _, it := range items {
		if it.IsArray() {
			ins = append(ins, embeddingInput{key: it.Raw, tokens: len(it.Array())})
		} else {
			ins = append(ins, embeddingInput{key: it.String(), tokens: estimateTokens(it.String())})
		}
	}
	return ins
}

// embedVector maps key to a unit vector of dims components, seeded by the key's
// hash.
func embedVector(key string, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	vec := make([]float32, dims)
	var norm float64
	for i := range vec {
		v := rng.Float64()*2 - 1
		vec[i] = float32(v)
		norm += v * v
	}
	norm = math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(float64(vec[i]) / norm)
	}
	return vec
}

// base64Floats encodes vec as OpenAI does for encoding_format "base64".
func base64Floats(vec []float32) string {
	b := make([]byte, 4*len(vec))
	for i, v := range vec {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return base64.StdEncoding.EncodeToString(b)
}
