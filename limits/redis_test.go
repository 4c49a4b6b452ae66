package limits

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
	"github.com/llmgateway/caddy-llm-gateway/limits/redistest"
)

// Tests of what only a shared store has: replays, leases, a gateway that
// dies, Redis failing under each policy. The semantics every store
// shares are in store_table_test.go.

func longLease(s *RedisStore) { s.LeaseTTL = caddy.Duration(1000 * time.Hour) }

func redisUsage(t *testing.T, s *RedisStore, k *Key) KeyUsage {
	t.Helper()
	u, err := s.Usage(bg, k)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Every admission and settlement replayed, on the same gateway or
// another, moves each counter once; an admission cancelled before it ran
// is refused when it arrives.
func TestRedisIdempotency(t *testing.T) {
	srv := testRedis(t)
	c := newClock()
	prefix := testPrefix()
	s := newTestRedisStore(t, srv.URL(), prefix, c.now, longLease)
	peer := newTestRedisStore(t, srv.URL(), prefix, c.now, longLease)
	k := testKey(t, Policy{RPM: 10, TPM: 1000, Concurrency: 2, Budget: 1,
		Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 5000}})
	est := Estimate{Tokens: 100, Cost: 0.1}

	a, err := s.Admit(bg, k, "req_replayed", est)
	if err != nil || !a.Admitted {
		t.Fatalf("admit: %v %v", err, a.Err())
	}
	for i, st := range []Store{s, peer, s} {
		r, err := st.Admit(bg, k, "req_replayed", est)
		if err != nil || !r.Admitted {
			t.Fatalf("replay %d: %v %v", i, err, r.Err())
		}
	}
	u := redisUsage(t, s, k)
	if u.InFlight != 1 || !near(u.Reserved, 0.1) || u.SessionReserved != 100 || u.Requests.Remaining != 9 || u.Tokens.Remaining != 900 {
		t.Fatalf("after an admission and three replays: %+v; want it counted once", u)
	}

	// Settle, then replay the settlement on both gateways (copies made
	// before, as a retry would resend the same call).
	replays := []Admission{a, a}
	settle(t, s, k, &a, 60, 0.05)
	settle(t, peer, k, &replays[0], 60, 0.05)
	settle(t, s, k, &replays[1], 60, 0.05)
	u = redisUsage(t, s, k)
	if u.InFlight != 0 || !near(u.Spent, 0.05) || u.Reserved != 0 || u.SessionUsed != 60 || u.SessionReserved != 0 || u.Tokens.Remaining != 940 {
		t.Fatalf("after a settlement and two replays: %+v; want it settled once (tokens 1000-100+100-60)", u)
	}

	// A cancellation (an admission whose answer never came) that runs
	// before its admission: the admission is refused when it arrives.
	cancelled := Admission{Admitted: true, uncounted: true, maybeRan: true, key: k, id: "req_cancelled"}
	if err := s.Settle(bg, k, &cancelled, Usage{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return s.conn.pendingLen() == 0 },
		func() string { return "the cancellation never ran" })
	before := redisUsage(t, s, k)
	if _, err := peer.Admit(bg, k, "req_cancelled", est); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("a cancelled admission arriving late: %v; want it refused", err)
	}
	if after := redisUsage(t, s, k); after != before {
		t.Fatalf("the late admission counted: %+v, then %+v", before, after)
	}
}

