// Package request reads and checks a client's request body once. One
// iterative pass validates the JSON (in bounded depth and linear time, so
// no body, however built, can stop the server) and collects every member
// the gateway reads: model, stream, the output caps, stream_options, the
// prompt (messages, input or prompt), tools and system. A member the
// gateway reads that is given twice, or under another spelling a provider
// might take for it, is refused: the gateway must read the same request
// the provider will.
package request

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// MaxModelLen caps the model name a client may send, in bytes: real names
// are far shorter, and the name is matched against patterns, priced and
// logged.
const MaxModelLen = 256

// Member names a top-level member the gateway reads.
type Member uint8

// The members the gateway reads.
const (
	Model Member = iota
	Stream
	MaxTokens
	MaxCompletionTokens
	MaxOutputTokens
	StreamOptions
	Messages
	Input
	Prompt
	Tools
	System
	memberCount
)

var memberNames = [memberCount]string{
	Model:               "model",
	Stream:              "stream",
	MaxTokens:           "max_tokens",
	MaxCompletionTokens: "max_completion_tokens",
	MaxOutputTokens:     "max_output_tokens",
	StreamOptions:       "stream_options",
	Messages:            "messages",
	Input:               "input",
	Prompt:              "prompt",
	Tools:               "tools",
	System:              "system",
}

// String is the member's name in JSON.
func (m Member) String() string { return memberNames[m] }

// outputCaps are the members that cap a request's output, in the order
// the gateway reads them.
var outputCaps = [...]Member{MaxTokens, MaxCompletionTokens, MaxOutputTokens}

// span is a value's place in the body: Raw[start:end]; end is 0 when the
// member is absent.
type span struct{ start, end int }

func (s span) present() bool { return s.end > 0 }

// Body is a parsed request body. Model is read in place (the body is
// never changed; a rewrite makes a new slice), so Body must not outlive
// Raw.
type Body struct {
	// Raw is the body as the client sent it.
	Raw []byte
	// Model is the model the client asked for.
	Model string
	// Stream is the client's `stream`.
	Stream bool
	// OutputCap is the first positive whole number of max_tokens,
	// max_completion_tokens and max_output_tokens; 0 when none is set.
	OutputCap int64
	// IncludeUsage is the client's stream_options.include_usage.
	IncludeUsage bool

	members [memberCount]span
	// streamOptions is stream_options when it is an object, and
	// includeUsage its include_usage member.
	streamOptionsIsObject bool
	includeUsage          span
	// end is where the top-level object's closing brace is.
	end int
}

// Has reports whether the body has member m.
func (b *Body) Has(m Member) bool { return b.members[m].present() }

// Value is member m's raw JSON value, or nil when absent.
func (b *Body) Value(m Member) []byte {
	s := b.members[m]
	if !s.present() {
		return nil
	}
	return b.Raw[s.start:s.end]
}

// Parse reads raw, which must be a JSON object with a non-empty string
// `model` (at most MaxModelLen bytes) and, when required names one, a
// non-empty array member `required` (such as "messages"). Errors are
// invalid_json (not JSON, nested deeper than MaxDepth, not an object) or
// validation_error naming the member at fault.
func Parse(raw []byte, required Member) (*Body, *llmerrors.Error) {
	b := &Body{Raw: raw}
	if e := b.parse(required); e != nil {
		return nil, e
	}
	return b, nil
}

// NoRequired asks Parse for no array member besides model.
const NoRequired = memberCount

func (b *Body) parse(required Member) *llmerrors.Error {
	v := visitor{b: b}
	s := scanner{data: b.Raw}
	s.scan(&v)
	switch s.err {
	case errTooDeep:
		return &llmerrors.Error{Code: llmerrors.InvalidJSON,
			Message: fmt.Sprintf("The request body nests arrays and objects more than %d levels deep, more than the gateway accepts.", MaxDepth)}
	case errSyntax:
		return &llmerrors.Error{Code: llmerrors.InvalidJSON, Message: "The request body is not valid JSON."}
	}
	if len(b.Raw) == 0 || firstByte(b.Raw) != '{' {
		return &llmerrors.Error{Code: llmerrors.InvalidJSON, Message: "The request body must be a JSON object."}
	}
	if v.fault != nil {
		return v.fault
	}
	b.end = lastBrace(b.Raw)
	return b.check(required)
}

func firstByte(raw []byte) byte {
	for _, c := range raw {
		if !isSpace[c] {
			return c
		}
	}
	return 0
}

func lastBrace(raw []byte) int {
	for i := len(raw) - 1; i >= 0; i-- {
		if raw[i] == '}' {
			return i
		}
	}
	return -1
}

