package llmgateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmgateway/caddy-llm-gateway/limits"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI manages client keys through Caddy's admin endpoint, under
// /llm_gateway/keys (Caddy's own admin access rules apply: a loopback or
// unix socket listener, origin checks, remote admin with mTLS):
//
//	POST   /llm_gateway/keys                 create; 201, the record with `key` (the secret, in this answer only)
//	GET    /llm_gateway/keys                 every key, the config's and the API's; no secret, no hash
//	GET    /llm_gateway/keys/{id or name}    one key, with its usage
//	PATCH  /llm_gateway/keys/{id or name}    change it; applies from the next request
//	DELETE /llm_gateway/keys/{id or name}    revoke it; its next request gets 401 invalid_api_key
//	POST   /llm_gateway/keys/{id or name}/rotate   a new secret; the old one stops working, the spend stays
//
// Bodies are the JSON of a keys_file entry (name, providers, models, rpm,
// tpm, concurrency, session {window, tokens}, budget, budget_strict,
// expires, disabled). Keys created here live in the limits store: with
// the memory store in Caddy's storage, with Redis in Redis, so every
// instance sharing it sees them. Only the SHA-256 of a secret is kept.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.llm_gateway",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes. The module is provisioned by the admin
// server, not by a config of the gateway; it reaches the gateways through
// the package's registry of live ones, at each request.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/llm_gateway/keys", Handler: caddy.AdminHandlerFunc(a.serveKeys)},
		{Pattern: "/llm_gateway/keys/", Handler: caddy.AdminHandlerFunc(a.serveKeys)},
	}
}

// maxAdminBody caps a request body of the key API.
const maxAdminBody = 64 << 10

func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

func (a *AdminAPI) serveKeys(w http.ResponseWriter, r *http.Request) error {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/llm_gateway/keys"), "/")
	g := adminGateway()
	if g == nil {
		return apiError(http.StatusNotFound, "no llm_gateway is running")
	}
	ref, action, _ := strings.Cut(rest, "/")
	switch {
	case ref == "" && r.Method == http.MethodGet:
		return a.list(w, r, g)
	case ref == "" && r.Method == http.MethodPost:
		return a.create(w, r, g)
	case ref == "":
		return apiError(http.StatusMethodNotAllowed, "%s is not allowed on /llm_gateway/keys; use GET or POST", r.Method)
	case action == "rotate" && r.Method == http.MethodPost:
		return a.rotate(w, r, g, ref)
	case action != "":
		return apiError(http.StatusNotFound, "unknown key action %q", action)
	case r.Method == http.MethodGet:
		return a.show(w, r, g, ref)
	case r.Method == http.MethodPatch:
		return a.update(w, r, g, ref)
	case r.Method == http.MethodDelete:
		return a.revoke(w, r, g, ref)
	}
	return apiError(http.StatusMethodNotAllowed, "%s is not allowed on a key; use GET, PATCH or DELETE", r.Method)
}

// adminGateway is the gateway whose keys the API manages: the newest one
// of the loaded config.
func adminGateway() *Gateway {
	gs := gateways()
	if len(gs) == 0 {
		return nil
	}
	return gs[len(gs)-1]
}

// keyView is a key as the API shows it: never the secret, never a hash.
type keyView struct {
	ID           string               `json:"id"`
	Name         string               `json:"name"`
	Source       string               `json:"source"`
	State        string               `json:"state"`
	Providers    []string             `json:"providers,omitempty"`
	Models       []string             `json:"models,omitempty"`
	RPM          int64                `json:"rpm,omitempty"`
	TPM          int64                `json:"tpm,omitempty"`
	Concurrency  int64                `json:"concurrency,omitempty"`
	Session      *limits.SessionQuota `json:"session,omitempty"`
	Budget       float64              `json:"budget,omitempty"`
	BudgetStrict bool                 `json:"budget_strict,omitempty"`
	Expires      *time.Time           `json:"expires,omitempty"`
	Disabled     bool                 `json:"disabled,omitempty"`
	Created      *time.Time           `json:"created,omitempty"`
	Updated      *time.Time           `json:"updated,omitempty"`
	Revoked      *time.Time           `json:"revoked,omitempty"`
	Usage        *usageView           `json:"usage,omitempty"`
	Secret       string               `json:"key,omitempty"`
	record       *limits.KeyRecord    `json:"-"`
	key          *limits.Key          `json:"-"`
}

