package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llmgateway/caddy-llm-gateway/limits/redistest"
)

// Gateways sharing one Redis behave, for every key, as one gateway would:
// two caddy processes (the xcaddy-built binary) on one redis-server.

// Keys of the shared-store tests, and what each is limited by.
const (
	budgetKey  = "ck-e2e-budget-0123456789" // budget $1
	rpmKey     = "ck-e2e-rpm-0123456789"    // rpm 10
	concKey    = "ck-e2e-conc-0123456789"   // concurrency 2
	tokensKey  = "ck-e2e-tokens-0123456789" // tpm 100000, session 5h 400
	crashKey   = "ck-e2e-crash-0123456789"  // concurrency 1, budget $10
	sharedBody = `{"model":"mock-a","max_tokens":20,"messages":[{"role":"user","content":"hello there"}]}`
)

// sharedGatewayConfig is a gateway on port with the mock provider (at
// $0.001 a token) and the keys above, on the Redis store at redisURL.
func sharedGatewayConfig(port int, redisURL, prefix string) string {
	return fmt.Sprintf(`{
	admin off
	persist_config off
}
http://:%d {
	bind 127.0.0.1
	llm_gateway {
		error_format ccproxy
		provider mock {
			models mock-*
			timeout 30s
		}
		price mock:* 1000 1000
		key %s {
			name budget-team
			budget 1
		}
		key %s {
			name rpm-team
			rpm 10
		}
		key %s {
			name conc-team
			concurrency 2
		}
		key %s {
			name tokens-team
			tpm 100000
			session 5h 400
		}
		key %s {
			name crash-team
			concurrency 1
			budget 10
		}
		store redis {
			url %s
			prefix %s
			lease_ttl 2s
			timeout 500ms
		}
	}
}
`, port, budgetKey, rpmKey, concKey, tokensKey, crashKey, redisURL, prefix)
}

// proc is a caddy process of a test.
type proc struct {
	cmd  *exec.Cmd
	base string
	log  string
	done chan struct{}
}

// startShared starts caddy on a config made by config(port).
func startShared(t *testing.T, name string, config func(port int) string) *proc {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(config(port)), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, "run", "--config", file)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: logFile.Name(), done: make(chan struct{})}
	go func() { cmd.Wait(); logFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s's log:\n%s", name, b)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(p.base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited at start:\n%s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ask sends body to p as key and returns the status and the body.
func (p *proc) ask(t *testing.T, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	return sendRequest(t, http.DefaultClient, req)
}

// tag is the hash tag of key's counters in Redis.
func tag(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "{" + prefix + ":" + hex.EncodeToString(sum[:])[:32] + "}"
}

// field reads one field of key's state hash as an integer.
func field(t *testing.T, srv *redistest.Server, prefix, key, name string) int64 {
	t.Helper()
	v, err := srv.Do("HGET", tag(prefix, key)+":s", name)
	if err != nil {
		t.Fatal(err)
	}
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s of %s: %q", name, key, v)
	}
	return n
}

func TestTwoGatewaysShareRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := "e2e" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	config := func(port int) string { return sharedGatewayConfig(port, srv.URL(), prefix) }
	gws := []*proc{startShared(t, "gateway A", config), startShared(t, "gateway B", config)}

	t.Run("budget", func(t *testing.T) {
		// 200 requests at once, half on each gateway, against $1; each
		// uses less than it reserves. Together they spend at most $1.
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		var used int64
		for i := range 200 {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", gws[i%2].base+"/v1/chat/completions", strings.NewReader(sharedBody))
				req.Header.Set("Authorization", "Bearer "+budgetKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				sc := bufio.NewScanner(resp.Body)
				var b strings.Builder
				for sc.Scan() {
					b.WriteString(sc.Text())
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				used += gjson.Get(b.String(), "usage.total_tokens").Int() * 1000 // µUSD at $0.001 a token
				mu.Unlock()
			})
		}
		wg.Wait()
		spent := field(t, srv, prefix, budgetKey, "sp")
		t.Logf("200 requests on two gateways: %v; spent %d µUSD of 1000000, the answers report %d", codes, spent, used)
		if codes[200]+codes[402] != 200 || codes[200] == 0 || codes[402] == 0 {
			t.Fatalf("answers %v; want successes until the budget is reserved, then 402", codes)
		}
		if spent > 1_000_000 {
			t.Errorf("spent %d µUSD: over the $1 budget", spent)
		}
		if spent != used {
			t.Errorf("spent %d µUSD, but the answers report %d", spent, used)
		}
		if rs := field(t, srv, prefix, budgetKey, "rs"); rs != 0 {
			t.Errorf("%d µUSD still reserved after every request ended", rs)
		}
		// Both gateways refuse the next one the same way.
		for _, g := range gws {
			resp, body := g.ask(t, budgetKey, sharedBody)
			if resp.StatusCode != 200 && resp.StatusCode != 402 {
				t.Errorf("status %d: %s", resp.StatusCode, body)
			}
		}
	})

	t.Run("rpm", func(t *testing.T) {
		start := time.Now()
		ok, refused := 0, 0
		for i := range 15 {
			resp, body := gws[i%2].ask(t, rpmKey, sharedBody)
			switch resp.StatusCode {
			case 200:
				ok++
			case 429:
				refused++
				if c := gjson.GetBytes(body, "error.code").Str; c != "rate_limit_exceeded" {
					t.Errorf("429 %s", c)
				}
			default:
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		}
		// rpm 10 refills one every 6s: none within the test unless the
		// machine is very slow.
		want := 10 + int(time.Since(start)/(6*time.Second))
		if ok != want || refused != 15-want {
			t.Errorf("%d admitted, %d refused across both gateways; want %d and %d", ok, refused, want, 15-want)
		}
	})

	t.Run("concurrency", func(t *testing.T) {
		// Two streams held on gateway A: gateway B refuses a third.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for range 2 {
			openStream(t, ctx, gws[0], concKey)
		}
		resp, body := gws[1].ask(t, concKey, sharedBody)
		if resp.StatusCode != 429 || gjson.GetBytes(body, "error.code").Str != "concurrency_limit_exceeded" {
			t.Fatalf("a third request on the other gateway: %d %s; want concurrency_limit_exceeded", resp.StatusCode, body)
		}
		cancel()
		// The client left: A settles both, and B admits again.
		waitUntil(t, 5*time.Second, func() bool {
			resp, _ := gws[1].ask(t, concKey, sharedBody)
			return resp.StatusCode == 200
		}, "the slots were never released")
	})

	t.Run("tpm and session", func(t *testing.T) {
		// Usage seen by A is counted by B: tpm in its headers, the
		// session in its refusal.
		resp, body := gws[0].ask(t, tokensKey, sharedBody)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		usedA := gjson.GetBytes(body, "usage.total_tokens").Int()
		resp, body = gws[1].ask(t, tokensKey, sharedBody)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		usedB := gjson.GetBytes(body, "usage.total_tokens").Int()
		// B's remaining tokens after its admission: 100000 - A's usage -
		// B's own estimate (plus the refill meanwhile, under 2 tokens a
		// second at 100000/min... over a second: under 1700).
		rem, _ := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Remaining-Tokens"), 10, 64)
		est := int64(len(sharedBody)/4+1) + 20
		if want := 100000 - usedA - est; rem < want || rem > want+1700 {
			t.Errorf("gateway B's remaining tokens %d; want about %d (A's %d tokens counted)", rem, want, usedA)
		}
		if su := field(t, srv, prefix, tokensKey, "su"); su != usedA+usedB {
			t.Errorf("session used %d; want %d + %d from both gateways", su, usedA, usedB)
		}
		// Fill the session (400 tokens) through A, then B refuses.
		for i := 0; i < 40; i++ {
			resp, _ = gws[0].ask(t, tokensKey, sharedBody)
			if resp.StatusCode == 429 {
				break
			}
		}
		resp, body = gws[1].ask(t, tokensKey, sharedBody)
		if resp.StatusCode != 429 || gjson.GetBytes(body, "error.code").Str != "session_limit_exceeded" {
			t.Fatalf("after A filled the session, B answered %d %s", resp.StatusCode, body)
		}
	})
}

// openStream starts a stream on g as key and reads its first event, so
// the request is admitted and holds its slot until ctx ends.
func openStream(t *testing.T, ctx context.Context, g *proc, key string) {
	t.Helper()
	openStreamOf(t, ctx, g, key, "mock-slow-stream")
}

func openStreamOf(t *testing.T, ctx context.Context, g *proc, key, model string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", g.base+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"hello there"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("stream: status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data:") {
	}
	go func() {
		<-ctx.Done()
		resp.Body.Close()
	}()
}

func waitUntil(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A gateway killed with kill -9 while holding a key's only slot: the
// other gateway admits again within lease_ttl (2s), and the dead
// request's reservation is charged.
func TestKilledGatewayFreesSlots(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := "e2ek" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	config := func(port int) string { return sharedGatewayConfig(port, srv.URL(), prefix) }
	a := startShared(t, "gateway A", config)
	b := startShared(t, "gateway B", config)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	openStreamOf(t, ctx, a, crashKey, "mock-slow-stream")
	resp, body := b.ask(t, crashKey, sharedBody)
	if resp.StatusCode != 429 || gjson.GetBytes(body, "error.code").Str != "concurrency_limit_exceeded" {
		t.Fatalf("while A holds the slot, B answered %d %s", resp.StatusCode, body)
	}
	reserved := field(t, srv, prefix, crashKey, "rs")
	if reserved == 0 {
		t.Fatal("nothing reserved for the stream in flight")
	}

	if err := a.cmd.Process.Kill(); err != nil { // kill -9
		t.Fatal(err)
	}
	<-a.done
	killed := time.Now()
	var usedB int64
	waitUntil(t, 10*time.Second, func() bool {
		resp, body := b.ask(t, crashKey, sharedBody)
		if resp.StatusCode == 200 {
			usedB = gjson.GetBytes(body, "usage.total_tokens").Int() * 1000
		}
		return resp.StatusCode == 200
	}, "gateway B never admitted the key again")
	took := time.Since(killed)
	t.Logf("the slot of the killed gateway was free on the other %v after kill -9 (lease_ttl 2s)", took.Round(time.Millisecond))
	if took > 2*time.Second+time.Second {
		t.Errorf("freed after %v; want within lease_ttl (2s) and a little", took)
	}
	if spent, rs := field(t, srv, prefix, crashKey, "sp"), field(t, srv, prefix, crashKey, "rs"); spent != reserved+usedB || rs != 0 {
		t.Errorf("spent %d µUSD, %d reserved; want the dead request's reservation (%d) charged plus B's %d", spent, rs, reserved, usedB)
	}
}
