package mock

import (
	"encoding/json"
	"net/http"
	"time"
)

// The shapes of OpenAI's chat completion answers, fields in the API's own
// order.
type (
	chatCompletion struct {
		ID                string       `json:"id"`
		Object            string       `json:"object"`
		Created           int64        `json:"created"`
		Model             string       `json:"model"`
		Choices           []chatChoice `json:"choices"`
		Usage             *openAIUsage `json:"usage"`
		ServiceTier       string       `json:"service_tier"`
		SystemFingerprint string       `json:"system_fingerprint"`
	}
	chatChoice struct {
		Index        int         `json:"index"`
		Message      chatMessage `json:"message"`
		Logprobs     *struct{}   `json:"logprobs"`
		FinishReason string      `json:"finish_reason"`
	}
	chatMessage struct {
		Role        string     `json:"role"`
		Content     string     `json:"content"`
		Refusal     *string    `json:"refusal"`
		Annotations []struct{} `json:"annotations"`
	}

	chatChunk struct {
		ID                string        `json:"id"`
		Object            string        `json:"object"`
		Created           int64         `json:"created"`
		Model             string        `json:"model"`
		ServiceTier       string        `json:"service_tier"`
		SystemFingerprint string        `json:"system_fingerprint"`
		Choices           []chunkChoice `json:"choices"`
		// Usage is absent unless the client asked for
		// stream_options.include_usage; then it is null on every chunk
		// but the last, which carries it with no choices.
		Usage json.RawMessage `json:"usage,omitempty"`
	}
	chunkChoice struct {
		Index        int        `json:"index"`
		Delta        chunkDelta `json:"delta"`
		Logprobs     *struct{}  `json:"logprobs"`
		FinishReason *string    `json:"finish_reason"`
	}
	chunkDelta struct {
		Role    string          `json:"role,omitempty"`
		Content *string         `json:"content,omitempty"`
		Refusal json.RawMessage `json:"refusal,omitempty"`
	}

	// openAIUsage is the usage of chat and legacy completions; the
	// details exist in chat answers only.
	openAIUsage struct {
		PromptTokens            int                `json:"prompt_tokens"`
		CompletionTokens        int                `json:"completion_tokens"`
		TotalTokens             int                `json:"total_tokens"`
		PromptTokensDetails     *promptDetails     `json:"prompt_tokens_details,omitempty"`
		CompletionTokensDetails *completionDetails `json:"completion_tokens_details,omitempty"`
	}
	promptDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	}
	completionDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	}

	// textCompletion is a legacy completion and each of its stream
	// chunks (the object type is the same for both).
	textCompletion struct {
		ID                string             `json:"id"`
		Object            string             `json:"object"`
		Created           int64              `json:"created"`
		Model             string             `json:"model"`
		Choices           []completionChoice `json:"choices"`
		SystemFingerprint string             `json:"system_fingerprint"`
		Usage             json.RawMessage    `json:"usage,omitempty"`
	}
	completionChoice struct {
		Text         string    `json:"text"`
		Index        int       `json:"index"`
		Logprobs     *struct{} `json:"logprobs"`
		FinishReason *string   `json:"finish_reason"`
	}
)

// openAIStreamError is the chunk OpenAI sends when a stream fails after it
// began: an error object where a chunk would be, and no [DONE] after it.
var openAIStreamError = []byte(`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`)

// nullJSON is JSON null, for fields a stream sends as null.
var nullJSON = json.RawMessage("null")

