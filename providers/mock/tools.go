package mock

import (
	"bytes"
	"strings"

	"github.com/tidwall/gjson"
)

// The mock plays a tool loop, so an agent (Claude Code, an OpenAI SDK
// app) can run its whole loop offline, through the gateway, in either
// protocol:
//
//   - a request that offers tools and ends with a user turn gets a tool
//     call: to the tool tool_choice names; else, when the user's text
//     holds a file path, to a file-reading tool (Read, or a tool whose
//     name contains "read" with a path property) with that path; else
//     to the first tool, with the least arguments its schema requires;
//   - a request whose last turn carries a tool result gets text quoting
//     the start of that result, and ends the turn.
//
// Requests without tools (or with tool_choice none) answer as before.

// toolPlan is what a request with tools asks of the mock.
type toolPlan struct {
	// call is set when the answer is a tool call, of name with the
	// JSON object args.
	call bool
	name string
	args string
	// result is set when the last turn carries a tool result, the
	// text of which the reply quotes.
	result    string
	hasResult bool
}

// planTools reads what the tools of a request on path ask for.
func planTools(path string, doc gjson.Result) toolPlan {
	msgs := doc.Get("messages").Array()
	// The turn answered is the last of the user or of a tool: system
	// messages after it (Claude Code 2.1 ends its turns with one that
	// holds its environment) are instructions, not the turn.
	for len(msgs) > 0 {
		if r := msgs[len(msgs)-1].Get("role").Str; r != "system" && r != "developer" {
			break
		}
		msgs = msgs[:len(msgs)-1]
	}
	if len(msgs) == 0 {
		return toolPlan{}
	}
	last := msgs[len(msgs)-1]
	switch path {
	case pathChat:
		if last.Get("role").Str == "tool" {
			return toolPlan{hasResult: true, result: textOf(last.Get("content"))}
		}
		if last.Get("role").Str != "user" || doc.Get("tool_choice").Str == "none" {
			return toolPlan{}
		}
		var tools []tool
		doc.Get("tools").ForEach(func(_, t gjson.Result) bool {
			if t.Get("type").Str == "function" {
				tools = append(tools, tool{name: t.Get("function.name").Str, schema: t.Get("function.parameters")})
			}
			return true
		})
		return choose(tools, doc.Get("tool_choice.function.name").Str, textOf(last.Get("content")))
	case pathMessages:
		if last.Get("role").Str != "user" {
			return toolPlan{}
		}
		var result gjson.Result
		last.Get("content").ForEach(func(_, b gjson.Result) bool {
			if b.Get("type").Str == "tool_result" {
				result = b
			}
			return true
		})
		if result.Exists() {
			return toolPlan{hasResult: true, result: textOf(result.Get("content"))}
		}
		if doc.Get("tool_choice.type").Str == "none" {
			return toolPlan{}
		}
		var tools []tool
		doc.Get("tools").ForEach(func(_, t gjson.Result) bool {
			// Server tools (web_search_*, bash_*, ...) run on
			// Anthropic's side; the mock calls only the client's.
			if typ := t.Get("type"); !typ.Exists() || typ.Str == "custom" {
				tools = append(tools, tool{name: t.Get("name").Str, schema: t.Get("input_schema")})
			}
			return true
		})
		named := ""
		if doc.Get("tool_choice.type").Str == "tool" {
			named = doc.Get("tool_choice.name").Str
		}
		return choose(tools, named, textOf(last.Get("content")))
	}
	return toolPlan{}
}

type tool struct {
	name   string
	schema gjson.Result
}

// choose picks the tool to call and its arguments.
func choose(tools []tool, named, userText string) toolPlan {
	if len(tools) == 0 {
		return toolPlan{}
	}
	if named != "" {
		for _, t := range tools {
			if t.name == named {
				return toolPlan{call: true, name: t.name, args: argsFor(t, userText)}
			}
		}
	}
	if p := pathIn(userText); p != "" {
		for _, t := range tools {
			if prop := pathProperty(t); prop != "" && strings.Contains(strings.ToLower(t.name), "read") {
				return toolPlan{call: true, name: t.name, args: `{` + string(marshal(prop)) + `:` + string(marshal(p)) + `}`}
			}
		}
	}
	for _, t := range tools {
		if harmless(t.name) {
			return toolPlan{call: true, name: t.name, args: argsFor(t, userText)}
		}
	}
	return toolPlan{} // only tools with effects: answer in text
}

