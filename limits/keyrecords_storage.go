package limits

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// recordStorage is what the memory store's key records need of Caddy's
// storage (certmagic.Storage has these methods): one JSON document,
// changed under a lock, so several Caddy processes sharing a storage
// (a cluster with a shared storage module) change it one at a time.
type recordStorage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
}

// Where the memory store's key records live in Caddy's storage.
const (
	recordsStorageKey  = "llm_gateway/keys.json"
	recordsStorageLock = "llm_gateway_keys"
)

// KeyRecords implements KeyRecordStore: the records live in Caddy's
// storage (by default the data directory's file storage), at
// llm_gateway/keys.json. A store made with NewMemoryStore, outside
// Caddy, has none (nil).
func (s *MemoryStore) KeyRecords() KeyRecords {
	if s.records == nil {
		return nil
	}
	return s.records
}

// caddyStorage is the config's storage. A context made outside a config
// load (caddy.NewContext in tests) has no config, and Storage panics on
// it; Caddy's default storage serves then.
func caddyStorage(ctx caddy.Context) (st recordStorage) {
	defer func() {
		if recover() != nil {
			st = caddy.DefaultStorage
		}
	}()
	if s := ctx.Storage(); s != nil {
		return s
	}
	return caddy.DefaultStorage
}

// storageRecords keeps key records in Caddy's storage.
type storageRecords struct {
	storage recordStorage
	now     func() time.Time

	// changed wakes this value's watchers at once after a change made
	// through it.
	mu      sync.Mutex
	changed []chan struct{}
}

// recordsFile is the document in storage.
type recordsFile struct {
	// Version is 1.
	Version  int         `json:"version"`
	Revision int64       `json:"revision"`
	Records  []KeyRecord `json:"records"`
}

func newStorageRecords(st recordStorage, now func() time.Time) *storageRecords {
	if now == nil {
		now = time.Now
	}
	return &storageRecords{storage: st, now: now}
}

func (s *storageRecords) load(ctx context.Context) (recordsFile, error) {
	data, err := s.storage.Load(ctx, recordsStorageKey)
	if errors.Is(err, fs.ErrNotExist) {
		return recordsFile{Version: 1}, nil
	}
	if err != nil {
		return recordsFile{}, fmt.Errorf("key records: reading %s from Caddy's storage: %w", recordsStorageKey, err)
	}
	var f recordsFile
	if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 {
		return recordsFile{}, fmt.Errorf("key records: %s in Caddy's storage is corrupt (%s); restore it from a backup", recordsStorageKey, jsonErrorText(data, err))
	}
	return f, nil
}

