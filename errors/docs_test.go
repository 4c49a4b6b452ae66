package errors_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// docRow is the line of docs/errors.md's code table for c, as the code
// renders it.
func docRow(c llmerrors.Code) string {
	e := &llmerrors.Error{Code: c}
	status := fmt.Sprint(c.Status())
	anth := e.Type(llmerrors.Anthropic)
	if s := e.Status(llmerrors.Anthropic); s != c.Status() {
		status += fmt.Sprintf(" (%d in anthropic)", s)
	}
	retry := "no"
	if c.Retryable() {
		retry = "yes"
	}
	switch c {
	case llmerrors.SessionLimitExceeded:
		retry = "after reset (no when over a minute away)"
	case llmerrors.ProviderUnavailable:
		retry = "yes (no when out of credit)"
	}
	short := "—"
	if s := c.ShortText(); s != "" {
		short = "`" + s + "`"
	}
	return fmt.Sprintf("| `%s` | %s | %s | %s | %s | %s | %s | `%s` | %s |",
		c, status, retry, e.Type(llmerrors.OpenAI), anth, e.Type(llmerrors.CCProxy), e.Type(llmerrors.CooLLM), c.ProxedCode(), short)
}

// docs/errors.md states the code table; it must say what the code does.
func TestDocsCodeTable(t *testing.T) {
	data, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, c := range llmerrors.Codes() {
		row := docRow(c)
		if !strings.Contains(doc, row+"\n") {
			t.Errorf("docs/errors.md lacks the row\n%s", row)
		}
	}
}
