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
	out := db.Claimed{NextDue: make(map[string]time.Time, len(reqs)), Failed: map[string]error{}}
	alerted := false
	err := s.write(ctx, func(t *tx) error {
		var err error
		if alerted, err = t.recordAttempts(results); err != nil {
			return fmt.Errorf("record attempts: %w", s.translate(err))
		}
		if err := t.claimDue(reqs, lease, &out); err != nil {
			return fmt.Errorf("claim due deliveries: %w", s.translate(err))
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
	clear(out.Failed)
	now := t.db.Now()
	until := now.Add(lease)
	bodies := map[string]eventBody{} // what this claim needs; see bodyCache
	for _, r := range reqs {
		target, err := t.claimTarget(r.WebhookID)
		if errors.Is(err, errTarget) {
			out.Failed[r.WebhookID] = err
			continue
		}
		if err != nil {
			return err
		}
		if target == nil || !target.enabled {
			continue
		}
		rate, err := t.rate(target)
		if err != nil {
			return err
		}
		var claims []db.Claim
		if want := rate.Allow(now, r.Limit); want > 0 {
			limited := r
			limited.Limit = want
			if claims, err = t.claimWebhook(target.row, limited, now, until, bodies); err != nil {
				return err
			}
			if len(claims) > 0 {
				secrets := target.secrets(now)
				for i := range claims {
					claims[i].URL, claims[i].Secrets, claims[i].Headers = target.url, secrets, target.headers
				}
				if err := t.takeRate(target, rate, now, len(claims)); err != nil {
					return err
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
			// Due work beyond the rate limit waits for the limiter, not for the schedule.
			out.NextDue[r.WebhookID] = maxTime(fromMillis(next.Int64), rate.Take(now, len(claims)).Next())
		}
	}
	return nil
}

// rate returns the webhook's rate limiter as stored; its state changes with every claim, so
// it is read afresh, never cached with the target.
func (t *tx) rate(target *claimTarget) (db.Rate, error) {
	r := db.Rate{Limit: target.rate}
	if r.Limit == 0 {
		return r, nil
	}
	if err := t.queryRow(`SELECT rate_tat FROM webhooks WHERE id = ?`, target.row).Scan(&r.TAT); err != nil {
		return r, fmt.Errorf("read rate of webhook %d: %w", target.row, err)
	}
	return r, nil
}

// takeRate stores the limiter's state after n attempts claimed at now.
func (t *tx) takeRate(target *claimTarget, r db.Rate, now time.Time, n int) error {
	if r.Limit == 0 {
		return nil
	}
	if _, err := t.exec(`UPDATE webhooks SET rate_tat = ? WHERE id = ?`, r.Take(now, n).TAT, target.row); err != nil {
		return fmt.Errorf("record rate of webhook %d: %w", target.row, err)
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// claimTarget is what claims need of a webhook: where to send and what to sign with.
type claimTarget struct {
	row     int64
	version int64 // webhooks.version when it was read
	url     string
	enabled bool
	current string            // the current secret, decrypted
	old     []db.OldSecret    // decrypted, newest first; some may have expired since they were read
	headers map[string]string // decrypted; shared by every claim, never changed
	rate    int               // attempts per second, 0 for no limit
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

// errTarget marks a webhook whose claim target cannot be built (its secret does not
// decrypt): its deliveries are left pending, and the others' are claimed.
var errTarget = errors.New("webhook cannot be delivered to")

// claimTarget returns the webhook's claim target, nil when the webhook does not exist.
// Building one decrypts secrets, so they are cached on the write loop: every engine turn
// claims for the same few webhooks. Each claim still reads the webhook's version, which
// every change bumps, and rebuilds a stale entry; so the cache is right whichever process
// changed the webhook. Entries read inside a transaction are kept once it commits.
func (t *tx) claimTarget(webhookID string) (*claimTarget, error) {
	var (
		row, version int64
		enabled      bool
	)
	err := t.queryRow(`SELECT id, version, enabled FROM webhooks WHERE public_id = ?`, webhookID).Scan(&row, &version, &enabled)
	if errors.Is(err, sql.ErrNoRows) {
		delete(t.db.targets, webhookID)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook %s: %w", webhookID, err)
	}
	for _, cache := range []map[string]*claimTarget{t.newTargets, t.db.targets} {
		if c, ok := cache[webhookID]; ok && c.row == row && c.version == version {
			return c, nil
		}
	}
	c := claimTarget{row: row, version: version, enabled: enabled}
	var (
		stored, headers string
		rate            sql.NullInt64
	)
	if err := t.queryRow(`SELECT url, secret, headers, rate_limit FROM webhooks WHERE id = ?`, row).
		Scan(&c.url, &stored, &headers, &rate); err != nil {
		return nil, fmt.Errorf("read webhook %s: %w", webhookID, err)
	}
	c.rate = int(rate.Int64)
	if c.current, err = t.db.box.Open(webhookID, stored); err != nil {
		return nil, fmt.Errorf("%w: %w", errTarget, err)
	}
	if c.headers, err = t.db.box.OpenHeaders(webhookID, headers); err != nil {
		return nil, fmt.Errorf("%w: %w", errTarget, err)
	}
	if c.old, err = t.db.oldSecrets(t.ctx, t, webhookID, c.row, t.db.Now()); err != nil {
		if errors.Is(err, db.ErrEncryptionKeyRequired) || errors.Is(err, db.ErrEncryptionKeyWrong) {
			err = fmt.Errorf("%w: %w", errTarget, err)
		}
		return nil, fmt.Errorf("old secrets of webhook %s: %w", webhookID, err)
	}
	if t.newTargets == nil {
		t.newTargets = map[string]*claimTarget{}
	}
	t.newTargets[webhookID] = &c
	return &c, nil
}

// claimWebhook leases up to r.Limit due deliveries of one webhook with one UPDATE … RETURNING,
// counting each attempt as it is claimed (see db.Claim), then reads the events they carry
// that the body cache does not hold, in one query.
func (t *tx) claimWebhook(webhookRow int64, r db.ClaimRequest, now, until time.Time, bodies map[string]eventBody) ([]db.Claim, error) {
	lease := rand.Int64()
	rows, err := t.query(`UPDATE deliveries SET state = 'delivering', attempts = attempts + 1, locked_until = ?, lease_token = ?,
		updated_at = ?
		WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = ? AND state = 'pending' AND next_attempt_at <= ?
		             ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING id, public_id, attempts - 1, manual, created_at, event_id, (SELECT public_id FROM events WHERE id = event_id)`,
		millis(until), lease, millis(now), webhookRow, millis(now), r.Limit)
	if err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
	}
	var (
		claims  []db.Claim
		missing []int64
	)
	for rows.Next() {
		c := db.Claim{WebhookID: r.WebhookID, LeaseUntil: until, LeaseToken: lease}
		var eventRow, created int64
		if err := rows.Scan(&c.Row, &c.DeliveryID, &c.Attempts, &c.Manual, &created, &eventRow, &c.EventID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
		}
		c.CreatedAt = fromMillis(created)
		if _, ok := bodies[c.EventID]; !ok {
			if e, ok := t.db.bodies.get(c.EventID); ok {
				bodies[c.EventID] = e
			} else {
				bodies[c.EventID] = eventBody{}
				missing = append(missing, eventRow)
			}
		}
		claims = append(claims, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
	}
	if err := t.readEventBodies(missing, bodies); err != nil {
		return nil, err
	}
	for i := range claims {
		e := bodies[claims[i].EventID]
		claims[i].EventType, claims[i].Body = e.typ, e.body
	}
	return claims, nil
}

// eventBody is what a claim needs of its event.
type eventBody struct {
	typ  string
	body []byte
}

// readEventBodies reads the given events (by row) into bodies (by public id), all in one
// query.
func (t *tx) readEventBodies(rowIDs []int64, bodies map[string]eventBody) error {
	if len(rowIDs) == 0 {
		return nil
	}
	n := paddedRows(len(rowIDs))
	args := make([]any, 0, n)
	for _, id := range rowIDs {
		args = append(args, id)
	}
	args = padArgs(args, 1, n-len(rowIDs))
	rows, err := t.query(`SELECT public_id, event_type, body FROM events WHERE id IN (`+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+`)`, args...)
	if err != nil {
		return fmt.Errorf("read events: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			e  eventBody
		)
		if err := rows.Scan(&id, &e.typ, &e.body); err != nil {
			return fmt.Errorf("read events: %w", translate(err))
		}
		bodies[id] = e
		t.newBodies = append(t.newBodies, cachedBody{id, e})
	}
	return rows.Err()
}

// bodyCache keeps the events read by recent claims: a fan-out to ten webhooks is claimed in
// up to ten turns of the engine, and events never change. Entries are keyed by the event's
// public id, which is never reused (row ids may be, once rows are deleted). It holds at most
// maxBytes of bodies, oldest out first. It is touched only by the write loop; like claim
// targets, entries read in a transaction are added once it commits.
type bodyCache struct {
	entries  map[string]eventBody
	order    []string // first in, first out; order[head:] are live
	head     int
	bytes    int
	maxBytes int
}

type cachedBody struct {
	id   string
	body eventBody
}

func newBodyCache(maxBytes int) *bodyCache {
	return &bodyCache{entries: map[string]eventBody{}, maxBytes: maxBytes}
}

func (c *bodyCache) get(id string) (eventBody, bool) {
	e, ok := c.entries[id]
	return e, ok
}

func (c *bodyCache) add(id string, e eventBody) {
	size := len(e.body)
	if _, ok := c.entries[id]; ok || size > c.maxBytes/16 {
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
	c.order = append(c.order, id)
	c.entries[id] = e
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
// Attempts were counted when claimed, so each result carries its number; an attempt whose
// lease was lost is numbered apart from the one that replaced it, even in the same batch, and
// replaces the placeholder that RescueExpired wrote for it.
func (t *tx) recordAttempts(results []db.AttemptResult) (alerted bool, err error) {
	if len(results) == 0 {
		return false, nil
	}
	now := millis(t.db.Now())
	lastErrs := make([]string, len(results))
	for i, r := range results {
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
	rows, err := t.query(`UPDATE deliveries SET state = u.column3,
		next_attempt_at = u.column4, manual = 0, locked_until = NULL,
		last_attempt_at = u.column5, last_status_code = u.column6, last_error = u.column7, updated_at = ?
		FROM (`+valuesList(n, 7)+`) AS u
		WHERE deliveries.id = u.column1 AND deliveries.lease_token = u.column2 AND deliveries.state = 'delivering'
		RETURNING deliveries.id, deliveries.lease_token`, args...)
	if err != nil {
		return false, fmt.Errorf("update deliveries: %w", translate(err))
	}
	type lease struct{ row, token int64 }
	owned := make(map[lease]bool, len(results))
	for rows.Next() {
		var l lease
		if err := rows.Scan(&l.row, &l.token); err != nil {
			rows.Close()
			return false, fmt.Errorf("update deliveries: %w", translate(err))
		}
		owned[l] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("update deliveries: %w", translate(err))
	}
	// The attempts of deliveries deleted meanwhile (with their webhook) join nothing and are
	// dropped.
	args = args[:0]
	for _, r := range results {
		args = append(args, r.Claim.Row, r.Claim.Number(), string(r.Claim.Trigger()), millis(r.AttemptedAt), nullInt(r.StatusCode),
			r.Duration.Milliseconds(), nonNil(r.ResponseBody), r.ResponseTruncated, nullString(r.ErrorClass),
			nullString(r.ErrorMessage), r.Signature, nullRetryAfter(r.RetryAfter))
	}
	args = padArgs(args, 12, n-len(results))
	if _, err := t.exec(`INSERT INTO attempts (delivery_id, number, trigger, attempted_at, status_code, duration_ms,
		response_body, response_truncated, error_class, error_message, signature, retry_after_seconds)
		SELECT d.id, a.column2, a.column3, a.column4, a.column5, a.column6, a.column7, a.column8, a.column9, a.column10, a.column11, a.column12
		FROM (`+valuesList(n, 12)+`) AS a JOIN deliveries d ON d.id = a.column1 WHERE true
		ON CONFLICT (delivery_id, number) DO UPDATE SET trigger = excluded.trigger, attempted_at = excluded.attempted_at,
		status_code = excluded.status_code, duration_ms = excluded.duration_ms, response_body = excluded.response_body,
		response_truncated = excluded.response_truncated, error_class = excluded.error_class,
		error_message = excluded.error_message, signature = excluded.signature,
		retry_after_seconds = excluded.retry_after_seconds`, args...); err != nil {
		return false, fmt.Errorf("insert attempts: %w", translate(err))
	}
	return t.afterAttempts(results, lastErrs, func(r db.AttemptResult) bool { return owned[lease{r.Claim.Row, r.Claim.LeaseToken}] }, now)
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
		queued, err := t.noteForAlerts(r, r.Claim.Number(), lastErrs[i], now) // see alert.go
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
	for _, c := range db.HourCounts(results, owned) {
		if _, err := t.exec(`INSERT INTO attempt_hours (webhook_id, hour, succeeded, failed)
			SELECT id, ?, ?, ? FROM webhooks WHERE public_id = ?
			ON CONFLICT (webhook_id, hour) DO UPDATE SET succeeded = succeeded + excluded.succeeded,
			failed = failed + excluded.failed`, millis(c.Hour), c.Succeeded, c.Failed, c.WebhookID); err != nil {
			return false, fmt.Errorf("count attempts of %s: %w", c.WebhookID, err)
		}
	}
	noticed, err := t.trackHealth(results, owned, now) // see health.go
	return alerted || noticed, err
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

// rescueBatch bounds one RescueExpired transaction.
const rescueBatch = 1000

// RescueExpired ends leases that have run out: the instance that claimed the delivery
// stopped mid-attempt, or the attempt outlived its lease. Each such attempt is recorded with
// error class db.ClassLeaseExpired (a result that comes in late replaces it), and the
// delivery goes back to pending, due at once, or, when that was its last attempt (the
// maxAttempts-th, or a manual retry), to failed with its alert queued. This is what makes
// delivery at-least-once across crashes, without handing out forever a delivery whose
// attempts never come back. It returns how many leases it ended.
func (s *DB) RescueExpired(ctx context.Context, maxAttempts int) (int, error) {
	var (
		n       int
		alerted bool
	)
	err := s.write(ctx, func(t *tx) error {
		now := s.Now()
		rows, err := t.query(`SELECT d.id, d.public_id, d.lease_token, d.attempts, d.manual, d.updated_at,
			w.public_id, e.public_id, e.event_type
			FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id
			WHERE d.state = 'delivering' AND d.locked_until <= ? ORDER BY d.locked_until LIMIT ?`, millis(now), rescueBatch)
		if err != nil {
			return err
		}
		var results []db.AttemptResult
		for rows.Next() {
			var (
				c         db.Claim
				claimedAt int64
			)
			if err := rows.Scan(&c.Row, &c.DeliveryID, &c.LeaseToken, &c.Attempts, &c.Manual, &claimedAt,
				&c.WebhookID, &c.EventID, &c.EventType); err != nil {
				rows.Close()
				return err
			}
			c.Attempts-- // counted when claimed
			results = append(results, db.LeaseExpired(c, fromMillis(claimedAt), maxAttempts, now))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if alerted, err = t.recordAttempts(results); err != nil {
			return err
		}
		n = len(results)
		announced := map[string]bool{}
		for _, r := range results {
			if r.Next == db.StatePending && !announced[r.Claim.WebhookID] {
				announced[r.Claim.WebhookID] = true
				t.markDue(r.Claim.WebhookID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rescue expired leases: %w", s.translate(err))
	}
	if alerted {
		s.notifyAlertQueued()
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
		return nil, fmt.Errorf("list due webhooks: %w", s.translate(err))
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var (
			id   string
			next sql.NullInt64
		)
		if err := rows.Scan(&id, &next); err != nil {
			return nil, fmt.Errorf("list due webhooks: %w", s.translate(err))
		}
		if next.Valid {
			out[id] = fromMillis(next.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", s.translate(err))
	}
	return out, nil
}

// TryLead makes holder the leader of name for ttl and reports whether it is: the lease is
// taken when it is free or has expired, and renewed when holder has it already. Work that
// must run on one instance at a time (the rescuer, the alert sender) asks before each round.
func (s *DB) TryLead(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	led := false
	err := s.write(ctx, func(t *tx) error {
		now := s.Now()
		var got string
		err := t.queryRow(`INSERT INTO leader_leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at <= ?4
			RETURNING holder`, name, holder, millis(now.Add(ttl)), millis(now)).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			led = false
			return nil
		}
		led = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lead %s: %w", name, s.translate(err))
	}
	return led, nil
}