func (h *Handler) chatCompletion(w http.ResponseWriter, r *http.Request, req *request, f fault) {
	if req.tools.call {
		h.chatToolCall(w, r, req, f, req.tools)
		return
	}
	rep := newReply(req)
	finish := "stop"
	if rep.truncated {
		finish = "length"
	}
	usage := &openAIUsage{
		PromptTokens:            req.promptTokens,
		CompletionTokens:        rep.tokens(),
		TotalTokens:             req.promptTokens + rep.tokens(),
		PromptTokensDetails:     &promptDetails{},
		CompletionTokensDetails: &completionDetails{},
	}
	id, created := chatCompletionID(), time.Now().Unix()
	if !req.stream {
		writeAnswer(w, providerHeaders(false), marshal(chatCompletion{
			ID:      id,
			Object:  "chat.completion",
			Created: created,
			Model:   req.model,
			Choices: []chatChoice{{
				Message:      chatMessage{Role: "assistant", Content: rep.text(), Annotations: []struct{}{}},
				FinishReason: finish,
			}},
			Usage:             usage,
			ServiceTier:       "default",
			SystemFingerprint: systemFingerprint,
		}))
		return
	}

	var chunkUsage json.RawMessage
	if req.includeUsage {
		chunkUsage = nullJSON
	}
	chunk := func(choices []chunkChoice, usage json.RawMessage) []byte {
		return marshal(chatChunk{
			ID:                id,
			Object:            "chat.completion.chunk",
			Created:           created,
			Model:             req.model,
			ServiceTier:       "default",
			SystemFingerprint: systemFingerprint,
			Choices:           choices,
			Usage:             usage,
		})
	}
	delta := func(d chunkDelta, finish *string) []chunkChoice {
		return []chunkChoice{{Delta: d, FinishReason: finish}}
	}

	s := h.startStream(w, r, f, providerHeaders(false))
	empty := ""
	s.event("", chunk(delta(chunkDelta{Role: "assistant", Content: &empty, Refusal: nullJSON}, nil), chunkUsage))
	for _, c := range rep.chunks {
		if !s.next() {
			s.event("", openAIStreamError)
			return
		}
		s.event("", chunk(delta(chunkDelta{Content: &c}, nil), chunkUsage))
	}
	s.event("", chunk(delta(chunkDelta{}, &finish), chunkUsage))
	if req.includeUsage {
		s.event("", chunk([]chunkChoice{}, marshal(usage)))
	}
	s.event("", []byte("[DONE]"))
}

func (h *Handler) completion(w http.ResponseWriter, r *http.Request, req *request, f fault) {
	rep := newReply(req)
	finish := "stop"
	if rep.truncated {
		finish = "length"
	}
	usage := marshal(openAIUsage{
		PromptTokens:     req.promptTokens,
		CompletionTokens: rep.tokens(),
		TotalTokens:      req.promptTokens + rep.tokens(),
	})
	id, created := completionID(), time.Now().Unix()
	completion := func(choices []completionChoice, usage json.RawMessage) []byte {
		return marshal(textCompletion{
			ID:                id,
			Object:            "text_completion",
			Created:           created,
			Model:             req.model,
			Choices:           choices,
			SystemFingerprint: systemFingerprint,
			Usage:             usage,
		})
	}
	choice := func(text string, finish *string) []completionChoice {
		return []completionChoice{{Text: text, FinishReason: finish}}
	}
	if !req.stream {
		writeAnswer(w, providerHeaders(false), completion(choice(rep.text(), &finish), usage))
		return
	}

	var chunkUsage json.RawMessage
	if req.includeUsage {
		chunkUsage = nullJSON
	}
	s := h.startStream(w, r, f, providerHeaders(false))
	for _, c := range rep.chunks {
		if !s.next() {
			s.event("", openAIStreamError)
			return
		}
		s.event("", completion(choice(c, nil), chunkUsage))
	}
	s.event("", completion(choice("", &finish), chunkUsage))
	if req.includeUsage {
		s.event("", completion([]completionChoice{}, usage))
	}
	s.event("", []byte("[DONE]"))
}

// writeAnswer writes a whole non-streamed answer with the provider's
// headers.
func writeAnswer(w http.ResponseWriter, header map[string]string, body []byte) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	writeJSON(w, http.StatusOK, body)
}
