package limits

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key records: client keys created through the admin API (the config's
// keys come from the Caddyfile and keys_file instead). They live in the
// limits store beside their counters: with the memory store in Caddy's
// storage (the same storage Caddy keeps certificates in), with Redis in
// Redis, so every instance sharing it sees a new key, a change or a
// revocation within a second (KeyRecords.Watch). Only a record's SHA-256
// of the secret is kept, never the secret.

// KeyRecord is one client key created through the admin API, as a store
// keeps it. Its fields are those of a keys_file entry (KeyConfig, with
// key_sha256 and never a secret), and the record's own.
type KeyRecord struct {
	// ID names the record for ever (NewKeyRecordID: "key_" and 26
	// base-32 characters); the admin API's {id}.
	ID string `json:"id"`

	// CounterID is the Key.ID the key's counters (spend, sessions,
	// rates) live under: the hex SHA-256 of its first secret, kept when
	// the secret is rotated, so that the spend carries over. A keyring
	// built from the record (KeyRecord.Config) uses it.
	CounterID string `json:"counter_id"`

	// The key as a keys_file entry holds it: key_sha256 (of the
	// current secret), name (required, unique), providers, models,
	// limits, expires, disabled. Key (a placeholder) is never set.
	KeyConfig

	// Revoked is when the key was revoked; a revoked key is refused
	// (401 invalid_api_key) and kept, so its spend stays on record.
	Revoked *time.Time `json:"revoked,omitempty"`

	// Created and Updated are when the record was created and last
	// changed.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`

	// Version counts the record's changes, from 1 at Create. Update and
	// Delete take the version they were read at, and fail with
	// ErrKeyRecordConflict when another change came in between.
	Version int64 `json:"version"`
}

// Config is the record as a key configuration for NewKeyring: its
// counters are under CounterID, and a revoked record is disabled.
func (r *KeyRecord) Config() *KeyConfig {
	c := r.KeyConfig
	c.Key = ""
	c.counterID = r.CounterID
	c.recordID = r.ID
	if r.Revoked != nil {
		c.Disabled = true
	}
	return &c
}

// KeyRecords keeps key records. Every method is safe for concurrent use,
// also by several instances sharing one store: changes are atomic, and
// the version of each record makes concurrent changes to it fail rather
// than overwrite each other.
//
// Errors: ErrKeyRecordNotFound (404 in the admin API), ErrKeyRecordConflict
// (409: changed meanwhile), a *KeyRecordExistsError (409: a duplicate id,
// name or key), an invalid record (400), or a failure of the store (500).
type KeyRecords interface {
	// List returns every record, oldest first, and the revision they
	// were read at.
	List(ctx context.Context) ([]KeyRecord, int64, error)

	// Get returns the record with id.
	Get(ctx context.Context, id string) (KeyRecord, error)

	// Create stores r as a new record: Version 1, Created and Updated
	// now (when zero). Its id, name and key_sha256 must be new.
	Create(ctx context.Context, r KeyRecord) (KeyRecord, error)

	// Update replaces the record r.ID, if its stored Version is still
	// r.Version, and returns it as stored (Version + 1, Updated now).
	// Rotation is an Update of KeySHA256 (CounterID stays); revocation
	// an Update setting Revoked.
	Update(ctx context.Context, r KeyRecord) (KeyRecord, error)

	// Delete removes the record id, if its stored Version is version.
	// Its counters stay in the store; a revoked record is usually kept
	// rather than deleted.
	Delete(ctx context.Context, id string, version int64) error

	// Revision is a number that grows with every change to any record,
	// by any instance.
	Revision(ctx context.Context) (int64, error)

	// Watch calls fn with the new revision, from a goroutine of its
	// own, within a second of any change made by any instance sharing
	// the store (and at once for changes made through this value),
	// until ctx ends. Calls are not concurrent; a burst of changes may
	// give one call. fn should List again.
	Watch(ctx context.Context, fn func(revision int64))
}

// KeyRecordStore is implemented by stores that keep key records beside
// their counters (both the memory and the Redis store).
type KeyRecordStore interface {
	KeyRecords() KeyRecords
}

// Errors of KeyRecords.
var (
	ErrKeyRecordNotFound = errors.New("no such key")
	ErrKeyRecordConflict = errors.New("the key was changed meanwhile; read it again")
)

// KeyRecordExistsError is a Create or Update that would give two records
// the same id, name or key.
type KeyRecordExistsError struct {
	// Field is "id", "name" or "key_sha256"; ID the record that has it.
	Field, ID string
}

func (e *KeyRecordExistsError) Error() string {
	return fmt.Sprintf("another key (%s) has the same %s", e.ID, e.Field)
}

// watchEvery is how often Watch polls the store for changes made by
// other instances.
var watchEvery = 250 * time.Millisecond

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford base32

// NewKeyRecordID returns a new record id: "key_" and 26 characters of 128
// random bits.
func NewKeyRecordID() string {
	var b [16]byte
	rand.Read(b[:])
	out := make([]byte, 0, 4+26)
	out = append(out, "key_"...)
	var acc uint32
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, idAlphabet[(acc>>bits)&31])
		}
	}
	out = append(out, idAlphabet[(acc<<(5-bits))&31])
	return string(out)
}

// validRecordID accepts 1 to 64 letters, digits and `_-`.
func validRecordID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkRecord checks r before it is stored, and normalises its hashes.
func checkRecord(r *KeyRecord) error {
	if !validRecordID(r.ID) {
		return fmt.Errorf("key record: id %q: want 1 to 64 letters, digits, _ or -", r.ID)
	}
	if r.Key != "" {
		return fmt.Errorf("key record %s: holds a secret (key); a record keeps key_sha256 only", r.ID)
	}
	if r.Name == "" {
		return fmt.Errorf("key record %s: a name is required", r.ID)
	}
	r.KeySHA256 = strings.ToLower(r.KeySHA256)
	r.CounterID = strings.ToLower(r.CounterID)
	if r.CounterID == "" {
		r.CounterID = r.KeySHA256
	}
	if !isSHA256Hex(r.CounterID) {
		return fmt.Errorf("key record %s: counter_id: want 64 hex digits", r.ID)
	}
	if err := r.KeyConfig.validate(); err != nil {
		return fmt.Errorf("key record %s (%s): %w", r.ID, r.Name, err)
	}
	return nil
}
