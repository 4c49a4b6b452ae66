package llmgateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// availableModels are the names this client may send, as it would write
// them: the aliases, then each provider's listed models.
func (x *exchange) availableModels() []string {
	names := make([]string, 0, len(x.g.router.listed))
	for _, m := range x.g.router.listed {
		if x.mayUse(m.route) {
			names = append(names, m.name)
		}
	}
	return names
}

// openAIModel is one entry of OpenAI's model list.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// anthropicModel is one entry of Anthropic's model list.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// serveModels answers GET /v1/models (id == "") and GET /v1/models/{id}
// from the configuration, in OpenAI's shape, or Anthropic's when the
// request carries anthropic-version.
func (x *exchange) serveModels(id string) {
	if !x.authenticate() {
		return
	}
	created := x.g.started.Unix()
	createdAt := x.g.started.UTC().Format(time.RFC3339)
	var oa []openAIModel
	var an []anthropicModel
	for _, m := range x.g.router.listed {
		if !x.mayUse(m.route) || (id != "" && m.name != id) {
			continue
		}
		oa = append(oa, openAIModel{m.name, "model", created, m.route.Upstream.Name})
		an = append(an, anthropicModel{"model", m.name, m.name, createdAt})
	}
	switch {
	case id != "" && len(oa) == 0:
		x.model = id
		x.fail(x.modelNotFound())
	case id != "" && x.anthropicClient:
		x.writeJSON(an[0])
	case id != "":
		x.writeJSON(oa[0])
	case x.anthropicClient:
		page := struct {
			Data    []anthropicModel `json:"data"`
			HasMore bool             `json:"has_more"`
			FirstID *string          `json:"first_id"`
			LastID  *string          `json:"last_id"`
		}{Data: an}
		if page.Data == nil {
			page.Data = []anthropicModel{}
		} else {
			page.FirstID, page.LastID = &an[0].ID, &an[len(an)-1].ID
		}
		x.writeJSON(page)
	default:
		if oa == nil {
			oa = []openAIModel{}
		}
		x.writeJSON(struct {
			Object string        `json:"object"`
			Data   []openAIModel `json:"data"`
		}{"list", oa})
	}
}

// writeJSON answers 200 with v.
func (x *exchange) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		x.fail(&llmerrors.Error{Code: llmerrors.InternalError, Message: "The gateway could not encode its answer.", Cause: err})
		return
	}
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	x.w.WriteHeader(http.StatusOK)
	if x.r.Method != http.MethodHead {
		_, _ = x.w.Write(b)
	}
}