// change runs f on the document under the storage's lock, and stores
// the result with the next revision.
func (s *storageRecords) change(ctx context.Context, f func(*recordsFile) error) error {
	if err := s.storage.Lock(ctx, recordsStorageLock); err != nil {
		return fmt.Errorf("key records: locking Caddy's storage: %w", err)
	}
	defer s.storage.Unlock(context.WithoutCancel(ctx), recordsStorageLock)
	doc, err := s.load(ctx)
	if err != nil {
		return err
	}
	if err := f(&doc); err != nil {
		return err
	}
	doc.Revision++
	data, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	if err := s.storage.Store(ctx, recordsStorageKey, append(data, '\n')); err != nil {
		return fmt.Errorf("key records: writing Caddy's storage: %w", err)
	}
	s.mu.Lock()
	for _, c := range s.changed {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	return nil
}

func (s *storageRecords) List(ctx context.Context) ([]KeyRecord, int64, error) {
	doc, err := s.load(ctx)
	if err != nil {
		return nil, 0, err
	}
	return doc.Records, doc.Revision, nil
}

func (s *storageRecords) Get(ctx context.Context, id string) (KeyRecord, error) {
	doc, err := s.load(ctx)
	if err != nil {
		return KeyRecord{}, err
	}
	for _, r := range doc.Records {
		if r.ID == id {
			return r, nil
		}
	}
	return KeyRecord{}, ErrKeyRecordNotFound
}

// unique checks r against the other records.
func unique(doc *recordsFile, r *KeyRecord) error {
	for _, o := range doc.Records {
		if o.ID == r.ID {
			continue
		}
		switch {
		case o.Name == r.Name:
			return &KeyRecordExistsError{Field: "name", ID: o.ID}
		case o.KeySHA256 == r.KeySHA256:
			return &KeyRecordExistsError{Field: "key_sha256", ID: o.ID}
		}
	}
	return nil
}

func (s *storageRecords) Create(ctx context.Context, r KeyRecord) (KeyRecord, error) {
	if err := checkRecord(&r); err != nil {
		return KeyRecord{}, err
	}
	now := s.now().UTC()
	if r.Created.IsZero() {
		r.Created = now
	}
	r.Updated, r.Version = now, 1
	err := s.change(ctx, func(doc *recordsFile) error {
		if slices.ContainsFunc(doc.Records, func(o KeyRecord) bool { return o.ID == r.ID }) {
			return &KeyRecordExistsError{Field: "id", ID: r.ID}
		}
		if err := unique(doc, &r); err != nil {
			return err
		}
		doc.Records = append(doc.Records, r)
		return nil
	})
	if err != nil {
		return KeyRecord{}, err
	}
	return r, nil
}

func (s *storageRecords) Update(ctx context.Context, r KeyRecord) (KeyRecord, error) {
	if err := checkRecord(&r); err != nil {
		return KeyRecord{}, err
	}
	err := s.change(ctx, func(doc *recordsFile) error {
		i := slices.IndexFunc(doc.Records, func(o KeyRecord) bool { return o.ID == r.ID })
		if i < 0 {
			return ErrKeyRecordNotFound
		}
		if doc.Records[i].Version != r.Version {
			return ErrKeyRecordConflict
		}
		if err := unique(doc, &r); err != nil {
			return err
		}
		r.Created = doc.Records[i].Created
		r.Updated = s.now().UTC()
		r.Version++
		doc.Records[i] = r
		return nil
	})
	if err != nil {
		return KeyRecord{}, err
	}
	return r, nil
}

func (s *storageRecords) Delete(ctx context.Context, id string, version int64) error {
	return s.change(ctx, func(doc *recordsFile) error {
		i := slices.IndexFunc(doc.Records, func(o KeyRecord) bool { return o.ID == id })
		if i < 0 {
			return ErrKeyRecordNotFound
		}
		if doc.Records[i].Version != version {
			return ErrKeyRecordConflict
		}
		doc.Records = slices.Delete(doc.Records, i, i+1)
		return nil
	})
}

func (s *storageRecords) Revision(ctx context.Context) (int64, error) {
	doc, err := s.load(ctx)
	return doc.Revision, err
}

func (s *storageRecords) Watch(ctx context.Context, fn func(int64)) {
	rev, err := s.Revision(ctx)
	wake := make(chan struct{}, 1)
	s.mu.Lock()
	s.changed = append(s.changed, wake)
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			s.changed = slices.DeleteFunc(s.changed, func(c chan struct{}) bool { return c == wake })
			s.mu.Unlock()
		}()
		watchRevisions(ctx, wake, rev, err == nil, s.Revision, fn)
	}()
}

// watchRevisions calls fn whenever revision() changes from last (read
// before the watch began, when known), checking every watchEvery and
// whenever wake fires, until ctx ends. Failures to read the revision are
// skipped (the store may be down for a while).
func watchRevisions(ctx context.Context, wake <-chan struct{}, last int64, known bool, revision func(context.Context) (int64, error), fn func(int64)) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		rev, err := revision(ctx)
		if err != nil || known && rev == last {
			continue
		}
		last, known = rev, true
		fn(rev)
	}
}

// Interface guards
var (
	_ KeyRecords     = (*storageRecords)(nil)
	_ KeyRecordStore = (*MemoryStore)(nil)
)
