package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Failure alerts.
//
// A delivery whose retry schedule is used up is written to the alert outbox (alert_failures
// with no alert yet) by RecordAttempts, in the transaction that marks it failed, so a crash
// cannot lose the alert. A failed manual retry raises no alert: the delivery was alerted
// when its schedule ran out, and the admin who retried it sees the outcome.
//
// The alert sender folds the outbox into alerts (FoldAlertFailures) by the no-flood rule:
//
//   - A failure inside a webhook's open window is added to that window's digest, which is
//     sent when the window closes.
//   - Otherwise a failure that starts a new incident (the webhook's first failure, or the
//     first after one of its deliveries succeeded, or after a quiet spell longer than the
//     window) raises an immediate alert and opens a window.
//   - A failure that continues an incident whose window has closed (no success since the
//     previous failure, which was less than a window ago) opens a new window with a digest
//     only: a webhook that stays down costs one email per window.
//
// Then it sends due alerts (DueAlerts) and records each try (RecordAlertSend); a failed send
// is retried later, so an alert survives SMTP outages and restarts.

// AlertKind says whether an alert was sent at once or collects a window's failures.
type AlertKind string

// Alert kinds.
const (
	// AlertImmediate reports the failure that started an incident, sent at once.
	AlertImmediate AlertKind = "immediate"
	// AlertDigest reports the further failures of one window, sent when the window closes.
	AlertDigest AlertKind = "digest"
)

// AlertState is where an alert's email is. The list is mirrored by a CHECK constraint.
type AlertState string

// Alert states. pending → sent | failed_to_send → … → sent.
const (
	// AlertPending: not tried yet (a digest waits for its window to close; with email off
	// every alert stays pending).
	AlertPending AlertState = "pending"
	// AlertSent: the SMTP server accepted the email. Final.
	AlertSent AlertState = "sent"
	// AlertFailedToSend: the last try failed; it is tried again at NextAttemptAt.
	AlertFailedToSend AlertState = "failed_to_send"
)

// Valid reports whether s is one of the known alert states.
func (s AlertState) Valid() bool {
	switch s {
	case AlertPending, AlertSent, AlertFailedToSend:
		return true
	}
	return false
}

// AlertFailuresListed is how many of an alert's failed deliveries Alert.Failures holds,
// oldest first; DeliveryCount counts them all.
const AlertFailuresListed = 20