// usageView is a key's usage: what the store holds for it now.
type usageView struct {
	SpendUSD           float64      `json:"spend_usd"`
	ReservedUSD        float64      `json:"reserved_usd"`
	BudgetRemainingUSD *float64     `json:"budget_remaining_usd,omitempty"`
	RequestsRemaining  *int64       `json:"requests_remaining,omitempty"`
	TokensRemaining    *int64       `json:"tokens_remaining,omitempty"`
	InFlight           int64        `json:"in_flight"`
	Session            *sessionView `json:"session,omitempty"`
}

type sessionView struct {
	Started         time.Time `json:"started"`
	Ends            time.Time `json:"ends"`
	TokensUsed      int64     `json:"tokens_used"`
	TokensRemaining int64     `json:"tokens_remaining"`
}

// views lists every key of g: the config's, then the API's, oldest first.
func views(ctx context.Context, g *Gateway) ([]*keyView, error) {
	var out []*keyView
	now := time.Now()
	for _, k := range g.keyring().Keys() {
		if k.Source == limits.SourceConfig && k.ID != limits.AnonymousID {
			v := viewOf(k, now)
			out = append(out, v)
		}
	}
	if g.records == nil {
		return out, nil
	}
	records, _, err := g.records.List(ctx)
	if err != nil {
		return nil, apiError(http.StatusInternalServerError, "reading the keys from the limits store: %v", err)
	}
	for i := range records {
		rec := &records[i]
		v := &keyView{ID: rec.ID, Name: rec.Name, Source: limits.SourceAPI, record: rec}
		v.setConfig(&rec.KeyConfig)
		v.Created, v.Updated, v.Revoked = &rec.Created, &rec.Updated, rec.Revoked
		v.State = stateOf(rec.Disabled, rec.Revoked != nil, rec.Expires, now)
		for _, k := range g.keyring().Keys() {
			if k.PublicID == rec.ID {
				v.key = k
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func viewOf(k *limits.Key, now time.Time) *keyView {
	v := &keyView{ID: k.PublicID, Name: k.Name, Source: k.Source, key: k,
		Providers: k.Providers, Models: k.Models, Disabled: k.Disabled}
	p := k.Policy
	v.RPM, v.TPM, v.Concurrency, v.Session, v.Budget, v.BudgetStrict = p.RPM, p.TPM, p.Concurrency, p.Session, p.Budget, p.BudgetStrict
	var exp *time.Time
	if !k.Expires.IsZero() {
		exp = &k.Expires
		v.Expires = exp
	}
	v.State = stateOf(k.Disabled, false, exp, now)
	return v
}

func (v *keyView) setConfig(c *limits.KeyConfig) {
	v.Providers, v.Models, v.Disabled, v.Expires = c.Providers, c.Models, c.Disabled, c.Expires
	v.RPM, v.TPM, v.Concurrency, v.Session, v.Budget, v.BudgetStrict = c.RPM, c.TPM, c.Concurrency, c.Session, c.Budget, c.BudgetStrict
}

func stateOf(disabled, revoked bool, expires *time.Time, now time.Time) string {
	switch {
	case revoked:
		return "revoked"
	case disabled:
		return "disabled"
	case expires != nil && !now.Before(*expires):
		return "expired"
	}
	return "active"
}

// find is the key whose id or name is ref.
func find(ctx context.Context, g *Gateway, ref string) (*keyView, error) {
	vs, err := views(ctx, g)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.ID == ref {
			return v, nil
		}
	}
	for _, v := range vs {
		if v.Name == ref {
			return v, nil
		}
	}
	return nil, apiError(http.StatusNotFound, "no key has the id or name %q", ref)
}

func (a *AdminAPI) list(w http.ResponseWriter, r *http.Request, g *Gateway) error {
	vs, err := views(r.Context(), g)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []*keyView{}
	}
	return writeAdminJSON(w, http.StatusOK, struct {
		Keys []*keyView `json:"keys"`
	}{vs})
}

func (a *AdminAPI) show(w http.ResponseWriter, r *http.Request, g *Gateway, ref string) error {
	v, err := find(r.Context(), g, ref)
	if err != nil {
		return err
	}
	if v.key != nil {
		if ur, ok := g.store.(limits.UsageReader); ok {
			u, err := ur.Usage(r.Context(), v.key)
			if err != nil {
				return apiError(http.StatusInternalServerError, "reading the key's usage from the limits store: %v", err)
			}
			v.Usage = usageOf(v.key, u, time.Now())
		}
	}
	return writeAdminJSON(w, http.StatusOK, v)
}

func usageOf(k *limits.Key, u limits.KeyUsage, now time.Time) *usageView {
	uv := &usageView{SpendUSD: u.Spent, ReservedUSD: u.Reserved, InFlight: u.InFlight}
	if k.Policy.Budget > 0 {
		rem := u.BudgetRemaining(k)
		uv.BudgetRemainingUSD = &rem
	}
	if u.Requests.Limit > 0 {
		uv.RequestsRemaining = &u.Requests.Remaining
	}
	if u.Tokens.Limit > 0 {
		uv.TokensRemaining = &u.Tokens.Remaining
	}
	if q := k.Policy.Session; q != nil && u.SessionOpen(k, now) {
		used := u.SessionUsed + u.SessionReserved
		uv.Session = &sessionView{Started: u.SessionStart, Ends: u.SessionStart.Add(time.Duration(q.Window)),
			TokensUsed: used, TokensRemaining: max(q.Tokens-used, 0)}
	}
	return uv
}

// keyBody is what POST and PATCH take: a keys_file entry without its
// hash (the gateway makes the secret).
var keyFields = map[string]bool{
	"name": true, "providers": true, "models": true, "rpm": true, "tpm": true, "concurrency": true,
	"session": true, "budget": true, "budget_strict": true, "expires": true, "disabled": true,
}

// readKeyBody reads a JSON object of key fields into fields, refusing an
// unknown field, bad JSON and bodies over the cap.
func readKeyBody(r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return nil, apiError(http.StatusBadRequest, "reading the body: %v", err)
	}
	if len(body) > maxAdminBody {
		return nil, apiError(http.StatusRequestEntityTooLarge, "the body is over %d KiB", maxAdminBody>>10)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, apiError(http.StatusBadRequest, "the body must be a JSON object of key fields: %v", err)
	}
	for name := range fields {
		if !keyFields[name] {
			return nil, apiError(http.StatusBadRequest, "unknown field %q; a key takes %s", name, fieldList())
		}
	}
	return fields, nil
}

func fieldList() string {
	return "name, providers, models, rpm, tpm, concurrency, session, budget, budget_strict, expires, disabled"
}

// applyFields sets fields onto c, as a keys_file entry reads them: a
// field given null is unset.
func applyFields(c *limits.KeyConfig, fields map[string]json.RawMessage) error {
	current, _ := json.Marshal(c)
	var merged map[string]json.RawMessage
	_ = json.Unmarshal(current, &merged)
	for name, v := range fields {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(merged, name)
			continue
		}
		merged[name] = v
	}
	out, _ := json.Marshal(merged)
	var next limits.KeyConfig
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&next); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	*c = next
	return nil
}

