package request

import (
	"encoding/json"
	"slices"
	"strconv"
)

// Rewrite returns the body to send upstream: the client's, with model
// replaced when model differs from the client's; when askUsage is set,
// stream_options.include_usage set to true (an OpenAI-compatible provider
// then reports a stream's usage in a last chunk); and, when capTo > 0 and
// the body sets no output cap, capField set to capTo (so an answer cannot
// outgrow what was reserved for it). It returns Raw itself when nothing
// changes, and otherwise builds the new body in one allocation, leaving
// Raw untouched.
func (b *Body) Rewrite(model string, askUsage bool, capField Member, capTo int64) []byte {
	newModel := model != b.Model
	askUsage = askUsage && !b.IncludeUsage
	addCap := capTo > 0 && b.OutputCap == 0 && !b.Has(capField)
	if !newModel && !askUsage && !addCap {
		return b.Raw
	}
	// The edits, in the body's order: each replaces raw[start:end].
	type edit struct {
		start, end int
		text       string
	}
	var edits [3]edit
	n := 0
	if newModel {
		s := b.members[Model]
		quoted, _ := json.Marshal(model) // a string always marshals
		edits[n] = edit{s.start, s.end, string(quoted)}
		n++
	}
	if askUsage {
		switch so := b.members[StreamOptions]; {
		case b.includeUsage.present():
			edits[n] = edit{b.includeUsage.start, b.includeUsage.end, "true"}
		case b.streamOptionsIsObject:
			text := `"include_usage":true`
			if !isEmptyContainer(b.Raw[so.start:so.end]) {
				text += ","
			}
			edits[n] = edit{so.start + 1, so.start + 1, text}
		case so.present(): // null, or a value the provider will refuse anyway
			edits[n] = edit{so.start, so.end, `{"include_usage":true}`}
		default:
			edits[n] = edit{b.end, b.end, `,"stream_options":{"include_usage":true}`}
		}
		n++
	}
	if addCap {
		edits[n] = edit{b.end, b.end, `,"` + capField.String() + `":` + strconv.FormatInt(capTo, 10)}
		n++
	}
	slices.SortStableFunc(edits[:n], func(x, y edit) int { return x.start - y.start })
	size := len(b.Raw)
	for _, e := range edits[:n] {
		size += len(e.text) - (e.end - e.start)
	}
	out := make([]byte, 0, size)
	at := 0
	for _, e := range edits[:n] {
		out = append(out, b.Raw[at:e.start]...)
		out = append(out, e.text...)
		at = e.end
	}
	return append(out, b.Raw[at:]...)
}