// A lease that expires (its gateway stopped renewing it) is reaped by the
// key's next admission: its slot is freed, its reservation charged. The
// settlement that arrives after that corrects the charge, once.
func TestRedisLeaseExpiryChargesThenCorrects(t *testing.T) {
	srv := testRedis(t)
	c := newClock()
	prefix := testPrefix()
	ttl := func(s *RedisStore) { s.LeaseTTL = caddy.Duration(10 * time.Second) }
	s := newTestRedisStore(t, srv.URL(), prefix, c.now, ttl)
	peer := newTestRedisStore(t, srv.URL(), prefix, c.now, ttl)
	k := testKey(t, Policy{Concurrency: 1, Budget: 1, TPM: 600,
		Session: &SessionQuota{Window: caddy.Duration(time.Hour), Tokens: 1000}})

	a := admit(t, s, k, 100, 0.3)
	c.at(9 * time.Second)
	mustRefuse(t, admit(t, peer, k, 50, 0.1), llmerrors.ConcurrencyLimitExceeded)
	if u := redisUsage(t, s, k); u.InFlight != 1 || u.Expired != 0 {
		t.Fatalf("before expiry: %+v", u)
	}
	c.at(10*time.Second + time.Millisecond)
	if u := redisUsage(t, s, k); u.InFlight != 0 || u.Expired != 1 || !near(u.Reserved, 0.3) {
		t.Fatalf("expired, not reaped yet: %+v; want the lease expired, its reservation still held", u)
	}
	b := admit(t, peer, k, 50, 0.1)
	if !b.Admitted {
		t.Fatalf("the slot of the expired lease was not freed: %v", b.Err())
	}
	u := redisUsage(t, s, k)
	if u.InFlight != 1 || u.Expired != 0 || !near(u.Spent, 0.3) || !near(u.Reserved, 0.1) || u.SessionUsed != 100 || u.SessionReserved != 50 {
		t.Fatalf("after reaping: %+v; want the expired request charged its reservation ($0.30, 100 tokens)", u)
	}

	// The late settlement: it used 40 tokens and $0.10.
	late := a
	settle(t, s, k, &a, 40, 0.1)
	u = redisUsage(t, s, k)
	if !near(u.Spent, 0.1) || u.SessionUsed != 40 || !near(u.Reserved, 0.1) || u.InFlight != 1 {
		t.Fatalf("after the late settlement: %+v; want the charge corrected to $0.10 and 40 tokens", u)
	}
	settle(t, peer, k, &late, 40, 0.1) // replayed: corrected once only
	if again := redisUsage(t, s, k); again != u {
		t.Fatalf("a replayed late settlement moved the books: %+v, then %+v", u, again)
	}
	settle(t, peer, k, &b, 50, 0.1)
	if u := redisUsage(t, s, k); u.InFlight != 0 || u.Reserved != 0 || !near(u.Spent, 0.2) || u.SessionUsed != 90 {
		t.Fatalf("at the end: %+v; want $0.20 spent, 90 session tokens, nothing held", u)
	}
}

// A gateway renews the leases of its requests in flight, so a request
// longer than lease_ttl keeps its slot; a gateway that dies stops, and
// another frees the slot within lease_ttl (and a little).
func TestRedisLeaseRenewalAndCrash(t *testing.T) {
	srv := testRedis(t)
	prefix := testPrefix()
	ttl := func(s *RedisStore) { s.LeaseTTL = caddy.Duration(time.Second) }
	s := newTestRedisStore(t, srv.URL(), prefix, nil, ttl)
	peer := newTestRedisStore(t, srv.URL(), prefix, nil, ttl)
	k := testKey(t, Policy{Concurrency: 1, Budget: 10})

	a := admit(t, s, k, 10, 0.5)
	// Held for 2.5 lease ttls: the other gateway is refused throughout.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); <-tick.C {
		mustRefuse(t, admit(t, peer, k, 10, 0.5), llmerrors.ConcurrencyLimitExceeded)
	}
	settle(t, s, k, &a, 10, 0.25)
	b := admit(t, peer, k, 10, 0.5)
	if !b.Admitted {
		t.Fatalf("refused after the settlement: %v", b.Err())
	}
	settle(t, peer, k, &b, 10, 0.25)

	// The first gateway dies holding the slot: it never settles and
	// stops renewing.
	admit(t, s, k, 10, 0.5)
	s.conn.close()
	died := time.Now()
	var freed Admission
	waitFor(t, 5*time.Second, func() bool {
		freed, _ = peer.Admit(bg, k, "", Estimate{Tokens: 10, Cost: 0.5})
		return freed.Admitted
	}, func() string { return "the dead gateway's slot was never freed" })
	took := time.Since(died)
	t.Logf("slot freed %v after the gateway died (lease_ttl 1s)", took.Round(time.Millisecond))
	if took > time.Second+time.Second/3+500*time.Millisecond {
		t.Errorf("freed after %v; want within lease_ttl (1s) of the last renewal", took)
	}
	settle(t, peer, k, &freed, 10, 0.25)
	// Charged: 0.25 + 0.25 settled, 0.5 reserved by the dead one, 0.25.
	if u := redisUsage(t, peer, k); !near(u.Spent, 1.25) || u.Reserved != 0 || u.InFlight != 0 {
		t.Fatalf("after the crash: %+v; want the dead request charged its $0.50 reservation ($1.25 spent)", u)
	}
}

