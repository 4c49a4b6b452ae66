package limits

import (
	"math"
	"strings"
	"testing"
)

func TestPriceTable(t *testing.T) {
	pt, err := NewPriceTable(map[string]Price{
		"groq:llama-3.1-70b-versatile": {0.59, 0.79},
		"groq:llama-*":                 {1, 1},
		"groq:llama-3.1-*":             {2, 2},
		"groq:*":                       {9, 9},
		"openrouter:openai/*":          {3, 12},
		"openrouter:meta/llama:free":   {0, 0},
		"anthropic:claude-*-4*":        {3, 15},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		provider, model string
		want            Price
		ok              bool
	}{
		{"groq", "llama-3.1-70b-versatile", Price{0.59, 0.79}, true}, // exact beats patterns
		{"groq", "llama-3.1-8b-instant", Price{2, 2}, true},          // longest pattern
		{"groq", "llama-3.3-70b", Price{1, 1}, true},
		{"groq", "mixtral", Price{9, 9}, true},
		{"openrouter", "openai/gpt-4o", Price{3, 12}, true},
		{"openrouter", "meta/llama:free", Price{0, 0}, true}, // a colon in the model
		{"openrouter", "meta/llama", Price{}, false},
		{"anthropic", "claude-sonnet-4-5", Price{3, 15}, true},
		{"openai", "gpt-4o", Price{}, false},
	} {
		got, ok := pt.Lookup(tc.provider, tc.model)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%s, %s) = %v, %v; want %v, %v", tc.provider, tc.model, got, ok, tc.want, tc.ok)
		}
	}
	var none *PriceTable
	if _, ok := none.Lookup("groq", "x"); ok {
		t.Error("a nil table found a price")
	}
	if allocs := testing.AllocsPerRun(100, func() { pt.Lookup("groq", "llama-3.1-8b-instant") }); allocs != 0 {
		t.Errorf("Lookup allocates %v times", allocs)
	}
}

func TestPriceTableErrors(t *testing.T) {
	for route, want := range map[string]string{
		"gpt-4o":     "want provider:model",
		":gpt-4o":    "want provider:model",
		"openai:":    "want provider:model",
		"open*:gpt":  "cannot be a pattern",
		"openai:neg": "non-negative",
		"openai:nan": "non-negative",
	} {
		p := Price{1, 1}
		switch route {
		case "openai:neg":
			p.Output = -1
		case "openai:nan":
			p.Input = math.NaN()
		}
		_, err := NewPriceTable(map[string]Price{route: p})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), route) {
			t.Errorf("%s: err = %v, want one naming it and saying %q", route, err, want)
		}
	}
}

func TestCost(t *testing.T) {
	p := Price{Input: 3, Output: 15}
	if got := p.Cost(1_000_000, 0); got != 3 {
		t.Errorf("1M input = %v, want 3", got)
	}
	if got := p.Cost(2000, 1000); math.Abs(got-0.021) > 1e-12 {
		t.Errorf("2k in, 1k out = %v, want 0.021", got)
	}
}
