package limits

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unsafe"

	"github.com/caddyserver/caddy/v2"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/providers"
)

// AnonymousID is the ID (and name) of the one key every request shares
// when no client key is configured.
const AnonymousID = "anonymous"

// Key is one client key as the gateway uses it at request time: its
// identity, what it may use, and its effective limits (the key's own,
// completed field by field from the defaults). The secret is never kept:
// only its SHA-256.
type Key struct {
	// ID identifies the key's counters in a Store. It is the hex SHA-256
	// of the secret (or AnonymousID), so it is the same across config
	// reloads and restarts, and a key moved from the Caddyfile to a
	// keys_file keeps its spend.
	ID string

	// Name is what messages, logs and /status call the key: its
	// configured name, or "key-" and the first 8 characters of its
	// PublicID (never any part of its hash).
	Name string

	// PublicID names the key in the admin API: a key record's ID, or,
	// for a key of the config, "cfg_" and 20 hex digits of a one-way
	// function of its hash, stable across reloads and restarts (and not
	// the hash, which stays inside the store).
	PublicID string

	// Source says where the key comes from: SourceConfig (the Caddyfile,
	// keys_file) or SourceAPI (the admin API).
	Source string

	// Policy is the effective policy. Every field is either a limit
	// (> 0) or zero (no limit): Unlimited has been resolved, and Session
	// is nil when there is no session quota.
	Policy Policy

	// Providers the key may use; empty means all.
	Providers []string

	// Model patterns the key may use; empty means all.
	Models []string

	// Expires is when the key stops working; zero means never.
	Expires time.Time

	// Disabled keys are refused.
	Disabled bool

	hash [sha256.Size]byte
	// qualifiedPatterns is set when some model pattern holds a ':', so
	// only then does Allows build "provider:model" (an allocation) to
	// match it.
	qualifiedPatterns bool
}

// Allows reports whether k may send model to provider: nil when it may,
// else provider_not_allowed or model_not_allowed with a message naming the
// key and what it may use. model is the name sent to the provider (after
// aliases are resolved); each pattern is matched against it and against
// "provider:model", so both `llama-*` and `groq:*` work.
func (k *Key) Allows(provider, model string) *llmerrors.Error {
	if len(k.Providers) > 0 && !slices.Contains(k.Providers, provider) {
		return &llmerrors.Error{
			Code:     llmerrors.ProviderNotAllowed,
			Provider: provider,
			Message: fmt.Sprintf("API key %s may not use provider %s. It may use: %s.",
				k.Name, provider, strings.Join(k.Providers, ", ")),
		}
	}
	if len(k.Models) == 0 {
		return nil
	}
	for _, p := range k.Models {
		if providers.MatchModel(p, model) {
			return nil
		}
	}
	if k.qualifiedPatterns {
		full := provider + ":" + model
		for _, p := range k.Models {
			if providers.MatchModel(p, full) {
				return nil
			}
		}
	}
	return &llmerrors.Error{
		Code:     llmerrors.ModelNotAllowed,
		Provider: provider,
		Message: fmt.Sprintf("API key %s may not use model %s (provider %s). It may use models matching: %s.",
			k.Name, model, provider, strings.Join(k.Models, ", ")),
	}
}

// CountsTokens reports whether any of k's limits needs the tokens a
// request uses (tpm, session, budget), so the gateway knows whether it
// must estimate them at admission and read usage from the answer.
func (k *Key) CountsTokens() bool {
	p := &k.Policy
	return p.TPM > 0 || p.Session != nil || p.Budget > 0
}

// HasRateLimits reports whether k has a per-minute limit (rpm or tpm),
// the limits that rate-limit headers describe.
func (k *Key) HasRateLimits() bool { return k.Policy.RPM > 0 || k.Policy.TPM > 0 }

// Limited reports whether k has any limit at all; a key without one need
// not be admitted or settled.
func (k *Key) Limited() bool {
	p := &k.Policy
	return p.RPM > 0 || p.TPM > 0 || p.Concurrency > 0 || p.Session != nil || p.Budget > 0
}

// Keyring holds the configured client keys, indexed by the SHA-256 of
// their secrets.
type Keyring struct {
	byHash map[[sha256.Size]byte]*Key
	keys   []*Key
	// anon is the shared key of an anonymous keyring, nil otherwise.
	anon *Key
}