// Alert is one alert email about one webhook, sent or to be sent.
type Alert struct {
	ID                 string // alr_…
	Kind               AlertKind
	State              AlertState
	WebhookID          string
	WebhookURL         string
	WebhookDescription string
	FailingSince       time.Time // when the incident's first failed delivery was first attempted
	WindowEndsAt       time.Time // a digest is sent then; for an immediate alert, the window it opened
	DeliveryCount      int
	EventTypes         []string       // distinct, sorted
	Failures           []AlertFailure // the first AlertFailuresListed, oldest first
	Last               AlertFailure   // the latest failure
	Attempts           int            // send attempts made
	LastAttemptAt      time.Time
	LastError          string // of the latest failed send; kept after a later success
	NextAttemptAt      time.Time
	SentAt             time.Time
	Recipients         []string // who it was sent to
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// AlertFailure is one delivery that failed for good, as it stood when it failed.
type AlertFailure struct {
	DeliveryID     string
	EventID        string
	EventType      string
	Attempts       int
	StatusCode     int    // of the last attempt; 0 when it got no answer
	Error          string // "HTTP 503", or an error class such as "timeout"
	ErrorMessage   string
	FirstAttemptAt time.Time
	FailedAt       time.Time
}

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
func (t *tx) noteForAlerts(r AttemptResult, attempts int, lastErr string, now int64) (queued bool, err error) {
	switch {
	case r.Next == StateSucceeded:
		if _, err := t.exec(`UPDATE alert_streaks SET recovered_at = ?
			WHERE webhook_id = (SELECT webhook_id FROM deliveries WHERE id = ?) AND recovered_at IS NULL`,
			now, r.Claim.row); err != nil {
			return false, fmt.Errorf("note recovery of %s: %w", r.Claim.WebhookID, err)
		}
	case r.Next == StateFailed && !r.Claim.Manual:
		if err := t.queueAlert(r, attempts, lastErr, now); err != nil {
			return false, fmt.Errorf("queue alert for %s: %w", r.Claim.DeliveryID, err)
		}
		return true, nil
	}
	return false, nil
}

func (t *tx) queueAlert(r AttemptResult, attempts int, lastErr string, now int64) error {
	c := r.Claim
	var (
		webhookRow  int64
		url, desc   string
		first       int64
		prev, recov sql.NullInt64
	)
	if err := t.queryRow(`SELECT w.id, w.url, w.description, (SELECT min(attempted_at) FROM attempts WHERE delivery_id = d.id)
		FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?`, c.row).
		Scan(&webhookRow, &url, &desc, &first); err != nil {
		return fmt.Errorf("read delivery: %w", err)
	}
	err := t.queryRow(`SELECT last_failure_at, recovered_at FROM alert_streaks WHERE webhook_id = ?`, webhookRow).Scan(&prev, &recov)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read streak: %w", err)
	}
	if _, err := t.exec(`INSERT INTO alert_failures (webhook_id, webhook_public_id, webhook_url, webhook_description,
		delivery_public_id, event_public_id, event_type, attempts, status_code, error, error_message,
		first_attempt_at, failed_at, prev_failure_at, recovered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		webhookRow, c.WebhookID, url, desc, c.DeliveryID, c.EventID, c.EventType, attempts, nullInt(r.StatusCode),
		nullString(lastErr), nullString(r.ErrorMessage), first, now, prev, recov.Valid); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if _, err := t.exec(`INSERT INTO alert_streaks (webhook_id, last_failure_at) VALUES (?, ?)
		ON CONFLICT (webhook_id) DO UPDATE SET last_failure_at = excluded.last_failure_at, recovered_at = NULL`,
		webhookRow, now); err != nil {
		return fmt.Errorf("update streak: %w", err)
	}
	return nil
}

// FoldResult tells what FoldAlertFailures did.
type FoldResult struct {
	Failures int      // outbox rows folded
	Raised   []string // ids of the alerts it created
	More     bool     // the batch was full: more may wait in the outbox
}

// foldBatch bounds one FoldAlertFailures transaction; the sender calls again while more remain.
const foldBatch = 500

// FoldAlertFailures folds up to 500 failures from the alert outbox into alerts by the
// no-flood rule (see the top of this file), window being the digest window. Call it again
// while the result says More.
func (s *DB) FoldAlertFailures(ctx context.Context, window time.Duration) (FoldResult, error) {
	var res FoldResult
	err := s.write(ctx, func(t *tx) error {
		res = FoldResult{}
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
		now := millis(s.now())
		for _, o := range pending {
			alertRow, created, err := t.foldOne(o, window.Milliseconds(), now)
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
		return FoldResult{}, fmt.Errorf("fold alert failures: %w", err)
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

// foldOne applies the no-flood rule to one failure and returns the alert it belongs to,
// with that alert's public id when it was created for it.
func (t *tx) foldOne(o outboxRow, window, now int64) (int64, string, error) {
	var (
		have         bool
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
			streakExists, have = true, since.Valid
		case !errors.Is(err, sql.ErrNoRows):
			return 0, "", fmt.Errorf("read streak: %w", err)
		}
	}
	if have && o.failedAt < endsAt {
		// The window is open: fold into its digest, unless that has gone out already (this
		// failure was recorded just as the window closed), in which case a new window opens.
		if digest.Valid && AlertState(digestState.String) != AlertSent {
			return digest.Int64, "", nil
		}
		if !digest.Valid {
			row, id, err := t.createAlert(o, AlertDigest, since.Int64, endsAt, endsAt, now)
			if err != nil {
				return 0, "", err
			}
			_, err = t.exec(`UPDATE alert_streaks SET digest_id = ? WHERE webhook_id = ?`, row, o.webhookRow.Int64)
			return row, id, err
		}
	}
	continuing := have && !o.recovered && o.prev.Valid && o.failedAt-o.prev.Int64 < window
	kind, start, due := AlertImmediate, o.first, o.failedAt
	if continuing {
		kind, start, due = AlertDigest, since.Int64, o.failedAt+window
	}
	row, id, err := t.createAlert(o, kind, start, o.failedAt+window, due, now)
	if err != nil {
		return 0, "", err
	}
	if streakExists {
		var digestRow sql.NullInt64
		if kind == AlertDigest {
			digestRow = sql.NullInt64{Int64: row, Valid: true}
		}
		if _, err := t.exec(`UPDATE alert_streaks SET failing_since = ?, window_ends_at = ?, digest_id = ? WHERE webhook_id = ?`,
			start, o.failedAt+window, digestRow, o.webhookRow.Int64); err != nil {
			return 0, "", err
		}
	}
	return row, id, nil
}

func (t *tx) createAlert(o outboxRow, kind AlertKind, since, endsAt, due, now int64) (int64, string, error) {
	id := newID("alr")
	res, err := t.exec(`INSERT INTO alerts (public_id, kind, webhook_public_id, webhook_url, webhook_description,
		failing_since, window_ends_at, state, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
		id, string(kind), o.webhookID, o.url, o.desc, since, endsAt, due, now, now)
	if err != nil {
		return 0, "", fmt.Errorf("create alert: %w", err)
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
		return false, time.Time{}, fmt.Errorf("read alert work: %w", err)
	}
	return outbox, fromNullMillis(next), nil
}

const alertColumns = `id, public_id, kind, state, webhook_public_id, webhook_url, webhook_description, failing_since,
	window_ends_at, attempts, last_attempt_at, last_error, next_attempt_at, sent_at, recipients, created_at, updated_at`

// scanAlert reads alertColumns, returning the internal row id too.
func scanAlert(sc interface{ Scan(...any) error }) (int64, Alert, error) {
	var (
		row               int64
		a                 Alert
		since, ends, next int64
		created, updated  int64
		lastAttempt, sent sql.NullInt64
		lastErr           sql.NullString
		recipients        string
	)
	if err := sc.Scan(&row, &a.ID, &a.Kind, &a.State, &a.WebhookID, &a.WebhookURL, &a.WebhookDescription, &since,
		&ends, &a.Attempts, &lastAttempt, &lastErr, &next, &sent, &recipients, &created, &updated); err != nil {
		return 0, Alert{}, translate(err)
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

func scanAlertFailure(sc interface{ Scan(...any) error }) (AlertFailure, error) {
	var (
		f             AlertFailure
		code          sql.NullInt64
		class, msg    sql.NullString
		first, failed int64
	)
	if err := sc.Scan(&f.DeliveryID, &f.EventID, &f.EventType, &f.Attempts, &code, &class, &msg, &first, &failed); err != nil {
		return AlertFailure{}, err
	}
	f.StatusCode, f.Error, f.ErrorMessage = int(code.Int64), class.String, msg.String
	f.FirstAttemptAt, f.FailedAt = fromMillis(first), fromMillis(failed)
	return f, nil
}

// loadAlerts reads alerts with query and fills in their failures.
func (s *DB) loadAlerts(ctx context.Context, query string, args ...any) ([]Alert, []int64, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	var (
		out  []Alert
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
func (s *DB) fillAlert(ctx context.Context, row int64, a *Alert) error {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+alertFailureColumns+` FROM alert_failures WHERE alert_id = ?
		ORDER BY id LIMIT ?`, row, AlertFailuresListed)
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
func (s *DB) DueAlerts(ctx context.Context, limit int) ([]Alert, error) {
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE state <> 'sent' AND next_attempt_at <= ?
		ORDER BY next_attempt_at, id LIMIT ?`, millis(s.now()), limit)
	if err != nil {
		return nil, fmt.Errorf("list due alerts: %w", err)
	}
	return out, nil
}

// FindAlert returns the alert with the given public id.
func (s *DB) FindAlert(ctx context.Context, id string) (Alert, error) {
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE public_id = ?`, id)
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Alert{}, fmt.Errorf("find alert %s: %w", id, err)
	}
	return out[0], nil
}

// AlertSend is the outcome of one try to send an alert.
type AlertSend struct {
	AlertID    string
	Recipients []string
	// Err is the SMTP error; empty when the server accepted the email.
	Err string
	// RetryIn is how long after now to try again when Err is set.
	RetryIn time.Duration
}

// RecordAlertSend records one try to send an alert: sent, or failed and due again after
// RetryIn. A sent alert is final.
func (s *DB) RecordAlertSend(ctx context.Context, r AlertSend) error {
	err := s.write(ctx, func(t *tx) error {
		now := s.now()
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
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record alert send %s: %w", r.AlertID, err)
	}
	return nil
}

// AlertFilter selects alerts for ListAlerts. Zero fields do not filter.
type AlertFilter struct {
	State  AlertState
	Cursor string // from a previous page's next cursor
	Limit  int    // default 50, at most 500
}

// ListAlerts returns alerts newest first and, when more remain, the cursor of the next page.
func (s *DB) ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, string, error) {
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
		return nil, "", fmt.Errorf("list alerts: %w", err)
	}
	n, next := p.cut(rids)
	return out[:n], next, nil
}

// CountUnsentAlerts counts alerts whose email has not gone out (pending or failed to send).
func (s *DB) CountUnsentAlerts(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE state <> 'sent'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unsent alerts: %w", err)
	}
	return n, nil
}

// CountAlertsSince counts alerts raised at or after since, sent or not.
func (s *DB) CountAlertsSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE created_at >= ?`, millis(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count alerts since %s: %w", FormatTime(since), err)
	}
	return n, nil
}
