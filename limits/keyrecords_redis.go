package limits

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

//go:embed scripts/records.lua
var recordsLua string

var recordsScript = rueidis.NewLuaScript(recordsLua)

// listRecordsScript reads every record and the revision they are at, in
// one step.
var listRecordsScript = rueidis.NewLuaScriptReadOnly(
	`return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2]) or '0'}`)

// redisRecords keeps key records in Redis, under the hash tag
// {<prefix>:keys}:
//
//	{<prefix>:keys}:r  hash    id → the record's JSON
//	{<prefix>:keys}:h  hash    key_sha256 → id (keys are unique)
//	{<prefix>:keys}:n  hash    name → id (names are unique)
//	{<prefix>:keys}:v  string  the revision, incremented by every change
//
// Every change is one script; every instance polls the revision (one GET
// every 250 ms per watcher) to learn of changes.
type redisRecords struct {
	conn *redisConn
	keys []string
	now  func() time.Time

	mu      sync.Mutex
	changed []chan struct{}
}

func newRedisRecords(c *redisConn, now func() time.Time) *redisRecords {
	if now == nil {
		now = time.Now
	}
	tag := "{" + c.names.prefix + ":keys}"
	return &redisRecords{conn: c, now: now,
		keys: []string{tag + ":r", tag + ":h", tag + ":n", tag + ":v"}}
}

// KeyRecords implements KeyRecordStore: the records live in this store's
// Redis, under its prefix. Every store of one connection (the configs of
// a reload) gets the same value.
func (s *RedisStore) KeyRecords() KeyRecords {
	c := s.conn
	c.recordsOnce.Do(func() { c.records = newRedisRecords(c, nil) })
	return c.records
}

// client is the connection, or an error when there is none yet.
func (r *redisRecords) client() (rueidis.Client, error) {
	clp := r.conn.client.Load()
	if clp == nil {
		return nil, &StoreError{Addr: r.conn.addr, Op: "key records", Err: errNotConnected}
	}
	return *clp, nil
}

func (r *redisRecords) timeout() time.Duration { return time.Duration(r.conn.bgTimeout.Load()) }

func (r *redisRecords) fail(err error) error {
	return &StoreError{Addr: r.conn.addr, Op: "key records", Err: err}
}

func (r *redisRecords) List(ctx context.Context) ([]KeyRecord, int64, error) {
	cl, err := r.client()
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	out, err := listRecordsScript.Exec(ctx, cl, []string{r.keys[0], r.keys[3]}, nil).ToArray()
	if err != nil || len(out) != 2 {
		return nil, 0, r.fail(fmt.Errorf("reading key records: %v", err))
	}
	all, err := out[0].AsStrMap()
	if err != nil {
		return nil, 0, r.fail(err)
	}
	var rev int64
	if s, err := out[1].ToString(); err == nil {
		rev, _ = strconv.ParseInt(s, 10, 64)
	}
	recs := make([]KeyRecord, 0, len(all))
	for id, js := range all {
		var rec KeyRecord
		if err := json.Unmarshal([]byte(js), &rec); err != nil {
			return nil, 0, fmt.Errorf("key records: the record of %s in Redis is corrupt: %s", id, jsonErrorText([]byte(js), err))
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b KeyRecord) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return recs, rev, nil
}

func (r *redisRecords) Get(ctx context.Context, id string) (KeyRecord, error) {
	cl, err := r.client()
	if err != nil {
		return KeyRecord{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	js, err := cl.Do(ctx, cl.B().Hget().Key(r.keys[0]).Field(id).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return KeyRecord{}, ErrKeyRecordNotFound
	}
	if err != nil {
		return KeyRecord{}, r.fail(err)
	}
	var rec KeyRecord
	if err := json.Unmarshal([]byte(js), &rec); err != nil {
		return KeyRecord{}, fmt.Errorf("key records: the record of %s in Redis is corrupt: %s", id, jsonErrorText([]byte(js), err))
	}
	return rec, nil
}

// change runs the records script.
func (r *redisRecords) change(ctx context.Context, op string, rec *KeyRecord, expected int64) error {
	cl, err := r.client()
	if err != nil {
		return err
	}
	args := []string{op, rec.ID, strconv.FormatInt(expected, 10), "", rec.Name, rec.KeySHA256}
	if op != "delete" {
		js, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		args[3] = string(js)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	out, err := recordsScript.Exec(ctx, cl, r.keys, args).ToArray()
	if err != nil {
		return r.fail(err)
	}
	if len(out) != 2 {
		return r.fail(errors.New("the records script answered oddly"))
	}
	code, _ := out[0].AsInt64()
	switch code {
	case 0:
		r.mu.Lock()
		for _, c := range r.changed {
			select {
			case c <- struct{}{}:
			default:
			}
		}
		r.mu.Unlock()
		return nil
	case 1:
		return ErrKeyRecordNotFound
	case 2:
		return ErrKeyRecordConflict
	}
	detail, _ := out[1].ToString()
	field, id, _ := strings.Cut(detail, " ")
	return &KeyRecordExistsError{Field: field, ID: id}
}

func (r *redisRecords) Create(ctx context.Context, rec KeyRecord) (KeyRecord, error) {
	if err := checkRecord(&rec); err != nil {
		return KeyRecord{}, err
	}
	now := r.now().UTC()
	if rec.Created.IsZero() {
		rec.Created = now
	}
	rec.Updated, rec.Version = now, 1
	if err := r.change(ctx, "create", &rec, 0); err != nil {
		return KeyRecord{}, err
	}
	return rec, nil
}

func (r *redisRecords) Update(ctx context.Context, rec KeyRecord) (KeyRecord, error) {
	if err := checkRecord(&rec); err != nil {
		return KeyRecord{}, err
	}
	// Created is the stored one: read it with the version check's
	// record, so an Update cannot rewrite it.
	cur, err := r.Get(ctx, rec.ID)
	if err != nil {
		return KeyRecord{}, err
	}
	expected := rec.Version
	rec.Created, rec.Updated, rec.Version = cur.Created, r.now().UTC(), expected+1
	if err := r.change(ctx, "update", &rec, expected); err != nil {
		return KeyRecord{}, err
	}
	return rec, nil
}

func (r *redisRecords) Delete(ctx context.Context, id string, version int64) error {
	return r.change(ctx, "delete", &KeyRecord{ID: id}, version)
}

func (r *redisRecords) Revision(ctx context.Context) (int64, error) {
	cl, err := r.client()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	rev, err := cl.Do(ctx, cl.B().Get().Key(r.keys[3]).Build()).AsInt64()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, r.fail(err)
	}
	return rev, nil
}

func (r *redisRecords) Watch(ctx context.Context, fn func(int64)) {
	rev, err := r.Revision(ctx)
	wake := make(chan struct{}, 1)
	r.mu.Lock()
	r.changed = append(r.changed, wake)
	r.mu.Unlock()
	go func() {
		defer func() {
			r.mu.Lock()
			r.changed = slices.DeleteFunc(r.changed, func(c chan struct{}) bool { return c == wake })
			r.mu.Unlock()
		}()
		watchRevisions(ctx, wake, rev, err == nil, r.Revision, fn)
	}()
}

// Interface guards
var (
	_ KeyRecords     = (*redisRecords)(nil)
	_ KeyRecordStore = (*RedisStore)(nil)
)
