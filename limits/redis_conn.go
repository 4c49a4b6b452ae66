package limits

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// redisPool holds the Redis stores' shared state, keyed by URL and
// prefix, so that it outlives a config reload: the new config's store
// finds the connection, the leases of the requests still in flight (which
// it keeps renewing) and the settlements waiting to be retried of the old
// one.
var redisPool = caddy.NewUsagePool()

// Store failures that are known never to have reached Redis.
var (
	errNotConnected = errors.New("not connected yet")
	errCircuitOpen  = errors.New("circuit open after repeated failures; calls resume with a probe every second")
)

// redisConn is one Redis connection (rueidis auto-pipelines every
// concurrent call over it) and what lives beside it: the circuit
// breaker, the leases this instance renews, the settlements it retries,
// and the store's health. It lives in redisPool.
type redisConn struct {
	// addr names the server in logs and errors: host:port, never the
	// URL (which may hold a password).
	addr   string
	opt    rueidis.ClientOption
	names  keyNames
	logger *zap.Logger
	// now is a test clock passed to the scripts; nil uses Redis's.
	now func() time.Time

	client  atomic.Pointer[rueidis.Client]
	breaker *breaker
	leases  leaseTable
	pending pendingQueue

	// bgTimeout bounds background calls (renewals, retries, probes), in
	// nanoseconds.
	bgTimeout atomic.Int64

	// health
	failing   atomic.Bool
	errs      atomic.Uint64
	uncounted atomic.Uint64
	mu        sync.Mutex
	lastErr   string
	since     time.Time
	warning   string

	connected chan struct{} // closed at the first connection
	attempted chan struct{} // closed after the first connection attempt
	stop      chan struct{}
	// stopCtx ends with stop; it aborts a connection attempt in progress.
	stopCtx    context.Context
	cancelStop context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once

	recordsOnce sync.Once
	records     *redisRecords
}

// maintainEvery is how often the background loop renews leases, retries
// settlements and probes a failing Redis.
var maintainEvery = 250 * time.Millisecond

// newRedisConn starts connecting to Redis in the background. The
// connection outlives the config that made it, so it logs through a
// logger of its own (Caddy's default, named, in production).
func newRedisConn(opt rueidis.ClientOption, addr, prefix string, now func() time.Time, logger *zap.Logger) *redisConn {
	c := &redisConn{
		addr:      addr,
		opt:       opt,
		names:     keyNames{prefix: prefix},
		logger:    logger,
		now:       now,
		breaker:   newBreaker(nil),
		connected: make(chan struct{}),
		attempted: make(chan struct{}),
		stop:      make(chan struct{}),
		since:     time.Now(),
	}
	c.leases.init()
	c.bgTimeout.Store(int64(time.Second))
	c.stopCtx, c.cancelStop = context.WithCancel(context.Background())
	c.opt.DialCtxFn = c.dial
	c.wg.Add(1)
	go c.run()
	return c
}

// run connects (retrying with backoff until it succeeds; Redis may be
// down when the gateway starts), then maintains: renews leases, retries
// settlements, probes Redis while the breaker is open. rueidis redials
// a broken connection by itself.
func (c *redisConn) run() {
	defer c.wg.Done()
	backoff := 50 * time.Millisecond
	first := true
	for {
		cl, err := rueidis.NewClient(c.opt)
		if first {
			first = false
			close(c.attempted)
		}
		if err == nil {
			c.client.Store(&cl)
			close(c.connected)
			c.logger.Info("connected to Redis", zap.String("address", c.addr))
			c.checkServer(cl)
			break
		}
		c.recordErr(err)
		c.logger.Debug("connecting to Redis", zap.String("address", c.addr), zap.Error(err))
		select {
		case <-c.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.maintain()
		}
	}
}

// checkServer warns when Redis may evict the ledgers (a maxmemory-policy
// of allkeys-*): spend and sessions would be silently forgotten.
func (c *redisConn) checkServer(cl rueidis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.bgTimeout.Load()))
	defer cancel()
	kv, err := cl.Do(ctx, cl.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
	if err != nil {
		return // CONFIG may be disabled (managed Redis); nothing to say
	}
	if p := kv["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
		msg := "Redis maxmemory-policy is " + p + ": when full, Redis may evict keys' spend and sessions; set noeviction (or volatile-*)"
		c.logger.Error(msg, zap.String("address", c.addr))
		c.mu.Lock()
		c.warning = msg
		c.mu.Unlock()
	}
}

// dial connects to Redis, as rueidis would, except that while the store
// has never connected, stopping it (a config unloaded, `caddy validate`
// done) aborts the attempt at once, even against a hung server.
func (c *redisConn) dial(ctx context.Context, addr string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDial := context.AfterFunc(c.stopCtx, cancel)
	defer stopDial()
	var conn net.Conn
	var err error
	if cfg != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if c.client.Load() == nil {
		// The handshake (HELLO, AUTH) that follows has no context.
		context.AfterFunc(c.stopCtx, func() {
			if c.client.Load() == nil {
				conn.Close()
			}
		})
	}
	return conn, nil
}

