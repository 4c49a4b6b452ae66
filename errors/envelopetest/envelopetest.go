// Package envelopetest checks that a rendered error envelope has exactly
// the shape CONTRACT.md gives it: the keys, in their order, and the JSON
// type of every value. Tests of any package that writes envelopes (the
// renderer, provider classification, the handler) use it, so the shape is
// written down once.
package envelopetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Node is one JSON value, with object keys kept in document order.
type Node struct {
	// Kind is "object", "array", "string", "number", "bool" or "null".
	Kind string
	Keys []string
	Obj  map[string]*Node
	Arr  []*Node
	Str  string
	Num  json.Number
	Bool bool
}

// Parse decodes one JSON document, keeping the order of object keys. It
// fails on invalid JSON, duplicate keys and trailing data.
func Parse(data []byte) (*Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON document")
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &Node{Kind: "object", Obj: map[string]*Node{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %v", kt)
				}
				if _, dup := n.Obj[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				val, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				n.Keys = append(n.Keys, k)
				n.Obj[k] = val
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '[':
			n := &Node{Kind: "array"}
			for dec.More() {
				val, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				n.Arr = append(n.Arr, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %v", v)
	case string:
		return &Node{Kind: "string", Str: v}, nil
	case json.Number:
		return &Node{Kind: "number", Num: v}, nil
	case bool:
		return &Node{Kind: "bool", Bool: v}, nil
	case nil:
		return &Node{Kind: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// DetailKeys are the keys details may hold, in the order they must appear.
var DetailKeys = []string{"provider", "retry_after", "limit", "remaining", "available_models", "field", "suggestion"}

// Check verifies body is the envelope named format ("openai",
// "anthropic", "ccproxy", "coollm" or "proxed") for an error of the given
// HTTP status, and returns the parsed document.
func Check(format string, status int, body []byte) (*Node, error) {
	doc, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("%s envelope is not valid JSON: %v", format, err)
	}
	var errs []error
	fail := func(f string, args ...any) { errs = append(errs, fmt.Errorf(format+": "+f, args...)) }
	switch format {
	case "openai":
		inner := field(object(doc, []string{"error"}, nil, fail, "envelope"), "error")
		if inner = object(inner, []string{"message", "type", "param", "code"}, nil, fail, "error"); inner != nil {
			kind(inner, "message", fail, "string")
			kind(inner, "type", fail, "string")
			kind(inner, "param", fail, "string", "null")
			if kind(inner, "code", fail, "string") && inner.Obj["code"].Str != strconv.Itoa(status) {
				fail("error.code is %q, want the status %q", inner.Obj["code"].Str, strconv.Itoa(status))
			}
		}
	case "anthropic":
		if doc = object(doc, []string{"type", "error", "request_id"}, nil, fail, "envelope"); doc != nil {
			if kind(doc, "type", fail, "string") && doc.Obj["type"].Str != "error" {
				fail("type is %q, want \"error\"", doc.Obj["type"].Str)
			}
			kind(doc, "request_id", fail, "string", "null")
			if inner := object(doc.Obj["error"], []string{"type", "message"}, nil, fail, "error"); inner != nil {
				kind(inner, "type", fail, "string")
				kind(inner, "message", fail, "string")
			}
		}
	case "ccproxy":
		inner := field(object(doc, []string{"error"}, nil, fail, "envelope"), "error")
		if inner = object(inner, []string{"type", "message", "code"}, []string{"details"}, fail, "error"); inner != nil {
			kind(inner, "type", fail, "string")
			kind(inner, "message", fail, "string")
			kind(inner, "code", fail, "string")
			details(inner, fail)
		}
	case "coollm":
		inner := field(object(doc, []string{"error"}, nil, fail, "envelope"), "error")
		if inner = object(inner, []string{"message", "type", "code"}, []string{"details"}, fail, "error"); inner != nil {
			kind(inner, "message", fail, "string")
			kind(inner, "type", fail, "string")
			if kind(inner, "code", fail, "number") && string(inner.Obj["code"].Num) != strconv.Itoa(status) {
				fail("error.code is %s, want the status %d", inner.Obj["code"].Num, status)
			}
			details(inner, fail)
		}
	case "proxed":
		if doc = object(doc, []string{"error", "message", "requestId"}, []string{"details"}, fail, "envelope"); doc != nil {
			kind(doc, "error", fail, "string")
			kind(doc, "message", fail, "string")
			kind(doc, "requestId", fail, "string", "null")
			details(doc, fail)
		}
	default:
		fail("unknown envelope")
	}
	if len(errs) > 0 {
		return doc, errs[0]
	}
	return doc, nil
}

// object checks n is an object whose keys are exactly want, in order,
// followed by any of optional, in order.
func object(n *Node, want, optional []string, fail func(string, ...any), what string) *Node {
	if n == nil {
		return nil
	}
	if n.Kind != "object" {
		fail("%s is a JSON %s, want an object", what, n.Kind)
		return nil
	}
	if len(n.Keys) < len(want) || !slices.Equal(n.Keys[:len(want)], want) || !ordered(n.Keys[len(want):], optional) {
		fail("%s has keys %q, want %q then optionally %q", what, n.Keys, want, optional)
		return nil
	}
	return n
}

// field is n.Obj[key], or nil when n is nil.
func field(n *Node, key string) *Node {
	if n == nil {
		return nil
	}
	return n.Obj[key]
}

// ordered reports whether keys is a subsequence of allowed.
func ordered(keys, allowed []string) bool {
	i := 0
	for _, k := range keys {
		for i < len(allowed) && allowed[i] != k {
			i++
		}
		if i == len(allowed) {
			return false
		}
		i++
	}
	return true
}

func kind(n *Node, key string, fail func(string, ...any), kinds ...string) bool {
	v := n.Obj[key]
	if v == nil || !slices.Contains(kinds, v.Kind) {
		got := "nothing"
		if v != nil {
			got = v.Kind
		}
		fail("%s is %s, want %v", key, got, kinds)
		return false
	}
	return v.Kind == kinds[0]
}

func details(n *Node, fail func(string, ...any)) {
	d, ok := n.Obj["details"]
	if !ok {
		return
	}
	if d.Kind != "object" {
		fail("details is a JSON %s, want an object", d.Kind)
		return
	}
	if len(d.Keys) == 0 {
		fail("details is empty; it should be left out")
	}
	if !ordered(d.Keys, DetailKeys) {
		fail("details has keys %q, want them among %q in that order", d.Keys, DetailKeys)
		return
	}
	for _, k := range d.Keys {
		switch k {
		case "provider", "field", "suggestion":
			kind(d, k, fail, "string")
		case "retry_after":
			if kind(d, k, fail, "number") {
				if s, err := strconv.ParseInt(string(d.Obj[k].Num), 10, 64); err != nil || s < 1 {
					fail("details.retry_after is %s, want whole seconds >= 1", d.Obj[k].Num)
				}
			}
		case "limit", "remaining":
			kind(d, k, fail, "number", "null")
		case "available_models":
			if kind(d, k, fail, "array") {
				for _, m := range d.Obj[k].Arr {
					if m.Kind != "string" {
						fail("details.available_models holds a %s", m.Kind)
					}
				}
			}
		}
	}
}

// Get walks path (object keys) from n and returns the node there, or nil.
func (n *Node) Get(path ...string) *Node {
	for _, k := range path {
		if n == nil || n.Kind != "object" {
			return nil
		}
		n = n.Obj[k]
	}
	return n
}
