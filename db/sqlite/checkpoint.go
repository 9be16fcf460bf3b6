package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Checkpoints run off the writer.
//
// SQLite's automatic checkpoint runs inside the commit that takes the log past its
// threshold, on the committing connection: with a single writer, that commit's group and
// every write queued behind it wait while the log's pages are copied into the database file.
// Here a connection of its own copies them, in PASSIVE mode, which neither waits for nor
// blocks the writer or readers, and the writer's automatic checkpoint is off.
//
// One step only the writer can take: starting the log over. SQLite restarts the log when a
// write transaction begins with every frame of it copied. A writer that commits all the
// time almost never begins at such a moment (the checkpointer is always a few frames behind),
// and the log would then grow without end; that is what a first version of this did (the
// log reached 700 MB in a steady bench run). So once the log has passed checkpointFrames,
// the checkpointer asks the writer, which between two groups copies what is left (the frames
// of the last commits, a short step where the automatic checkpoint copies the whole log) so
// that its next transaction starts the log over. If the checkpointer fails, the writer's step
// copies everything, which is what SQLite would have done on its own.
const (
	// checkpointFrames is when the log should start over: SQLite's own automatic threshold,
	// about 4 MiB of log at the default page size.
	checkpointFrames = 1000
	// checkpointEvery spaces the checkpointer's passes under continuous commits. Copying
	// fewer, larger increments writes a page that many commits change once, not once each.
	checkpointEvery = 200 * time.Millisecond
)

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
		log, _, err := checkpoint(ctx, s.checkpointer)
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

// checkpoint runs a PASSIVE checkpoint on c and returns the log's size and how much of it
// is now in the database file, in frames. Another checkpoint in progress makes it copy
// nothing, which is not an error.
func checkpoint(ctx context.Context, c *sql.DB) (log, copied int, err error) {
	var busy int
	if err := c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err != nil {
		return 0, 0, fmt.Errorf("checkpoint: %w", translate(err))
	}
	return log, copied, nil
}
