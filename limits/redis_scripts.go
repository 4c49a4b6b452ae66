package limits

import (
	_ "embed"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// The scripts the Redis store runs, one round trip each. Each works on
// the keys of one client key, which share a hash tag, so they run on
// Redis Cluster too. rueidis sends them with EVALSHA and, after a
// restart emptied Redis's script cache (NOSCRIPT), with EVAL; neither is
// ever retried by the client, so a script runs at most once per call.
var (
	//go:embed scripts/admit.lua
	admitLua string
	//go:embed scripts/settle.lua
	settleLua string
	//go:embed scripts/renew.lua
	renewLua string
	//go:embed scripts/peek.lua
	peekLua string

	admitScript  = rueidis.NewLuaScript(admitLua)
	settleScript = rueidis.NewLuaScript(settleLua)
	renewScript  = rueidis.NewLuaScript(renewLua)
	peekScript   = rueidis.NewLuaScriptReadOnly(peekLua)
)

// Statuses the admit script answers.
const (
	admitRefused   = 0
	admitAdmitted  = 1
	admitReplayed  = 2
	admitCancelled = 3
)

// Settle flags.
const (
	// settleCounted settles an admission the admit script made.
	settleCounted = "0"
	// settleCancel settles an admission whose admit call failed but may
	// have run, or may yet run: what it counted is given back, or a
	// tombstone refuses it when it arrives. Its usage is counted.
	settleCancel = "1"
	// settleUncounted counts the usage of an admission whose admit call
	// never reached Redis.
	settleUncounted = "2"
)

// tombstoneTTL is how long, at least, Redis remembers what it charged for
// a reaped reservation (so a late settlement corrects it) and which
// admissions were cancelled (so a late admission is refused).
const tombstoneTTL = time.Hour

var tombstoneTTLArg = strconv.Itoa(int(tombstoneTTL / time.Second))

// The admit script's result, by index.
const (
	resStatus = iota
	resWhy
	resNever
	resWait
	resLimit
	resRemaining
	resUsed
	resResetAt
	resRPMRemaining
	resRPMReset
	resTPMRemaining
	resTPMReset
	resNow
	resLen
)

// redisKeys are the Redis keys of one client key's counters, all under
// the hash tag {<prefix>:<first 32 hex of Key.ID>}. Key.ID is the SHA-256
// of the secret, which is no secret; 128 bits of it do not collide.
//
//	<tag>:s  hash  sp, rs (spent, reserved µUSD), ss, su, sr (session
//	               start µs, used and reserved tokens), rt, rl, tt, tl
//	               (rpm and tpm theoretical arrival time in µs and the
//	               limit it was written under)
//	<tag>:l  zset  leases: admission id → expiry µs (Redis time)
//	<tag>:r  hash  reservations: admission id → "cost tokens session tpm"
//	<tag>:x  hash  tombstones: admission id → the reservation charged when
//	               its lease expired, or "c" (cancelled); expires
type redisKeys struct {
	// all is state, leases, reservations, tombstones, as KEYS.
	all []string
	// leases alone, for the renew script.
	leases []string
	// the policy the args were made for, and its arguments.
	policy Policy
	args   policyArgs
}

// policyArgs are a policy's script arguments, formatted once per key and
// policy rather than on every request.
type policyArgs struct {
	rpm, tpm, concurrency, window, sessionTokens, budget string
}

func newPolicyArgs(p *Policy) policyArgs {
	a := policyArgs{
		rpm:           strconv.FormatInt(p.RPM, 10),
		tpm:           strconv.FormatInt(p.TPM, 10),
		concurrency:   strconv.FormatInt(p.Concurrency, 10),
		window:        "0",
		sessionTokens: "0",
		budget:        strconv.FormatInt(budgetMicros(p.Budget), 10),
	}
	if s := p.Session; s != nil {
		a.window = strconv.FormatInt(time.Duration(s.Window).Microseconds(), 10)
		a.sessionTokens = strconv.FormatInt(s.Tokens, 10)
	}
	return a
}

// keyNames caches each client key's Redis keys and policy arguments.
type keyNames struct {
	prefix string
	m      sync.Map // Key.ID → *redisKeys
}

// of returns k's Redis keys, with arguments for k's current policy (a
// reload may have changed it).
func (n *keyNames) of(k *Key) *redisKeys {
	if v, ok := n.m.Load(k.ID); ok {
		rk := v.(*redisKeys)
		if samePolicy(&rk.policy, &k.Policy) {
			return rk
		}
	}
	id := k.ID
	if len(id) > 32 {
		id = id[:32]
	}
	tag := "{" + n.prefix + ":" + id + "}"
	rk := &redisKeys{
		all:    []string{tag + ":s", tag + ":l", tag + ":r", tag + ":x"},
		policy: clonePolicy(&k.Policy),
		args:   newPolicyArgs(&k.Policy),
	}
	rk.leases = rk.all[1:2]
	n.m.Store(k.ID, rk)
	return rk
}

func samePolicy(a, b *Policy) bool {
	if a.RPM != b.RPM || a.TPM != b.TPM || a.Concurrency != b.Concurrency || a.Budget != b.Budget {
		return false
	}
	if (a.Session == nil) != (b.Session == nil) {
		return false
	}
	return a.Session == nil || *a.Session == *b.Session
}

func clonePolicy(p *Policy) Policy {
	c := *p
	if p.Session != nil {
		s := *p.Session
		c.Session = &s
	}
	return c
}

// Money crosses into Redis as integer micro-USD: exact to 2^53 µUSD
// (about 9 billion USD) in Lua, with no float residue in sums.
const microsPerUSD = 1e6

// budgetMicros is a budget in µUSD, rounded.
func budgetMicros(usd float64) int64 {
	if usd <= 0 {
		return 0
	}
	return int64(math.Round(usd * microsPerUSD))
}

// estimateMicros is an estimated cost in µUSD, rounded up (forgiving
// float noise such as 0.30000000000000004), so a reservation is never
// less than its estimate.
func estimateMicros(usd float64) int64 {
	if usd <= 0 {
		return 0
	}
	return int64(math.Ceil(usd*microsPerUSD - 1e-6))
}

// usedMicros is a real cost in µUSD, rounded.
func usedMicros(usd float64) int64 {
	if usd <= 0 {
		return 0
	}
	return int64(math.Round(usd * microsPerUSD))
}

func fromMicros(m int64) float64 { return float64(m) / microsPerUSD }

// nowArg is the script argument for the time: "0" (Redis's own clock)
// unless a test injected a clock.
func nowArg(now func() time.Time) string {
	if now == nil {
		return "0"
	}
	return strconv.FormatInt(now().UnixMicro(), 10)
}

// fillAdmission reads the admit script's answer into a.
func fillAdmission(a *Admission, k *Key, r []int64) {
	p := &k.Policy
	if p.RPM > 0 {
		a.Requests = RateInfo{Limit: p.RPM, Remaining: max(r[resRPMRemaining], 0), Reset: micros(r[resRPMReset])}
	}
	if p.TPM > 0 {
		a.Tokens = RateInfo{Limit: p.TPM, Remaining: max(r[resTPMRemaining], 0), Reset: micros(r[resTPMReset])}
	}
	if r[resStatus] == admitAdmitted || r[resStatus] == admitReplayed {
		a.Admitted = true
		return
	}
	a.why = refusal(r[resWhy])
	a.never = r[resNever] == 1
	a.wait = micros(r[resWait])
	a.limit, a.remaining, a.used = float64(r[resLimit]), float64(r[resRemaining]), float64(r[resUsed])
	switch a.why {
	case refusedBudget:
		// Limit, remaining and used are µUSD; messages want USD.
		a.limit, a.remaining, a.used = p.Budget, fromMicros(r[resRemaining]), fromMicros(r[resUsed])
	case refusedSession:
		a.resetAt = time.UnixMicro(r[resResetAt])
	}
}

func micros(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
