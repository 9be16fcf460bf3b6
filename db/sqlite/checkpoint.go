package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Who copies the write-ahead log into the database file (Options.Checkpoints).
//
// CheckpointWriter is SQLite's own way: the commit that takes the log past its threshold
// copies it, on the writer connection, so that commit's group and every write queued behind
// it wait while the pages are copied.
//
// CheckpointBackground moves the copying to a connection of its own, in PASSIVE mode, which
// neither waits for nor blocks the writer or readers, and turns the writer's automatic
// checkpoint off. One step only the writer can take: starting the log over. SQLite restarts
// the log when a write transaction begins with every frame of it copied. A writer that
// commits all the time almost never begins at such a moment (the checkpointer is always a
// few frames behind), and the log would then grow without end; that is what a first version
// did (the log reached 700 MB in a steady bench run). So once the log has passed
// checkpointFrames, the checkpointer asks the writer, which between two groups copies what is
// left (the frames of the last commits) so that its next transaction starts the log over. If
// the checkpointer fails, the writer's step copies everything, as SQLite would have.
//
// Measured on 2 cores (docs/performance.md): at a steady 500 events/s background halves
// ingest p99 (13.6 to 4.7 ms); with the CPU saturated (recovering 100,000 deliveries while
// ingesting) ingest p99 is a few milliseconds higher (20 against 17 ms), since the copying
// then competes with everything else for the cores instead of pausing the writer. The
// default stays the writer: the recover and prune scenarios' targets, ingest p99 within 2x
// of its idle baseline, hold with it and not with background.
const (
	CheckpointWriter     = "writer"
	CheckpointBackground = "background"
)

const (
	// checkpointFrames is when the log should start over: SQLite's own automatic threshold,
	// about 4 MiB of log at the default page size.
	checkpointFrames = 1000
	// checkpointEvery spaces the checkpointer's passes under continuous commits. Copying
	// fewer, larger increments writes a page that many commits change once, not once each.
	checkpointEvery = 200 * time.Millisecond
)

// backgroundCheckpoints turns the writer's automatic checkpoint off and opens the
// checkpointer's connection. Migrations ran before with the automatic checkpoint: nothing
// else ran then, and a migration that rewrites a table must not leave its whole size in the
// log. A writer connection opened again after an error has it back, which is safe: that is
// SQLite's own way.
func backgroundCheckpoints(ctx context.Context, writer *sql.DB, dsn string) (*sql.DB, error) {
	if _, err := writer.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		return nil, fmt.Errorf("open database writer: %w", translate(err))
	}
	c, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database checkpointer: %w", translate(err))
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	return c, nil
}

func closeIf(c *sql.DB) error {
	if c == nil {
		return nil
	}
	return c.Close()
}

// checkpointLoop copies the log into the database file after commits, at most once per
// checkpointEvery, until the store closes.
func (s *DB) checkpointLoop() {
	ctx := context.Background()
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-s.committed:
		case <-s.quit:
			return
		}
		log, err := checkpoint(ctx, s.checkpointer)
		if err != nil || log >= checkpointFrames {
			s.restartLog.Store(true)
		}
		pause.Reset(checkpointEvery)
		select {
		case <-pause.C:
		case <-s.quit:
			return
		}
	}
}

// afterCommit tells the checkpointer that the log has grown, without waiting for it.
func (s *DB) afterCommit() {
	if s.checkpointer == nil {
		return
	}
	select {
	case s.committed <- struct{}{}:
	default:
	}
}

// finishCheckpoint runs on the write loop between groups: when the checkpointer asked, it
// copies the frames it has not, so that the next transaction starts the log over.
func (s *DB) finishCheckpoint() {
	if !s.restartLog.CompareAndSwap(true, false) {
		return
	}
	// An error leaves the log as it is; the next commits ask again.
	checkpoint(context.Background(), s.writer)
}

// checkpoint runs a PASSIVE checkpoint on c and returns the log's size in frames. Another
// checkpoint in progress makes it copy nothing, which is not an error.
func checkpoint(ctx context.Context, c *sql.DB) (log int, err error) {
	var busy, copied int
	if err := c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", translate(err))
	}
	return log, nil
}