// newSecret is a fresh client key: "ck-" and 43 characters of 256 random
// bits, and its SHA-256.
func newSecret() (secret, sum string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = "ck-" + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(h[:])
}

func (a *AdminAPI) create(w http.ResponseWriter, r *http.Request, g *Gateway) error {
	if g.records == nil {
		return apiError(http.StatusNotFound, "the gateway's limits store keeps no keys")
	}
	fields, err := readKeyBody(r)
	if err != nil {
		return err
	}
	var rec limits.KeyRecord
	if err := applyFields(&rec.KeyConfig, fields); err != nil {
		return err
	}
	if rec.Name == "" {
		return apiError(http.StatusBadRequest, "a key needs a name")
	}
	if err := nameFree(r.Context(), g, rec.Name, ""); err != nil {
		return err
	}
	if err := validKey(g, &rec.KeyConfig); err != nil {
		return err
	}
	secret, sum := newSecret()
	rec.ID, rec.KeySHA256, rec.CounterID = limits.NewKeyRecordID(), sum, sum
	created, err := g.records.Create(r.Context(), rec)
	if err != nil {
		return recordError(err)
	}
	refreshAll(r.Context())
	v := &keyView{ID: created.ID, Name: created.Name, Source: limits.SourceAPI, Secret: secret,
		Created: &created.Created, Updated: &created.Updated, State: "active"}
	v.setConfig(&created.KeyConfig)
	v.State = stateOf(created.Disabled, false, created.Expires, time.Now())
	return writeAdminJSON(w, http.StatusCreated, v)
}

// validKey checks a key's fields as the gateway will load them: sane
// limits, and providers the config has.
func validKey(g *Gateway, c *limits.KeyConfig) error {
	probe := *c
	probe.KeySHA256 = strings.Repeat("0", 64)
	kr, err := limits.NewKeyring([]*limits.KeyConfig{&probe}, g.Limits, nil)
	if err == nil {
		err = g.checkKeyProviders(kr)
	}
	if err != nil {
		return apiError(http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), "keys[0] ("+c.Name+"): "))
	}
	return nil
}