// NewKeyring builds the keyring of cfgs. Each Key placeholder ({env.X})
// is resolved with repl (a new replacer when nil) and hashed, so the
// secret is dropped as soon as it is read. It checks every entry (a 64-hex
// key_sha256 or a key, unique keys and names, sane limits) and merges
// defaults into each key's policy field by field: a zero field takes the
// default's value, Unlimited lifts whatever the default says, and Session
// counts as one field.
//
// With no cfgs the keyring is anonymous: Authenticate gives every request
// one shared key, AnonymousID, limited by defaults alone.
//
// Errors name the entry by its name or position, never by its secret.
func NewKeyring(cfgs []*KeyConfig, defaults *Policy, repl *caddy.Replacer) (*Keyring, error) {
	var def Policy
	if defaults != nil {
		if err := defaults.validate(); err != nil {
			return nil, fmt.Errorf("limits: %w", err)
		}
		def = *defaults
	}
	kr := &Keyring{byHash: make(map[[sha256.Size]byte]*Key, len(cfgs))}
	if len(cfgs) == 0 {
		kr.anon = &Key{ID: AnonymousID, Name: AnonymousID, Policy: merge(Policy{}, def)}
		kr.keys = []*Key{kr.anon}
		return kr, nil
	}
	if repl == nil {
		repl = caddy.NewReplacer()
	}
	names := make(map[string]int, len(cfgs))
	for i, c := range cfgs {
		if c == nil {
			return nil, fmt.Errorf("keys[%d]: empty entry", i)
		}
		label := entryLabel(i, c)
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		var sum [sha256.Size]byte
		if c.KeySHA256 != "" {
			hex.Decode(sum[:], []byte(strings.ToLower(c.KeySHA256))) // checked by validate
		} else {
			// The error never quotes c.Key: in a JSON config it may be
			// the secret itself rather than a placeholder.
			secret, err := repl.ReplaceOrErr(c.Key, true, true)
			if err != nil || secret == "" {
				return nil, fmt.Errorf("%s: its key resolved to an empty value; is the environment variable it names set?", label)
			}
			sum = hashSecret(secret)
		}
		id := hex.EncodeToString(sum[:])
		if c.counterID != "" {
			// A key record's counters stay where its first secret put
			// them, through rotations.
			id = c.counterID
		}
		k := &Key{
			ID:        id,
			Name:      c.Name,
			PublicID:  configKeyID(sum),
			Source:    SourceConfig,
			Policy:    merge(c.Policy, def),
			Providers: slices.Clone(c.Providers),
			Models:    slices.Clone(c.Models),
			Disabled:  c.Disabled,
			hash:      sum,
		}
		if c.recordID != "" {
			k.PublicID, k.Source = c.recordID, SourceAPI
		}
		if k.Name == "" {
			k.Name = "key-" + strings.TrimPrefix(k.PublicID, "cfg_")[:8]
		}
		if c.Expires != nil {
			k.Expires = *c.Expires
		}
		for _, m := range k.Models {
			if strings.Contains(m, ":") {
				k.qualifiedPatterns = true
			}
		}
		if prev, dup := kr.byHash[sum]; dup {
			return nil, fmt.Errorf("%s: the same key as %s is configured twice", label, prev.Name)
		}
		if j, dup := names[k.Name]; dup {
			return nil, fmt.Errorf("%s: name %q is also the name of keys[%d]; names must be unique", label, k.Name, j)
		}
		names[k.Name] = i
		kr.byHash[sum] = k
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// Anonymous reports whether the keyring has no configured keys, so the
// gateway asks no key of its clients.
func (kr *Keyring) Anonymous() bool { return kr.anon != nil }

// Keys lists the keys in configuration order (the anonymous key alone for
// an anonymous keyring). The slice is shared: do not modify it.
func (kr *Keyring) Keys() []*Key { return kr.keys }

// Authenticate finds the key whose secret is secret. An anonymous keyring
// returns its shared key whatever is sent. Otherwise "" is
// missing_api_key; a secret no key has is invalid_api_key with the message
// "Invalid API key"; a disabled or expired key is invalid_api_key naming
// the key, and for an expired key when it expired and what to do.
//
// The secret is hashed and the hash looked up in a map, so the time taken
// depends on the hash only, never on how much of a secret matched a real
// one; the secret is neither kept nor put in any error.
func (kr *Keyring) Authenticate(secret string, now time.Time) (*Key, *llmerrors.Error) {
	if kr.anon != nil {
		return kr.anon, nil
	}
	if secret == "" {
		return nil, &llmerrors.Error{
			Code:    llmerrors.MissingAPIKey,
			Message: "Missing API key. Send it as Authorization: Bearer <key> or x-api-key.",
		}
	}
	k := kr.byHash[hashSecret(secret)]
	if k == nil {
		return nil, &llmerrors.Error{Code: llmerrors.InvalidAPIKey, Message: "Invalid API key"}
	}
	if k.Disabled {
		return nil, &llmerrors.Error{
			Code:    llmerrors.InvalidAPIKey,
			Message: fmt.Sprintf("API key %s is disabled. Ask the gateway's administrator to enable it or to issue a new key.", k.Name),
		}
	}
	if !k.Expires.IsZero() && !now.Before(k.Expires) {
		return nil, &llmerrors.Error{
			Code: llmerrors.InvalidAPIKey,
			Message: fmt.Sprintf("API key %s expired at %s. Ask the gateway's administrator for a new key or a later expiry.",
				k.Name, k.Expires.UTC().Format(time.RFC3339)),
		}
	}
	return k, nil
}

// Where keys come from (Key.Source).
const (
	SourceConfig = "config"
	SourceAPI    = "api"
)

// configKeyID is the PublicID of a config key whose secret hashes to
// sum: a hash of the hash, under a label of its own, so that the ID can
// be shown where the hash must not.
func configKeyID(sum [sha256.Size]byte) string {
	id := sha256.Sum256(append([]byte("llm_gateway config key id\x00"), sum[:]...))
	return "cfg_" + hex.EncodeToString(id[:10])
}

// hashSecret is the SHA-256 of secret. It hashes the string's bytes in
// place (Sum256 only reads them) because converting a string of more than
// 32 bytes to a []byte allocates a copy, on every request, of a secret.
func hashSecret(secret string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(secret), len(secret)))
}

