package limits

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// LoadKeysFile reads a keys_file: a JSON array of key objects with the
// fields of a `key` block and key_sha256 in place of the secret:
//
//	[
//	  {"name": "team-a", "key_sha256": "9f86d0…", "models": ["llama-*"],
//	   "rpm": 60, "budget": 50, "session": {"window": "5h", "tokens": 2000000}},
//	  {"name": "ci", "key_sha256": "60303a…", "expires": "2026-12-31T00:00:00Z"}
//	]
//
// Unknown fields are errors, since a misspelt limit would otherwise be
// silently no limit. A `key` field is accepted only as a placeholder
// ({env.X}): the file must not hold secrets. Each entry is checked on its
// own here, so errors name the file and the entry; NewKeyring checks
// across entries (duplicates).
func LoadKeysFile(path string) ([]*KeyConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys_file %s: %w", path, err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("keys_file %s: not a JSON array of keys: %s", path, jsonErrorText(data, err))
	}
	cfgs := make([]*KeyConfig, 0, len(raws))
	for i, raw := range raws {
		c := new(KeyConfig)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			// jsonErrorText quotes no value but a malformed time or
			// duration, so a secret pasted in by mistake is not echoed.
			return nil, fmt.Errorf("keys_file %s: entry %d: %s", path, i, jsonErrorText(raw, err))
		}
		label := fmt.Sprintf("entry %d", i)
		if c.Name != "" {
			label += " (" + c.Name + ")"
		}
		if c.Key != "" && !isPlaceholder(c.Key) {
			return nil, fmt.Errorf("keys_file %s: %s: `key` holds a secret; a keys_file holds key_sha256, the hex SHA-256 of the secret, instead (or a placeholder such as {env.TEAM_A_KEY})", path, label)
		}
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("keys_file %s: %s: %w", path, label, err)
		}
		cfgs = append(cfgs, c)
	}
	return cfgs, nil
}

func isPlaceholder(s string) bool {
	return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && strings.Count(s, "{") == 1
}

// jsonErrorText describes a decoding error by position and expected type,
// without the offending value.
func jsonErrorText(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Sprintf("invalid JSON at line %d, column %d", line, col)
	case errors.As(err, &typ):
		if typ.Field != "" {
			// Policy is embedded in KeyConfig; its fields are the key's own.
			field := strings.TrimPrefix(typ.Field, "Policy.")
			return fmt.Sprintf("field %s: want %s, got a JSON %s", field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("want %s, got a JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the JSON ends too early"
	}
	// Unknown fields ("json: unknown field \"rpn\"") are named; a
	// malformed expiry or session window is quoted, which is no secret.
	return strings.TrimPrefix(err.Error(), "json: ")
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