// close stops the background loop, makes one last attempt at the
// settlements still waiting, and closes the connection.
func (c *redisConn) close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.cancelStop()
		c.wg.Wait()
		if cl := c.client.Load(); cl != nil {
			c.retryPending(true)
			(*cl).Close()
		}
	})
}

// Destruct implements caddy.Destructor: the pool calls it when no config
// uses the connection any more.
func (c *redisConn) Destruct() error {
	c.close()
	return nil
}

// exec runs script with a deadline of timeout. sent reports whether the
// call may have reached Redis (and so may have run even when it failed):
// false only for calls refused before sending (not connected, circuit
// open).
func (c *redisConn) exec(ctx context.Context, script *rueidis.Lua, keys, args []string, timeout time.Duration) (res rueidis.RedisResult, sent bool, err error) {
	clp := c.client.Load()
	if clp == nil {
		c.errs.Add(1)
		return res, false, errNotConnected
	}
	ok, probe := c.breaker.allow()
	if !ok {
		c.errs.Add(1)
		return res, false, errCircuitOpen
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	res = script.Exec(ctx, *clp, keys, args)
	if err = res.Error(); brokenConn(err) && ctx.Err() == nil {
		// The connection had died (Redis restarted) and rueidis
		// redials on the next call. Every script is idempotent by
		// admission id, so a call that did run repeats harmlessly.
		res = script.Exec(ctx, *clp, keys, args)
	}
	cancel()
	err = res.Error()
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v", timeout)
	}
	c.breaker.done(probe, err == nil)
	if err != nil {
		c.recordErr(err)
	} else if c.failing.Load() {
		c.recordOK()
	}
	// A call whose connection could not even be dialled was not sent.
	var op *net.OpError
	sent = !(errors.As(err, &op) && op.Op == "dial")
	return res, sent, err
}

// brokenConn reports whether err is a connection that broke (closed by
// Redis, reset), as opposed to a timeout, a refused dial or an error
// Redis answered.
func brokenConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func (c *redisConn) recordErr(err error) {
	c.errs.Add(1)
	text := err.Error()
	c.mu.Lock()
	changed := !c.failing.Load() || c.lastErr != text
	if !c.failing.Load() {
		c.since = time.Now()
	}
	c.failing.Store(true)
	c.lastErr = text
	c.mu.Unlock()
	if changed {
		c.logger.Warn("the limits store is failing", zap.String("address", c.addr), zap.String("error", text))
	}
}

func (c *redisConn) recordOK() {
	c.mu.Lock()
	was := c.failing.Load()
	c.failing.Store(false)
	if was {
		c.since = time.Now()
	}
	c.lastErr = ""
	c.mu.Unlock()
	if was {
		c.logger.Info("the limits store answers again", zap.String("address", c.addr))
	}
}

// maintain is one round of the background loop.
func (c *redisConn) maintain() {
	if open, _ := c.breaker.open(); open || c.failing.Load() {
		c.probe()
	}
	c.renewLeases()
	c.retryPending(false)
}

// probe sends a PING when the breaker lets a probe through, so that the
// store recovers (and /status says so) without waiting for a request.
func (c *redisConn) probe() {
	clp := c.client.Load()
	if clp == nil {
		return
	}
	ok, probe := c.breaker.allow()
	if !ok {
		return
	}
	cl := *clp
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.bgTimeout.Load()))
	err := cl.Do(ctx, cl.B().Ping().Build()).Error()
	cancel()
	c.breaker.done(probe, err == nil)
	if err != nil {
		c.recordErr(err)
	} else {
		c.recordOK()
	}
}

// Store health states, as /status shows them.
const (
	StoreHealthy     = "healthy"
	StoreConnecting  = "connecting"
	StoreUnavailable = "unavailable"
	StoreCircuitOpen = "circuit_open"
)

func (c *redisConn) health() StoreHealth {
	h := StoreHealth{Type: "redis", State: StoreHealthy, Errors: c.errs.Load(), UncountedAdmissions: c.uncounted.Load()}
	c.mu.Lock()
	since, lastErr := c.since, c.lastErr
	h.Warning = c.warning
	c.mu.Unlock()
	open, openedAt := c.breaker.open()
	switch {
	case c.client.Load() == nil:
		h.State = StoreConnecting
	case open:
		h.State, since = StoreCircuitOpen, openedAt
	case c.failing.Load():
		h.State = StoreUnavailable
	}
	if h.State != StoreHealthy {
		h.Error = lastErr
	}
	s := since.UTC().Truncate(time.Second)
	h.Since = &s
	return h
}
