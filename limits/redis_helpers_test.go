package limits

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/llmgateway/caddy-llm-gateway/limits/redistest"
)

// One redis-server serves the tests that do not break it, each under a
// prefix of its own; tests of faults start their own.
var shared struct {
	once sync.Once
	dir  string
	srv  *redistest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Close()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// testRedis is the shared server, started at its first use. Without
// redis-server the test is skipped (failed under CI).
func testRedis(t testing.TB) *redistest.Server {
	t.Helper()
	redistest.Require(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "limits-redis-")
		if shared.err == nil {
			shared.srv, shared.err = redistest.StartIn(shared.dir, redistest.Options{})
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// testPrefix is a prefix no other test (or earlier run) uses.
func testPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// newTestRedisStore is a Redis store at url with its own connection (as
// another gateway would have), set up by cfg, connected, and closed when
// t ends. now, when not nil, replaces Redis's clock in the scripts.
func newTestRedisStore(t testing.TB, url, prefix string, now func() time.Time, cfg ...func(*RedisStore)) *RedisStore {
	t.Helper()
	s := &RedisStore{URL: url, Prefix: prefix, now: now}
	for _, f := range cfg {
		f(s)
	}
	if err := s.setDefaults(); err != nil {
		t.Fatal(err)
	}
	opt, addr, err := parseRedisURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.conn = newRedisConn(opt, addr, s.Prefix, now, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	t.Cleanup(s.conn.close)
	select {
	case <-s.conn.connected:
	case <-time.After(10 * time.Second):
		t.Fatalf("no connection to %s after 10s: %+v", addr, s.conn.health())
	}
	return s
}

// waitFor polls cond every few milliseconds until it holds, failing t
// with what() after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