// faults are the ways Redis fails, each with how to heal it.
var faults = []struct {
	name         string
	inject, heal func(t *testing.T, srv *redistest.Server)
}{
	{"killed",
		func(t *testing.T, srv *redistest.Server) { srv.Kill() },
		func(t *testing.T, srv *redistest.Server) {
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}},
	{"hung",
		func(t *testing.T, srv *redistest.Server) { srv.Pause(); t.Cleanup(srv.Resume) },
		func(t *testing.T, srv *redistest.Server) { srv.Resume() }},
}

// timed is how long f took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// slack is what a loaded test machine (two cores, -race) may add to a
// deadline; the contract says "a few milliseconds", measured figures are
// logged.
const slack = 100 * time.Millisecond

// on_error closed: a dead or hung Redis answers a store error within the
// timeout; after five failures the breaker answers at once; the store
// recovers by itself when Redis does.
func TestRedisFaultsClosed(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{})
			const timeout = 50 * time.Millisecond
			s := newTestRedisStore(t, srv.URL(), testPrefix(), nil, func(s *RedisStore) { s.Timeout = caddy.Duration(timeout) })
			k := testKey(t, Policy{RPM: 1000})
			settle(t, s, k, ptr(admit(t, s, k, 0, 0)), 0, 0)

			f.inject(t, srv)
			for i := range breakerFailures {
				var err error
				took := timed(func() { _, err = s.Admit(bg, k, "", Estimate{}) })
				var se *StoreError
				if !errors.As(err, &se) {
					t.Fatalf("call %d: %v; want a StoreError", i, err)
				}
				t.Logf("%s: call %d failed in %v: %v", f.name, i, took.Round(time.Microsecond), err)
				if took > timeout+slack {
					t.Errorf("call %d took %v; want at most the timeout (%v) and a little", i, took, timeout)
				}
			}
			var err error
			took := timed(func() { _, err = s.Admit(bg, k, "", Estimate{}) })
			if !errors.Is(err, errCircuitOpen) || took > 5*time.Millisecond {
				t.Fatalf("after %d failures: %v in %v; want the open circuit's error at once", breakerFailures, err, took)
			}
			if h := s.Health(); h.State != StoreCircuitOpen || h.Error == "" {
				t.Fatalf("health %+v; want circuit_open with the error", h)
			}

			f.heal(t, srv)
			healed := time.Now()
			waitFor(t, 10*time.Second, func() bool {
				a, err := s.Admit(bg, k, "", Estimate{})
				if err == nil {
					s.Settle(bg, k, &a, Usage{})
				}
				return err == nil
			}, func() string { return "the store did not recover: " + s.Health().Error })
			t.Logf("%s: admitting again %v after Redis came back", f.name, time.Since(healed).Round(time.Millisecond))
			if h := s.Health(); h.State != StoreHealthy || h.Errors < breakerFailures {
				t.Errorf("health after recovery: %+v", h)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// on_error open: requests are admitted uncounted while Redis fails,
// except keys with a budget unless budget_fail_open; their settlements
// wait, and count their spend once Redis is back.
func TestRedisFaultsOpen(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{})
			const timeout = 50 * time.Millisecond
			prefix := testPrefix()
			open := func(s *RedisStore) { s.Timeout = caddy.Duration(timeout); s.OnError = onErrorOpen }
			s := newTestRedisStore(t, srv.URL(), prefix, nil, open)
			budgetsToo := newTestRedisStore(t, srv.URL(), prefix, nil, open, func(s *RedisStore) { s.BudgetFailOpen = true })
			plain := testKey(t, Policy{RPM: 5})
			budgeted := testKey(t, Policy{Budget: 1})
			settle(t, s, plain, ptr(admit(t, s, plain, 0, 0)), 0, 0)

			f.inject(t, srv)
			var a Admission
			var err error
			took := timed(func() { a, err = s.Admit(bg, plain, "", Estimate{}) })
			t.Logf("%s: admitted uncounted in %v", f.name, took.Round(time.Microsecond))
			if err != nil || !a.Admitted || !a.Uncounted() || took > timeout+slack {
				t.Fatalf("a key without a budget: %v, admitted %v, uncounted %v, in %v; want admitted uncounted within the timeout", err, a.Admitted, a.Uncounted(), took)
			}
			if a.Requests.Limit != 0 {
				t.Errorf("an uncounted admission describes the rpm bucket: %+v", a.Requests)
			}
			if _, err := s.Admit(bg, budgeted, "", Estimate{Cost: 0.1}); err == nil {
				t.Fatal("a key with a budget was admitted with Redis down; want closed unless budget_fail_open")
			}
			b, err := budgetsToo.Admit(bg, budgeted, "", Estimate{Cost: 0.1})
			if err != nil || !b.Uncounted() {
				t.Fatalf("budget_fail_open: %v, uncounted %v", err, b.Uncounted())
			}
			if err := budgetsToo.Settle(bg, budgeted, &b, Usage{Tokens: 10, Cost: 0.25}); err != nil {
				t.Fatalf("a settlement while Redis is down: %v; want it queued", err)
			}
			if err := s.Settle(bg, plain, &a, Usage{}); err != nil {
				t.Fatal(err)
			}

			f.heal(t, srv)
			waitFor(t, 10*time.Second, func() bool {
				u, err := budgetsToo.Usage(bg, budgeted)
				return err == nil && near(u.Spent, 0.25) && budgetsToo.conn.pendingLen() == 0
			}, func() string {
				u, err := budgetsToo.Usage(bg, budgeted)
				return fmt.Sprintf("the uncounted request's spend was never counted: %v %+v", err, u)
			})
			// An admission that timed out may still run once Redis wakes;
			// the cancellation sent after it releases it, a moment later.
			waitFor(t, 10*time.Second, func() bool {
				u, err := s.Usage(bg, budgeted)
				return err == nil && u.Reserved == 0 && u.InFlight == 0 && s.conn.pendingLen() == 0
			}, func() string {
				return fmt.Sprintf("after recovery: %+v; want nothing held", redisUsage(t, s, budgeted))
			})
			if h := budgetsToo.Health(); h.UncountedAdmissions != 1 {
				t.Errorf("health counts %d uncounted admissions, want 1", h.UncountedAdmissions)
			}
		})
	}
}

