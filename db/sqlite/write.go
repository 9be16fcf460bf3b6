package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"

	"github.com/hookrelay/hookrelay/db"
)

// tx is what a write operation sees: the group's transaction, cached prepared statements,
// and a list of webhooks to announce as due once the group has committed.
type tx struct {
	ctx context.Context
	db  *DB
	sql *sql.Tx
	due []string
	// targets caches the enabled webhooks for fan-out across the ops of one group; a
	// webhook write in the group clears it.
	targets       []fanoutTarget
	targetsLoaded bool
	// newTargets are claim targets read in this transaction, published to DB.targets when
	// it commits (see claimTarget).
	newTargets map[string]*claimTarget
	newBodies  []cachedBody // event bodies read in this transaction, for DB.bodies
}

// writeOp is one caller's unit of work inside a commit group.
type writeOp struct {
	fn   func(*tx) error
	err  error
	due  []string
	done chan struct{}
	// ingest is set for a CreateEvents call (fn stores it alone): consecutive calls in a
	// group are stored together, with one statement for their events and one for their
	// deliveries, instead of two per call.
	ingest []ingestItem
}

// write runs fn in a transaction on the single writer connection and returns once that
// transaction has committed (or failed). Concurrent calls are folded into one transaction
// (group commit): SQLite's cost is per commit, not per row, so under load many callers share
// one commit. If one fn fails, the group is rolled back and every fn of it runs again in a
// transaction of its own, so one caller's error undoes only its own changes. fn may
// therefore run twice, must set its results afresh each time, and may run long after ctx is
// cancelled; it must not block on anything but SQL.
func (s *DB) write(ctx context.Context, fn func(*tx) error) error {
	return s.submit(ctx, &writeOp{fn: fn, done: make(chan struct{})})
}

// submit hands op to the write loop and waits for its group to commit (see write).
func (s *DB) submit(ctx context.Context, op *writeOp) error {
	select {
	case s.ops <- op:
	case <-s.quit:
		return db.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-op.done
	return op.err
}

func (s *DB) writeLoop(maxGroup int) {
	group := make([]*writeOp, 0, maxGroup)
	for {
		select {
		case op := <-s.ops:
			group = append(group[:0], op)
		case <-s.quit:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case op := <-s.ops:
				group = append(group, op)
			default:
				break more
			}
		}
		s.commitGroup(group)
		if s.unprepared {
			s.unprepared = false
			s.preparePending()
		}
		for _, op := range group {
			if op.err == nil && op.due != nil {
				s.notifyDue(op.due)
			}
			close(op.done)
		}
		clear(group)
		s.afterCommit()
		s.finishCheckpoint()
	}
}

// commitGroup runs every op of the group in one transaction and sets each op's err.
//
// Isolation between ops is optimistic: a savepoint per op would cost two statements and a
// statement journal per op on the hot path, while ops almost never fail. When one does, the
// whole group is undone and replayed one op per transaction.
func (s *DB) commitGroup(group []*writeOp) {
	if err := s.runGroup(group); err == nil || len(group) == 1 || !errors.Is(err, errOpFailed) {
		return
	}
	for _, op := range group {
		op.err, op.due = nil, nil
		s.runGroup([]*writeOp{op})
	}
}

// errOpFailed tells commitGroup that an op failed and its group was rolled back.
var errOpFailed = errors.New("an operation of the group failed")

// runGroup runs ops in one transaction. When an op of a group of several fails it rolls
// back and returns errOpFailed without setting errors; otherwise every op's err is final.
func (s *DB) runGroup(ops []*writeOp) error {
	ctx := context.Background()
	fail := func(err error) error {
		for _, op := range ops {
			if op.err == nil {
				op.err = err
			}
			op.due = nil
		}
		return err
	}
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("begin transaction: %w", s.translate(err)))
	}
	t := &tx{ctx: ctx, db: s, sql: sqlTx}
	for k := 0; k < len(ops); {
		n := 1
		for k+n < len(ops) && ops[k].ingest != nil && ops[k+n].ingest != nil {
			n++
		}
		var err error
		if n > 1 {
			err = runIngest(t, ops[k:k+n])
		} else {
			err = runOp(t, ops[k])
		}
		if err != nil {
			sqlTx.Rollback()
			if len(ops) > 1 {
				for _, op := range ops {
					op.due = nil
				}
				return errOpFailed
			}
			ops[k].err, ops[k].due = err, nil
			return err
		}
		k += n
	}
	if err := sqlTx.Commit(); err != nil {
		return fail(fmt.Errorf("commit: %w", s.translate(err)))
	}
	maps.Copy(s.targets, t.newTargets)
	for _, b := range t.newBodies {
		s.bodies.add(b.id, b.body)
	}
	return nil
}

// runOp calls op.fn, turning a panic into an error so one bad write cannot kill the loop
// that every other writer depends on.
func runOp(t *tx, op *writeOp) (err error) {
	t.due = nil
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in write: %v", r)
		}
		op.due = t.due
	}()
	return op.fn(t)
}

// runIngest stores several consecutive CreateEvents calls of a group as one: their items in
// order, so that the outcome is what running them one after the other gives. A failure fails
// the group, which is then replayed one op per transaction, each by its own fn.
func runIngest(t *tx, ops []*writeOp) (err error) {
	t.due = nil
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in write: %v", r)
		}
		for _, op := range ops {
			op.due = nil
		}
		ops[0].due = t.due // one notice for all of them
	}()
	var items []ingestItem
	for _, op := range ops {
		items = append(items, op.ingest...)
	}
	return t.createEvents(items)
}

// stmt returns the writer's prepared statement for query, bound to the transaction.
// Statements are prepared once per process, since preparing costs as much as a small
// insert. The writer's only connection is busy with this transaction, so a statement seen
// for the first time is prepared on the transaction alone and queued for preparePending.
func (t *tx) stmt(query string) (*sql.Stmt, error) {
	if st := t.db.stmts[query]; st != nil {
		return t.sql.StmtContext(t.ctx, st), nil
	}
	st, err := t.sql.PrepareContext(t.ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", translate(err))
	}
	t.db.stmts[query] = nil
	t.db.unprepared = true
	return st, nil
}

// preparePending prepares, between transactions, the statements first seen during one.
func (s *DB) preparePending() {
	for q, st := range s.stmts {
		if st != nil {
			continue
		}
		st, err := s.writer.PrepareContext(context.Background(), q)
		if err != nil {
			delete(s.stmts, q) // prepared on the transaction again next time
			continue
		}
		s.stmts[q] = st
	}
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// QueryContext lets read helpers shared with the reader pool run on the transaction with its
// cached statements. ctx is the transaction's own.
func (t *tx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.query(query, args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.sql.QueryRowContext(t.ctx, query, args...) // surfaces the same error on Scan
	}
	return st.QueryRowContext(t.ctx, args...)
}

// markDue records that webhookID has due work once this write commits.
func (t *tx) markDue(webhookID string) {
	t.due = append(t.due, webhookID)
}
