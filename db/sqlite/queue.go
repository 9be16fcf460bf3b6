package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// ClaimDue leases due deliveries, oldest due first within each webhook, for lease. Leased
// rows are in state delivering until RecordAttempts or the rescuer releases them. Asking
// per webhook keeps one webhook's backlog from standing in front of another's work.
func (s *DB) ClaimDue(ctx context.Context, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error) {
	return s.RecordAndClaim(ctx, nil, reqs, lease)
}

// RecordAndClaim records attempt results (see RecordAttempts) and then leases due work (see
// ClaimDue), in one transaction. The engine's every cycle is one such call: the slots that
// finished attempts freed are refilled without a second trip through the writer.
func (s *DB) RecordAndClaim(ctx context.Context, results []db.AttemptResult, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error) {
	out := db.Claimed{NextDue: make(map[string]time.Time, len(reqs))}
	alerted := false
	err := s.write(ctx, func(t *tx) error {
		var err error
		if alerted, err = t.recordAttempts(results); err != nil {
			return fmt.Errorf("record attempts: %w", translate(err))
		}
		if err := t.claimDue(reqs, lease, &out); err != nil {
			return fmt.Errorf("claim due deliveries: %w", translate(err))
		}
		return nil
	})
	if err != nil {
		return db.Claimed{}, err
	}
	if alerted {
		s.notifyAlertQueued()
	}
	return out, nil
}

// claimDue is ClaimDue inside a transaction; it fills out afresh.
func (t *tx) claimDue(reqs []db.ClaimRequest, lease time.Duration, out *db.Claimed) error {
	out.Claims = out.Claims[:0]
	clear(out.NextDue)
	now := t.db.Now()
	until := now.Add(lease)
	bodies := map[int64]eventBody{} // what this claim needs; see eventBodies for the cache
	for _, r := range reqs {
		target, err := t.claimTarget(r.WebhookID)
		if err != nil {
			return err
		}
		if target == nil || !target.enabled {
			continue
		}
		var claims []db.Claim
		if r.Limit > 0 {
			if claims, err = t.claimWebhook(target.row, r, now, until, bodies); err != nil {
				return err
			}
			if len(claims) > 0 {
				secrets := target.secrets(now)
				for i := range claims {
					claims[i].URL, claims[i].Secrets = target.url, secrets
				}
			}
			out.Claims = append(out.Claims, claims...)
		}
		if r.Limit > 0 && len(claims) == r.Limit {
			// A full claim: more may be due right now, and the engine asks again next turn.
			out.NextDue[r.WebhookID] = now
			continue
		}
		var next sql.NullInt64
		if err := t.queryRow(`SELECT min(next_attempt_at) FROM deliveries WHERE webhook_id = ? AND state = 'pending'`,
			target.row).Scan(&next); err != nil {
			return fmt.Errorf("next due of %s: %w", r.WebhookID, err)
		}
		if next.Valid {
			out.NextDue[r.WebhookID] = fromMillis(next.Int64)
		}
	}
	return nil
}

// claimTarget is what claims need of a webhook: where to send and what to sign with.
type claimTarget struct {
	row     int64
	url     string
	enabled bool
	current string         // the current secret, decrypted
	old     []db.OldSecret // decrypted, newest first; some may have expired since they were read
}

// secrets returns the secrets to sign with at now: the current one first, then the old ones
// still in their grace period, newest first. A receiver that has not switched yet finds its
// signature last.
func (c *claimTarget) secrets(now time.Time) []string {
	var live []db.OldSecret
	for _, o := range c.old {
		if o.ExpiresAt.After(now) {
			live = append(live, o)
		}
	}
	return db.WebhookSecrets{Current: c.current, Old: live}.All()
}

