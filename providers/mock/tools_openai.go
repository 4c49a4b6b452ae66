package mock

import (
	"net/http"
	"time"
)

// The shapes of an OpenAI tool-call answer and its stream chunks.
type (
	toolCallMessage struct {
		Role        string         `json:"role"`
		Content     string         `json:"content"`
		ToolCalls   []chatToolCall `json:"tool_calls"`
		Refusal     *string        `json:"refusal"`
		Annotations []struct{}     `json:"annotations"`
	}
	chatToolCall struct {
		ID       string       `json:"id"`
		Type     string       `json:"type"`
		Function chatFunction `json:"function"`
	}
	chatFunction struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	toolChoice struct {
		Index        int             `json:"index"`
		Message      toolCallMessage `json:"message"`
		Logprobs     *struct{}       `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	}
	toolCompletion struct {
		ID                string       `json:"id"`
		Object            string       `json:"object"`
		Created           int64        `json:"created"`
		Model             string       `json:"model"`
		Choices           []toolChoice `json:"choices"`
		Usage             *openAIUsage `json:"usage"`
		ServiceTier       string       `json:"service_tier"`
		SystemFingerprint string       `json:"system_fingerprint"`
	}
	// toolDeltaChunk is a stream chunk whose delta carries a tool call
	// fragment: the first with index, id, type and name, the others
	// with index and a piece of the arguments only.
	toolDeltaChunk struct {
		ID                string           `json:"id"`
		Object            string           `json:"object"`
		Created           int64            `json:"created"`
		Model             string           `json:"model"`
		ServiceTier       string           `json:"service_tier"`
		SystemFingerprint string           `json:"system_fingerprint"`
		Choices           []toolDeltaEntry `json:"choices"`
		Usage             any              `json:"usage,omitempty"`
	}
	toolDeltaEntry struct {
		Index        int       `json:"index"`
		Delta        toolDelta `json:"delta"`
		Logprobs     *struct{} `json:"logprobs"`
		FinishReason *string   `json:"finish_reason"`
	}
	toolDelta struct {
		ToolCalls []toolCallFragment `json:"tool_calls"`
	}
	toolCallFragment struct {
		Index    int              `json:"index"`
		ID       string           `json:"id,omitempty"`
		Type     string           `json:"type,omitempty"`
		Function fragmentFunction `json:"function"`
	}
	fragmentFunction struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	}
)

func toolCallID() string { return "call_" + randomString(alnum, 24) }

// chatToolCall answers a chat completion with a call to plan's tool.
func (h *Handler) chatToolCall(w http.ResponseWriter, r *http.Request, req *request, f fault, plan toolPlan) {
	lead := toolLeadIn(plan.name)
	pieces := argPieces(plan.args)
	tokens := len(lead) + len(pieces)
	usage := &openAIUsage{
		PromptTokens: req.promptTokens, CompletionTokens: tokens, TotalTokens: req.promptTokens + tokens,
		PromptTokensDetails: &promptDetails{}, CompletionTokensDetails: &completionDetails{},
	}
	id, created, callID := chatCompletionID(), time.Now().Unix(), toolCallID()
	if !req.stream {
		text := ""
		for _, p := range lead {
			text += p
		}
		writeAnswer(w, providerHeaders(false), marshal(toolCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: req.model,
			Choices: []toolChoice{{
				Message: toolCallMessage{
					Role: "assistant", Content: text, Annotations: []struct{}{},
					ToolCalls: []chatToolCall{{ID: callID, Type: "function", Function: chatFunction{Name: plan.name, Arguments: plan.args}}},
				},
				FinishReason: "tool_calls",
			}},
			Usage: usage, ServiceTier: "default", SystemFingerprint: systemFingerprint,
		}))
		return
	}

	var chunkUsage any
	if req.includeUsage {
		chunkUsage = nullJSON
	}
	text := func(d chunkDelta, finish *string) []byte {
		return marshal(chatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: req.model,
			ServiceTier: "default", SystemFingerprint: systemFingerprint,
			Choices: []chunkChoice{{Delta: d, FinishReason: finish}}, Usage: usageRaw(chunkUsage),
		})
	}
	call := func(frag toolCallFragment) []byte {
		return marshal(toolDeltaChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: req.model,
			ServiceTier: "default", SystemFingerprint: systemFingerprint,
			Choices: []toolDeltaEntry{{Delta: toolDelta{ToolCalls: []toolCallFragment{frag}}}}, Usage: chunkUsage,
		})
	}

	s := h.startStream(w, r, f, providerHeaders(false))
	empty := ""
	s.event("", text(chunkDelta{Role: "assistant", Content: &empty, Refusal: nullJSON}, nil))
	for _, c := range lead {
		if !s.next() {
			s.event("", openAIStreamError)
			return
		}
		s.event("", text(chunkDelta{Content: &c}, nil))
	}
	s.event("", call(toolCallFragment{ID: callID, Type: "function", Function: fragmentFunction{Name: plan.name}}))
	for _, p := range pieces {
		if !s.next() {
			s.event("", openAIStreamError)
			return
		}
		s.event("", call(toolCallFragment{Function: fragmentFunction{Arguments: p}}))
	}
	finish := "tool_calls"
	s.event("", text(chunkDelta{}, &finish))
	if req.includeUsage {
		s.event("", marshal(chatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: req.model,
			ServiceTier: "default", SystemFingerprint: systemFingerprint,
			Choices: []chunkChoice{}, Usage: marshal(usage),
		}))
	}
	s.event("", []byte("[DONE]"))
}

// usageRaw is the chunk usage field: null when the client asked for
// usage, absent otherwise.
func usageRaw(u any) []byte {
	if u == nil {
		return nil
	}
	return nullJSON
}
