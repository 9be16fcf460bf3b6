package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// OnAlertQueued registers fn to be called after a commit that put failures in the alert
// outbox, so the sender need not poll. fn must not block.
func (s *DB) OnAlertQueued(fn func()) {
	s.onAlert.Store(&fn)
}

func (s *DB) notifyAlertQueued() {
	if fn := s.onAlert.Load(); fn != nil {
		(*fn)()
	}
}

// noteForAlerts is called by RecordAttempts for every attempt that moved its delivery: a
// delivery that failed for good on schedule goes to the alert outbox (queued is then
// true); a success marks the webhook as recovered, so that its next failure is a new
// incident.
func (t *tx) noteForAlerts(r db.AttemptResult, attempts int, lastErr string, now int64) (queued bool, err error) {
	switch {
	case r.Next == db.StateSucceeded:
		if _, err := t.exec(`UPDATE alert_streaks SET recovered_at = ?
			WHERE webhook_id = (SELECT webhook_id FROM deliveries WHERE id = ?) AND recovered_at IS NULL`,
			now, r.Claim.Row); err != nil {
			return false, fmt.Errorf("note recovery of %s: %w", r.Claim.WebhookID, err)
		}
	case r.Next == db.StateFailed && !r.Claim.Manual && r.DisableReason == "":
		// A delivery that disabled its webhook is told of by the webhook_disabled alert.
		if err := t.queueAlert(r, attempts, lastErr, now); err != nil {
			return false, fmt.Errorf("queue alert for %s: %w", r.Claim.DeliveryID, err)
		}
		return true, nil
	}
	return false, nil
}