// claimTarget returns the webhook's claim target, nil when the webhook does not exist. They
// are cached on the write loop, since every engine turn claims for the same few webhooks; a
// webhook write drops its entry (forgetWebhook), and entries read inside a transaction are
// kept only once it commits. With several processes on one database this cache would need a
// version check; hookrelay runs one process per SQLite file.
func (t *tx) claimTarget(webhookID string) (*claimTarget, error) {
	if c, ok := t.db.targets[webhookID]; ok {
		return c, nil
	}
	if c, ok := t.newTargets[webhookID]; ok {
		return c, nil
	}
	var (
		c      claimTarget
		stored string
	)
	err := t.queryRow(`SELECT id, url, secret, enabled FROM webhooks WHERE public_id = ?`, webhookID).
		Scan(&c.row, &c.url, &stored, &c.enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook %s: %w", webhookID, err)
	}
	if c.current, err = t.db.box.Open(webhookID, stored); err != nil {
		return nil, fmt.Errorf("secret of webhook %s: %w", webhookID, err)
	}
	if c.old, err = t.db.oldSecrets(t.ctx, t, webhookID, c.row, t.db.Now()); err != nil {
		return nil, fmt.Errorf("old secrets of webhook %s: %w", webhookID, err)
	}
	if t.newTargets == nil {
		t.newTargets = map[string]*claimTarget{}
	}
	t.newTargets[webhookID] = &c
	return &c, nil
}

// forgetWebhook drops what is cached of a webhook that this transaction changes.
func (t *tx) forgetWebhook(webhookID string) {
	delete(t.db.targets, webhookID)
	delete(t.newTargets, webhookID)
}

// claimWebhook leases up to r.Limit due deliveries of one webhook with one UPDATE … RETURNING,
// then reads the events they carry in one query.
func (t *tx) claimWebhook(webhookRow int64, r db.ClaimRequest, now, until time.Time, bodies map[int64]eventBody) ([]db.Claim, error) {
	lease := rand.Int64()
	rows, err := t.query(`UPDATE deliveries SET state = 'delivering', locked_until = ?, lease_token = ?, updated_at = ?
		WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = ? AND state = 'pending' AND next_attempt_at <= ?
		             ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING id, public_id, attempts, manual, event_id`,
		millis(until), lease, millis(now), webhookRow, millis(now), r.Limit)
	if err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
	}
	var (
		claims  []db.Claim
		events  []int64
		missing []int64
	)
	for rows.Next() {
		c := db.Claim{WebhookID: r.WebhookID, LeaseUntil: until, LeaseToken: lease}
		var eventRow int64
		if err := rows.Scan(&c.Row, &c.DeliveryID, &c.Attempts, &c.Manual, &eventRow); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
		}
		if _, ok := bodies[eventRow]; !ok {
			if e, ok := t.db.bodies.get(eventRow); ok {
				bodies[eventRow] = e
			} else {
				bodies[eventRow] = eventBody{}
				missing = append(missing, eventRow)
			}
		}
		claims, events = append(claims, c), append(events, eventRow)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
	}
	if err := t.readEventBodies(missing, bodies); err != nil {
		return nil, err
	}
	for i := range claims {
		e := bodies[events[i]]
		claims[i].EventID, claims[i].EventType, claims[i].Body = e.id, e.typ, e.body
	}
	return claims, nil
}

// eventBody is what a claim needs of its event.
type eventBody struct {
	id, typ string
	body    []byte
}

// readEventBodies reads the given events into bodies, all in one query.
func (t *tx) readEventBodies(ids []int64, bodies map[int64]eventBody) error {
	if len(ids) == 0 {
		return nil
	}
	n := paddedRows(len(ids))
	args := make([]any, 0, n)
	for _, id := range ids {
		args = append(args, id)
	}
	args = padArgs(args, 1, n-len(ids))
	rows, err := t.query(`SELECT id, public_id, event_type, body FROM events WHERE id IN (`+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("read events: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			row int64
			e   eventBody
		)
		if err := rows.Scan(&row, &e.id, &e.typ, &e.body); err != nil {
			return fmt.Errorf("read events: %w", translate(err))
		}
		bodies[row] = e
		t.newBodies = append(t.newBodies, cachedBody{row, e})
	}
	return rows.Err()
}

