package llmgateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmgateway/caddy-llm-gateway/limits/redistest"
)

// The Redis store inside Caddy: `store redis` with a placeholder url,
// limits counted in a real redis-server, and what clients see when Redis
// is killed or hung under each on_error policy (the time to answer is
// measured and logged). Two gateway processes sharing one Redis are in
// e2e/redis_test.go.

// redisGateway is a gateway config on the fake provider up with two keys
// (team-a: rpm 3; team-b: a $1 budget at $0.001 a token) and the Redis
// store at {env.LLM_TEST_REDIS_URL}.
func redisGateway(up *fakeProvider, prefix, onError string) string {
	return fmt.Sprintf(`
		error_format ccproxy
		provider openai {
			base_url %s/v1
			api_key %s
			models m
		}
		price openai:m 1000 1000
		key %s {
			name team-a
			rpm 3
		}
		key %s {
			name team-b
			budget 1
		}
		store redis {
			url {env.LLM_TEST_REDIS_URL}
			prefix %s
			timeout 50ms
			on_error %s
		}`, up.URL, providerKey, clientKeyA, clientKeyB, prefix, onError)
}

func randomPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "gw" + hex.EncodeToString(b[:])
}

// redisSlack is what a loaded test machine may add to the store's
// timeout (50ms) before a client has its answer.
const redisSlack = 150 * time.Millisecond

