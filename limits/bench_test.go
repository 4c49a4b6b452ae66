package limits

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// benchSetup is a keyring of 1000 keys, each with every limit set high
// enough never to refuse, and a memory store.
func benchSetup(b *testing.B) (*Keyring, []string, *MemoryStore) {
	b.Helper()
	cfgs := make([]*KeyConfig, 1000)
	secrets := make([]string, len(cfgs))
	for i := range cfgs {
		secrets[i] = fmt.Sprintf("ck-live-%032x", i)
		cfgs[i] = &KeyConfig{
			KeySHA256: sha(secrets[i]),
			Providers: []string{"anthropic", "groq"},
			Models:    []string{"claude-*", "llama-*", "moonshotai/*"},
			Policy: Policy{RPM: 1 << 40, TPM: 1 << 50, Concurrency: 1 << 20, Budget: 1e12,
				Session: &SessionQuota{Window: caddy.Duration(5 * time.Hour), Tokens: 1 << 60}},
		}
	}
	kr, err := NewKeyring(cfgs, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	return kr, secrets, NewMemoryStore(time.Now)
}

var (
	est  = Estimate{Tokens: 5000, Cost: 0.02}
	used = Usage{Tokens: 3000, Cost: 0.012}
)

// BenchmarkAdmissionPath is what the gateway does per request: find the
// key, check the route, admit, settle.
func BenchmarkAdmissionPath(b *testing.B) {
	kr, secrets, s := benchSetup(b)
	secret := secrets[500]
	b.ReportAllocs()
	for b.Loop() {
		k, e := kr.Authenticate(secret, time.Now())
		if e != nil {
			b.Fatal(e)
		}
		if e := k.Allows("anthropic", "claude-sonnet-4-5"); e != nil {
			b.Fatal(e)
		}
		a, _ := s.Admit(bg, k, "", est)
		if !a.Admitted {
			b.Fatal(a.Err())
		}
		s.Settle(bg, k, &a, used)
	}
}

// BenchmarkAdmissionPathParallel runs the path on every CPU, each
// goroutine with its own key (different teams).
func BenchmarkAdmissionPathParallel(b *testing.B) {
	kr, secrets, s := benchSetup(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		secret := secrets[next.Add(1)%int64(len(secrets))]
		for pb.Next() {
			k, _ := kr.Authenticate(secret, time.Now())
			k.Allows("anthropic", "claude-sonnet-4-5")
			a, _ := s.Admit(bg, k, "", est)
			s.Settle(bg, k, &a, used)
		}
	})
}

// BenchmarkAdmissionPathParallelOneKey is the worst case: every CPU on
// the same key's lock.
func BenchmarkAdmissionPathParallelOneKey(b *testing.B) {
	kr, secrets, s := benchSetup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k, _ := kr.Authenticate(secrets[0], time.Now())
			k.Allows("anthropic", "claude-sonnet-4-5")
			a, _ := s.Admit(bg, k, "", est)
			s.Settle(bg, k, &a, used)
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	kr, secrets, _ := benchSetup(b)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		kr.Authenticate(secrets[7], now)
	}
}

func BenchmarkAllows(b *testing.B) {
	kr, _, _ := benchSetup(b)
	k := kr.Keys()[0]
	b.ReportAllocs()
	for b.Loop() {
		k.Allows("groq", "moonshotai/kimi-k2-instruct")
	}
}

func BenchmarkAdmitSettle(b *testing.B) {
	kr, _, s := benchSetup(b)
	k := kr.Keys()[0]
	b.ReportAllocs()
	for b.Loop() {
		a, _ := s.Admit(bg, k, "", est)
		s.Settle(bg, k, &a, used)
	}
}

// BenchmarkAdmitSettleStore calls through the Store interface, as the
// gateway does: the Admission passed to Settle then escapes to the heap
// (one allocation) unless the caller keeps it in a struct it already has.
func BenchmarkAdmitSettleStore(b *testing.B) {
	kr, _, ms := benchSetup(b)
	var s Store = ms
	k := kr.Keys()[0]
	type request struct{ admission Admission }
	r := new(request)
	b.ReportAllocs()
	for b.Loop() {
		r.admission, _ = s.Admit(bg, k, "", est)
		s.Settle(bg, k, &r.admission, used)
	}
}
