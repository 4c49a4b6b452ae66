package limits

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// TestConcurrentBudget runs 200 goroutines against one key with a budget
// and a concurrency limit, each request using between nothing and its
// estimate plus an overrun. Settled spend may exceed the budget only by
// what the requests in flight at the last admission used beyond their
// reservation: at most concurrency × overrun. Every reservation returns,
// and nothing stays in flight.
func TestConcurrentBudget(t *testing.T) {
	const (
		budget      = 1.0
		concurrency = 8
		estimate    = 0.01
		overrun     = 0.005
		goroutines  = 200
	)
	s := NewMemoryStore(time.Now)
	k := testKey(t, Policy{Budget: budget, Concurrency: concurrency})

	var (
		admitted, settled, maxInFlight, inFlight atomic.Int64
		mu                                       sync.Mutex
		used                                     float64
		wg                                       sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for {
				a, err := s.Admit(bg, k, "", Estimate{Tokens: 100, Cost: estimate})
				if err != nil {
					t.Error(err)
					return
				}
				if !a.Admitted {
					switch code := a.Err().Code; code {
					case llmerrors.ConcurrencyLimitExceeded:
						runtime.Gosched()
						continue
					case llmerrors.InsufficientQuota:
						return
					default:
						t.Errorf("unexpected refusal %s", code)
						return
					}
				}
				admitted.Add(1)
				n := inFlight.Add(1)
				for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
				}
				runtime.Gosched()
				var cost float64
				switch r.IntN(4) {
				case 0: // failed, or the client left: nothing billed
				case 1: // the provider may have billed it: the estimate
					cost = estimate
				case 2: // the longest answer max_tokens allows
					cost = estimate + overrun
				default:
					cost = r.Float64() * (estimate + overrun)
				}
				mu.Lock()
				used += cost
				mu.Unlock()
				inFlight.Add(-1)
				if err := s.Settle(bg, k, &a, Usage{Tokens: 100, Cost: cost}); err != nil {
					t.Error(err)
				}
				settled.Add(1)
			}
		})
	}
	wg.Wait()

	st := s.Stats(k)
	t.Logf("admitted %d, spent $%.4f of $%.2f, at most %d in flight", admitted.Load(), st.Spent, budget, maxInFlight.Load())
	if admitted.Load() != settled.Load() {
		t.Errorf("admitted %d, settled %d", admitted.Load(), settled.Load())
	}
	if maxInFlight.Load() > concurrency {
		t.Errorf("%d in flight at once, limit %d", maxInFlight.Load(), concurrency)
	}
	if st.InFlight != 0 || st.Reserved != 0 {
		t.Errorf("in flight %d, reserved $%v after every request settled; want 0, 0", st.InFlight, st.Reserved)
	}
	if math.Abs(st.Spent-used) > 1e-9 {
		t.Errorf("spent $%v, but requests used $%v", st.Spent, used)
	}
	if bound := budget + concurrency*overrun; st.Spent > bound+1e-9 {
		t.Errorf("spent $%v, beyond the bound $%v", st.Spent, bound)
	}
	// The budget was really used up, not refused early.
	if st.Spent < budget-estimate-concurrency*estimate {
		t.Errorf("spent only $%v of $%v", st.Spent, budget)
	}
}