// An admission that timed out (Redis hung) may run when Redis resumes:
// its cancellation, retried in the background, gives back what it took.
func TestRedisTimedOutAdmissionIsCancelled(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := newTestRedisStore(t, srv.URL(), testPrefix(), nil, func(s *RedisStore) { s.Timeout = caddy.Duration(50 * time.Millisecond) })
	k := testKey(t, Policy{Budget: 1, Concurrency: 3})
	settle(t, s, k, ptr(admit(t, s, k, 0, 0.01)), 0, 0.01)

	srv.Pause()
	t.Cleanup(srv.Resume)
	if _, err := s.Admit(bg, k, "", Estimate{Cost: 0.5}); err == nil {
		t.Fatal("admitted with Redis hung")
	}
	if n := s.conn.pendingLen(); n != 1 {
		t.Fatalf("%d calls pending; want the cancellation", n)
	}
	srv.Resume()
	waitFor(t, 10*time.Second, func() bool { return s.conn.pendingLen() == 0 },
		func() string { return "the cancellation never ran" })
	if u := redisUsage(t, s, k); u.InFlight != 0 || u.Reserved != 0 || !near(u.Spent, 0.01) {
		t.Fatalf("after the late admission and its cancellation: %+v; want nothing held, $0.01 spent", u)
	}
}