func TestRedisStoreInCaddy(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	t.Setenv("LLM_TEST_REDIS_URL", srv.URL())
	up := newFakeProvider(t, usageAnswer(5, 2))
	prefix := randomPrefix()
	tester := loadGateway(t, redisGateway(up, prefix, "closed"))

	// rpm 3, counted in Redis.
	for i := range 3 {
		resp, body := chatAs(t, tester, clientKeyA, "m")
		wantStatus(t, resp, body, 200)
		if got := resp.Header.Get("X-Ratelimit-Remaining-Requests"); got != fmt.Sprint(2-i) {
			t.Fatalf("request %d: x-ratelimit-remaining-requests %q, want %d", i, got, 2-i)
		}
	}
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 429)
	wantJSON(t, body, "error.code", "rate_limit_exceeded")
	sum := sha256.Sum256([]byte(clientKeyA))
	tag := "{" + prefix + ":" + hex.EncodeToString(sum[:])[:32] + "}"
	if tat, err := srv.Do("HGET", tag+":s", "rt"); err != nil || tat == "" {
		t.Fatalf("no rpm state in Redis under %s: %q, %v", tag, tat, err)
	}
	// The budget's spend is in Redis too: 7 tokens at $0.001.
	resp, body = chatAs(t, tester, clientKeyB, "m")
	wantStatus(t, resp, body, 200)
	if spent, err := srv.Do("HGET", "{"+prefix+":"+hash32(clientKeyB)+"}:s", "sp"); err != nil || spent != "7000" {
		t.Fatalf("team-b's spend in Redis: %q µUSD, %v; want 7000", spent, err)
	}
	resp, body = get(t, tester, "/status", "Authorization", "Bearer "+clientKeyB)
	wantStatus(t, resp, body, 200)
	wantJSON(t, body, "status", "ok")
	wantJSON(t, body, "store.type", "redis")
	wantJSON(t, body, "store.state", "healthy")
	if strings.Contains(string(body), srv.URL()) || strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("/status shows where Redis is: %s", body)
	}

	faults := []struct {
		name         string
		inject, heal func()
	}{
		{"killed", srv.Kill, func() {
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}},
		{"hung", srv.Pause, srv.Resume},
	}
	for _, policy := range []string{"closed", "open"} {
		for _, f := range faults {
			t.Run(policy+"/"+f.name, func(t *testing.T) {
				tester := loadGateway(t, redisGateway(up, randomPrefix(), policy))
				resp, body := chatAs(t, tester, clientKeyB, "m")
				wantStatus(t, resp, body, 200)

				f.inject()
				defer srv.Resume()
				sent := len(up.requests())
				start := time.Now()
				resp, body = chatAs(t, tester, clientKeyB, "m")
				took := time.Since(start)
				t.Logf("on_error %s, Redis %s: a key with a budget answered %d in %v", policy, f.name, resp.StatusCode, took.Round(time.Microsecond))
				// Budgets stay closed under both policies.
				wantStatus(t, resp, body, 500)
				wantJSON(t, body, "error.code", "store_error")
				if resp.Header.Get("Retry-After") != "1" {
					t.Errorf("store_error with Retry-After %q, want 1", resp.Header.Get("Retry-After"))
				}
				if took > 50*time.Millisecond+redisSlack {
					t.Errorf("answered after %v; want within the store's timeout (50ms) and a little", took)
				}
				if strings.Contains(string(body), srv.Addr) {
					t.Errorf("the error shows Redis's address: %s", body)
				}
				start = time.Now()
				resp, body = chatAs(t, tester, clientKeyA, "m")
				took = time.Since(start)
				t.Logf("on_error %s, Redis %s: a key without a budget answered %d in %v", policy, f.name, resp.StatusCode, took.Round(time.Microsecond))
				if policy == "closed" {
					wantStatus(t, resp, body, 500)
					wantJSON(t, body, "error.code", "store_error")
					if n := len(up.requests()); n != sent {
						t.Errorf("%d requests went upstream while the store was failing closed", n-sent)
					}
				} else {
					wantStatus(t, resp, body, 200)
					if resp.Header.Get("X-Ratelimit-Limit-Requests") != "" {
						t.Error("an uncounted request got rate-limit headers")
					}
				}
				if took > 50*time.Millisecond+redisSlack {
					t.Errorf("answered after %v; want within the store's timeout (50ms) and a little", took)
				}
				// Enough failures open the breaker: /status says so.
				for range 5 {
					chatAs(t, tester, clientKeyB, "m")
				}
				resp, body = get(t, tester, "/status", "Authorization", "Bearer "+clientKeyB)
				wantStatus(t, resp, body, 200)
				wantJSON(t, body, "status", "degraded")
				wantJSON(t, body, "store.state", "circuit_open")

				f.heal()
				healed := time.Now()
				pollUntil(t, 10*time.Second, func() bool {
					resp, _ := chatAs(t, tester, clientKeyB, "m")
					return resp.StatusCode == 200
				})
				t.Logf("serving again %v after Redis came back", time.Since(healed).Round(time.Millisecond))
				_, body = get(t, tester, "/status", "Authorization", "Bearer "+clientKeyB)
				wantJSON(t, body, "store.state", "healthy")
			})
		}
	}
}

func hash32(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])[:32]
}

// pollUntil polls cond until it holds, failing after timeout.
func pollUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not recovered after %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The gateway starts while Redis is down, and serves once it comes up.
func TestRedisStoreStartsWhileDown(t *testing.T) {
	redistest.Require(t)
	port := redistest.FreePort()
	t.Setenv("LLM_TEST_REDIS_URL", fmt.Sprintf("redis://127.0.0.1:%d/0", port))
	up := newFakeProvider(t, usageAnswer(5, 2))
	tester := loadGateway(t, redisGateway(up, randomPrefix(), "closed"))
	resp, body := chatAs(t, tester, clientKeyA, "m")
	wantStatus(t, resp, body, 500)
	wantJSON(t, body, "error.code", "store_error")
	_, body = get(t, tester, "/status", "Authorization", "Bearer "+clientKeyA)
	wantJSON(t, body, "store.state", "connecting")

	redistest.Start(t, redistest.Options{Port: port})
	pollUntil(t, 10*time.Second, func() bool {
		resp, _ := chatAs(t, tester, clientKeyA, "m")
		return resp.StatusCode == http.StatusOK
	})

}
