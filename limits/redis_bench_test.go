package limits

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmgateway/caddy-llm-gateway/limits/redistest"
)

// Benchmarks of the Redis store against a redis-server of its own (so
// INFO commandstats count only these calls). Besides the Go side's time
// and allocations per admission and settlement, they report the time
// Redis itself spent per call (redis-µs/admit, redis-µs/settle), from
// INFO commandstats:
//
//	go test ./limits -run '^$' -bench Redis -benchtime 20000x
//
// Every limit is on (rpm, tpm, concurrency, session, budget) and high
// enough never to refuse, so each admission takes the whole path.

func benchRedisStore(b *testing.B) (*redistest.Server, *RedisStore, []*Key) {
	b.Helper()
	srv := redistest.Start(b, redistest.Options{})
	s := newTestRedisStore(b, srv.URL(), testPrefix(), nil, func(s *RedisStore) {
		s.Timeout = caddy.Duration(5 * time.Second)
	})
	kr, _, _ := benchSetup(b)
	return srv, s, kr.Keys()
}

// redisTime is the server time (µs) and calls of the script commands.
func redisTime(b *testing.B, srv *redistest.Server) (usec, calls int64) {
	b.Helper()
	st, err := srv.CommandStats()
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"evalsha", "eval"} {
		usec += st[name].Usec
		calls += st[name].Calls
	}
	return usec, calls
}

// BenchmarkRedisAdmitSettle is one request's admission and settlement,
// one after the other (one round trip each), on one key.
func BenchmarkRedisAdmitSettle(b *testing.B) {
	_, s, keys := benchRedisStore(b)
	k := keys[0]
	b.ReportAllocs()
	for b.Loop() {
		a, err := s.Admit(bg, k, "", est)
		if err != nil || !a.Admitted {
			b.Fatal(err, a.Err())
		}
		s.Settle(bg, k, &a, used)
	}
}

// BenchmarkRedisServerTime measures what Redis spends per admission and
// per settlement under load: 64 goroutines over 1000 keys (or one) admit a batch
// of requests, then settle them, and INFO commandstats is read between
// the phases (the two scripts are both EVALSHA there). ns/op is the
// gateway's wall time per request (admission and settlement).
func BenchmarkRedisServerTime(b *testing.B) {
	b.Run("1000keys", func(b *testing.B) { benchServerTime(b, 1000) })
	// Every request on one key: its leases and reservations grow to 64.
	b.Run("1key", func(b *testing.B) { benchServerTime(b, 1) })
}

func benchServerTime(b *testing.B, nkeys int) {
	srv, s, keys := benchRedisStore(b)
	keys = keys[:nkeys]
	const workers = 64
	var admitUsec, admitCalls, settleUsec, settleCalls int64
	as := make([]Admission, 0, 64*64)
	b.ReportAllocs()
	for n := b.N; n > 0; {
		batch := min(n, cap(as))
		n -= batch
		as = as[:batch]
		phase := func(f func(i int)) (usec, calls int64) {
			b.StopTimer()
			u0, c0 := redisTime(b, srv)
			b.StartTimer()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < batch; i += workers {
						f(i)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			u1, c1 := redisTime(b, srv)
			b.StartTimer()
			return u1 - u0, c1 - c0
		}
		u, c := phase(func(i int) {
			var err error
			if as[i], err = s.Admit(bg, keys[i%len(keys)], "", est); err != nil {
				b.Error(err)
			}
		})
		admitUsec, admitCalls = admitUsec+u, admitCalls+c
		u, c = phase(func(i int) { s.Settle(bg, keys[i%len(keys)], &as[i], used) })
		settleUsec, settleCalls = settleUsec+u, settleCalls+c
	}
	if admitCalls > 0 && settleCalls > 0 {
		b.ReportMetric(float64(admitUsec)/float64(admitCalls), "redis-µs/admit")
		b.ReportMetric(float64(settleUsec)/float64(settleCalls), "redis-µs/settle")
	}
}

// BenchmarkRedisAdmissionAllocs is the gateway side's allocations of
// one admission alone and one settlement alone.
func BenchmarkRedisAdmissionAllocs(b *testing.B) {
	_, s, keys := benchRedisStore(b)
	k := keys[1]
	b.Run("admit", func(b *testing.B) {
		as := make([]Admission, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			as[i], _ = s.Admit(bg, k, "", est)
		}
		b.StopTimer()
		for i := range as {
			s.Settle(bg, k, &as[i], used)
		}
	})
	b.Run("settle", func(b *testing.B) {
		as := make([]Admission, b.N)
		for i := range b.N {
			as[i], _ = s.Admit(bg, k, "", est)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			s.Settle(bg, k, &as[i], used)
		}
	})
}

// BenchmarkRedisAdmitSettleParallel runs admission and settlement on
// many goroutines over 1000 keys, as a busy gateway does: rueidis
// pipelines the concurrent calls over its connection.
func BenchmarkRedisAdmitSettleParallel(b *testing.B) {
	for _, conc := range []int{16, 128} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			srv, s, keys := benchRedisStore(b)
			var next atomic.Int64
			b.SetParallelism(max(1, conc/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			u0, c0 := redisTime(b, srv)
			b.RunParallel(func(pb *testing.PB) {
				k := keys[next.Add(1)%int64(len(keys))]
				for pb.Next() {
					a, err := s.Admit(bg, k, "", est)
					if err != nil {
						b.Error(err)
						return
					}
					s.Settle(bg, k, &a, used)
				}
			})
			u1, c1 := redisTime(b, srv)
			if c1 > c0 {
				b.ReportMetric(float64(u1-u0)/float64(c1-c0), "redis-µs/call")
			}
		})
	}
}