// Spend, reservations and leases survive a Redis restart with an
// append-only file, under both policies: while Redis is down, requests
// are refused (closed) or admitted uncounted (open), at once; after the
// restart the books are as they were, plus what the uncounted requests
// used, and the store reconnects by itself.
func TestRedisRestartWithAOF(t *testing.T) {
	for _, policy := range []string{onErrorClosed, onErrorOpen} {
		t.Run(policy, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{AOF: true})
			s := newTestRedisStore(t, srv.URL(), testPrefix(), nil, func(s *RedisStore) {
				s.OnError, s.BudgetFailOpen = policy, policy == onErrorOpen
				s.Timeout = caddy.Duration(50 * time.Millisecond)
			})
			k := testKey(t, Policy{Budget: 10, Concurrency: 5})
			settle(t, s, k, ptr(admit(t, s, k, 0, 0.5)), 0, 0.25)
			held := admit(t, s, k, 0, 0.5)

			srv.Kill()
			var down Admission
			var err error
			took := timed(func() { down, err = s.Admit(bg, k, "", Estimate{Cost: 0.5}) })
			t.Logf("on_error %s, Redis down for a restart: answered in %v (%v)", policy, took.Round(time.Microsecond), err)
			if took > 50*time.Millisecond+slack {
				t.Errorf("answered after %v; want within the timeout", took)
			}
			switch {
			case policy == onErrorClosed && err == nil:
				t.Fatal("admitted while Redis was down, on_error closed")
			case policy == onErrorOpen && (err != nil || !down.Uncounted()):
				t.Fatalf("on_error open: %v, uncounted %v", err, down.Uncounted())
			case policy == onErrorOpen:
				settle(t, s, k, &down, 0, 0.1) // queued until Redis is back
			}

			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
			wantSpent := 0.25
			if policy == onErrorOpen {
				wantSpent += 0.1
			}
			var u KeyUsage
			waitFor(t, 10*time.Second, func() bool {
				var err error
				u, err = s.Usage(bg, k)
				return err == nil && s.conn.pendingLen() == 0 && near(u.Spent, wantSpent)
			}, func() string { return fmt.Sprintf("after the restart: %+v, %s", u, s.Health().Error) })
			if !near(u.Reserved, 0.5) || u.InFlight != 1 {
				t.Fatalf("after a restart: %+v; want the request in flight and its $0.50 reservation kept", u)
			}
			settle(t, s, k, &held, 0, 0.5)
			if u := redisUsage(t, s, k); !near(u.Spent, wantSpent+0.5) || u.Reserved != 0 || u.InFlight != 0 {
				t.Fatalf("after settling: %+v", u)
			}
		})
	}
}

