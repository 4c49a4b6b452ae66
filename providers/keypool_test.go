package providers

import (
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

func TestKeyPoolScopes(t *testing.T) {
	c := newClock()
	h := NewHealth()
	kp := h.Pool([]string{Fingerprint("a"), Fingerprint("b")})
	limited := &llmerrors.Error{Code: llmerrors.ProviderRateLimited, Message: "slow down"}
	refused := &llmerrors.Error{Code: llmerrors.InvalidAPIKey, Message: "refused"}

	// A 429 for one model sets the key aside for that model only.
	kp.SetAsideFor(0, "gpt-4o", c.t.Add(20*time.Second), limited, c.t)
	if a, until, why := kp.Ready(0, "gpt-4o", c.now); a != ModelAside || !until.Equal(c.t.Add(20*time.Second)) || why.Message != "slow down" {
		t.Fatalf("gpt-4o on key 0: %v until %v (%v)", a, until, why)
	}
	if a, _, _ := kp.Ready(0, "gpt-4o-mini", c.now); a != NotAside {
		t.Fatal("a 429 for one model set the key aside for another")
	}
	if a, _, _ := kp.Ready(1, "gpt-4o", c.now); a != NotAside {
		t.Fatal("a 429 on key 0 set key 1 aside")
	}
	c.advance(20 * time.Second)
	if a, _, _ := kp.Ready(0, "gpt-4o", c.now); a != NotAside {
		t.Fatal("the key did not return after its Retry-After")
	}

	// A refusal sets the whole key aside, while another key serves.
	if !kp.OthersReady(0, c.t) {
		t.Fatal("key 1 not reported ready")
	}
	kp.SetAside(0, c.t.Add(time.Minute), refused)
	if a, _, why := kp.Ready(0, "any", c.now); a != KeyAside || why.Message != "refused" {
		t.Fatalf("refused key: %v (%v)", a, why)
	}
	// With key 0 aside, key 1 is the last usable one: it may not be set aside.
	if kp.OthersReady(1, c.t) {
		t.Fatal("key 0, set aside, reported ready")
	}
	states := kp.States(c.t)
	if states[0].Until.IsZero() || !states[1].Until.IsZero() {
		t.Fatalf("states %+v", states)
	}
}

// A reload builds a new pool over the same keys: their state carries over
// by key, whatever their order.
func TestKeyPoolSurvivesReload(t *testing.T) {
	c := newClock()
	h := NewHealth()
	kp := h.Pool([]string{Fingerprint("a"), Fingerprint("b")})
	kp.SetAside(1, c.t.Add(time.Minute), &llmerrors.Error{Code: llmerrors.InvalidAPIKey})
	reloaded := h.Pool([]string{Fingerprint("b"), Fingerprint("c")})
	if a, _, _ := reloaded.Ready(0, "m", c.now); a != KeyAside {
		t.Fatal("key b's state was lost in the reload")
	}
	if a, _, _ := reloaded.Ready(1, "m", c.now); a != NotAside {
		t.Fatal("new key c starts aside")
	}
}

func TestKeyPoolModelTableBounded(t *testing.T) {
	c := newClock()
	h := NewHealth()
	kp := h.Pool([]string{Fingerprint("a")})
	for i := range 4 * maxModelsAside {
		kp.SetAsideFor(0, time.Duration(i).String(), c.t.Add(time.Hour), nil, c.t)
	}
	if n := len(kp.keys[0].models); n > maxModelsAside {
		t.Fatalf("%d models remembered", n)
	}
}
