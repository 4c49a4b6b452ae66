package mock

import (
	"math/rand/v2"
	"strconv"
)

// Alphabets of the identifiers the real APIs hand out.
const (
	alnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	base58    = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	hexDigits = "0123456789abcdef"
)

// randomString draws n characters of alphabet. Identifiers only need to
// look real and not repeat, so math/rand is enough.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// Identifiers shaped like the real APIs' own.
func chatCompletionID() string   { return "chatcmpl-" + randomString(alnum, 29) }
func completionID() string       { return "cmpl-" + randomString(alnum, 29) }
func responseID() string         { return "resp_" + randomString(hexDigits, 50) }
func responseItemID() string     { return "msg_" + randomString(hexDigits, 50) }
func anthropicMessageID() string { return "msg_01" + randomString(base58, 22) }
func openAIRequestID() string    { return "req_" + randomString(hexDigits, 32) }
func anthropicRequestID() string { return "req_011C" + randomString(base58, 20) }

// systemFingerprint stands in for the backend configuration OpenAI names
// in every chat answer.
const systemFingerprint = "fp_m0ck5a11e0"

// providerHeaders are the headers a provider sets on its answers: its
// request ID (which the gateway moves to X-Provider-Request-Id or passes
// on), and for OpenAI its API version and processing time.
func providerHeaders(anthropic bool) map[string]string {
	if anthropic {
		return map[string]string{"Request-Id": anthropicRequestID()}
	}
	return map[string]string{
		"X-Request-Id":         openAIRequestID(),
		"Openai-Processing-Ms": strconv.Itoa(120 + rand.IntN(200)),
		"Openai-Version":       "2020-10-01",
	}
}