// harmless reports whether the mock may call a tool it picked itself
// (tool_choice may still name any): not one that runs commands, writes
// or edits, reaches the network, or starts a subagent. A client runs the
// tools the mock calls (Claude Code with --dangerously-skip-permissions
// would run a shell command), and a subagent of the mock calls tools of
// its own, each handing back a turn the mock would answer with another
// subagent, without end.
func harmless(name string) bool {
	n := strings.ToLower(name)
	for _, word := range []string{"bash", "shell", "exec", "command", "run", "kill", "write", "edit", "delete", "remove", "agent", "task", "web", "fetch", "http", "browser"} {
		if strings.Contains(n, word) {
			return false
		}
	}
	return true
}

// pathProperty is the property of a tool's schema that takes a file
// path, or "".
func pathProperty(t tool) string {
	for _, p := range []string{"file_path", "path", "filename", "file"} {
		if t.schema.Get("properties." + p).Exists() {
			return p
		}
	}
	return ""
}

// pathIn is the first word of s that looks like a file path: one with a
// slash, or a name with an extension of up to ten letters and digits
// ("README.md", "Caddyfile.example"), outside the
// <system-reminder> sections Claude Code puts before the user's words
// (which name CLAUDE.md and such).
func pathIn(s string) string {
	for _, w := range strings.Fields(withoutReminders(s)) {
		w = strings.Trim(w, "\"'`()[]{}<>,;:!?")
		w = strings.TrimSuffix(w, ".")
		if len(w) < 3 || strings.Contains(w, "://") {
			continue
		}
		if strings.Contains(w, "/") {
			return w
		}
		if dot := strings.LastIndexByte(w, '.'); dot > 0 && len(w)-dot-1 >= 1 && len(w)-dot-1 <= 10 && isWordy(w[dot+1:]) && !('0' <= w[dot+1] && w[dot+1] <= '9') {
			return w
		}
	}
	return ""
}

// withoutReminders is s without its <system-reminder>…</system-reminder>
// sections.
func withoutReminders(s string) string {
	const open, close = "<system-reminder>", "</system-reminder>"
	for {
		i := strings.Index(s, open)
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], close)
		if j < 0 {
			return s
		}
		s = s[:i] + " " + s[i+j+len(close):]
	}
}

func isWordy(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// argsFor is the least arguments t's schema requires: each required
// property with a value of its type (a file path property gets the path
// the user named, when there is one).
func argsFor(t tool, userText string) string {
	var b bytes.Buffer
	writeMinimal(&b, t.schema, userText, 0)
	return b.String()
}

func writeMinimal(b *bytes.Buffer, schema gjson.Result, userText string, depth int) {
	if enum := schema.Get("enum.0"); enum.Exists() {
		b.WriteString(enum.Raw)
		return
	}
	typ := schema.Get("type").Str
	if schema.Get("type").IsArray() {
		typ = schema.Get("type.0").Str
	}
	switch {
	case typ == "object" || (typ == "" && schema.Get("properties").Exists()):
		b.WriteByte('{')
		if depth < 8 {
			n := 0
			schema.Get("required").ForEach(func(_, name gjson.Result) bool {
				if n > 0 {
					b.WriteByte(',')
				}
				n++
				b.Write(marshal(name.Str))
				b.WriteByte(':')
				prop := schema.Get("properties." + gjson.Escape(name.Str))
				if p := pathIn(userText); p != "" && prop.Get("type").Str == "string" && strings.Contains(name.Str, "path") {
					b.Write(marshal(p))
				} else {
					writeMinimal(b, prop, userText, depth+1)
				}
				return true
			})
		}
		b.WriteByte('}')
	case typ == "array":
		b.WriteString("[]")
	case typ == "integer" || typ == "number":
		if m := schema.Get("minimum"); m.Exists() {
			b.WriteString(m.Raw)
		} else {
			b.WriteByte('1')
		}
	case typ == "boolean":
		b.WriteString("true")
	case typ == "null":
		b.WriteString("null")
	default:
		b.WriteString(`"mock"`)
	}
}

// argPieces splits a tool call's arguments the way providers stream
// them: a few pieces of about eight bytes (cut at byte boundaries, as
// real streams cut inside strings and escapes too).
func argPieces(args string) []string {
	const piece = 8
	var out []string
	for len(args) > piece {
		out = append(out, args[:piece])
		args = args[piece:]
	}
	return append(out, args)
}

// toolLeadIn is the short text the mock says before its tool call, as
// models do ("I'll read the file.").
func toolLeadIn(name string) []string {
	return []string{"I'll ", "use ", name + "."}
}
