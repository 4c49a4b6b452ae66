package limits

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// RedisStore keeps every key's counters in Redis (or Valkey), so that any
// number of gateways sharing it (the same url and prefix) enforce each
// key's rpm, tpm, concurrency, session and budget jointly, as one gateway
// would (`store redis`). Each admission and each settlement is one
// script, one round trip, over the keys of one client key (one hash tag,
// so Redis Cluster works), with the time taken from Redis itself and
// money in integer micro-USD. Both are idempotent by admission id: a
// call repeated after a timeout, or arriving late, moves nothing twice.
//
// When Redis fails (down, hung, loading), `on_error` decides: `closed`
// (the default) refuses requests with 500 store_error within `timeout`;
// `open` lets them through uncounted, except those of keys with a budget
// unless `budget_fail_open` is set. A circuit breaker stops calling a
// Redis that failed five times in a row, probing it every second, so a
// dead store does not make every request wait its timeout. The gateway
// starts while Redis is down and connects when it comes up.
//
// Every admitted request holds a lease that its gateway renews; a
// gateway that dies stops renewing, and after `lease_ttl` its requests'
// concurrency slots are freed and their reservations charged (the
// provider may have billed them). A settlement that arrives after that
// corrects the charge, once.
type RedisStore struct {
	// The Redis URL: redis://[user:password@]host:port/db, or rediss://
	// for TLS. Placeholders such as {env.REDIS_URL} are resolved when the
	// config loads; the password never appears in a log or an error.
	URL string `json:"url,omitempty"`

	// Keys live under this prefix, so gateways with different prefixes
	// can share one Redis without sharing counters. Default: llmgw.
	Prefix string `json:"prefix,omitempty"`

	// How long one store call may take before on_error applies.
	// Default: 100ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// What to do with a request when the store fails: `closed` (answer
	// 500 store_error; the default) or `open` (admit it uncounted).
	OnError string `json:"on_error,omitempty"`

	// With on_error open, requests of keys with a budget are still
	// refused when the store fails, unless this is set.
	BudgetFailOpen bool `json:"budget_fail_open,omitempty"`

	// How long an in-flight request's lease lasts without renewal: the
	// slots and reservations of a gateway that died are freed (and
	// charged) after this. The gateway renews each lease every third of
	// it. Default: 60s; at least 1s.
	LeaseTTL caddy.Duration `json:"lease_ttl,omitempty"`

	timeout, leaseTTL time.Duration
	failOpen          bool
	leaseTTLArg       string
	conn              *redisConn
	poolKey           string
	logger            *zap.Logger

	// now, when set (tests), is the clock the scripts use instead of
	// Redis's.
	now func() time.Time
}

// Defaults.
const (
	defaultRedisPrefix   = "llmgw"
	defaultRedisTimeout  = 100 * time.Millisecond
	defaultRedisLeaseTTL = 60 * time.Second
	minRedisLeaseTTL     = time.Second
)

// On-error policies.
const (
	onErrorClosed = "closed"
	onErrorOpen   = "open"
)

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.llm_gateway.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// Provision resolves the URL, and finds the connection of this URL and
// prefix in the pool or opens one. It does not need Redis to be up: the
// connection is made in the background (Provision waits for the first
// attempt at most a second), and requests follow on_error until it is.
func (s *RedisStore) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if err := s.setDefaults(); err != nil {
		return err
	}
	raw, err := caddy.NewReplacer().ReplaceOrErr(s.URL, true, true)
	if err != nil || raw == "" {
		return fmt.Errorf("store redis: url is empty or names an unknown placeholder; is the environment variable it names set?")
	}
	opt, addr, err := parseRedisURL(raw)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(raw + "\x00" + s.Prefix))
	key := "redis:" + hex.EncodeToString(sum[:])
	v, loaded, err := redisPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newRedisConn(opt, addr, s.Prefix, s.now, caddy.Log().Named("llm_gateway.store.redis")), nil
	})
	if err != nil {
		return err
	}
	s.poolKey = key
	s.conn = v.(*redisConn)
	s.conn.bgTimeout.Store(int64(max(s.timeout, time.Second)))
	if !loaded {
		select {
		case <-s.conn.attempted:
		case <-time.After(time.Second):
		}
		if s.conn.client.Load() == nil {
			s.logger.Warn("Redis is not reachable yet; the gateway starts anyway, and requests follow on_error until it is",
				zap.String("address", addr), zap.String("on_error", s.OnError))
		}
	}
	return nil
}

// setDefaults fills the unset fields and checks the set ones.
func (s *RedisStore) setDefaults() error {
	if s.Prefix == "" {
		s.Prefix = defaultRedisPrefix
	}
	if s.OnError == "" {
		s.OnError = onErrorClosed
	}
	s.timeout = time.Duration(s.Timeout)
	if s.timeout == 0 {
		s.timeout = defaultRedisTimeout
	}
	s.leaseTTL = time.Duration(s.LeaseTTL)
	if s.leaseTTL == 0 {
		s.leaseTTL = defaultRedisLeaseTTL
	}
	s.leaseTTLArg = strconv.FormatInt(s.leaseTTL.Microseconds(), 10)
	s.failOpen = s.OnError == onErrorOpen
	return s.Validate()
}