// bodyCache keeps the events read by recent claims: a fan-out to ten webhooks is claimed in
// up to ten turns of the engine, and events never change. It holds at most maxBytes of
// bodies, oldest out first. It is touched only by the write loop; like claim targets,
// entries read in a transaction are added once it commits.
type bodyCache struct {
	entries  map[int64]eventBody
	order    []int64 // first in, first out; order[head:] are live
	head     int
	bytes    int
	maxBytes int
}

type cachedBody struct {
	row  int64
	body eventBody
}

func newBodyCache(maxBytes int) *bodyCache {
	return &bodyCache{entries: map[int64]eventBody{}, maxBytes: maxBytes}
}

func (c *bodyCache) get(row int64) (eventBody, bool) {
	e, ok := c.entries[row]
	return e, ok
}

func (c *bodyCache) add(row int64, e eventBody) {
	size := len(e.body)
	if _, ok := c.entries[row]; ok || size > c.maxBytes/16 {
		return
	}
	for c.bytes+size > c.maxBytes && c.head < len(c.order) {
		old := c.order[c.head]
		c.bytes -= len(c.entries[old].body)
		delete(c.entries, old)
		c.head++
	}
	if c.head > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
	c.order = append(c.order, row)
	c.entries[row] = e
	c.bytes += size
}

// RecordAttempts appends each attempt to its delivery's history and moves the delivery to
// its next state, all in one transaction. An attempt whose lease was lost (the rescuer
// requeued the delivery meanwhile) is still recorded, since it happened, but does not change
// the delivery's state: the newer claim owns that. Attempts of deleted deliveries are dropped.
// A delivery whose schedule is used up gets its failure alert queued in the same transaction.
func (s *DB) RecordAttempts(ctx context.Context, results []db.AttemptResult) error {
	_, err := s.RecordAndClaim(ctx, results, nil, 0)
	return err
}

// recordAttempts is RecordAttempts inside a transaction; it reports whether it queued an alert.
//
// A batch is recorded with one UPDATE … FROM (VALUES …) and one INSERT … SELECT, not with
// statements per attempt: at thousands of attempts a second the per-call cost dominates.
// Attempts whose lease was lost are counted one by one (they are rare).
func (t *tx) recordAttempts(results []db.AttemptResult) (alerted bool, err error) {
	if len(results) == 0 {
		return false, nil
	}
	now := millis(t.db.Now())
	lastErrs := make([]string, len(results))
	seen := make(map[int64]bool, len(results))
	for i, r := range results {
		if seen[r.Claim.Row] {
			// The same delivery twice in one batch (an attempt that lost its lease and the one
			// that replaced it): the set statements would number both alike.
			return t.recordAttemptsOneByOne(results)
		}
		seen[r.Claim.Row] = true
		lastErrs[i] = db.LastError(r)
	}
	n := paddedRows(len(results))
	args := make([]any, 0, 1+n*7)
	args = append(args, now)
	for i, r := range results {
		var next any
		if r.Next == db.StatePending {
			next = millis(r.NextAt)
		}
		args = append(args, r.Claim.Row, r.Claim.LeaseToken, string(r.Next), next, millis(r.AttemptedAt),
			nullInt(r.StatusCode), nullString(lastErrs[i]))
	}
	args = padArgs(args, 7, n-len(results))
	rows, err := t.query(`UPDATE deliveries SET attempts = deliveries.attempts + 1, state = u.column3,
		next_attempt_at = u.column4, manual = 0, locked_until = NULL, lease_token = NULL,
		last_attempt_at = u.column5, last_status_code = u.column6, last_error = u.column7, updated_at = ?
		FROM (`+valuesList(n, 7)+`) AS u
		WHERE deliveries.id = u.column1 AND deliveries.lease_token = u.column2
		RETURNING deliveries.id`, args...)
	if err != nil {
		return false, fmt.Errorf("update deliveries: %w", translate(err))
	}
	owned := make(map[int64]bool, len(results))
	for rows.Next() {
		var row int64
		if err := rows.Scan(&row); err != nil {
			rows.Close()
			return false, fmt.Errorf("update deliveries: %w", translate(err))
		}
		owned[row] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("update deliveries: %w", translate(err))
	}
	for _, r := range results {
		if !owned[r.Claim.Row] {
			// The lease was lost: count the attempt, leave the state to the newer claim. A
			// deleted delivery (its webhook is gone) matches nothing here or below.
			if _, err := t.exec(`UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ?`, now, r.Claim.Row); err != nil {
				return false, fmt.Errorf("update delivery %s: %w", r.Claim.DeliveryID, err)
			}
		}
	}
	args = args[:0]
	for _, r := range results {
		args = append(args, r.Claim.Row, string(r.Claim.Trigger()), millis(r.AttemptedAt), nullInt(r.StatusCode),
			r.Duration.Milliseconds(), nonNil(r.ResponseBody), r.ResponseTruncated, nullString(r.ErrorClass),
			nullString(r.ErrorMessage), r.Signature)
	}
	args = padArgs(args, 10, n-len(results))
	if _, err := t.exec(`INSERT INTO attempts (delivery_id, number, trigger, attempted_at, status_code, duration_ms,
		response_body, response_truncated, error_class, error_message, signature)
		SELECT d.id, d.attempts, a.column2, a.column3, a.column4, a.column5, a.column6, a.column7, a.column8, a.column9, a.column10
		FROM (`+valuesList(n, 10)+`) AS a JOIN deliveries d ON d.id = a.column1`, args...); err != nil {
		return false, fmt.Errorf("insert attempts: %w", translate(err))
	}
	return t.afterAttempts(results, lastErrs, func(r db.AttemptResult) bool { return owned[r.Claim.Row] }, now)
}

