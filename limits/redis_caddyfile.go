package limits

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the store from the tokens of a `store`
// directive's value, starting at the store's name. Syntax:
//
//	store redis <url>
//
//	store redis [<url>] {
//		url <url>                  # redis:// or rediss://; {env.REDIS_URL}
//		prefix <prefix>            # default llmgw
//		timeout <duration>         # one store call; default 100ms
//		on_error closed|open       # default closed
//		budget_fail_open           # with on_error open only
//		lease_ttl <duration>       # default 60s, at least 1s
//	}
//
// The url is given once, as the argument or as `url`. Errors never quote
// a url, which may hold a password.
func (s *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name: redis
	if d.NextArg() {
		s.URL = d.Val()
		if d.NextArg() {
			return d.Errf("store redis: want one url, then a block; got another argument")
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		switch sub {
		case "url":
			if s.URL != "" {
				return d.Errf("store redis: url given twice")
			}
			if !d.NextArg() {
				return d.Errf("store redis: url needs a value, e.g. redis://127.0.0.1:6379/0 or {env.REDIS_URL}")
			}
			s.URL = d.Val()
		case "prefix":
			v, err := oneArg(d, sub)
			if err != nil {
				return err
			}
			s.Prefix = v
		case "timeout", "lease_ttl":
			v, err := oneArg(d, sub)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("store redis: %s %q: want a positive duration such as 50ms or 60s", sub, v)
			}
			if sub == "timeout" {
				s.Timeout = caddy.Duration(dur)
			} else {
				if dur < minRedisLeaseTTL {
					return d.Errf("store redis: lease_ttl %q: want at least %v", v, minRedisLeaseTTL)
				}
				s.LeaseTTL = caddy.Duration(dur)
			}
		case "on_error":
			v, err := oneArg(d, sub)
			if err != nil {
				return err
			}
			if v != onErrorClosed && v != onErrorOpen {
				return d.Errf("store redis: on_error %q: want closed or open", v)
			}
			s.OnError = v
		case "budget_fail_open":
			if d.NextArg() {
				return d.Errf("store redis: budget_fail_open takes no value")
			}
			s.BudgetFailOpen = true
		default:
			return d.Errf("store redis: unknown subdirective %q (want url, prefix, timeout, on_error, budget_fail_open or lease_ttl)", sub)
		}
		if d.NextArg() {
			return d.Errf("store redis: %s: too many values", sub)
		}
	}
	if s.URL == "" {
		return d.Errf("store redis: a url is required: `store redis redis://127.0.0.1:6379/0`, or `url` in the block")
	}
	if !strings.Contains(s.URL, "{") {
		// A literal url is checked now; a placeholder when it is
		// resolved. Neither error quotes it.
		if _, _, err := parseRedisURL(s.URL); err != nil {
			return d.Err(err.Error())
		}
	}
	if s.BudgetFailOpen && s.OnError != onErrorOpen {
		return d.Errf("store redis: budget_fail_open applies only with on_error open")
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, name string) (string, error) {
	if !d.NextArg() {
		return "", d.Errf("store redis: %s needs a value", name)
	}
	return d.Val(), nil
}

var _ caddyfile.Unmarshaler = (*RedisStore)(nil)
