package limits

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	llmerrors "github.com/llmgateway/caddy-llm-gateway/errors"
)

// memStorage is Caddy's storage as far as key records use it: a map, a
// lock per name, and fs.ErrNotExist for what is missing (as Caddy's file
// storage answers).
type memStorage struct {
	mu    sync.Mutex
	data  map[string][]byte
	locks sync.Map // name → *sync.Mutex
}

func newMemStorage() *memStorage { return &memStorage{data: map[string][]byte{}} }

func (m *memStorage) lock(name string) *sync.Mutex {
	l, _ := m.locks.LoadOrStore(name, new(sync.Mutex))
	return l.(*sync.Mutex)
}
func (m *memStorage) Lock(_ context.Context, name string) error   { m.lock(name).Lock(); return nil }
func (m *memStorage) Unlock(_ context.Context, name string) error { m.lock(name).Unlock(); return nil }
func (m *memStorage) Store(_ context.Context, key string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[key] = append([]byte(nil), v...)
	return nil
}
func (m *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return v, nil
}

// recordKinds are the two implementations; each gives two values sharing
// one store, as two instances (or two configs) would have.
var recordKinds = []struct {
	name string
	open func(t *testing.T) (KeyRecords, KeyRecords)
}{
	{"storage", func(t *testing.T) (KeyRecords, KeyRecords) {
		st := newMemStorage()
		return newStorageRecords(st, nil), newStorageRecords(st, nil)
	}},
	{"redis", func(t *testing.T) (KeyRecords, KeyRecords) {
		url, prefix := testRedis(t).URL(), testPrefix()
		a := newTestRedisStore(t, url, prefix, nil)
		b := newTestRedisStore(t, url, prefix, nil)
		return a.KeyRecords(), b.KeyRecords()
	}},
}

func record(name, secret string) KeyRecord {
	return KeyRecord{ID: NewKeyRecordID(), KeyConfig: KeyConfig{Name: name, KeySHA256: sha(secret),
		Models: []string{"llama-*"}, Policy: Policy{RPM: 60, Budget: 5}}}
}

