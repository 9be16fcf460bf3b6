// Package retention deletes what hookrelay no longer needs to keep (issue 14): events whose
// deliveries are all final once their newest attempt is older than the retention, with
// their deliveries and attempts; sent alerts as old; expired sessions; idempotency keys past
// their time to live. Pending work is never deleted.
//
// One instance prunes at a time (a lease, as the rescuer's), every Interval, in small
// batches with a pause between them, so that ingest and the engine keep the writer.
// Per-webhook attempt counts are not deleted: the hourly counts (attempt_hours) of the days
// past the retention are rolled up into daily ones (attempt_days), so that charts and
// success rates outlive the attempts they count and the hourly table stays bounded.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Store is what the pruner needs of the store.
type Store interface {
	PruneBatch(ctx context.Context, r db.PruneRequest) (db.Pruned, error)
	// TryLead takes or renews the lease of singleton work for holder.
	TryLead(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
}

// Reclaimer is a store whose file keeps the space deleted rows free until asked to give it
// back (SQLite: incremental vacuum). The pruner asks after every round that deleted rows.
type Reclaimer interface {
	ReclaimSpace(ctx context.Context) (pages int, err error)
}

// Metrics counts what the pruner deleted (hookrelay_retention_deleted_total).
type Metrics interface {
	RetentionDeleted(table string, n int)
}

// Defaults of Options.
const (
	DefaultInterval = time.Minute
	DefaultPause    = 10 * time.Millisecond
	// DefaultBatchTime is how long one batch should hold the writer: about a commit group's
	// time under load, so that an ingest waiting behind a batch waits no longer than it
	// would behind the engine.
	DefaultBatchTime = 5 * time.Millisecond
	minBatch         = 10
)

// leaseName is the pruner's lease among the instances sharing a store.
const leaseName = "pruner"

// Options configure a Pruner. A zero duration of the first three keeps that kind forever.
type Options struct {
	Retention      time.Duration // HOOKRELAY_RETENTION
	IdempotencyTTL time.Duration // HOOKRELAY_IDEMPOTENCY_TTL
	SessionTTL     time.Duration // HOOKRELAY_SESSION_TTL: idle sessions older than this are dead
	Interval       time.Duration // HOOKRELAY_PRUNE_INTERVAL; DefaultInterval when 0
	Batch          int           // most rows of each kind per transaction; db.DefaultPruneBatch when 0
	BatchTime      time.Duration // what a batch should take; DefaultBatchTime when 0
	Pause          time.Duration // least pause between two batches of a round; DefaultPause when 0
	Instance       string        // this process's name among the instances (the lease holder)
	Logger         *slog.Logger
	Metrics        Metrics          // nil counts nothing
	Now            func() time.Time // time.Now when nil
}

// Pruner runs the retention rounds.
type Pruner struct {
	store Store
	o     Options
}

// New returns a pruner of store.
func New(store Store, o Options) *Pruner {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Batch <= 0 {
		o.Batch = db.DefaultPruneBatch
	}
	if o.Pause <= 0 {
		o.Pause = DefaultPause
	}
	if o.BatchTime <= 0 {
		o.BatchTime = DefaultBatchTime
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pruner{store: store, o: o}
}

// Enabled reports whether there is anything to prune at all.
func (p *Pruner) Enabled() bool {
	return p.o.Retention > 0 || p.o.IdempotencyTTL > 0 || p.o.SessionTTL > 0
}

// Run prunes every Interval until ctx is done. A failed round is logged and tried again at
// the next interval.
func (p *Pruner) Run(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	t := time.NewTicker(p.o.Interval)
	defer t.Stop()
	for {
		if _, err := p.Round(ctx); err != nil && ctx.Err() == nil {
			p.o.Logger.Error("prune", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round prunes until nothing old is left, if this instance holds the pruner's lease, and
// returns what it deleted.
func (p *Pruner) Round(ctx context.Context) (db.Pruned, error) {
	total := db.Pruned{Deleted: map[string]int{}}
	// The lease outlives a round's pauses and batches. Taking it is a write, so a long round
	// renews it once a quarter of its time has gone, not before every batch.
	ttl := 2 * p.o.Interval
	var renewed time.Time
	// The batch size follows how long batches take: halved when one holds the writer longer
	// than BatchTime, grown by a quarter when one takes less than half of it. The pause after
	// a batch is at least as long as the batch, so pruning never has more than half of the
	// writer's time.
	batch := p.o.Batch
	for {
		if renewed.IsZero() || time.Since(renewed) >= ttl/4 {
			led, err := p.store.TryLead(ctx, leaseName, p.o.Instance, ttl)
			if err != nil {
				return total, fmt.Errorf("take the pruner's lease: %w", err)
			}
			if !led {
				return total, nil // another instance prunes
			}
			renewed = time.Now()
		}
		start := time.Now()
		got, err := p.store.PruneBatch(ctx, p.request(batch))
		took := time.Since(start)
		p.count(got)
		total.Add(got)
		if err != nil {
			return total, err
		}
		if !got.More {
			break
		}
		switch {
		case took > p.o.BatchTime:
			batch = max(batch/2, minBatch)
		case took < p.o.BatchTime/2:
			batch = min(batch+max(batch/4, 1), p.o.Batch)
		}
		// Let ingest and the engine have the writer before the next batch.
		t := time.NewTimer(max(p.o.Pause, took))
		select {
		case <-ctx.Done():
			t.Stop()
			return total, ctx.Err()
		case <-t.C:
		}
	}
	n := sum(total.Deleted)
	if n > 0 || total.KeysForgotten > 0 || total.HoursRolledUp > 0 {
		p.o.Logger.Info("pruned", "rows", n, "events", total.Deleted["events"], "deliveries", total.Deleted["deliveries"],
			"attempts", total.Deleted["attempts"], "alerts", total.Deleted["alerts"], "sessions", total.Deleted["sessions"],
			"idempotencyKeys", total.KeysForgotten, "hoursRolledUp", total.HoursRolledUp)
	}
	if r, ok := p.store.(Reclaimer); ok && n > 0 {
		pages, err := r.ReclaimSpace(ctx)
		if err != nil {
			return total, err
		}
		p.o.Logger.Debug("reclaimed", "pages", pages)
	}
	return total, nil
}

// request is what a batch of batch rows of each kind deletes now.
func (p *Pruner) request(batch int) db.PruneRequest {
	now := p.o.Now()
	r := db.PruneRequest{Batch: batch}
	if p.o.Retention > 0 {
		r.Before = now.Add(-p.o.Retention)
	}
	if p.o.IdempotencyTTL > 0 {
		r.IdempotencyBefore = now.Add(-p.o.IdempotencyTTL)
	}
	if p.o.SessionTTL > 0 {
		r.SessionsBefore = now.Add(-p.o.SessionTTL)
	}
	return r
}

func (p *Pruner) count(got db.Pruned) {
	if p.o.Metrics == nil {
		return
	}
	for table, n := range got.Deleted {
		if n > 0 {
			p.o.Metrics.RetentionDeleted(table, n)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
