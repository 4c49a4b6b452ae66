package mock

import (
	"encoding/json"
	"net/http"
	"time"
)

// The shapes of OpenAI's Responses API, fields in the API's own order.
type (
	responseObject struct {
		ID                 string             `json:"id"`
		Object             string             `json:"object"`
		CreatedAt          int64              `json:"created_at"`
		Status             string             `json:"status"`
		Error              *struct{}          `json:"error"`
		IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
		Instructions       json.RawMessage    `json:"instructions"`
		MaxOutputTokens    *int               `json:"max_output_tokens"`
		Model              string             `json:"model"`
		Output             []outputItem       `json:"output"`
		ParallelToolCalls  bool               `json:"parallel_tool_calls"`
		PreviousResponseID json.RawMessage    `json:"previous_response_id"`
		Reasoning          reasoningConfig    `json:"reasoning"`
		Store              bool               `json:"store"`
		Temperature        float64            `json:"temperature"`
		Text               textConfig         `json:"text"`
		ToolChoice         string             `json:"tool_choice"`
		Tools              []struct{}         `json:"tools"`
		TopP               float64            `json:"top_p"`
		Truncation         string             `json:"truncation"`
		Usage              *responseUsage     `json:"usage"`
		User               *string            `json:"user"`
		Metadata           struct{}           `json:"metadata"`
	}
	incompleteDetails struct {
		Reason string `json:"reason"`
	}
	reasoningConfig struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	}
	textConfig struct {
		Format struct {
			Type string `json:"type"`
		} `json:"format"`
	}
	outputItem struct {
		Type    string       `json:"type"`
		ID      string       `json:"id"`
		Status  string       `json:"status"`
		Role    string       `json:"role"`
		Content []outputText `json:"content"`
	}
	outputText struct {
		Type        string     `json:"type"`
		Text        string     `json:"text"`
		Annotations []struct{} `json:"annotations"`
	}
	responseUsage struct {
		InputTokens        int `json:"input_tokens"`
		InputTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputTokens        int `json:"output_tokens"`
		OutputTokensDetails struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
		TotalTokens int `json:"total_tokens"`
	}

	// responseEvent is any event of a Responses stream; each carries
	// the fields of its type.
	responseEvent struct {
		Type           string          `json:"type"`
		Response       *responseObject `json:"response,omitempty"`
		ItemID         string          `json:"item_id,omitempty"`
		OutputIndex    *int            `json:"output_index,omitempty"`
		ContentIndex   *int            `json:"content_index,omitempty"`
		Item           *outputItem     `json:"item,omitempty"`
		Part           *outputText     `json:"part,omitempty"`
		Delta          string          `json:"delta,omitempty"`
		Text           *string         `json:"text,omitempty"`
		SequenceNumber int             `json:"sequence_number"`
	}
	// responseError is the Responses stream's error event.
	responseError struct {
		Type           string  `json:"type"`
		Code           string  `json:"code"`
		Message        string  `json:"message"`
		Param          *string `json:"param"`
		SequenceNumber int     `json:"sequence_number"`
	}
)

func (h *Handler) response(w http.ResponseWriter, r *http.Request, req *request, f fault) {
	rep := newReply(req)
	obj := newResponseObject(req)
	item := outputItem{Type: "message", ID: responseItemID(), Status: "completed", Role: "assistant"}
	part := outputText{Type: "output_text", Text: rep.text(), Annotations: []struct{}{}}
	item.Content = []outputText{part}
	usage := &responseUsage{InputTokens: req.promptTokens, OutputTokens: rep.tokens(), TotalTokens: req.promptTokens + rep.tokens()}
	final := "response.completed"
	if rep.truncated {
		obj.Status, item.Status = "incomplete", "incomplete"
		obj.IncompleteDetails = &incompleteDetails{Reason: "max_output_tokens"}
		final = "response.incomplete"
	} else {
		obj.Status = "completed"
	}
	if !req.stream {
		obj.Output, obj.Usage = []outputItem{item}, usage
		writeAnswer(w, providerHeaders(false), marshal(obj))
		return
	}

	seq := 0
	send := func(s *stream, ev responseEvent) {
		ev.SequenceNumber = seq
		seq++
		s.event(ev.Type, marshal(ev))
	}
	zero := 0
	s := h.startStream(w, r, f, providerHeaders(false))

	// The response as it stands before any output.
	started := *obj
	started.Status, started.IncompleteDetails, started.Output = "in_progress", nil, []outputItem{}
	send(s, responseEvent{Type: "response.created", Response: &started})
	send(s, responseEvent{Type: "response.in_progress", Response: &started})
	pending := outputItem{Type: item.Type, ID: item.ID, Status: "in_progress", Role: item.Role, Content: []outputText{}}
	send(s, responseEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: &pending})
	empty := outputText{Type: "output_text", Text: "", Annotations: []struct{}{}}
	send(s, responseEvent{Type: "response.content_part.added", ItemID: item.ID, OutputIndex: &zero, ContentIndex: &zero, Part: &empty})

	for _, c := range rep.chunks {
		if !s.next() {
			s.event("error", marshal(responseError{
				Type:           "error",
				Code:           "server_error",
				Message:        "The server had an error while processing your request. Sorry about that!",
				SequenceNumber: seq,
			}))
			return
		}
		send(s, responseEvent{Type: "response.output_text.delta", ItemID: item.ID, OutputIndex: &zero, ContentIndex: &zero, Delta: c})
	}

	text := rep.text()
	send(s, responseEvent{Type: "response.output_text.done", ItemID: item.ID, OutputIndex: &zero, ContentIndex: &zero, Text: &text})
	send(s, responseEvent{Type: "response.content_part.done", ItemID: item.ID, OutputIndex: &zero, ContentIndex: &zero, Part: &part})
	send(s, responseEvent{Type: "response.output_item.done", OutputIndex: &zero, Item: &item})
	obj.Output, obj.Usage = []outputItem{item}, usage
	send(s, responseEvent{Type: final, Response: obj})
}

// newResponseObject is the response envelope, echoing the request's
// settings as the API does.
func newResponseObject(req *request) *responseObject {
	d := req.doc
	obj := &responseObject{
		ID:                 responseID(),
		Object:             "response",
		CreatedAt:          time.Now().Unix(),
		Instructions:       nullJSON,
		Model:              req.model,
		Output:             []outputItem{},
		ParallelToolCalls:  true,
		PreviousResponseID: nullJSON,
		Store:              true,
		Temperature:        1,
		ToolChoice:         "auto",
		Tools:              []struct{}{},
		TopP:               1,
		Truncation:         "disabled",
	}
	obj.Text.Format.Type = "text"
	if v := d.Get("instructions"); v.Exists() {
		obj.Instructions = json.RawMessage(v.Raw)
	}
	if v := d.Get("previous_response_id"); v.Exists() {
		obj.PreviousResponseID = json.RawMessage(v.Raw)
	}
	if v := d.Get("temperature"); v.Exists() {
		obj.Temperature = v.Float()
	}
	if v := d.Get("top_p"); v.Exists() {
		obj.TopP = v.Float()
	}
	if v := d.Get("store"); v.Exists() {
		obj.Store = v.Bool()
	}
	if req.maxTokens > 0 {
		obj.MaxOutputTokens = &req.maxTokens
	}
	return obj
}
