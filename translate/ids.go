package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// Tool-call ids and tool names cross the protocols with their rules:
//
//   - Anthropic tool_use ids match ^[a-zA-Z0-9_-]+$; an upstream id with
//     other characters (Kimi K2 sends "functions.Read:0") is rewritten,
//     and an empty one (Gemini sends "") is made up.
//   - Mistral takes only ids matching ^[a-zA-Z0-9]{9}$: the client's ids
//     are mapped to such ids deterministically (the same id always maps
//     the same way, so a conversation's history, resent on every turn,
//     stays consistent), and mapped back where an answer names one. Ids
//     Mistral makes up in its answer already follow Anthropic's rule and
//     stay as they are; the client sends them back and they pass
//     unchanged, since they already match Mistral's rule.
//   - OpenAI function names are at most 64 characters: longer names
//     become a 55-character prefix, "_" and 8 hex digits of their
//     SHA-256 (as LiteLLM does), and are mapped back in answers.

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID is 24 random base62 characters, for ids the upstream did not
// give. They only need to be unique, not secret.
func randomID() string {
	b := make([]byte, 24)
	for i := range b {
		b[i] = base62[rand.IntN(len(base62))]
	}
	return string(b)
}

// idMap remembers the upstream ids given to the client's tool-call ids.
type idMap struct {
	toClient map[string]string
}

func (m *idMap) add(client, upstream string) {
	if client == upstream {
		return
	}
	if m.toClient == nil {
		m.toClient = make(map[string]string)
	}
	m.toClient[upstream] = client
}

// client is the client's id for an upstream id.
func (m *idMap) client(upstream string) string {
	if c, ok := m.toClient[upstream]; ok {
		return c
	}
	return upstream
}

// mistralID is the id Mistral accepts for the client's id: the id itself
// when it already has nine alphanumerics, else nine base62 digits of its
// FNV-1a hash (62^9 ≈ 1.4e16, so two ids of one conversation collide
// with negligible odds).
func mistralID(id string) string {
	if len(id) == 9 && isAlnum(id) {
		return id
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	var b [9]byte
	for i := range b {
		b[i] = base62[h%62]
		h /= 62
	}
	return string(b[:])
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// isIDChar reports whether c may appear in an Anthropic tool_use id (and
// in an OpenAI function name).
func isIDChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-'
}

// anthropicID rewrites an id into Anthropic's alphabet, every other
// byte becoming "_"; "" stays "" (the caller makes one up).
func anthropicID(id string) string {
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if !isIDChar(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return id
}

// maxFunctionName is OpenAI's limit on function names.
const maxFunctionName = 64

// shortName is name as an OpenAI function name: itself when short
// enough, else a prefix and a hash of the whole.
func shortName(name string) string {
	if len(name) <= maxFunctionName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:55] + "_" + hex.EncodeToString(sum[:4])
}

// clientName is the client's tool name for the upstream's.
func (x *Exchange) clientName(upstream string) string {
	if n, ok := x.names[upstream]; ok {
		return n
	}
	return upstream
}

// upstreamToolID is the id sent upstream for the client's tool-call id.
func (x *Exchange) upstreamToolID(id string) string {
	if x.quirks.mistralIDs {
		m := mistralID(id)
		x.ids.add(id, m)
		return m
	}
	return id
}

// clientToolID is the id the client sees for an upstream tool-call id:
// mapped back when the request mapped it, made Anthropic-safe for an
// Anthropic client, made up when empty.
func (x *Exchange) clientToolID(id string) string {
	id = x.ids.client(id)
	if x.client == providers.Anthropic {
		id = anthropicID(id)
		if id == "" {
			id = "toolu_" + x.newID()
		}
		return id
	}
	if id == "" {
		id = "call_" + x.newID()
	}
	return id
}