// Validate checks the store's settings; messages name the setting.
func (s *RedisStore) Validate() error {
	switch {
	case s.URL == "":
		return errors.New("store redis: url is required, e.g. redis://127.0.0.1:6379/0 or {env.REDIS_URL}")
	case s.OnError != "" && s.OnError != onErrorClosed && s.OnError != onErrorOpen:
		return fmt.Errorf("store redis: on_error %q: want closed or open", s.OnError)
	case s.BudgetFailOpen && s.OnError != onErrorOpen:
		return errors.New("store redis: budget_fail_open applies only with on_error open")
	case s.Timeout < 0:
		return fmt.Errorf("store redis: timeout %v: want a positive duration such as 50ms", time.Duration(s.Timeout))
	case s.LeaseTTL != 0 && time.Duration(s.LeaseTTL) < minRedisLeaseTTL:
		return fmt.Errorf("store redis: lease_ttl %v: want at least %v", time.Duration(s.LeaseTTL), minRedisLeaseTTL)
	case strings.ContainsAny(s.Prefix, "{} \t\r\n"):
		return fmt.Errorf("store redis: prefix %q: no braces or spaces (the store makes its own hash tags)", s.Prefix)
	}
	return nil
}

// parseRedisURL reads a redis:// or rediss:// URL into client options,
// and names its server for logs (host:port, never the password). Errors
// never quote the URL.
func parseRedisURL(raw string) (rueidis.ClientOption, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return rueidis.ClientOption{}, "", errors.New("store redis: url is not a valid URL; want redis://[user:password@]host:port/db or rediss://host:port/db")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return rueidis.ClientOption{}, "", fmt.Errorf("store redis: url scheme %q: want redis:// or rediss://", u.Scheme)
	}
	// A password holding / ? # or @ must be percent-encoded; unencoded,
	// part of it would be read as the host, and show in logs.
	rest := raw[len(u.Scheme)+len("://"):]
	if at := strings.LastIndex(rest, "@"); at >= 0 && (u.User == nil || strings.ContainsAny(rest[:at], "/?#")) {
		return rueidis.ClientOption{}, "", errors.New("store redis: url: the user or password holds a character that must be percent-encoded (/ ? # @ as %2F %3F %23 %40)")
	}
	if u.Host == "" {
		return rueidis.ClientOption{}, "", errors.New("store redis: url has no host; want redis://host:port/db")
	}
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		// rueidis's messages quote a bad database number or option,
		// never the user or password.
		return rueidis.ClientOption{}, "", fmt.Errorf("store redis: url: %s", strings.TrimPrefix(err.Error(), "redis: "))
	}
	opt.DisableCache = true // the hot path is write scripts
	opt.ClientName = "caddy-llm-gateway"
	return opt, u.Host, nil
}

// Cleanup releases the store's reference to its connection; the last
// one closes it.
func (s *RedisStore) Cleanup() error {
	if s.poolKey == "" {
		return nil
	}
	_, err := redisPool.Delete(s.poolKey)
	s.poolKey = ""
	return err
}

// StoreError is a failure of the limits store, as Admit returns it: the
// gateway answers 500 store_error. Its text names the store's server and
// what failed, never a secret.
type StoreError struct {
	// Addr is the server, host:port.
	Addr string
	// Op is the operation: admit, settle, usage.
	Op  string
	Err error
}

func (e *StoreError) Error() string {
	return "limits store redis at " + e.Addr + ": " + e.Op + ": " + e.Err.Error()
}

func (e *StoreError) Unwrap() error { return e.Err }

// Admit implements Store: one admit script, one round trip. When the
// call fails, on_error applies: an error (closed), or an admission that
// counts nothing (open; not for keys with a budget unless
// budget_fail_open). An admission whose answer never came may still run
// in Redis: it is cancelled in the background (or, when admitted
// uncounted, by its settlement), so nothing stays reserved.
func (s *RedisStore) Admit(ctx context.Context, k *Key, id string, est Estimate) (Admission, error) {
	if k == nil {
		return Admission{}, errNilKey
	}
	if id == "" {
		id = newAdmissionID()
	}
	est = Estimate{Tokens: max(est.Tokens, 0), Cost: nonNegative(est.Cost)}
	a := Admission{key: k, id: id, est: est}
	c := s.conn
	rk := c.names.of(k)
	pa := &rk.args
	args := []string{
		id, nowArg(s.now), s.leaseTTLArg,
		strconv.FormatInt(est.Tokens, 10), strconv.FormatInt(estimateMicros(est.Cost), 10),
		pa.rpm, pa.tpm, pa.concurrency, pa.window, pa.sessionTokens, pa.budget,
		tombstoneTTLArg,
	}
	res, sent, err := c.exec(ctx, admitScript, rk.all, args, s.timeout)
	var r []int64
	if err == nil {
		r, err = res.AsIntSlice()
		if err == nil && len(r) != resLen {
			err = fmt.Errorf("the admit script answered %d values, want %d", len(r), resLen)
		}
		if err == nil && r[resStatus] == admitCancelled {
			err = errors.New("this admission was cancelled")
		}
	}
	if err != nil {
		return s.failed(a, k, rk, sent, err)
	}
	fillAdmission(&a, k, r)
	if a.Admitted {
		c.leases.add(id, rk, s.leaseTTL, time.Now())
	}
	return a, nil
}