func (t *tx) queueAlert(r db.AttemptResult, attempts int, lastErr string, now int64) error {
	c := r.Claim
	var (
		webhookRow  int64
		url, desc   string
		first       int64
		prev, recov sql.NullInt64
	)
	if err := t.queryRow(`SELECT w.id, w.url, w.description, (SELECT min(attempted_at) FROM attempts WHERE delivery_id = d.id)
		FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?`, c.Row).
		Scan(&webhookRow, &url, &desc, &first); err != nil {
		return fmt.Errorf("read delivery: %w", translate(err))
	}
	err := t.queryRow(`SELECT last_failure_at, recovered_at FROM alert_streaks WHERE webhook_id = ?`, webhookRow).Scan(&prev, &recov)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read streak: %w", translate(err))
	}
	if _, err := t.exec(`INSERT INTO alert_failures (webhook_id, webhook_public_id, webhook_url, webhook_description,
		delivery_public_id, event_public_id, event_type, attempts, status_code, error, error_message,
		first_attempt_at, failed_at, prev_failure_at, recovered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		webhookRow, c.WebhookID, url, desc, c.DeliveryID, c.EventID, c.EventType, attempts, nullInt(r.StatusCode),
		nullString(lastErr), nullString(r.ErrorMessage), first, now, prev, recov.Valid); err != nil {
		return fmt.Errorf("insert: %w", translate(err))
	}
	if _, err := t.exec(`INSERT INTO alert_streaks (webhook_id, last_failure_at) VALUES (?, ?)
		ON CONFLICT (webhook_id) DO UPDATE SET last_failure_at = excluded.last_failure_at, recovered_at = NULL`,
		webhookRow, now); err != nil {
		return fmt.Errorf("update streak: %w", translate(err))
	}
	return nil
}

// foldBatch bounds one FoldAlertFailures transaction; the sender calls again while more remain.
const foldBatch = 500

// FoldAlertFailures folds up to 500 failures from the alert outbox into alerts by the
// no-flood rule (see the top of this file), window being the digest window. Call it again
// while the result says More.
func (s *DB) FoldAlertFailures(ctx context.Context, window time.Duration) (db.FoldResult, error) {
	var res db.FoldResult
	err := s.write(ctx, func(t *tx) error {
		res = db.FoldResult{}
		rows, err := t.query(`SELECT id, webhook_id, webhook_public_id, webhook_url, webhook_description,
			first_attempt_at, failed_at, prev_failure_at, recovered
			FROM alert_failures WHERE alert_id IS NULL ORDER BY id LIMIT ?`, foldBatch)
		if err != nil {
			return err
		}
		var pending []outboxRow
		for rows.Next() {
			var o outboxRow
			if err := rows.Scan(&o.id, &o.webhookRow, &o.webhookID, &o.url, &o.desc, &o.first, &o.failedAt,
				&o.prev, &o.recovered); err != nil {
				rows.Close()
				return err
			}
			pending = append(pending, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := millis(s.Now())
		for _, o := range pending {
			alertRow, created, err := t.foldOne(o, window, now)
			if err != nil {
				return fmt.Errorf("fold failure %d: %w", o.id, err)
			}
			if created != "" {
				res.Raised = append(res.Raised, created)
			}
			if _, err := t.exec(`UPDATE alert_failures SET alert_id = ? WHERE id = ?`, alertRow, o.id); err != nil {
				return err
			}
		}
		res.Failures, res.More = len(pending), len(pending) == foldBatch
		return nil
	})
	if err != nil {
		return db.FoldResult{}, fmt.Errorf("fold alert failures: %w", s.translate(err))
	}
	return res, nil
}

type outboxRow struct {
	id, first, failedAt int64
	webhookRow, prev    sql.NullInt64
	webhookID, url      string
	desc                string
	recovered           bool
}

// foldOne applies the no-flood rule (db.DecideFold) to one failure and returns the alert it
// belongs to, with that alert's public id when it was created for it.
func (t *tx) foldOne(o outboxRow, window time.Duration, now int64) (int64, string, error) {
	if o.webhookRow.Valid {
		// Every failure folded is emailed, at once or in a digest: the webhook is alerted on,
		// and its next success sends the "recovered" email (see health.go).
		if _, err := t.exec(`UPDATE webhooks SET alerted_at = ? WHERE id = ? AND alerted_at IS NULL`, now, o.webhookRow.Int64); err != nil {
			return 0, "", fmt.Errorf("mark webhook alerted: %w", err)
		}
	}
	var (
		streak       db.AlertStreak
		since        sql.NullInt64
		endsAt       int64
		digest       sql.NullInt64
		digestState  sql.NullString
		streakExists bool
	)
	if o.webhookRow.Valid {
		err := t.queryRow(`SELECT s.failing_since, s.window_ends_at, s.digest_id, a.state
			FROM alert_streaks s LEFT JOIN alerts a ON a.id = s.digest_id WHERE s.webhook_id = ?`, o.webhookRow.Int64).
			Scan(&since, &endsAt, &digest, &digestState)
		switch {
		case err == nil:
			streakExists = true
			streak = db.AlertStreak{Open: since.Valid, FailingSince: fromNullMillis(since), WindowEndsAt: fromMillis(endsAt),
				HasDigest: digest.Valid, DigestSent: db.AlertState(digestState.String) == db.AlertSent}
		case !errors.Is(err, sql.ErrNoRows):
			return 0, "", fmt.Errorf("read streak: %w", translate(err))
		}
	}
	d := db.DecideFold(streak, db.OutboxFailure{FirstAttemptAt: fromMillis(o.first), FailedAt: fromMillis(o.failedAt),
		PrevFailureAt: fromNullMillis(o.prev), Recovered: o.recovered}, window)
	if d.Action == db.FoldIntoDigest {
		return digest.Int64, "", nil
	}
	row, id, err := t.createAlert(o, d.Kind, millis(d.Since), millis(d.WindowEndsAt), millis(d.Due), now)
	if err != nil {
		return 0, "", err
	}
	switch {
	case d.Action == db.FoldOpenDigest:
		_, err = t.exec(`UPDATE alert_streaks SET digest_id = ? WHERE webhook_id = ?`, row, o.webhookRow.Int64)
	case streakExists:
		var digestRow sql.NullInt64
		if d.Kind == db.AlertDigest {
			digestRow = sql.NullInt64{Int64: row, Valid: true}
		}
		_, err = t.exec(`UPDATE alert_streaks SET failing_since = ?, window_ends_at = ?, digest_id = ? WHERE webhook_id = ?`,
			millis(d.Since), millis(d.WindowEndsAt), digestRow, o.webhookRow.Int64)
	}
	if err != nil {
		return 0, "", err
	}
	return row, id, nil
}

func (t *tx) createAlert(o outboxRow, kind db.AlertKind, since, endsAt, due, now int64) (int64, string, error) {
	id := db.NewID("alr")
	res, err := t.exec(`INSERT INTO alerts (public_id, kind, webhook_public_id, webhook_url, webhook_description,
		failing_since, window_ends_at, state, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
		id, string(kind), o.webhookID, o.url, o.desc, since, endsAt, due, now, now)
	if err != nil {
		return 0, "", fmt.Errorf("create alert: %w", translate(err))
	}
	row, err := res.LastInsertId()
	return row, id, err
}

