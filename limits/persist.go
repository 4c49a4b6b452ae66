package limits

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// persistInterval is how often, at most, the spend is written when it
// changed: a crash loses at most this much of it.
var persistInterval = time.Second

// memState is the state a MemoryStore keeps: every key's counters and, when
// it has a file, the goroutine that writes spend to it. It lives in memPool
// and is shared by every config that uses the same file.
type memState struct {
	// keys maps Key.ID to *keyState. A sync.Map, since keys are added
	// rarely and read on every request: its reads take no lock, where
	// an RWMutex's read lock makes every CPU write one shared counter.
	keys sync.Map

	// path is the state file; "" means nothing is persisted.
	path   string
	dirty  atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	logger *zap.Logger
	// failing is set after a failed write, so a full disk is logged
	// once, not every second; only the writer goroutine touches it.
	failing bool
}

func newMemState(path string) *memState {
	return &memState{path: path}
}

// openMemState loads the state from path (none yet is fine) and starts the
// goroutine that writes it back.
func openMemState(path string) (*memState, error) {
	m := newMemState(path)
	// The logger of the config that created the state may go with that
	// config; the state outlives it, so it logs through Caddy's default.
	m.logger = caddy.Log().Named("llm_gateway.store.memory")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state_file %s: %w", path, err)
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	m.stop = make(chan struct{})
	m.done = make(chan struct{})
	go m.run()
	return m, nil
}

// key finds (or creates) the counters of the key with id.
func (m *memState) key(id string) *keyState {
	if st, ok := m.keys.Load(id); ok {
		return st.(*keyState)
	}
	st, _ := m.keys.LoadOrStore(id, new(keyState))
	return st.(*keyState)
}

func (m *memState) len() int {
	n := 0
	m.keys.Range(func(_, _ any) bool { n++; return true })
	return n
}

// markDirty notes that spend or a session changed. It reads before it
// writes, so settling requests do not all write one shared cache line.
func (m *memState) markDirty() {
	if m.path != "" && !m.dirty.Load() {
		m.dirty.Store(true)
	}
}

// run writes the state when it changed, at most every persistInterval,
// until Destruct.
func (m *memState) run() {
	defer close(m.done)
	t := time.NewTicker(persistInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if !m.dirty.Load() {
				continue
			}
			err := m.save()
			switch {
			case err != nil && !m.failing:
				m.logger.Error("cannot write the limits state; spend since the last write would be lost in a crash",
					zap.String("state_file", m.path), zap.Error(err))
			case err == nil && m.failing:
				m.logger.Info("limits state written again", zap.String("state_file", m.path))
			}
			m.failing = err != nil
		}
	}
}

// Destruct stops the writer and writes the state one last time. The pool
// calls it when no config uses the state any more.
func (m *memState) Destruct() error {
	if m.stop == nil {
		return nil
	}
	close(m.stop)
	<-m.done
	m.stop = nil
	if !m.dirty.Load() {
		return nil
	}
	return m.save()
}

// stateFile is the state file's format. Only settled values are kept:
// reservations and in-flight counts belong to requests a restart ends.
type stateFile struct {
	// Version is 1; a later version may add fields.
	Version int `json:"version"`
	// Written is when the file was written, for people reading it.
	Written time.Time `json:"written"`
	// Keys by Key.ID (the hex SHA-256 of the secret, which is no
	// secret, or "anonymous").
	Keys map[string]keyRecord `json:"keys"`
}

type keyRecord struct {
	// Spent is the settled spend in USD.
	Spent float64 `json:"spent_usd"`
	// The session window, when the key has one.
	SessionStart *time.Time `json:"session_start,omitempty"`
	SessionUsed  int64      `json:"session_tokens,omitempty"`
}

// save writes the state atomically: to a temporary file in the same
// directory, synced, then renamed over the old one, so a crash leaves
// either the old file or the new one, never half of one.
func (m *memState) save() error {
	// Cleared before the snapshot, so a change made during it is
	// written next time.
	m.dirty.Store(false)
	f := stateFile{Version: 1, Written: time.Now().UTC(), Keys: make(map[string]keyRecord)}
	m.keys.Range(func(id, v any) bool {
		st := v.(*keyState)
		st.mu.Lock()
		r := keyRecord{Spent: st.spent}
		if !st.sessionStart.IsZero() {
			start := st.sessionStart.UTC()
			r.SessionStart, r.SessionUsed = &start, st.sessionUsed
		}
		st.mu.Unlock()
		if r.Spent != 0 || r.SessionStart != nil {
			f.Keys[id.(string)] = r
		}
		return true
	})
	data, err := json.MarshalIndent(f, "", "\t")
	if err == nil {
		err = writeFileAtomic(m.path, append(data, '\n'))
	}
	if err != nil {
		m.dirty.Store(true)
	}
	return err
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Sync the directory too, so the rename itself survives a power
	// loss. Not every system can sync a directory; that is no error.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// load reads the state file into m. A missing file is a first start; any
// other failure is an error naming the file, since going on with zero
// would silently forget what every key has spent.
func (m *memState) load() error {
	data, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state_file %s: %w", m.path, err)
	}
	corrupt := func(why string) error {
		return fmt.Errorf("state_file %s is corrupt (%s). It holds what each key has spent, so the gateway will not start without it: restore it from a backup, or remove it to reset every key's spend to zero", m.path, why)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return corrupt(jsonErrorText(data, err))
	}
	if f.Version != 1 {
		return corrupt(fmt.Sprintf("version %d; this gateway reads version 1", f.Version))
	}
	for id, r := range f.Keys {
		if math.IsNaN(r.Spent) || math.IsInf(r.Spent, 0) || r.Spent < 0 || r.SessionUsed < 0 {
			return corrupt("key " + id + " has a negative or invalid count")
		}
		st := new(keyState)
		st.spent = r.Spent
		if r.SessionStart != nil {
			st.sessionStart, st.sessionUsed = *r.SessionStart, r.SessionUsed
		}
		m.keys.Store(id, st)
	}
	return nil
}