func TestKeyRecords(t *testing.T) {
	for _, kind := range recordKinds {
		t.Run(kind.name, func(t *testing.T) {
			a, b := kind.open(t)
			ctx := bg
			rev0, err := a.Revision(ctx)
			if err != nil {
				t.Fatal(err)
			}

			// Create: visible to the other instance at once.
			r1, err := a.Create(ctx, record("team-a", "ck-secret-one"))
			if err != nil {
				t.Fatal(err)
			}
			if r1.Version != 1 || r1.CounterID != sha("ck-secret-one") || r1.Created.IsZero() {
				t.Fatalf("created %+v", r1)
			}
			got, err := b.Get(ctx, r1.ID)
			if err != nil || got.Name != "team-a" || got.Policy.RPM != 60 || got.Models[0] != "llama-*" {
				t.Fatalf("the other instance reads %+v, %v", got, err)
			}
			r2, err := b.Create(ctx, record("team-b", "ck-secret-two"))
			if err != nil {
				t.Fatal(err)
			}

			// Duplicates: id, name, key.
			dupID := record("team-c", "ck-secret-three")
			dupID.ID = r1.ID
			for _, tc := range []struct {
				r     KeyRecord
				field string
			}{
				{dupID, "id"},
				{record("team-a", "ck-secret-four"), "name"},
				{record("team-d", "ck-secret-one"), "key_sha256"},
			} {
				_, err := b.Create(ctx, tc.r)
				var ex *KeyRecordExistsError
				if !errors.As(err, &ex) || ex.Field != tc.field || ex.ID != r1.ID {
					t.Errorf("a duplicate %s: %v; want KeyRecordExistsError{%s, %s}", tc.field, err, tc.field, r1.ID)
				}
			}

			// Invalid records never reach the store.
			bad := record("team-e", "x")
			bad.Key = "ck-the-secret-itself"
			if _, err := a.Create(ctx, bad); err == nil || strings.Contains(err.Error(), "ck-the-secret-itself") {
				t.Errorf("a record holding a secret: %v", err)
			}
			noName := record("", "y")
			if _, err := a.Create(ctx, noName); err == nil {
				t.Error("a record without a name was stored")
			}
			badHash := record("team-f", "z")
			badHash.KeySHA256 = "abc"
			if _, err := a.Create(ctx, badHash); err == nil {
				t.Error("a record with a bad key_sha256 was stored")
			}

			// Update: compare-and-set on the version; rotation keeps the
			// counters' id and frees the old hash.
			rot := r1
			rot.KeySHA256 = sha("ck-secret-rotated")
			rot.Policy.RPM = 120
			r1b, err := b.Update(ctx, rot)
			if err != nil {
				t.Fatal(err)
			}
			if r1b.Version != 2 || r1b.CounterID != r1.CounterID || !r1b.Created.Equal(r1.Created) {
				t.Fatalf("updated %+v", r1b)
			}
			if _, err := a.Update(ctx, rot); !errors.Is(err, ErrKeyRecordConflict) {
				t.Fatalf("an update at a stale version: %v; want a conflict", err)
			}
			reuse := record("team-g", "ck-secret-one")
			if _, err := a.Create(ctx, reuse); err != nil {
				t.Fatalf("the rotated-away key's hash is still taken: %v", err)
			}
			rename := r2
			rename.Name = "team-a"
			if _, err := a.Update(ctx, rename); !errors.As(err, new(*KeyRecordExistsError)) {
				t.Fatalf("renaming onto another key's name: %v", err)
			}

			// Revocation.
			revoked := r1b
			now := time.Now().UTC().Truncate(time.Second)
			revoked.Revoked = &now
			r1c, err := a.Update(ctx, revoked)
			if err != nil {
				t.Fatal(err)
			}
			if !r1c.Config().Disabled {
				t.Error("a revoked record's config is not disabled")
			}

			// List and revision.
			list, rev, err := b.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 3 || list[0].ID != r1.ID || list[0].Revoked == nil || list[0].Policy.RPM != 120 {
				t.Fatalf("list: %+v", list)
			}
			if rev <= rev0 {
				t.Errorf("revision %d after changes, %d before", rev, rev0)
			}

			// Delete, with its version.
			if err := b.Delete(ctx, r2.ID, 99); !errors.Is(err, ErrKeyRecordConflict) {
				t.Errorf("delete at a wrong version: %v", err)
			}
			if err := b.Delete(ctx, r2.ID, r2.Version); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Get(ctx, r2.ID); !errors.Is(err, ErrKeyRecordNotFound) {
				t.Errorf("a deleted record: %v", err)
			}
			if _, err := a.Update(ctx, r2); !errors.Is(err, ErrKeyRecordNotFound) {
				t.Errorf("updating a deleted record: %v", err)
			}
		})
	}
}

// Every instance learns of a change within a second.
func TestKeyRecordsWatch(t *testing.T) {
	for _, kind := range recordKinds {
		t.Run(kind.name, func(t *testing.T) {
			a, b := kind.open(t)
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			seen := make(chan int64, 16)
			b.Watch(ctx, func(rev int64) { seen <- rev })
			for i := range 3 {
				start := time.Now()
				if _, err := a.Create(bg, record(fmt.Sprintf("watched-%d", i), fmt.Sprintf("ck-watched-%d", i))); err != nil {
					t.Fatal(err)
				}
				select {
				case <-seen:
					t.Logf("change %d seen after %v", i, time.Since(start).Round(time.Millisecond))
				case <-time.After(time.Second):
					t.Fatalf("change %d not seen by the other instance within a second", i)
				}
			}
		})
	}
}

// A keyring built from records finds each key by its current secret and
// counts it under its first secret's hash, so rotation keeps the spend.
func TestKeyringFromRecords(t *testing.T) {
	r := record("api-team", "ck-first-secret")
	r.ID = "key_1"
	if err := checkRecord(&r); err != nil {
		t.Fatal(err)
	}
	r.KeySHA256 = sha("ck-rotated-secret")
	kr, err := NewKeyring([]*KeyConfig{{Name: "config-team", KeySHA256: sha("ck-config")}, r.Config()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, e := kr.Authenticate("ck-rotated-secret", time.Now())
	if e != nil || k.Name != "api-team" || k.ID != sha("ck-first-secret") {
		t.Fatalf("the rotated secret: %+v, %v; want api-team counted under the first secret's hash", k, e)
	}
	if _, e := kr.Authenticate("ck-first-secret", time.Now()); e == nil || e.Code != llmerrors.InvalidAPIKey {
		t.Fatalf("the secret rotated away still works: %v", e)
	}
}