// AlertWork tells the sender whether the outbox has failures to fold and when the earliest
// unsent alert is due (zero when none is).
func (s *DB) AlertWork(ctx context.Context) (outbox bool, nextDue time.Time, err error) {
	var next sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM alert_failures WHERE alert_id IS NULL),
		(SELECT min(next_attempt_at) FROM alerts WHERE state <> 'sent')`).Scan(&outbox, &next); err != nil {
		return false, time.Time{}, fmt.Errorf("read alert work: %w", s.translate(err))
	}
	return outbox, fromNullMillis(next), nil
}

const alertColumns = `id, public_id, kind, reason, state, webhook_public_id, webhook_url, webhook_description, failing_since,
	window_ends_at, attempts, last_attempt_at, last_error, next_attempt_at, sent_at, recipients, created_at, updated_at`

// scanAlert reads alertColumns, returning the internal row id too.
func scanAlert(sc interface{ Scan(...any) error }) (int64, db.Alert, error) {
	var (
		row               int64
		a                 db.Alert
		since, ends, next int64
		created, updated  int64
		lastAttempt, sent sql.NullInt64
		lastErr           sql.NullString
		recipients        string
	)
	if err := sc.Scan(&row, &a.ID, &a.Kind, &a.Reason, &a.State, &a.WebhookID, &a.WebhookURL, &a.WebhookDescription, &since,
		&ends, &a.Attempts, &lastAttempt, &lastErr, &next, &sent, &recipients, &created, &updated); err != nil {
		return 0, db.Alert{}, translate(err)
	}
	a.FailingSince, a.WindowEndsAt, a.NextAttemptAt = fromMillis(since), fromMillis(ends), fromMillis(next)
	a.LastAttemptAt, a.SentAt, a.LastError = fromNullMillis(lastAttempt), fromNullMillis(sent), lastErr.String
	if recipients != "" {
		a.Recipients = strings.Split(recipients, ",")
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	return row, a, nil
}

const alertFailureColumns = `delivery_public_id, event_public_id, event_type, attempts, status_code, error, error_message,
	first_attempt_at, failed_at`

func scanAlertFailure(sc interface{ Scan(...any) error }) (db.AlertFailure, error) {
	var (
		f             db.AlertFailure
		code          sql.NullInt64
		class, msg    sql.NullString
		first, failed int64
	)
	if err := sc.Scan(&f.DeliveryID, &f.EventID, &f.EventType, &f.Attempts, &code, &class, &msg, &first, &failed); err != nil {
		return db.AlertFailure{}, err
	}
	f.StatusCode, f.Error, f.ErrorMessage = int(code.Int64), class.String, msg.String
	f.FirstAttemptAt, f.FailedAt = fromMillis(first), fromMillis(failed)
	return f, nil
}

// loadAlerts reads alerts with query and fills in their failures.
func (s *DB) loadAlerts(ctx context.Context, query string, args ...any) ([]db.Alert, []int64, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	var (
		out  []db.Alert
		rids []int64
	)
	for rows.Next() {
		row, a, err := scanAlert(rows)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		out, rids = append(out, a), append(rids, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for i := range out {
		if err := s.fillAlert(ctx, rids[i], &out[i]); err != nil {
			return nil, nil, err
		}
	}
	return out, rids, nil
}

// fillAlert reads what an alert says about its failures: the first ones, how many, which
// event types, and the latest.
func (s *DB) fillAlert(ctx context.Context, row int64, a *db.Alert) error {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+alertFailureColumns+` FROM alert_failures WHERE alert_id = ?
		ORDER BY id LIMIT ?`, row, db.AlertFailuresListed)
	if err != nil {
		return err
	}
	a.Failures = a.Failures[:0]
	for rows.Next() {
		f, err := scanAlertFailure(rows)
		if err != nil {
			rows.Close()
			return err
		}
		a.Failures = append(a.Failures, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM alert_failures WHERE alert_id = ?`, row).
		Scan(&a.DeliveryCount); err != nil {
		return err
	}
	last, err := scanAlertFailure(s.reader.QueryRowContext(ctx, `SELECT `+alertFailureColumns+` FROM alert_failures
		WHERE alert_id = ? ORDER BY id DESC LIMIT 1`, row))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	a.Last = last
	types, err := s.reader.QueryContext(ctx, `SELECT DISTINCT event_type FROM alert_failures WHERE alert_id = ? ORDER BY event_type`, row)
	if err != nil {
		return err
	}
	defer types.Close()
	a.EventTypes = a.EventTypes[:0]
	for types.Next() {
		var et string
		if err := types.Scan(&et); err != nil {
			return err
		}
		a.EventTypes = append(a.EventTypes, et)
	}
	return types.Err()
}