// merge returns p completed from def field by field, with Unlimited
// resolved to zero (no limit), so code reading an effective policy tests
// only for > 0.
func merge(p, def Policy) Policy {
	pick := func(own, d int64) int64 {
		switch {
		case own == Unlimited:
			return 0
		case own != 0:
			return own
		case d == Unlimited:
			return 0
		}
		return d
	}
	out := Policy{
		RPM:         pick(p.RPM, def.RPM),
		TPM:         pick(p.TPM, def.TPM),
		Concurrency: pick(p.Concurrency, def.Concurrency),
	}
	switch {
	case p.Budget == Unlimited:
	case p.Budget != 0:
		out.Budget = p.Budget
	case def.Budget > 0:
		out.Budget = def.Budget
	}
	out.BudgetStrict = out.Budget > 0 && (p.BudgetStrict || def.BudgetStrict)
	s := p.Session
	if s == nil {
		s = def.Session
	}
	if s != nil && s.Tokens > 0 {
		c := *s
		out.Session = &c
	}
	return out
}

// validate checks p's values: every count positive, zero or Unlimited;
// a budget a positive finite amount; a session a window and tokens.
func (p *Policy) validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"rpm", p.RPM}, {"tpm", p.TPM}, {"concurrency", p.Concurrency}} {
		if f.v < 0 && f.v != Unlimited {
			return fmt.Errorf("%s: %d is not a positive number (or unlimited, %d)", f.name, f.v, Unlimited)
		}
	}
	if math.IsNaN(p.Budget) || math.IsInf(p.Budget, 0) || (p.Budget < 0 && p.Budget != Unlimited) {
		return fmt.Errorf("budget: %v is not a positive amount of USD (or unlimited, %d)", p.Budget, Unlimited)
	}
	if s := p.Session; s != nil {
		switch {
		case s.Tokens == Unlimited:
		case s.Tokens <= 0:
			return fmt.Errorf("session: tokens must be a positive number (or unlimited, %d), got %d", Unlimited, s.Tokens)
		case s.Window <= 0:
			return fmt.Errorf("session: window must be a positive duration such as 5h")
		}
	}
	return nil
}

// validate checks one key entry on its own; duplicates across entries are
// NewKeyring's to find.
func (c *KeyConfig) validate() error {
	switch {
	case c.KeySHA256 != "" && c.Key != "":
		return fmt.Errorf("set key_sha256 or key, not both")
	case c.KeySHA256 == "" && c.Key == "":
		return fmt.Errorf("key_sha256 is missing")
	case c.KeySHA256 != "" && !isSHA256Hex(c.KeySHA256):
		return fmt.Errorf("key_sha256: want the 64 hex digits of the secret's SHA-256 (e.g. the output of `printf %%s \"$KEY\" | sha256sum`)")
	}
	if c.Name != "" {
		if strings.TrimSpace(c.Name) != c.Name || strings.IndexFunc(c.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return fmt.Errorf("name %q: a name is printable and has no leading or trailing spaces", c.Name)
		}
		if c.Name == AnonymousID {
			return fmt.Errorf("name %q is reserved for the key of a gateway with no keys", c.Name)
		}
	}
	for _, p := range c.Providers {
		if p == "" {
			return fmt.Errorf("providers: empty provider name")
		}
	}
	for _, m := range c.Models {
		if m == "" {
			return fmt.Errorf("models: empty model pattern")
		}
	}
	return c.Policy.validate()
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// entryLabel names entry i for an error: by its name when it has one,
// else by its position and the default name it would get (never any
// part of its hash, nor the key).
func entryLabel(i int, c *KeyConfig) string {
	switch {
	case c.Name != "":
		return fmt.Sprintf("keys[%d] (%s)", i, c.Name)
	case isSHA256Hex(c.KeySHA256):
		var sum [sha256.Size]byte
		hex.Decode(sum[:], []byte(strings.ToLower(c.KeySHA256)))
		return fmt.Sprintf("keys[%d] (key-%s)", i, strings.TrimPrefix(configKeyID(sum), "cfg_")[:8])
	}
	return fmt.Sprintf("keys[%d]", i)
}
