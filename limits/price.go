package limits

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// Cost is what a request that used inputTokens and outputTokens costs at
// p, in USD (p is per million tokens).
func (p Price) Cost(inputTokens, outputTokens int64) float64 {
	return (float64(inputTokens)*p.Input + float64(outputTokens)*p.Output) / 1e6
}

// PriceTable finds the price of a route. It is built once per config and
// read concurrently; lookups do not allocate, since one runs per request.
type PriceTable struct {
	// exact prices by provider, then model.
	exact map[string]map[string]Price
	// patterns by provider, longest pattern first.
	patterns map[string][]pricePattern
}

type pricePattern struct {
	model string
	price Price
}

// NewPriceTable builds a table from prices keyed "provider:model", where
// the model part may hold `*` patterns (matching any run of characters).
// An exact entry wins over patterns; among patterns that match, the
// longest wins, being the most specific (ties go to the alphabetically
// first, so the choice never depends on map order).
func NewPriceTable(p map[string]Price) (*PriceTable, error) {
	pt := &PriceTable{
		exact:    make(map[string]map[string]Price),
		patterns: make(map[string][]pricePattern),
	}
	for route, price := range p {
		provider, model, ok := strings.Cut(route, ":")
		if !ok || provider == "" || model == "" {
			return nil, fmt.Errorf("price %s: want provider:model, e.g. groq:llama-3.1-70b-versatile or openrouter:openai/*", route)
		}
		if strings.Contains(provider, "*") {
			return nil, fmt.Errorf("price %s: the provider part cannot be a pattern; write one price per provider", route)
		}
		for _, v := range []float64{price.Input, price.Output} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("price %s: prices must be non-negative numbers of USD per million tokens", route)
			}
		}
		if strings.Contains(model, "*") {
			pt.patterns[provider] = append(pt.patterns[provider], pricePattern{model, price})
			continue
		}
		if pt.exact[provider] == nil {
			pt.exact[provider] = make(map[string]Price)
		}
		pt.exact[provider][model] = price
	}
	for _, ps := range pt.patterns {
		slices.SortFunc(ps, func(a, b pricePattern) int {
			if c := cmp.Compare(len(b.model), len(a.model)); c != 0 {
				return c
			}
			return strings.Compare(a.model, b.model)
		})
	}
	return pt, nil
}

// Lookup finds the price of model at provider. A nil table finds nothing:
// a route with no price costs nothing against budgets.
func (pt *PriceTable) Lookup(provider, model string) (Price, bool) {
	if pt == nil {
		return Price{}, false
	}
	if p, ok := pt.exact[provider][model]; ok {
		return p, true
	}
	for _, pp := range pt.patterns[provider] {
		if providers.MatchModel(pp.model, model) {
			return pp.price, true
		}
	}
	return Price{}, false
}