// DueAlerts returns up to limit unsent alerts that are due now, earliest first.
func (s *DB) DueAlerts(ctx context.Context, limit int) ([]db.Alert, error) {
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE state <> 'sent' AND next_attempt_at <= ?
		ORDER BY next_attempt_at, id LIMIT ?`, millis(s.Now()), limit)
	if err != nil {
		return nil, fmt.Errorf("list due alerts: %w", s.translate(err))
	}
	return out, nil
}

// ClaimDueAlerts returns up to limit unsent alerts that are due now, earliest first, and
// makes them due again only after lease: whichever sender claims an alert sends it, however
// many instances run a sender. RecordAlertSend then sets when it is due next, if ever. A
// sender that dies between the claim and the record leaves the alert to be claimed again
// once the lease has passed.
func (s *DB) ClaimDueAlerts(ctx context.Context, limit int, lease time.Duration) ([]db.Alert, error) {
	var ids []int64
	err := s.write(ctx, func(t *tx) error {
		now := s.Now()
		rows, err := t.query(`UPDATE alerts SET next_attempt_at = ?, updated_at = ?
			WHERE id IN (SELECT id FROM alerts WHERE state <> 'sent' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING id`, millis(now.Add(lease)), millis(now), millis(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		ids = ids[:0]
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim due alerts: %w", s.translate(err))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY next_attempt_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("claim due alerts: %w", s.translate(err))
	}
	return out, nil
}

// FindAlert returns the alert with the given public id.
func (s *DB) FindAlert(ctx context.Context, id string) (db.Alert, error) {
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE public_id = ?`, id)
	if err == nil && len(out) == 0 {
		err = db.ErrNotFound
	}
	if err != nil {
		return db.Alert{}, fmt.Errorf("find alert %s: %w", id, err)
	}
	return out[0], nil
}

// RecordAlertSend records one try to send an alert: sent, or failed and due again after
// RetryIn. A sent alert is final.
func (s *DB) RecordAlertSend(ctx context.Context, r db.AlertSend) error {
	err := s.write(ctx, func(t *tx) error {
		now := s.Now()
		var (
			res sql.Result
			err error
		)
		if r.Err == "" {
			res, err = t.exec(`UPDATE alerts SET state = 'sent', attempts = attempts + 1, last_attempt_at = ?1, sent_at = ?1,
				recipients = ?2, updated_at = ?1 WHERE public_id = ?3 AND state <> 'sent'`,
				millis(now), strings.Join(r.Recipients, ","), r.AlertID)
		} else {
			res, err = t.exec(`UPDATE alerts SET state = 'failed_to_send', attempts = attempts + 1, last_attempt_at = ?1,
				last_error = ?2, next_attempt_at = ?3, updated_at = ?1 WHERE public_id = ?4 AND state <> 'sent'`,
				millis(now), r.Err, millis(now.Add(r.RetryIn)), r.AlertID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return db.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record alert send %s: %w", r.AlertID, err)
	}
	return nil
}

// ListAlerts returns alerts newest first and, when more remain, the cursor of the next page.
func (s *DB) ListAlerts(ctx context.Context, f db.AlertFilter) ([]db.Alert, string, error) {
	p := newPage('a', "id", f.Limit)
	if f.State != "" {
		p.filter("state = ?", string(f.State))
	}
	if err := p.after(f.Cursor); err != nil {
		return nil, "", err
	}
	q, args := p.query(`SELECT ` + alertColumns + ` FROM alerts`)
	out, rids, err := s.loadAlerts(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list alerts: %w", s.translate(err))
	}
	n, next := p.cut(rids)
	return out[:n], next, nil
}

// CountUnsentAlerts counts alerts whose email has not gone out (pending or failed to send).
func (s *DB) CountUnsentAlerts(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE state <> 'sent'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unsent alerts: %w", s.translate(err))
	}
	return n, nil
}

// CountAlertsSince counts alerts raised at or after since, sent or not, that need attention: a
// recovered alert does not.
func (s *DB) CountAlertsSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE created_at >= ? AND kind <> 'recovered'`, millis(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count alerts since %s: %w", db.FormatTime(since), err)
	}
	return n, nil
}
