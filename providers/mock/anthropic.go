package mock

import (
	"net/http"
	"strconv"
)

// The shapes of Anthropic's Messages API, fields in the API's own order.
type (
	anthropicMessage struct {
		ID           string           `json:"id"`
		Type         string           `json:"type"`
		Role         string           `json:"role"`
		Model        string           `json:"model"`
		Content      []anthropicBlock `json:"content"`
		StopReason   *string          `json:"stop_reason"`
		StopSequence *string          `json:"stop_sequence"`
		Usage        anthropicUsage   `json:"usage"`
	}
	anthropicBlock struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	anthropicUsage struct {
		InputTokens              int    `json:"input_tokens"`
		CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
		OutputTokens             int    `json:"output_tokens"`
		ServiceTier              string `json:"service_tier"`
	}

	messageStart struct {
		Type    string           `json:"type"`
		Message anthropicMessage `json:"message"`
	}
	blockStart struct {
		Type         string         `json:"type"`
		Index        int            `json:"index"`
		ContentBlock anthropicBlock `json:"content_block"`
	}
	blockDelta struct {
		Type  string    `json:"type"`
		Index int       `json:"index"`
		Delta textDelta `json:"delta"`
	}
	textDelta struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	messageDelta struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
)

// Anthropic stream events whose data never varies. The ping's space after
// the colon is Anthropic's own.
var (
	anthropicPing      = []byte(`{"type": "ping"}`)
	anthropicBlockStop = []byte(`{"type":"content_block_stop","index":0}`)
	anthropicStop      = []byte(`{"type":"message_stop"}`)
	// anthropicOverloaded is the error event Anthropic sends when it
	// fails mid-stream.
	anthropicOverloaded = []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
)

func (h *Handler) message(w http.ResponseWriter, r *http.Request, req *request, f fault) {
	if req.tools.call {
		h.messageToolUse(w, r, req, f, req.tools)
		return
	}
	rep := newReply(req)
	stop := "end_turn"
	if rep.truncated {
		stop = "max_tokens"
	}
	msg := anthropicMessage{
		ID:         anthropicMessageID(),
		Type:       "message",
		Role:       "assistant",
		Model:      req.model,
		Content:    []anthropicBlock{{Type: "text", Text: rep.text()}},
		StopReason: &stop,
		Usage: anthropicUsage{
			InputTokens:  req.promptTokens,
			OutputTokens: rep.tokens(),
			ServiceTier:  "standard",
		},
	}
	if !req.stream {
		writeAnswer(w, providerHeaders(true), marshal(msg))
		return
	}

	s := h.startStream(w, r, f, providerHeaders(true))
	start := msg
	start.Content, start.StopReason = []anthropicBlock{}, nil
	// message_start carries the prompt's size and the first output
	// token; message_delta carries the final output count.
	start.Usage.OutputTokens = 1
	s.event("message_start", marshal(messageStart{Type: "message_start", Message: start}))
	s.event("content_block_start", marshal(blockStart{Type: "content_block_start", ContentBlock: anthropicBlock{Type: "text"}}))
	s.event("ping", anthropicPing)
	for _, c := range rep.chunks {
		if !s.next() {
			s.event("error", anthropicOverloaded)
			return
		}
		s.event("content_block_delta", marshal(blockDelta{Type: "content_block_delta", Delta: textDelta{Type: "text_delta", Text: c}}))
	}
	s.event("content_block_stop", anthropicBlockStop)
	md := messageDelta{Type: "message_delta"}
	md.Delta.StopReason = stop
	md.Usage.OutputTokens = rep.tokens()
	s.event("message_delta", marshal(md))
	s.event("message_stop", anthropicStop)
}

// countTokens answers /v1/messages/count_tokens with the same estimate a
// message's usage reports for the same request.
func countTokens(w http.ResponseWriter, req *request) {
	writeAnswer(w, providerHeaders(true), []byte(`{"input_tokens":`+strconv.Itoa(req.promptTokens)+`}`))
}
