package limits

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// provision provisions a MemoryStore on path the way Caddy would, with no
// Caddy running.
func provision(t *testing.T, path string, now func() time.Time) (*MemoryStore, error) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	s := &MemoryStore{StateFile: path, now: now}
	return s, s.Provision(ctx)
}

func mustProvision(t *testing.T, path string, now func() time.Time) *MemoryStore {
	t.Helper()
	s, err := provision(t, path, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readState(t *testing.T, path string) stateFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// TestReloadKeepsState provisions a second store on the same file while the
// first is alive, as a config reload does: both see one set of counters,
// and the state goes (writing its spend) only when both are cleaned up.
func TestReloadKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spend.json")
	c := newClock()
	k := testKey(t, Policy{Concurrency: 1, RPM: 2})
	old := mustProvision(t, path, c.now)
	a := admit(t, old, k, 10, 0.5)
	if !a.Admitted {
		t.Fatal(a.Err())
	}

	reloaded := mustProvision(t, path, c.now)
	if reloaded.state != old.state {
		t.Fatal("the new config's store has its own state")
	}
	if refs, _ := memPool.References("memory:" + path); refs != 2 {
		t.Fatalf("pool references = %d, want 2", refs)
	}
	mustRefuse(t, admit(t, reloaded, k, 10, 0.5), llmerrors.ConcurrencyLimitExceeded)

	// The old config goes; its request settles on the new one.
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := old.Cleanup(); err != nil { // a second Cleanup releases nothing more
		t.Fatal(err)
	}
	settle(t, reloaded, k, &a, 10, 0.25)
	b := admit(t, reloaded, k, 10, 0)
	if !b.Admitted || b.Requests.Remaining != 0 {
		t.Fatalf("admitted %v with %d requests left; want the rpm bucket shared (0 left)", b.Admitted, b.Requests.Remaining)
	}
	settle(t, reloaded, k, &b, 10, 0)
	state := reloaded.state
	if err := reloaded.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := memPool.References("memory:" + path); ok {
		t.Fatal("state still pooled after both stores were cleaned up")
	}
	if state.stop != nil {
		t.Error("writer goroutine not stopped")
	}
	f := readState(t, path)
	if got := f.Keys[k.ID].Spent; got != 0.25 {
		t.Errorf("persisted spend = %v, want 0.25", got)
	}
}

// TestRestartRestoresSpend writes the state, then loads it in a fresh
// state as a restarted process would.
func TestRestartRestoresSpend(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "spend.json") // the directory is created
	c := newClock()
	k := testKey(t, Policy{Budget: 1, Session: &SessionQuota{Window: caddy.Duration(5 * time.Hour), Tokens: 1000}})

	s := mustProvision(t, path, c.now)
	a := admit(t, s, k, 400, 0.3)
	settle(t, s, k, &a, 300, 0.2)
	// One request is never settled: the process dies first, after the
	// last periodic write.
	admit(t, s, k, 500, 0.5)
	if err := s.state.save(); err != nil {
		t.Fatal(err)
	}
	defer s.Cleanup()

	// A new process loads the file; the old state is left as a crash
	// leaves it.
	c.at(time.Hour)
	fresh, err := openMemState(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Destruct()
	restarted := &MemoryStore{now: c.now, state: fresh}
	st := restarted.Stats(k)
	if math.Abs(st.Spent-0.2) > 1e-12 || st.Reserved != 0 || st.InFlight != 0 {
		t.Errorf("after restart: %+v; want $0.20 spent, nothing reserved or in flight", st)
	}
	if !st.SessionStart.Equal(epoch) || st.SessionUsed != 300 || st.SessionReserved != 0 {
		t.Errorf("session after restart: start %v used %d reserved %d; want %v, 300, 0", st.SessionStart, st.SessionUsed, st.SessionReserved, epoch)
	}
	// The restored window still counts: 700 tokens left in it.
	mustRefuse(t, admit(t, restarted, k, 701, 0), llmerrors.SessionLimitExceeded, "resets at 2026-01-01T05:00:00Z")
	mustRefuse(t, admit(t, restarted, k, 0, 0.81), llmerrors.InsufficientQuota)

	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("state directory holds %d files, want only spend.json (no temporary files)", len(entries))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestBackgroundPersist checks the writer goroutine writes changed spend
// without waiting for Destruct.
func TestBackgroundPersist(t *testing.T) {
	defer func(d time.Duration) { persistInterval = d }(persistInterval)
	persistInterval = 10 * time.Millisecond
	path := filepath.Join(t.TempDir(), "spend.json")
	s := mustProvision(t, path, time.Now)
	defer s.Cleanup()
	k := testKey(t, Policy{})
	a := admit(t, s, k, 0, 0)
	settle(t, s, k, &a, 0, 1.5)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if data, err := os.ReadFile(path); err == nil {
			var f stateFile
			if json.Unmarshal(data, &f) == nil && f.Keys[k.ID].Spent == 1.5 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("spend not written within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCorruptStateFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":       `{"version": 1, "keys": {`,
		"empty":          ``,
		"wrong version":  `{"version": 7, "keys": {}}`,
		"negative spend": `{"version": 1, "keys": {"anonymous": {"spent_usd": -3}}}`,
		"wrong type":     `{"version": 1, "keys": {"anonymous": {"spent_usd": "lots"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, "spend.json", content)
			_, err := provision(t, path, time.Now)
			if err == nil {
				t.Fatal("a corrupt state file was accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "corrupt") {
				t.Errorf("error %q does not name the file and say it is corrupt", msg)
			}
			if _, ok := memPool.References("memory:" + path); ok {
				t.Error("a failed state stayed in the pool")
			}
			// The file is left as it was, for its owner to repair.
			if data, _ := os.ReadFile(path); string(data) != content {
				t.Error("the corrupt file was overwritten")
			}
		})
	}
}

func TestDefaultStateFile(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	s := mustProvision(t, "", time.Now)
	defer s.Cleanup()
	want := filepath.Join(caddy.AppDataDir(), "llm_gateway", "spend.json")
	if s.poolKey != "memory:"+want {
		t.Errorf("pool key %q, want the default file %s", s.poolKey, want)
	}
}