// check reads the members' values.
func (b *Body) check(required Member) *llmerrors.Error {
	model := b.Value(Model)
	if len(model) < 2 || model[0] != '"' || len(model) == 2 {
		return invalidField(Model, "model is required and must be a non-empty string, such as \"provider:model\" or a name from GET /v1/models.")
	}
	name, ok := stringValue(model)
	if !ok || !utf8.ValidString(name) {
		return invalidField(Model, "model must be a string of valid UTF-8.")
	}
	if len(name) > MaxModelLen {
		return invalidField(Model, fmt.Sprintf("model is %d bytes long; model names are at most %d bytes.", len(name), MaxModelLen))
	}
	b.Model = name
	if required != NoRequired {
		if v := b.Value(required); len(v) == 0 || v[0] != '[' || isEmptyContainer(v) {
			return invalidField(required, required.String()+" is required and must be a non-empty array.")
		}
	}
	if v := b.Value(Stream); v != nil {
		switch string(v) {
		case "true":
			b.Stream = true
		case "false":
		default:
			return invalidField(Stream, "stream must be true or false.")
		}
	}
	for _, m := range outputCaps {
		if n, ok := positiveWhole(b.Value(m)); ok {
			b.OutputCap = n
			break
		}
	}
	if u := b.includeUsage; u.present() {
		b.IncludeUsage = string(b.Raw[u.start:u.end]) == "true"
	}
	return nil
}

// positiveWhole reads a JSON number that is a positive whole number,
// capped at the largest int64.
func positiveWhole(v []byte) (int64, bool) {
	if len(v) == 0 || v[0] == '-' || !isDigit[v[0]] {
		return 0, false
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v), len(v)), 64)
	if err != nil && f == 0 || f < 1 || f != math.Trunc(f) {
		return 0, false
	}
	if f >= math.MaxInt64 {
		return math.MaxInt64, true
	}
	return int64(f), true
}

func isEmptyContainer(v []byte) bool {
	for _, c := range v[1 : len(v)-1] {
		if !isSpace[c] {
			return false
		}
	}
	return true
}

// stringValue is the text of a JSON string value: read in place when it
// holds no escape, decoded otherwise.
func stringValue(v []byte) (string, bool) {
	inner := v[1 : len(v)-1]
	if !strings.Contains(unsafe.String(unsafe.SliceData(inner), len(inner)), `\`) {
		return unsafe.String(unsafe.SliceData(inner), len(inner)), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

func invalidField(m Member, msg string) *llmerrors.Error {
	return &llmerrors.Error{Code: llmerrors.ValidationError, Field: m.String(), Message: msg}
}

// visitor records the members the gateway reads as the scan meets them,
// and the first member given twice. member hears of a member once its
// value is read whole: depth is that of the object holding it (1 for the
// top-level object), key the name's raw bytes, start and end its value's
// place. enter hears of a member whose value is an object about to be
// read, and says whether to report that object's members.
type visitor struct {
	b     *Body
	fault *llmerrors.Error
}

func (v *visitor) enter(depth int, key []byte, keyEscaped bool) bool {
	// stream_options is read inside: its include_usage decides whether
	// the client sees the usage chunk.
	m, exact := lookupMember(key, keyEscaped)
	return depth == 1 && exact && m == StreamOptions
}

func (v *visitor) member(depth int, key []byte, keyEscaped bool, start, end int) {
	if v.fault != nil {
		return
	}
	if depth == 2 {
		// inside stream_options
		name := keyText(key, keyEscaped)
		if strings.EqualFold(name, "include_usage") {
			if v.b.includeUsage.present() || name != "include_usage" {
				v.fault = duplicate("stream_options.include_usage", name)
				return
			}
			v.b.includeUsage = span{start, end}
		}
		return
	}
	if depth != 1 {
		return
	}
	m, exact := lookupMember(key, keyEscaped)
	if m == memberCount {
		return
	}
	if !exact || v.b.members[m].present() {
		v.fault = duplicate(m.String(), keyText(key, keyEscaped))
		return
	}
	v.b.members[m] = span{start, end}
	if m == StreamOptions && v.b.Raw[start] == '{' {
		v.b.streamOptionsIsObject = true
	}
}

// duplicate is the refusal of a member the gateway reads given twice, or
// under a spelling (another case, a look-alike letter) that some
// providers' JSON decoders take for it while others do not.
func duplicate(field, spelled string) *llmerrors.Error {
	msg := fmt.Sprintf("The request body gives %q more than once; send it once.", field)
	if spelled != field && !strings.HasSuffix(field, "."+spelled) {
		msg = fmt.Sprintf("The request body has a member %q, which some providers read as %q; send %q, once, and nothing spelled like it.", spelled, field, field)
	}
	return &llmerrors.Error{Code: llmerrors.ValidationError, Field: field, Message: msg}
}

// lookupMember finds the member a key names. exact is false when the key
// only folds to a member's name (Go's encoding/json, and so some
// OpenAI-compatible servers, match member names that way).
func lookupMember(key []byte, escaped bool) (m Member, exact bool) {
	name := keyText(key, escaped)
	if len(name) < 4 || len(name) > 3*len("max_completion_tokens") {
		return memberCount, false
	}
	for i, n := range memberNames {
		if name == n {
			return Member(i), true
		}
	}
	for i, n := range memberNames {
		if strings.EqualFold(name, n) {
			return Member(i), false
		}
	}
	return memberCount, false
}

// keyText is a member name's text, decoding escapes when it has any.
func keyText(key []byte, escaped bool) string {
	if !escaped {
		return unsafe.String(unsafe.SliceData(key), len(key))
	}
	var s string
	quoted := make([]byte, 0, len(key)+2)
	quoted = append(append(append(quoted, '"'), key...), '"')
	if err := json.Unmarshal(quoted, &s); err != nil {
		return ""
	}
	return s
}