// The gateway starts while Redis is down: requests get store errors at
// once (not after a timeout), and the store connects when Redis comes up.
func TestRedisStartsWhileDown(t *testing.T) {
	redistest.Require(t)
	port := redistest.FreePort()
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	s := &RedisStore{URL: url, Prefix: testPrefix()}
	if err := s.setDefaults(); err != nil {
		t.Fatal(err)
	}
	opt, addr, err := parseRedisURL(url)
	if err != nil {
		t.Fatal(err)
	}
	s.conn = newRedisConn(opt, addr, s.Prefix, nil, zap.NewNop())
	t.Cleanup(s.conn.close)
	k := testKey(t, Policy{RPM: 10})
	took := timed(func() { _, err = s.Admit(bg, k, "", Estimate{}) })
	if !errors.Is(err, errNotConnected) || took > 10*time.Millisecond {
		t.Fatalf("with Redis down: %v in %v; want not connected, at once", err, took)
	}
	if h := s.Health(); h.State != StoreConnecting {
		t.Fatalf("health %+v; want connecting", h)
	}
	redistest.Start(t, redistest.Options{Port: port})
	waitFor(t, 10*time.Second, func() bool {
		_, err := s.Admit(bg, k, "", Estimate{})
		return err == nil
	}, func() string { return "never connected: " + s.Health().Error })
	if h := s.Health(); h.State != StoreHealthy {
		t.Fatalf("health %+v; want healthy", h)
	}
}

// Provision resolves placeholders, shares one connection between the
// configs of a reload, and never lets the password out: not in errors,
// not in /status, not in logs.
func TestRedisProvision(t *testing.T) {
	const password = "s3cret-pass-4711"
	srv := redistest.Start(t, redistest.Options{Password: password})
	t.Setenv("LIMITS_TEST_REDIS_URL", srv.URL())
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	prefix := testPrefix()
	s := &RedisStore{URL: "{env.LIMITS_TEST_REDIS_URL}", Prefix: prefix}
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Cleanup()
	k := testKey(t, Policy{RPM: 10})
	waitFor(t, 5*time.Second, func() bool {
		_, err := s.Admit(bg, k, "", Estimate{})
		return err == nil
	}, func() string { return s.Health().Error })

	reloaded := &RedisStore{URL: "{env.LIMITS_TEST_REDIS_URL}", Prefix: prefix}
	if err := reloaded.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if reloaded.conn != s.conn {
		t.Error("a reloaded config with the same url and prefix has a connection of its own; want the pool's")
	}
	reloaded.Cleanup()
	if _, err := s.Admit(bg, k, "", Estimate{}); err != nil {
		t.Fatalf("the old config's cleanup closed the shared connection: %v", err)
	}

	t.Setenv("LIMITS_TEST_UNSET", "")
	unset := &RedisStore{URL: "{env.LIMITS_TEST_UNSET}"}
	if err := unset.Provision(ctx); err == nil || !strings.Contains(err.Error(), "environment variable") {
		t.Fatalf("an unset placeholder: %v", err)
	}

	// A wrong password: the store starts, fails, and says so without
	// the password, in errors, health and logs.
	const wrong = "wrong-pass-0815"
	url := "redis://gw:" + wrong + "@" + srv.Addr + "/0"
	opt, addr, err := parseRedisURL(url)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	bad := &RedisStore{URL: url}
	if err := bad.setDefaults(); err != nil {
		t.Fatal(err)
	}
	bad.conn = newRedisConn(opt, addr, "x", nil, zap.New(core))
	defer bad.conn.close()
	<-bad.conn.attempted
	_, err = bad.Admit(bg, k, "", Estimate{})
	if err == nil {
		t.Fatal("admitted with a wrong password")
	}
	h := bad.Health()
	for _, text := range []string{err.Error(), h.Error, h.Warning} {
		if strings.Contains(text, wrong) || strings.Contains(text, password) {
			t.Errorf("the password leaked: %q", text)
		}
	}
	if h.Error == "" {
		t.Errorf("health %+v; want the failure named", h)
	}
	for _, e := range logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += " " + f.String
			if f.Interface != nil {
				if er, ok := f.Interface.(error); ok {
					line += " " + er.Error()
				}
			}
		}
		if strings.Contains(line, wrong) {
			t.Errorf("the password leaked into the log: %s", line)
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url, addr, err string
	}{
		{"redis://127.0.0.1:6379/0", "127.0.0.1:6379", ""},
		{"rediss://user:p%40ss@cache.internal:6380/3", "cache.internal:6380", ""},
		{"redis://:pa@ss@10.0.0.5:6379/0", "10.0.0.5:6379", ""},
		{"http://admin:hunter2-secret@10.0.0.5/0", "", `url scheme "http"`},
		{"redis://:hunter2/secret@10.0.0.5:6379/0", "", "not a valid URL"},
		{"redis://admin:hunter2?secret@10.0.0.5:6379/0", "", "not a valid URL"},
		{"redis://admin/x:hunter2-secret@10.0.0.5:6379/0", "", "percent-encoded"},
		{"redis://10.0.0.5:6379/notanumber", "", "database number"},
		{"redis:///0", "", "no host"},
		{"127.0.0.1:6379", "", "not a valid URL"},
		{"cache:6379", "", "scheme"},
	} {
		opt, addr, err := parseRedisURL(tc.url)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.url, err, tc.err)
		case err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret")):
			t.Errorf("%s: the error shows the password: %v", tc.url, err)
		case err == nil && (addr != tc.addr || !opt.DisableCache):
			t.Errorf("%s: address %q, want %q", tc.url, addr, tc.addr)
		}
	}
}

