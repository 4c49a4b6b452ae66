package llmgateway

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/relay"
)

// healthPool keeps each provider's health (keys set aside, circuit
// breakers) and its retry budget across config reloads, keyed by the
// provider's name and base URL: a provider that is the same after a
// reload keeps its state, and requests of the old config still in flight
// count in the same budget as the new config's.
var healthPool = caddy.NewUsagePool()

type pooledHealth struct {
	*providers.Health
	budget *relay.RetryBudget
}

func (*pooledHealth) Destruct() error { return nil }

func healthKey(p *Provider) string { return p.Name + "|" + p.BaseURL }

// loadHealth takes a reference to p's health, creating it if no config
// holds one; releaseHealth gives it back.
func loadHealth(p *Provider) *pooledHealth {
	v, _, _ := healthPool.LoadOrNew(healthKey(p), func() (caddy.Destructor, error) {
		return &pooledHealth{providers.NewHealth(), new(relay.RetryBudget)}, nil
	})
	return v.(*pooledHealth)
}

// releaseHealth gives back p's reference. Requests of the old config may
// still be in flight after a reload, so p.health stays usable; only the
// pool's count changes.
func releaseHealth(p *Provider) {
	if p.health != nil && !p.healthReleased {
		p.healthReleased = true
		_, _ = healthPool.Delete(healthKey(p))
	}
}
