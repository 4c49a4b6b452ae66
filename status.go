package llmgateway

import (
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/llmgateway/caddy-llm-gateway/limits"
)

// processStart is when this Caddy process began; /status reports uptime
// from it, so a config reload does not reset it.
var processStart = time.Now()

// serveHealth answers GET /health: the gateway is up.
func (x *exchange) serveHealth() {
	x.writeJSON(struct {
		Status string `json:"status"`
	}{"ok"})
}

// statusKey is one provider key in /status: its index in the pool, never
// the key.
type statusKey struct {
	Index int        `json:"index"`
	State string     `json:"state"`
	Until *time.Time `json:"until"`
	// RateLimitedModels are the models the provider rate-limited this
	// key for (it serves the others meanwhile).
	RateLimitedModels []string `json:"rate_limited_models,omitempty"`
}

type statusProvider struct {
	Name  string      `json:"name"`
	Type  string      `json:"type"`
	State string      `json:"state"`
	Keys  []statusKey `json:"keys"`
	// CircuitOpenModels are the models whose own circuit is open (5xx
	// answers); the provider's other models are served meanwhile.
	CircuitOpenModels []string `json:"circuit_open_models,omitempty"`
}

// Provider and key states in /status.
const (
	stateHealthy     = "healthy"
	stateCoolingDown = "cooling_down"
	stateCircuitOpen = "circuit_open"
)

// serveStatus answers GET /status with each provider's state, the state
// of each of its keys, and the limits store's health. It shows no secret.
func (x *exchange) serveStatus() {
	if !x.authenticate() {
		return
	}
	overall := "ok"
	now := time.Now()
	provs := make([]statusProvider, 0, len(x.g.Providers))
	for _, p := range x.g.Providers {
		sp := statusProvider{Name: p.Name, Type: p.typ.Name, State: stateHealthy, Keys: []statusKey{}}
		ready := 0
		for _, ks := range p.up.Pool.States(now) {
			k := statusKey{Index: ks.Index, State: stateHealthy, RateLimitedModels: ks.ModelsAside}
			if !ks.Until.IsZero() {
				until := ks.Until.UTC().Add(time.Second - 1).Truncate(time.Second)
				k.State, k.Until = stateCoolingDown, &until
			} else {
				ready++
			}
			sp.Keys = append(sp.Keys, k)
		}
		sp.CircuitOpenModels = p.up.Health.OpenModels()
		slices.Sort(sp.CircuitOpenModels)
		switch {
		case p.up.Health.ProviderCircuitOpen():
			sp.State = stateCircuitOpen
		case len(sp.Keys) > 0 && ready == 0:
			sp.State = stateCoolingDown
		}
		if sp.State != stateHealthy || len(sp.CircuitOpenModels) > 0 {
			overall = "degraded"
		}
		provs = append(provs, sp)
	}
	// The limits store's health: a store that fails degrades the
	// gateway (requests follow its on_error policy).
	var store *limits.StoreHealth
	if hr, ok := x.g.store.(limits.HealthReporter); ok {
		h := hr.Health()
		store = &h
		if h.State != limits.StoreHealthy {
			overall = "degraded"
		}
	}
	x.writeJSON(struct {
		Status        string              `json:"status"`
		Version       string              `json:"version"`
		UptimeSeconds int64               `json:"uptime_seconds"`
		Providers     []statusProvider    `json:"providers"`
		Store         *limits.StoreHealth `json:"store,omitempty"`
	}{overall, version(), int64(time.Since(processStart).Seconds()), provs, store})
}

// modulePath is this module's import path, to find its version.
const modulePath = "github.com/llmgateway/caddy-llm-gateway"

// version is the gateway module's version as built (xcaddy records it),
// or "devel".
var version = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == modulePath && bi.Main.Version != "" {
			return bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				// a local build (xcaddy --with module=./dir) has no version
				if d.Replace != nil && d.Replace.Version == "" || strings.HasPrefix(d.Version, "v0.0.0-00010101000000") {
					return "devel"
				}
				return d.Version
			}
		}
	}
	return "devel"
})