func TestRedisValidate(t *testing.T) {
	for _, tc := range []struct {
		s   RedisStore
		err string
	}{
		{RedisStore{}, "url is required"},
		{RedisStore{URL: "redis://x:1", OnError: "maybe"}, "on_error"},
		{RedisStore{URL: "redis://x:1", BudgetFailOpen: true}, "only with on_error open"},
		{RedisStore{URL: "redis://x:1", LeaseTTL: caddy.Duration(time.Millisecond)}, "lease_ttl"},
		{RedisStore{URL: "redis://x:1", Prefix: "a{b}"}, "prefix"},
		{RedisStore{URL: "redis://x:1", OnError: "open", BudgetFailOpen: true}, ""},
	} {
		err := tc.s.setDefaults()
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.err)
		}
	}
}

func TestBreaker(t *testing.T) {
	c := newClock()
	b := newBreaker(c.now)
	for i := range breakerFailures - 1 {
		ok, probe := b.allow()
		if !ok || probe {
			t.Fatalf("call %d refused while closed", i)
		}
		b.done(false, false)
	}
	ok, _ := b.allow()
	b.done(false, false)
	if open, _ := b.open(); !ok || !open {
		t.Fatalf("not open after %d failures", breakerFailures)
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("an open breaker let a call through")
	}
	c.t = c.t.Add(breakerOpenFor)
	ok, probe := b.allow()
	if !ok || !probe {
		t.Fatal("no probe after breakerOpenFor")
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("a second call during the probe")
	}
	b.done(true, false) // the probe failed: open for another while
	if ok, _ := b.allow(); ok {
		t.Fatal("open again after a failed probe, yet a call went through")
	}
	c.t = c.t.Add(breakerOpenFor)
	ok, probe = b.allow()
	b.done(probe, true)
	if open, _ := b.open(); !ok || open {
		t.Fatal("a successful probe did not close the breaker")
	}
}

// A Redis that may evict keys when full (allkeys-*) would silently lose
// spend: the store says so in its health and its log.
func TestRedisWarnsOfEviction(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	s := newTestRedisStore(t, srv.URL(), testPrefix(), nil)
	waitFor(t, 5*time.Second, func() bool { return s.Health().Warning != "" },
		func() string { return "no warning of allkeys-lru" })
	if h := s.Health(); h.State != StoreHealthy || !strings.Contains(h.Warning, "allkeys-lru") {
		t.Fatalf("health %+v", h)
	}
	quiet := newTestRedisStore(t, testRedis(t).URL(), testPrefix(), nil)
	if h := quiet.Health(); h.Warning != "" {
		t.Fatalf("a warning for noeviction: %+v", h)
	}
}
