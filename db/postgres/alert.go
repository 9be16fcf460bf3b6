package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookrelay/hookrelay/db"
)

// noteForAlerts queues, on b, what recording an attempt that moved its delivery means for
// alerts: a delivery that failed for good on schedule goes to the alert outbox (queued is
// then true); a success marks the webhook as recovered, so that its next failure is a new
// incident. The statements only write, in order, so that a batch of results costs one round
// trip; the delivery is locked by the recording UPDATE, so it is there to be read.
func noteForAlerts(b *pgx.Batch, r db.AttemptResult, attempts int, lastErr string, now int64) (queued bool) {
	switch {
	case r.Next == db.StateSucceeded:
		b.Queue(`UPDATE alert_streaks SET recovered_at = $1
			WHERE webhook_id = (SELECT webhook_id FROM deliveries WHERE id = $2) AND recovered_at IS NULL`, now, r.Claim.Row)
	case r.Next == db.StateFailed && !r.Claim.Manual && r.DisableReason == "":
		// A delivery that disabled its webhook is told of by the webhook_disabled alert.
		queueAlert(b, r, attempts, lastErr, now)
		return true
	}
	return false
}

// queueAlert writes a failed delivery to the alert outbox, with what the no-flood rule needs
// of the webhook's streak (its previous failure, and whether it recovered since), and notes
// the failure on the streak.
func queueAlert(b *pgx.Batch, r db.AttemptResult, attempts int, lastErr string, now int64) {
	c := r.Claim
	b.Queue(`INSERT INTO alert_failures (webhook_id, webhook_public_id, webhook_url, webhook_description,
		delivery_public_id, event_public_id, event_type, attempts, status_code, error, error_message,
		first_attempt_at, failed_at, prev_failure_at, recovered)
		SELECT w.id, $2, w.url, w.description, $3, $4, $5, $6, $7, $8, $9,
			(SELECT min(attempted_at) FROM attempts WHERE delivery_id = d.id), $10, s.last_failure_at, s.recovered_at IS NOT NULL
		FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id LEFT JOIN alert_streaks s ON s.webhook_id = w.id
		WHERE d.id = $1`,
		c.Row, c.WebhookID, c.DeliveryID, c.EventID, c.EventType, attempts, nullInt(r.StatusCode),
		nullString(lastErr), nullString(safeText(r.ErrorMessage)), now)
	b.Queue(`INSERT INTO alert_streaks (webhook_id, last_failure_at) SELECT webhook_id, $2 FROM deliveries WHERE id = $1
		ON CONFLICT (webhook_id) DO UPDATE SET last_failure_at = excluded.last_failure_at, recovered_at = NULL`,
		c.Row, now)
}

// foldBatch bounds one FoldAlertFailures transaction; the sender calls again while more remain.
const foldBatch = 500

