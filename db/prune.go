package db

import "time"

// PruneRequest is one round of retention: what PruneBatch deletes, each kind in a short
// transaction of its own of at most Batch rows of its main table, so that ingest and the
// engine get the writer between them. A zero time deletes nothing of its kind.
type PruneRequest struct {
	// Before: an event whose deliveries are all final (succeeded or failed) and whose newest
	// attempt, or without any its creation, is before it goes, with its deliveries and
	// attempts; pending work is never deleted. Sent alerts created before it go too, and the
	// hourly attempt counts of the days before its day are rolled up into daily counts
	// (attempt_days), which are kept.
	Before time.Time
	// IdempotencyBefore: the idempotency keys of events created before it are forgotten (the
	// events stay), so a key may be used again.
	IdempotencyBefore time.Time
	// SessionsBefore: sessions last seen before it (expired) are deleted.
	SessionsBefore time.Time
	// Batch is the most events, alerts, sessions, keys and hourly counts one call touches of
	// each kind.
	Batch int
}

// Pruned is what one PruneBatch call did.
type Pruned struct {
	// Deleted counts the rows deleted, by table: events, deliveries, attempts, alerts,
	// alert_failures, sessions.
	Deleted map[string]int
	// KeysForgotten counts the idempotency keys forgotten.
	KeysForgotten int
	// HoursRolledUp counts the hourly attempt counts added into daily ones (and removed).
	HoursRolledUp int
	// More is set when a kind filled its batch: there may be more to delete right away.
	More bool
}

// Add adds o's counts to p's.
func (p *Pruned) Add(o Pruned) {
	if p.Deleted == nil {
		p.Deleted = map[string]int{}
	}
	for t, n := range o.Deleted {
		p.Deleted[t] += n
	}
	p.KeysForgotten += o.KeysForgotten
	p.HoursRolledUp += o.HoursRolledUp
	p.More = p.More || o.More
}

// DefaultPruneBatch is PruneRequest.Batch when it is not set.
const DefaultPruneBatch = 500
