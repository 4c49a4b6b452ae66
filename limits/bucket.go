package limits

import "time"

// bucket is a token bucket for a per-minute limit (rpm counts requests,
// tpm tokens), the way Anthropic documents its own limits: it holds up to
// limit, is refilled continuously at limit per minute, and a request
// needs its cost in the bucket. This is GCRA in another form: the level
// and the time it was computed at stand for GCRA's theoretical arrival
// time. Unlike a fixed window, it never lets through twice the limit
// across a window's boundary: a full minute's worth spent at t=59s leaves
// only two seconds' worth at t=61s.
//
// The level may go below zero, but only by what requests really used
// beyond their estimate (tpm settles actual usage after the fact): that
// debt is repaid by the refill before anything more is admitted.
//
// The limit is passed in on every call rather than stored, so a reload
// that changes it applies at once: the level is capped at the new
// capacity and refills at the new rate.
type bucket struct {
	level float64
	// at is when level was computed; zero means the bucket has never
	// been used, and is full.
	at time.Time
}

// levelAt is the bucket's level at now, refilled since it was last used.
func (b *bucket) levelAt(now time.Time, limit int64) float64 {
	capacity := float64(limit)
	if b.at.IsZero() {
		return capacity
	}
	l := b.level
	if el := now.Sub(b.at); el > 0 {
		l += float64(el) * capacity / float64(time.Minute)
	}
	return min(l, capacity)
}

// set records level as of now. A clock that went backwards keeps the
// later time, so no refill is counted twice.
func (b *bucket) set(now time.Time, level float64) {
	b.level = level
	if now.After(b.at) || b.at.IsZero() {
		b.at = now
	}
}

// until is how long a bucket at level takes to refill to target.
func until(level, target float64, limit int64) time.Duration {
	if level >= target {
		return 0
	}
	return time.Duration((target - level) * float64(time.Minute) / float64(limit))
}

// rateInfo describes a bucket at level for the rate-limit headers.
func rateInfo(level float64, limit int64) RateInfo {
	rem := int64(level)
	if level < 0 {
		rem = 0
	}
	return RateInfo{Limit: limit, Remaining: rem, Reset: until(level, float64(limit), limit)}
}