// recordAttemptsOneByOne records a batch statement by statement, each attempt numbered after
// the one before it.
func (t *tx) recordAttemptsOneByOne(results []db.AttemptResult) (bool, error) {
	now := millis(t.db.Now())
	lastErrs := make([]string, len(results))
	owned := make([]bool, len(results))
	for i, r := range results {
		c := r.Claim
		lastErrs[i] = db.LastError(r)
		var next sql.NullInt64
		if r.Next == db.StatePending {
			next = nullMillis(r.NextAt)
		}
		var attempts int
		owned[i] = true
		err := t.queryRow(`UPDATE deliveries SET attempts = attempts + 1, state = ?, next_attempt_at = ?, manual = 0,
			locked_until = NULL, lease_token = NULL, last_attempt_at = ?, last_status_code = ?, last_error = ?, updated_at = ?
			WHERE id = ? AND lease_token = ? RETURNING attempts`,
			string(r.Next), next, millis(r.AttemptedAt), nullInt(r.StatusCode), nullString(lastErrs[i]), now, c.Row, c.LeaseToken).Scan(&attempts)
		if errors.Is(err, sql.ErrNoRows) {
			owned[i] = false
			err = t.queryRow(`UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING attempts`,
				now, c.Row).Scan(&attempts)
			if errors.Is(err, sql.ErrNoRows) {
				continue // deleted with its webhook
			}
		}
		if err != nil {
			return false, fmt.Errorf("update delivery %s: %w", c.DeliveryID, err)
		}
		if _, err := t.exec(`INSERT INTO attempts (delivery_id, number, trigger, attempted_at, status_code, duration_ms,
			response_body, response_truncated, error_class, error_message, signature)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Row, attempts, string(c.Trigger()), millis(r.AttemptedAt), nullInt(r.StatusCode), r.Duration.Milliseconds(),
			nonNil(r.ResponseBody), r.ResponseTruncated, nullString(r.ErrorClass), nullString(r.ErrorMessage), r.Signature); err != nil {
			return false, fmt.Errorf("insert attempt of %s: %w", c.DeliveryID, err)
		}
	}
	i := -1
	return t.afterAttempts(results, lastErrs, func(db.AttemptResult) bool { i++; return owned[i] }, now)
}

// afterAttempts does what follows recorded attempts: the alert bookkeeping of the attempts
// that still held their lease (once per webhook for successes), and each webhook's latest
// attempt, which the dashboard shows.
func (t *tx) afterAttempts(results []db.AttemptResult, lastErrs []string, owned func(db.AttemptResult) bool, now int64) (alerted bool, err error) {
	recovered := map[string]bool{} // webhooks whose recovery this batch has noted already
	latest := map[string]int{}     // webhook id → index of its latest owned result
	for i, r := range results {
		if !owned(r) {
			continue
		}
		w := r.Claim.WebhookID
		if j, ok := latest[w]; !ok || !r.AttemptedAt.Before(results[j].AttemptedAt) {
			latest[w] = i
		}
		if r.Next == db.StateSucceeded && recovered[w] {
			continue
		}
		queued, err := t.noteForAlerts(r, r.Claim.Attempts+1, lastErrs[i], now) // see alert.go
		if err != nil {
			return false, err
		}
		alerted = alerted || queued
		switch r.Next {
		case db.StateSucceeded:
			recovered[w] = true
		case db.StateFailed:
			delete(recovered, w)
		}
	}
	for w, i := range latest {
		r := results[i]
		if _, err := t.exec(`UPDATE webhooks SET last_attempt_at = ?, last_delivery_id = ?, last_status_code = ?, last_error = ?
			WHERE public_id = ? AND (last_attempt_at IS NULL OR last_attempt_at <= ?)`,
			millis(r.AttemptedAt), r.Claim.DeliveryID, nullInt(r.StatusCode), nullString(lastErrs[i]), w, millis(r.AttemptedAt)); err != nil {
			return false, fmt.Errorf("note latest attempt of %s: %w", w, err)
		}
	}
	return alerted, nil
}

// paddedRows rounds a batch size up to a power of two, so that multi-row statements come in
// a few sizes, each prepared once.
func paddedRows(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// valuesList returns "VALUES (?, …), …" for rows rows of cols columns.
func valuesList(rows, cols int) string {
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return "VALUES " + strings.Repeat(row+", ", rows-1) + row
}

// padArgs appends rows of NULLs: padding rows match no delivery, so they change nothing.
func padArgs(args []any, cols, rows int) []any {
	for range rows * cols {
		args = append(args, nil)
	}
	return args
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// RescueExpired returns deliveries whose lease has run out (the process that claimed them
// died mid-attempt, or the attempt outlived its lease) to pending, due at once. This is what
// makes delivery at-least-once across crashes.
func (s *DB) RescueExpired(ctx context.Context) (int, error) {
	var n int
	err := s.write(ctx, func(t *tx) error {
		now := millis(s.Now())
		rows, err := t.query(`UPDATE deliveries SET state = 'pending', next_attempt_at = ?, locked_until = NULL,
			lease_token = NULL, updated_at = ?
			WHERE state = 'delivering' AND locked_until <= ?
			RETURNING (SELECT public_id FROM webhooks WHERE id = webhook_id)`, now, now, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		seen := map[string]bool{}
		n = 0
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			n++
			if !seen[id] {
				seen[id] = true
				t.markDue(id)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("rescue expired leases: %w", translate(err))
	}
	return n, nil
}

// DueWebhooks returns, for every enabled webhook with pending deliveries, when the earliest
// of them is due. The engine uses it to (re)build its schedule.
func (s *DB) DueWebhooks(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT w.public_id,
		(SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending')
		FROM webhooks w WHERE w.enabled = 1`)
	if err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", translate(err))
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var (
			id   string
			next sql.NullInt64
		)
		if err := rows.Scan(&id, &next); err != nil {
			return nil, fmt.Errorf("list due webhooks: %w", translate(err))
		}
		if next.Valid {
			out[id] = fromMillis(next.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", translate(err))
	}
	return out, nil
}