// FoldAlertFailures folds up to 500 failures from the alert outbox into alerts by the
// no-flood rule (db.DecideFold), window being the digest window. Call it again while the
// result says More. It holds an advisory lock for its transaction, so that two instances
// never fold the same failures: the second waits and then finds them folded.
func (s *DB) FoldAlertFailures(ctx context.Context, window time.Duration) (db.FoldResult, error) {
	var res db.FoldResult
	err := s.write(ctx, func(t *tx) error {
		res = db.FoldResult{}
		if _, err := t.exec(`SELECT pg_advisory_xact_lock($1, $2)`, lockSpace, lockFold); err != nil {
			return fmt.Errorf("lock the outbox: %w", err)
		}
		rows, err := t.query(`SELECT id, webhook_id, webhook_public_id, webhook_url, webhook_description,
			first_attempt_at, failed_at, prev_failure_at, recovered
			FROM alert_failures WHERE alert_id IS NULL ORDER BY id LIMIT $1`, foldBatch)
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
			if _, err := t.exec(`UPDATE alert_failures SET alert_id = $1 WHERE id = $2`, alertRow, o.id); err != nil {
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
	webhookRow, prev    *int64
	webhookID, url      string
	desc                string
	recovered           bool
}

// foldOne applies the no-flood rule (db.DecideFold) to one failure and returns the alert it
// belongs to, with that alert's public id when it was created for it.
func (t *tx) foldOne(o outboxRow, window time.Duration, now int64) (int64, string, error) {
	if o.webhookRow != nil {
		// Every failure folded is emailed, at once or in a digest: the webhook is alerted on,
		// and its next success sends the "recovered" email (see health.go).
		if _, err := t.exec(`UPDATE webhooks SET alerted_at = $1 WHERE id = $2 AND alerted_at IS NULL`, now, *o.webhookRow); err != nil {
			return 0, "", fmt.Errorf("mark webhook alerted: %w", err)
		}
	}
	var (
		streak       db.AlertStreak
		since        *int64
		endsAt       int64
		digest       *int64
		digestState  *string
		streakExists bool
	)
	if o.webhookRow != nil {
		err := t.queryRow(`SELECT s.failing_since, s.window_ends_at, s.digest_id, a.state
			FROM alert_streaks s LEFT JOIN alerts a ON a.id = s.digest_id WHERE s.webhook_id = $1`, *o.webhookRow).
			Scan(&since, &endsAt, &digest, &digestState)
		switch {
		case err == nil:
			streakExists = true
			streak = db.AlertStreak{Open: since != nil, FailingSince: fromNullMillis(since), WindowEndsAt: fromMillis(endsAt),
				HasDigest: digest != nil, DigestSent: db.AlertState(str(digestState)) == db.AlertSent}
		case !errors.Is(err, pgx.ErrNoRows):
			return 0, "", fmt.Errorf("read streak: %w", err)
		}
	}
	d := db.DecideFold(streak, db.OutboxFailure{FirstAttemptAt: fromMillis(o.first), FailedAt: fromMillis(o.failedAt),
		PrevFailureAt: fromNullMillis(o.prev), Recovered: o.recovered}, window)
	if d.Action == db.FoldIntoDigest {
		return *digest, "", nil
	}
	row, id, err := t.createAlert(o, d.Kind, millis(d.Since), millis(d.WindowEndsAt), millis(d.Due), now)
	if err != nil {
		return 0, "", err
	}
	switch {
	case d.Action == db.FoldOpenDigest:
		_, err = t.exec(`UPDATE alert_streaks SET digest_id = $1 WHERE webhook_id = $2`, row, *o.webhookRow)
	case streakExists:
		var digestRow *int64
		if d.Kind == db.AlertDigest {
			digestRow = &row
		}
		_, err = t.exec(`UPDATE alert_streaks SET failing_since = $1, window_ends_at = $2, digest_id = $3 WHERE webhook_id = $4`,
			millis(d.Since), millis(d.WindowEndsAt), digestRow, *o.webhookRow)
	}
	if err != nil {
		return 0, "", err
	}
	return row, id, nil
}

func (t *tx) createAlert(o outboxRow, kind db.AlertKind, since, endsAt, due, now int64) (int64, string, error) {
	id := db.NewID("alr")
	var row int64
	err := t.queryRow(`INSERT INTO alerts (public_id, kind, webhook_public_id, webhook_url, webhook_description,
		failing_since, window_ends_at, state, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $9) RETURNING id`,
		id, string(kind), o.webhookID, o.url, o.desc, since, endsAt, due, now).Scan(&row)
	if err != nil {
		return 0, "", fmt.Errorf("create alert: %w", err)
	}
	return row, id, nil
}

// AlertWork tells the sender whether the outbox has failures to fold and when the earliest
// unsent alert is due (zero when none is).
func (s *DB) AlertWork(ctx context.Context) (outbox bool, nextDue time.Time, err error) {
	var next *int64
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alert_failures WHERE alert_id IS NULL),
		(SELECT min(next_attempt_at) FROM alerts WHERE state <> 'sent')`).Scan(&outbox, &next); err != nil {
		return false, time.Time{}, fmt.Errorf("read alert work: %w", s.translate(err))
	}
	return outbox, fromNullMillis(next), nil
}

const alertColumns = `id, public_id, kind, reason, state, webhook_public_id, webhook_url, webhook_description, failing_since,
	window_ends_at, attempts, last_attempt_at, last_error, next_attempt_at, sent_at, recipients, created_at, updated_at`

// scanAlert reads alertColumns, returning the internal row id too.
func scanAlert(sc rowScanner) (int64, db.Alert, error) {
	var (
		row               int64
		a                 db.Alert
		since, ends, next int64
		created, updated  int64
		lastAttempt, sent *int64
		lastErr           *string
		recipients        string
	)
	if err := sc.Scan(&row, &a.ID, &a.Kind, &a.Reason, &a.State, &a.WebhookID, &a.WebhookURL, &a.WebhookDescription, &since,
		&ends, &a.Attempts, &lastAttempt, &lastErr, &next, &sent, &recipients, &created, &updated); err != nil {
		return 0, db.Alert{}, err
	}
	a.FailingSince, a.WindowEndsAt, a.NextAttemptAt = fromMillis(since), fromMillis(ends), fromMillis(next)
	a.LastAttemptAt, a.SentAt, a.LastError = fromNullMillis(lastAttempt), fromNullMillis(sent), str(lastErr)
	if recipients != "" {
		a.Recipients = strings.Split(recipients, ",")
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	return row, a, nil
}

const alertFailureColumns = `delivery_public_id, event_public_id, event_type, attempts, status_code, error, error_message,
	first_attempt_at, failed_at`

func scanAlertFailure(sc rowScanner) (db.AlertFailure, error) {
	var (
		f             db.AlertFailure
		code          *int64
		class, msg    *string
		first, failed int64
	)
	if err := sc.Scan(&f.DeliveryID, &f.EventID, &f.EventType, &f.Attempts, &code, &class, &msg, &first, &failed); err != nil {
		return db.AlertFailure{}, err
	}
	f.StatusCode, f.Error, f.ErrorMessage = num(code), str(class), str(msg)
	f.FirstAttemptAt, f.FailedAt = fromMillis(first), fromMillis(failed)
	return f, nil
}

// loadAlerts reads alerts with query and fills in their failures.
func (s *DB) loadAlerts(ctx context.Context, query string, args ...any) ([]db.Alert, []int64, error) {
	rows, err := s.pool.Query(ctx, query, args...)
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
// event types, and the latest. One batch, one round trip.
func (s *DB) fillAlert(ctx context.Context, row int64, a *db.Alert) error {
	b := &pgx.Batch{}
	a.Failures = a.Failures[:0]
	b.Queue(`SELECT `+alertFailureColumns+` FROM alert_failures WHERE alert_id = $1 ORDER BY id LIMIT $2`,
		row, db.AlertFailuresListed).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			f, err := scanAlertFailure(rows)
			if err != nil {
				return err
			}
			a.Failures = append(a.Failures, f)
		}
		return rows.Err()
	})
	b.Queue(`SELECT count(*) FROM alert_failures WHERE alert_id = $1`, row).QueryRow(func(r pgx.Row) error {
		return r.Scan(&a.DeliveryCount)
	})
	b.Queue(`SELECT `+alertFailureColumns+` FROM alert_failures WHERE alert_id = $1 ORDER BY id DESC LIMIT 1`, row).
		Query(func(rows pgx.Rows) error {
			a.Last = db.AlertFailure{}
			if rows.Next() {
				f, err := scanAlertFailure(rows)
				if err != nil {
					return err
				}
				a.Last = f
			}
			return rows.Err()
		})
	a.EventTypes = a.EventTypes[:0]
	b.Queue(`SELECT DISTINCT event_type FROM alert_failures WHERE alert_id = $1 ORDER BY event_type`, row).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var et string
				if err := rows.Scan(&et); err != nil {
					return err
				}
				a.EventTypes = append(a.EventTypes, et)
			}
			return rows.Err()
		})
	return s.pool.SendBatch(ctx, b).Close()
}

// DueAlerts returns up to limit unsent alerts that are due now, earliest first.
func (s *DB) DueAlerts(ctx context.Context, limit int) ([]db.Alert, error) {
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE state <> 'sent' AND next_attempt_at <= $1
		ORDER BY next_attempt_at, id LIMIT $2`, millis(s.Now()), limit)
	if err != nil {
		return nil, fmt.Errorf("list due alerts: %w", s.translate(err))
	}
	return out, nil
}

// FindAlert returns the alert with the given public id.
func (s *DB) FindAlert(ctx context.Context, id string) (db.Alert, error) {
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE public_id = $1`, id)
	if err == nil && len(out) == 0 {
		err = db.ErrNotFound
	}
	if err != nil {
		return db.Alert{}, fmt.Errorf("find alert %s: %w", id, s.translate(err))
	}
	return out[0], nil
}

// RecordAlertSend records one try to send an alert: sent, or failed and due again after
// RetryIn. A sent alert is final.
func (s *DB) RecordAlertSend(ctx context.Context, r db.AlertSend) error {
	err := s.write(ctx, func(t *tx) error {
		now := s.Now()
		var (
			err error
			n   int64
		)
		if r.Err == "" {
			tag, e := t.exec(`UPDATE alerts SET state = 'sent', attempts = attempts + 1, last_attempt_at = $1, sent_at = $1,
				recipients = $2, updated_at = $1 WHERE public_id = $3 AND state <> 'sent'`,
				millis(now), strings.Join(r.Recipients, ","), r.AlertID)
			n, err = tag.RowsAffected(), e
		} else {
			tag, e := t.exec(`UPDATE alerts SET state = 'failed_to_send', attempts = attempts + 1, last_attempt_at = $1,
				last_error = $2, next_attempt_at = $3, updated_at = $1 WHERE public_id = $4 AND state <> 'sent'`,
				millis(now), safeText(r.Err), millis(now.Add(r.RetryIn)), r.AlertID)
			n, err = tag.RowsAffected(), e
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return db.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record alert send %s: %w", r.AlertID, s.translate(err))
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
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE state <> 'sent'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unsent alerts: %w", s.translate(err))
	}
	return n, nil
}

// CountAlertsSince counts alerts raised at or after since, sent or not, that need attention: a
// recovered alert does not.
func (s *DB) CountAlertsSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE created_at >= $1 AND kind <> 'recovered'`, millis(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count alerts since %s: %w", db.FormatTime(since), s.translate(err))
	}
	return n, nil
}
