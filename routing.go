package llmgateway

import (
	"fmt"
	"slices"
	"strings"

	"github.com/llmgateway/caddy-llm-gateway/providers"
	"github.com/llmgateway/caddy-llm-gateway/relay"
)

// route is where one attempt goes: a provider and the model name it is
// sent under.
type route = relay.Route

// router resolves the model a client asks for into routes. It is built
// once per config load and only read afterwards.
type router struct {
	providers map[string]*Provider
	aliases   map[string]route
	exact     map[string]*Provider
	patterns  []modelPattern
	fallbacks map[string][]route
	// listed are the names a client may write, in a stable order: the
	// aliases, then every exact model name of every provider.
	listed []listedModel
}

type modelPattern struct {
	pattern  string
	provider *Provider
}

// listedModel is a name /v1/models shows and the route it stands for.
type listedModel struct {
	name  string
	route route
}

func newRouter(provs []*Provider, aliases map[string]string, fallbacks map[string][]string) (*router, error) {
	rt := &router{
		providers: make(map[string]*Provider, len(provs)),
		aliases:   make(map[string]route, len(aliases)),
		exact:     make(map[string]*Provider),
		fallbacks: make(map[string][]route, len(fallbacks)),
	}
	for _, p := range provs {
		if _, dup := rt.providers[p.Name]; dup {
			return nil, fmt.Errorf("provider %q is defined twice", p.Name)
		}
		rt.providers[p.Name] = p
		for _, m := range p.Models {
			if strings.Contains(m, "*") {
				rt.patterns = append(rt.patterns, modelPattern{m, p})
				continue
			}
			if _, taken := rt.exact[m]; !taken {
				rt.exact[m] = p
			}
		}
	}
	for _, name := range sortedKeys(aliases) {
		r, ok := rt.explicit(aliases[name])
		if !ok {
			return nil, fmt.Errorf("alias %s: %q is not provider:model with a configured provider", name, aliases[name])
		}
		rt.aliases[name] = r
		rt.listed = append(rt.listed, listedModel{name, r})
	}
	for _, p := range provs {
		for _, m := range p.Models {
			if !strings.Contains(m, "*") && rt.exact[m] == p {
				rt.listed = append(rt.listed, listedModel{m, route{Upstream: p.up, Model: m}})
			}
		}
	}
	for _, model := range sortedKeys(fallbacks) {
		for _, target := range fallbacks[model] {
			r, ok := rt.explicit(target)
			if !ok {
				if ar, isAlias := rt.aliases[target]; isAlias {
					r, ok = ar, true
				}
			}
			if !ok {
				return nil, fmt.Errorf("fallback %s: %q is neither provider:model with a configured provider nor an alias", model, target)
			}
			rt.fallbacks[model] = append(rt.fallbacks[model], r)
		}
	}
	return rt, nil
}

// explicit resolves `provider:model` where provider is configured. Model
// names may themselves hold colons (`llama3:8b`), so the prefix counts only
// when it names a provider.
func (rt *router) explicit(name string) (route, bool) {
	i := strings.IndexByte(name, ':')
	if i <= 0 || i == len(name)-1 {
		return route{}, false
	}
	p, ok := rt.providers[name[:i]]
	if !ok {
		return route{}, false
	}
	return route{Upstream: p.up, Model: name[i+1:]}, true
}

// resolve finds the route of a model name: `provider:model`, else an
// alias, else the provider whose models list holds it.
func (rt *router) resolve(model string) (route, bool) {
	if r, ok := rt.explicit(model); ok {
		return r, true
	}
	if r, ok := rt.aliases[model]; ok {
		return r, true
	}
	if p, ok := rt.exact[model]; ok {
		return route{Upstream: p.up, Model: model}, true
	}
	for _, mp := range rt.patterns {
		if providers.MatchModel(mp.pattern, model) {
			return route{Upstream: mp.provider.up, Model: model}, true
		}
	}
	return route{}, false
}

// chain is the model's own route followed by its fallbacks, without
// repeats.
func (rt *router) chain(model string, first route) []route {
	fb := rt.fallbacks[model]
	if len(fb) == 0 {
		return []route{first}
	}
	routes := make([]route, 0, 1+len(fb))
	routes = append(routes, first)
	for _, r := range fb {
		if !slices.Contains(routes, r) {
			routes = append(routes, r)
		}
	}
	return routes
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
