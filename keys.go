package llmgateway

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/llmgateway/caddy-llm-gateway/limits"
)

// The client keys a gateway checks requests against come from two places:
// its config (`key`, `keys_file`), fixed for the config's life, and the
// admin API (admin.go), kept as records in the limits store beside their
// counters, where every instance sharing the store sees them. The keyring
// is rebuilt whole from both whenever the records change, and swapped
// atomically: a request reads it with one atomic load, and a key created,
// changed or revoked applies from the next request.

// keyring is the gateway's current keyring.
func (g *Gateway) keyring() *limits.Keyring { return g.keys.Load() }

// provisionKeys builds the first keyring and, when the store keeps key
// records, watches them for the gateway's life. A store that cannot be
// read at load (Redis down) gives a keyring of the config's keys alone
// until it can.
func (g *Gateway) provisionKeys(ctx caddy.Context, repl *caddy.Replacer) error {
	g.repl = repl
	g.keys = new(atomic.Pointer[limits.Keyring])
	if rs, ok := g.store.(limits.KeyRecordStore); ok {
		g.records = rs.KeyRecords()
	}
	kr, err := g.buildKeyring(ctx)
	if err != nil {
		if kr, err = limits.NewKeyring(g.configKeys, g.Limits, repl); err != nil {
			return err
		}
		g.logger.Warn("the keys created through the admin API could not be read; until they can, only the config's keys work", zap.Error(err))
	}
	if err := g.checkKeyProviders(kr); err != nil {
		return err
	}
	g.keys.Store(kr)
	registerGateway(g)
	if g.records != nil {
		g.records.Watch(ctx, func(int64) { g.refreshKeys(ctx) })
	}
	return nil
}

// buildKeyring is the keyring of the config's keys and the store's
// records.
func (g *Gateway) buildKeyring(ctx context.Context) (*limits.Keyring, error) {
	cfgs := g.configKeys
	if g.records != nil {
		records, _, err := g.records.List(ctx)
		if err != nil {
			return nil, err
		}
		// Revoked records stay in the store (their spend is on
		// record) and in the keyring (their requests are told so), but
		// alone they do not make a gateway that asks no key start asking
		// for one.
		live := false
		for i := range records {
			live = live || records[i].Revoked == nil
		}
		if live || len(cfgs) > 0 {
			cfgs = append(make([]*limits.KeyConfig, 0, len(cfgs)+len(records)), cfgs...)
			for i := range records {
				cfgs = append(cfgs, records[i].Config())
			}
		}
	}
	return limits.NewKeyring(cfgs, g.Limits, g.repl)
}

// refreshKeys rebuilds the keyring after the records changed; a keyring
// that cannot be built keeps the one in use, and says why.
func (g *Gateway) refreshKeys(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kr, err := g.buildKeyring(ctx)
	if err == nil {
		err = g.checkKeyProviders(kr)
	}
	if err != nil {
		g.logger.Error("the keys changed through the admin API could not be loaded; the keys in use stay", zap.Error(err))
		return
	}
	old := g.keys.Swap(kr)
	// The series of a key that is gone, or now refused, go with it.
	serving := make(map[string]bool)
	for _, k := range kr.Keys() {
		serving[k.Name] = !k.Disabled
	}
	for _, k := range old.Keys() {
		if !serving[k.Name] {
			forgetKey(k.Name)
		}
	}
}

// checkKeyProviders refuses keys that name providers the config lacks.
func (g *Gateway) checkKeyProviders(kr *limits.Keyring) error {
	for _, k := range kr.Keys() {
		for _, name := range k.Providers {
			if g.router.providers[name] == nil {
				return fmt.Errorf("key %s: providers names %q, which is not a configured provider", k.Name, name)
			}
		}
	}
	return nil
}

// liveGateways are the gateways of the loaded configs, newest last: the
// admin API and the metrics reach them here, never through a Caddy
// context (the admin server is provisioned before the apps, and outlives
// them).
var liveGateways struct {
	sync.Mutex
	list []*Gateway
}

func registerGateway(g *Gateway) {
	liveGateways.Lock()
	defer liveGateways.Unlock()
	liveGateways.list = append(liveGateways.list, g)
}

func unregisterGateway(g *Gateway) {
	liveGateways.Lock()
	defer liveGateways.Unlock()
	for i, other := range liveGateways.list {
		if other == g {
			liveGateways.list = append(liveGateways.list[:i], liveGateways.list[i+1:]...)
			return
		}
	}
}

// gateways is a copy of the live gateways, newest last.
func gateways() []*Gateway {
	liveGateways.Lock()
	defer liveGateways.Unlock()
	return append([]*Gateway(nil), liveGateways.list...)
}
