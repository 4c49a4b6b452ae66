package mock

import (
	"encoding/json"
	"net/http"
	"strings"
)

// The shapes of an Anthropic tool-use answer and its stream events.
type (
	toolUseMessage struct {
		ID           string         `json:"id"`
		Type         string         `json:"type"`
		Role         string         `json:"role"`
		Model        string         `json:"model"`
		Content      []any          `json:"content"`
		StopReason   *string        `json:"stop_reason"`
		StopSequence *string        `json:"stop_sequence"`
		Usage        anthropicUsage `json:"usage"`
	}
	toolUseBlock struct {
		Type  string          `json:"type"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	toolUseStart struct {
		Type         string       `json:"type"`
		Index        int          `json:"index"`
		ContentBlock toolUseBlock `json:"content_block"`
	}
	inputDelta struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta struct {
			Type        string `json:"type"`
			PartialJSON string `json:"partial_json"`
		} `json:"delta"`
	}
	toolUseMessageStart struct {
		Type    string         `json:"type"`
		Message toolUseMessage `json:"message"`
	}
)

func toolUseID() string { return "toolu_01" + randomString(base58, 22) }

// messageToolUse answers an Anthropic message with a call to plan's
// tool: a short text block, then the tool_use block, stop_reason
// tool_use.
func (h *Handler) messageToolUse(w http.ResponseWriter, r *http.Request, req *request, f fault, plan toolPlan) {
	lead := toolLeadIn(plan.name)
	pieces := argPieces(plan.args)
	stop := "tool_use"
	callID := toolUseID()
	msg := toolUseMessage{
		ID: anthropicMessageID(), Type: "message", Role: "assistant", Model: req.model,
		Content: []any{
			anthropicBlock{Type: "text", Text: strings.Join(lead, "")},
			toolUseBlock{Type: "tool_use", ID: callID, Name: plan.name, Input: json.RawMessage(plan.args)},
		},
		StopReason: &stop,
		Usage:      anthropicUsage{InputTokens: req.promptTokens, OutputTokens: len(lead) + len(pieces), ServiceTier: "standard"},
	}
	if !req.stream {
		writeAnswer(w, providerHeaders(true), marshal(msg))
		return
	}

	s := h.startStream(w, r, f, providerHeaders(true))
	start := msg
	start.Content, start.StopReason = []any{}, nil
	start.Usage.OutputTokens = 1
	s.event("message_start", marshal(toolUseMessageStart{Type: "message_start", Message: start}))
	s.event("content_block_start", marshal(blockStart{Type: "content_block_start", ContentBlock: anthropicBlock{Type: "text"}}))
	s.event("ping", anthropicPing)
	for _, c := range lead {
		if !s.next() {
			s.event("error", anthropicOverloaded)
			return
		}
		s.event("content_block_delta", marshal(blockDelta{Type: "content_block_delta", Delta: textDelta{Type: "text_delta", Text: c}}))
	}
	s.event("content_block_stop", anthropicBlockStop)
	s.event("content_block_start", marshal(toolUseStart{Type: "content_block_start", Index: 1,
		ContentBlock: toolUseBlock{Type: "tool_use", ID: callID, Name: plan.name, Input: json.RawMessage("{}")}}))
	// Anthropic opens a tool_use block's input with an empty delta.
	for _, p := range append([]string{""}, pieces...) {
		if p != "" && !s.next() {
			s.event("error", anthropicOverloaded)
			return
		}
		d := inputDelta{Type: "content_block_delta", Index: 1}
		d.Delta.Type, d.Delta.PartialJSON = "input_json_delta", p
		s.event("content_block_delta", marshal(d))
	}
	s.event("content_block_stop", []byte(`{"type":"content_block_stop","index":1}`))
	md := messageDelta{Type: "message_delta"}
	md.Delta.StopReason = stop
	md.Usage.OutputTokens = msg.Usage.OutputTokens
	s.event("message_delta", marshal(md))
	s.event("message_stop", anthropicStop)
}
