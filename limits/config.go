// Package limits holds client keys and everything that is counted against
// them: requests and tokens per minute, requests in flight, a token quota
// per session window, and a budget in USD; and the stores that keep those
// counters (in memory here; the Store interface lets a shared store such
// as Redis do each check-and-update in one round trip).
package limits

import (
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Unlimited, written `unlimited` in the Caddyfile, lifts a limit that the
// defaults (`limits`) would otherwise give a key.
const Unlimited = -1

// Policy is the set of limits of one key. A zero field is unset: the
// key takes the field from the defaults, and when those leave it unset
// too, there is no limit. Unlimited (-1) means no limit, whatever the
// defaults say.
type Policy struct {
	// Requests per minute, as a token bucket: up to RPM at once,
	// refilled continuously at RPM per minute (the way Anthropic and
	// OpenAI count); never a fixed window that allows twice as many
	// across a minute's boundary.
	RPM int64 `json:"rpm,omitempty"`

	// Tokens per minute (prompt plus completion, as the provider reports
	// them), counted the same way: estimated when a request is
	// admitted, corrected with the real usage when its answer ends.
	TPM int64 `json:"tpm,omitempty"`

	// Requests in flight at once.
	Concurrency int64 `json:"concurrency,omitempty"`

	// A token quota per session window.
	Session *SessionQuota `json:"session,omitempty"`

	// A budget in USD, spent at the prices of the `price` table.
	Budget float64 `json:"budget,omitempty"`

	// BudgetStrict makes a key with a budget reserve, for each request,
	// everything it may cost: the prompt at one token per byte of the
	// request body (a token is never shorter than a byte of the text it
	// stands for), and all of its max_tokens (a request that sets none is
	// capped at reserve_output_tokens, which is what it reserves). Then
	// no answer can cost more than its reservation, and the budget is
	// never overspent; the price is reservations several times larger
	// than the usage, so fewer requests run at once near the end of a
	// budget. Without it (the default), a request reserves
	// min(max_tokens, reserve_output_tokens) and its prompt at four
	// bytes a token, and the overspend is bounded as docs/limits.md
	// says. A default (`limits`) of true applies to every key with a
	// budget.
	BudgetStrict bool `json:"budget_strict,omitempty"`
}

// SessionQuota is a token quota over a window: a session opens with the
// first request after the previous one closed, and closes Window later
// (as Claude's five-hour sessions do); within it, at most Tokens are used.
type SessionQuota struct {
	// The session's length, e.g. 5h.
	Window caddy.Duration `json:"window,omitempty"`
	// Tokens allowed per session; Unlimited lifts a default quota.
	Tokens int64 `json:"tokens,omitempty"`
}

// KeyConfig is one client key, as the Caddyfile's `key` block or one
// entry of `keys_file` gives it. The secret itself is never stored: only
// its SHA-256.
type KeyConfig struct {
	// The hex SHA-256 of the key's secret.
	KeySHA256 string `json:"key_sha256,omitempty"`

	// The secret as a placeholder, such as `{env.TEAM_A_KEY}`, resolved
	// and hashed when the config loads; an alternative to KeySHA256 for
	// secrets kept in the environment. The Caddyfile adapter hashes a
	// literal secret, so it never appears here.
	Key string `json:"key,omitempty"`

	// A name for the key, used in messages, logs and /status; never the
	// secret. Default: the first 8 hex digits of the hash.
	Name string `json:"name,omitempty"`

	// The providers the key may use; empty means all.
	Providers []string `json:"providers,omitempty"`

	// The models the key may use, as patterns where `*` matches any run
	// of characters, matched against the model sent to the provider and
	// against `provider:model`; empty means all.
	Models []string `json:"models,omitempty"`

	Policy

	// When the key stops working (RFC 3339).
	Expires *time.Time `json:"expires,omitempty"`

	// A disabled key is refused.
	Disabled bool `json:"disabled,omitempty"`

	// counterID, when set (a key record's), is the key's Key.ID in
	// place of the hash of its secret; recordID is the record's ID.
	counterID, recordID string
}

// Price is what one route costs, in USD per million tokens.
type Price struct {
	// USD per 1M input (prompt) tokens.
	Input float64 `json:"input"`
	// USD per 1M output (completion) tokens.
	Output float64 `json:"output"`
}
