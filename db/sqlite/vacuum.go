package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// useIncrementalVacuum makes the file able to give back the pages retention frees (see
// ReclaimSpace). A database without it is converted once, by a VACUUM that rewrites the
// file: on a large database that takes a while at that start, and needs as much free disk
// again.
func useIncrementalVacuum(ctx context.Context, w *sql.DB) error {
	var mode int
	if err := w.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("read auto_vacuum: %w", translate(err))
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	if _, err := w.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return fmt.Errorf("set auto_vacuum: %w", translate(err))
	}
	// Even a new file needs the VACUUM: opening it in WAL mode has already written its
	// first page. On a new file it takes no time.
	if _, err := w.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("convert the database to incremental vacuum (VACUUM): %w", translate(err))
	}
	return nil
}

// reclaimStep is how many free pages one transaction of ReclaimSpace gives back: 256 pages
// (1 MiB) take a few milliseconds, so ingest waits no longer than for a commit group.
const reclaimStep = 256

// ReclaimSpace gives the pages that deletes freed back to the file system, reclaimStep at a
// time, each a transaction of its own on the writer, and returns how many it gave back.
// SQLite reuses free pages for new rows anyway; this is what makes the file shrink after
// retention deleted more than the traffic adds back.
func (s *DB) ReclaimSpace(ctx context.Context) (int, error) {
	total := 0
	for {
		var before, after int
		err := s.write(ctx, func(t *tx) error {
			if err := t.queryRow(`PRAGMA freelist_count`).Scan(&before); err != nil || before == 0 {
				return err
			}
			if _, err := t.exec(fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, reclaimStep)); err != nil {
				return err
			}
			return t.queryRow(`PRAGMA freelist_count`).Scan(&after)
		})
		if err != nil {
			return total, fmt.Errorf("reclaim free pages: %w", s.translate(err))
		}
		total += before - after
		if before == 0 || after >= before || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
