package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

const auditColumns = `public_id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, client_address, summary`

func scanAudit(sc interface{ Scan(...any) error }) (db.AuditRecord, error) {
	var (
		a            db.AuditRecord
		at           int64
		kind, action string
	)
	if err := sc.Scan(&a.ID, &at, &kind, &a.Actor.ID, &a.Actor.Name, &action, &a.Target.Kind, &a.Target.ID,
		&a.ClientAddress, &a.Summary); err != nil {
		return db.AuditRecord{}, translate(err)
	}
	a.At, a.Actor.Kind, a.Action = fromMillis(at), db.ActorKind(kind), db.AuditAction(action)
	return a, nil
}

// insertAudit appends a record in the transaction t, stamped at now. A store method that
// makes a change on its own (a webhook disabled by the system, say) calls it in the same
// transaction, so the change and its record commit together.
func (t *tx) insertAudit(n db.NewAuditRecord, now time.Time) (db.AuditRecord, error) {
	a := db.AuditRecord{ID: db.NewID("aud"), At: now.Truncate(time.Millisecond), NewAuditRecord: n.Clean()}
	_, err := t.exec(`INSERT INTO audit_log (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, millis(now), string(a.Actor.Kind), a.Actor.ID, a.Actor.Name, string(a.Action), a.Target.Kind, a.Target.ID,
		a.ClientAddress, a.Summary)
	if err != nil {
		return db.AuditRecord{}, err
	}
	return a, nil
}

// AppendAudit appends a record to the audit log, stamped with the store's clock.
func (s *DB) AppendAudit(ctx context.Context, n db.NewAuditRecord) (db.AuditRecord, error) {
	var a db.AuditRecord
	err := s.write(ctx, func(t *tx) error {
		var err error
		a, err = t.insertAudit(n, s.Now())
		return err
	})
	if err != nil {
		return db.AuditRecord{}, fmt.Errorf("append audit record: %w", s.translate(err))
	}
	return a, nil
}

// ListAudit returns a page of audit records, newest first, and the cursor of the next page
// ("" on the last).
func (s *DB) ListAudit(ctx context.Context, f db.AuditFilter) ([]db.AuditRecord, string, error) {
	p := newPage('l', "id", f.Limit)
	if f.Actor != "" {
		p.filter("(actor_id = ? OR actor_name = ? COLLATE NOCASE)", f.Actor, f.Actor)
	}
	if f.Action != "" {
		p.filter("action = ?", string(f.Action))
	}
	if f.TargetID != "" {
		p.filter("target_id = ?", f.TargetID)
	}
	if !f.Since.IsZero() {
		p.filter("at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		p.filter("at < ?", millis(f.Until))
	}
	if err := p.after(f.Cursor); err != nil {
		return nil, "", fmt.Errorf("list audit records: %w", err)
	}
	q, args := p.query(`SELECT id, ` + auditColumns + ` FROM audit_log`)
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit records: %w", s.translate(err))
	}
	out, next, err := listPage(rows, p, scanAudit)
	if err != nil {
		return nil, "", fmt.Errorf("list audit records: %w", s.translate(err))
	}
	return out, next, nil
}