// failed applies on_error to an admission the store could not make.
func (s *RedisStore) failed(a Admission, k *Key, rk *redisKeys, sent bool, err error) (Admission, error) {
	open := s.failOpen && (k.Policy.Budget <= 0 || s.BudgetFailOpen)
	if open {
		// Its settlement counts it, and cancels the admission should it
		// run late.
		a.Admitted, a.uncounted, a.maybeRan = true, true, sent
		s.conn.uncounted.Add(1)
		return a, nil
	}
	if sent {
		// It may run in Redis after all: cancel it, so that it either
		// is refused when it arrives, or gives back what it took.
		s.conn.later(rk, s.settleArgs(a.id, k, Usage{}, settleCancel))
	}
	return Admission{key: k, id: a.id, est: a.est}, &StoreError{Addr: s.conn.addr, Op: "admit", Err: err}
}

// Settle implements Store: one settle script, one round trip. A
// settlement that fails is retried in the background until it succeeds
// (it is idempotent), so Settle returns nil for it; so is that of an
// uncounted admission, at once. Meanwhile the
// request's lease is no longer renewed, and should it expire first, its
// reservation is charged and the retried settlement corrects that.
func (s *RedisStore) Settle(ctx context.Context, k *Key, a *Admission, used Usage) error {
	if a == nil || !a.Admitted || a.settled {
		return nil
	}
	if k == nil {
		k = a.key
	}
	a.settled = true
	used = Usage{Tokens: max(used.Tokens, 0), Cost: nonNegative(used.Cost)}
	c := s.conn
	rk := c.names.of(k)
	flags := settleCounted
	switch {
	case a.maybeRan:
		flags = settleCancel
	case a.uncounted:
		flags = settleUncounted
	default:
		c.leases.remove(a.id)
	}
	args := s.settleArgs(a.id, k, used, flags)
	if a.uncounted {
		// The store failed a moment ago: settle in the background
		// rather than make the request wait for it again.
		c.later(rk, args)
		return nil
	}
	if _, _, err := c.exec(ctx, settleScript, rk.all, args, s.timeout); err != nil {
		c.later(rk, args)
	}
	return nil
}

func (s *RedisStore) settleArgs(id string, k *Key, used Usage, flags string) []string {
	pa := &s.conn.names.of(k).args
	return []string{
		id, nowArg(s.now),
		strconv.FormatInt(used.Tokens, 10), strconv.FormatInt(usedMicros(used.Cost), 10),
		pa.tpm, pa.window, flags, tombstoneTTLArg,
	}
}

// Usage implements UsageReader with the read-only peek script.
func (s *RedisStore) Usage(ctx context.Context, k *Key) (KeyUsage, error) {
	c := s.conn
	rk := c.names.of(k)
	args := []string{nowArg(s.now), rk.args.rpm, rk.args.tpm}
	res, _, err := c.exec(ctx, peekScript, rk.all[:2], args, s.timeout)
	var r []int64
	if err == nil {
		r, err = res.AsIntSlice()
		if err == nil && len(r) != 12 {
			err = fmt.Errorf("the peek script answered %d values, want 12", len(r))
		}
	}
	if err != nil {
		return KeyUsage{}, &StoreError{Addr: c.addr, Op: "usage", Err: err}
	}
	u := KeyUsage{
		Spent:           fromMicros(r[0]),
		Reserved:        fromMicros(r[1]),
		SessionUsed:     r[3],
		SessionReserved: r[4],
		InFlight:        r[5],
		Expired:         r[6],
	}
	if r[2] != 0 {
		u.SessionStart = time.UnixMicro(r[2])
	}
	if p := &k.Policy; p.RPM > 0 {
		u.Requests = RateInfo{Limit: p.RPM, Remaining: max(r[7], 0), Reset: micros(r[8])}
	}
	if p := &k.Policy; p.TPM > 0 {
		u.Tokens = RateInfo{Limit: p.TPM, Remaining: max(r[9], 0), Reset: micros(r[10])}
	}
	return u, nil
}

// Health implements HealthReporter.
func (s *RedisStore) Health() StoreHealth { return s.conn.health() }

// newAdmissionID makes an id for an Admit called without one (tests; the
// gateway always passes its own).
func newAdmissionID() string {
	var b [16]byte
	rand.Read(b[:])
	return "adm_" + hex.EncodeToString(b[:])
}

// Interface guards
var (
	_ caddy.Provisioner  = (*RedisStore)(nil)
	_ caddy.Validator    = (*RedisStore)(nil)
	_ caddy.CleanerUpper = (*RedisStore)(nil)
	_ Store              = (*RedisStore)(nil)
	_ HealthReporter     = (*RedisStore)(nil)
	_ UsageReader        = (*RedisStore)(nil)
)