// nameFree refuses a name another key has (except the record except).
func nameFree(ctx context.Context, g *Gateway, name, except string) error {
	vs, err := views(ctx, g)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.Name == name && v.ID != except {
			return apiError(http.StatusConflict, "another key (%s) is named %q", v.ID, name)
		}
	}
	return nil
}

// change applies fn to the record ref and stores it, reading it again
// when another change came in between.
func change(ctx context.Context, g *Gateway, ref string, fn func(*limits.KeyRecord) error) (*limits.KeyRecord, error) {
	for tries := 0; ; tries++ {
		v, err := find(ctx, g, ref)
		if err != nil {
			return nil, err
		}
		if v.record == nil {
			return nil, apiError(http.StatusConflict, "key %s is defined in the gateway's config; change it there (the Caddyfile or keys_file)", v.Name)
		}
		rec := *v.record
		if err := fn(&rec); err != nil {
			return nil, err
		}
		stored, err := g.records.Update(ctx, rec)
		if errors.Is(err, limits.ErrKeyRecordConflict) && tries < 3 {
			continue
		}
		if err != nil {
			return nil, recordError(err)
		}
		refreshAll(ctx)
		return &stored, nil
	}
}

func (a *AdminAPI) update(w http.ResponseWriter, r *http.Request, g *Gateway, ref string) error {
	fields, err := readKeyBody(r)
	if err != nil {
		return err
	}
	rec, err := change(r.Context(), g, ref, func(rec *limits.KeyRecord) error {
		if rec.Revoked != nil {
			return apiError(http.StatusConflict, "key %s is revoked", rec.Name)
		}
		if err := applyFields(&rec.KeyConfig, fields); err != nil {
			return err
		}
		if rec.Name == "" {
			return apiError(http.StatusBadRequest, "a key needs a name")
		}
		if err := nameFree(r.Context(), g, rec.Name, rec.ID); err != nil {
			return err
		}
		return validKey(g, &rec.KeyConfig)
	})
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, recordView(rec))
}

func (a *AdminAPI) revoke(w http.ResponseWriter, r *http.Request, g *Gateway, ref string) error {
	_, err := change(r.Context(), g, ref, func(rec *limits.KeyRecord) error {
		if rec.Revoked == nil {
			now := time.Now().UTC()
			rec.Revoked = &now
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, struct {
		State string `json:"state"`
	}{"revoked"})
}

func (a *AdminAPI) rotate(w http.ResponseWriter, r *http.Request, g *Gateway, ref string) error {
	secret, sum := newSecret()
	rec, err := change(r.Context(), g, ref, func(rec *limits.KeyRecord) error {
		if rec.Revoked != nil {
			return apiError(http.StatusConflict, "key %s is revoked", rec.Name)
		}
		rec.KeySHA256 = sum // the counters stay under CounterID
		return nil
	})
	if err != nil {
		return err
	}
	v := recordView(rec)
	v.Secret = secret
	return writeAdminJSON(w, http.StatusOK, v)
}

func recordView(rec *limits.KeyRecord) *keyView {
	v := &keyView{ID: rec.ID, Name: rec.Name, Source: limits.SourceAPI, Created: &rec.Created, Updated: &rec.Updated, Revoked: rec.Revoked}
	v.setConfig(&rec.KeyConfig)
	v.State = stateOf(rec.Disabled, rec.Revoked != nil, rec.Expires, time.Now())
	return v
}

// recordError maps a store's answer to the API's status.
func recordError(err error) error {
	var exists *limits.KeyRecordExistsError
	switch {
	case errors.As(err, &exists):
		return apiError(http.StatusConflict, "%v", err)
	case errors.Is(err, limits.ErrKeyRecordNotFound):
		return apiError(http.StatusNotFound, "%v", err)
	case errors.Is(err, limits.ErrKeyRecordConflict):
		return apiError(http.StatusConflict, "%v", err)
	}
	return apiError(http.StatusInternalServerError, "the limits store failed: %v", err)
}

// refreshAll makes every live gateway load the keys again at once, so a
// change applies from the next request on this instance (the others see
// it within a second, through their watch).
func refreshAll(ctx context.Context) {
	for _, g := range gateways() {
		g.refreshKeys(ctx)
	}
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return apiError(http.StatusInternalServerError, "encoding the answer: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
