package limits

import (
	"context"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// Leases. Every admitted request holds a lease in Redis (a member of its
// key's lease zset, scored by its expiry in Redis's time), which this
// instance renews every third of the lease's ttl while the request runs.
// A gateway that dies stops renewing: its leases expire, and the next
// admission of the key reaps them, freeing their concurrency slots and
// charging their reservations (see scripts/admit.lua).

// leaseShards spreads the table over locks, so requests on different
// CPUs rarely wait for each other.
const leaseShards = 32

// leaseTable is this instance's admitted requests, by admission id.
type leaseTable struct {
	seed   maphash.Seed
	shards [leaseShards]leaseShard
}

type leaseShard struct {
	mu sync.Mutex
	m  map[string]lease
	_  [40]byte // keeps shards on their own cache lines
}

type lease struct {
	keys *redisKeys
	ttl  time.Duration
	// renewAt is when this instance renews it next (its own clock).
	renewAt time.Time
}

func (t *leaseTable) init() {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = make(map[string]lease)
	}
}

func (t *leaseTable) shard(id string) *leaseShard {
	return &t.shards[maphash.String(t.seed, id)%leaseShards]
}

func (t *leaseTable) add(id string, keys *redisKeys, ttl time.Duration, now time.Time) {
	s := t.shard(id)
	s.mu.Lock()
	s.m[id] = lease{keys: keys, ttl: ttl, renewAt: now.Add(ttl / 3)}
	s.mu.Unlock()
}

func (t *leaseTable) remove(id string) {
	s := t.shard(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// renewBatch bounds the ids of one renew call (Lua's unpack has limits).
const renewBatch = 500

// renewLeases renews the leases due, one call per client key and ttl.
// A lease whose renewal fails is tried again on the next round.
func (c *redisConn) renewLeases() {
	now := time.Now()
	type group struct {
		keys *redisKeys
		ttl  time.Duration
	}
	due := make(map[group][]string)
	for i := range c.leases.shards {
		s := &c.leases.shards[i]
		s.mu.Lock()
		for id, l := range s.m {
			if !now.Before(l.renewAt) {
				g := group{l.keys, l.ttl}
				due[g] = append(due[g], id)
			}
		}
		s.mu.Unlock()
	}
	for g, ids := range due {
		for len(ids) > 0 {
			n := min(len(ids), renewBatch)
			batch := ids[:n]
			ids = ids[n:]
			args := make([]string, 0, 2+n)
			args = append(args, nowArg(c.now), strconv.FormatInt(g.ttl.Microseconds(), 10))
			args = append(args, batch...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.bgTimeout.Load()))
			_, _, err := c.exec(ctx, renewScript, g.keys.leases, args, time.Duration(c.bgTimeout.Load()))
			cancel()
			if err != nil {
				continue
			}
			next := time.Now().Add(g.ttl / 3)
			for _, id := range batch {
				s := c.leases.shard(id)
				s.mu.Lock()
				if l, ok := s.m[id]; ok {
					l.renewAt = next
					s.m[id] = l
				}
				s.mu.Unlock()
			}
		}
	}
}

// Pending calls. A settlement that failed (Redis down, hung, a timeout)
// is kept and retried in the background until it succeeds; so is the
// cancellation of an admission whose answer never came (it may have run,
// or may yet run, in Redis). Both scripts are idempotent by admission id,
// so a retry that repeats a call which did run moves nothing twice.

// Bounds of the pending queue: how many calls it holds (the oldest are
// dropped beyond), and how long one is retried (after that, its
// tombstone may be gone, and the charge of its reservation stands).
const (
	pendingMax = 100_000
	pendingFor = tombstoneTTL
)

type pendingQueue struct {
	mu    sync.Mutex
	calls []pendingCall
	// running is how many calls a retry round has taken out and not
	// yet finished.
	running int
	// dropped counts calls given up, for logs.
	dropped int
}

type pendingCall struct {
	keys     *redisKeys
	args     []string
	deadline time.Time
}

// later queues a settle call for retrying.
func (c *redisConn) later(keys *redisKeys, args []string) {
	q := &c.pending
	q.mu.Lock()
	if len(q.calls) >= pendingMax {
		q.calls = q.calls[1:]
		q.dropped++
	}
	q.calls = append(q.calls, pendingCall{keys: keys, args: args, deadline: time.Now().Add(pendingFor)})
	q.mu.Unlock()
}

// retryPending retries the queued calls, oldest first, stopping at the
// first failure (Redis is still down) unless final.
func (c *redisConn) retryPending(final bool) {
	q := &c.pending
	q.mu.Lock()
	calls := q.calls
	q.calls = nil
	q.running = len(calls)
	dropped := q.dropped
	q.dropped = 0
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.running = 0
		q.mu.Unlock()
	}()
	if dropped > 0 {
		c.logger.Error("settlements given up: the pending queue was full; their reservations are charged when their leases expire",
			zap.Int("dropped", dropped))
	}
	if len(calls) == 0 {
		return
	}
	now := time.Now()
	i := 0
	for ; i < len(calls); i++ {
		p := calls[i]
		if now.After(p.deadline) {
			c.logger.Error("a settlement could not reach Redis for an hour and is given up; its reservation stays charged",
				zap.String("admission", p.args[0]))
			continue
		}
		timeout := time.Duration(c.bgTimeout.Load())
		_, _, err := c.exec(context.Background(), settleScript, p.keys.all, p.args, timeout)
		if re, ok := rueidis.IsRedisErr(err); ok && !re.IsLoading() && !re.IsTryAgain() && !re.IsClusterDown() {
			// Redis ran it and refused: retrying would not help.
			c.logger.Error("Redis refused a settlement", zap.String("admission", p.args[0]), zap.Error(err))
			continue
		}
		if err != nil && !final {
			break
		}
	}
	if i < len(calls) && !final {
		rest := calls[i:]
		q.mu.Lock()
		q.calls = append(rest, q.calls...)
		if over := len(q.calls) - pendingMax; over > 0 {
			q.calls = q.calls[over:]
			q.dropped += over
		}
		q.mu.Unlock()
	}
}

// pendingLen is how many calls wait to be retried (or are being).
func (c *redisConn) pendingLen() int {
	c.pending.mu.Lock()
	defer c.pending.mu.Unlock()
	return len(c.pending.calls) + c.pending.running
}
