package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/hookrelay/hookrelay/db"
)

// busyRetry is how soon a webhook is reported due again when its due work could not be
// claimed because of other instances: another one is claiming for it at this moment, or its
// deliveries in flight fill the webhook's cap. The engine asks again then.
const busyRetry = 50 * time.Millisecond

// ClaimDue leases due deliveries, oldest due first within each webhook, for lease. Leased
// rows are in state delivering until a result is recorded or the rescuer releases them.
// Asking per webhook keeps one webhook's backlog from standing in front of another's work.
func (s *DB) ClaimDue(ctx context.Context, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error) {
	return s.RecordAndClaim(ctx, nil, reqs, lease)
}

// RecordAndClaim records attempt results (see RecordAttempts) and then leases due work (see
// ClaimDue), in one transaction. The engine's every cycle is one such call.
//
// What is due is decided by the store's clock (Now); leases are taken on the database's
// clock, so that every instance agrees on when they end (Claim.LeaseUntil is on that clock
// too). Rows are locked with FOR UPDATE SKIP LOCKED, so instances claiming at once never
// lease the same delivery. When a request has a Cap, the claims of one webhook are
// serialized across instances by an advisory lock, and the webhook's deliveries in flight
// everywhere are counted against the cap.
func (s *DB) RecordAndClaim(ctx context.Context, results []db.AttemptResult, reqs []db.ClaimRequest, lease time.Duration) (db.Claimed, error) {
	out := db.Claimed{NextDue: make(map[string]time.Time, len(reqs)), Failed: map[string]error{}}
	err := s.write(ctx, func(t *tx) error {
		if err := t.recordAttempts(results); err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
		if err := t.claimDue(reqs, lease, &out); err != nil {
			return fmt.Errorf("claim due deliveries: %w", err)
		}
		return nil
	})
	if err != nil {
		return db.Claimed{}, err
	}
	return out, nil
}

// claimDue is ClaimDue inside a transaction; it fills out afresh.
func (t *tx) claimDue(reqs []db.ClaimRequest, lease time.Duration, out *db.Claimed) error {
	out.Claims = out.Claims[:0]
	clear(out.NextDue)
	clear(out.Failed)
	now := t.s.Now()
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
		if r.Limit > 0 && (r.Cap > 0 || target.rate > 0) {
			// Serialize this webhook's claimers across instances for the rest of the
			// transaction, so that the count of its deliveries in flight and its rate
			// limiter's state, which the claim reads after this, stay true until the claims
			// commit.
			var locked bool
			if err := t.queryRow(`SELECT pg_try_advisory_xact_lock($1)`, target.row).Scan(&locked); err != nil {
				return fmt.Errorf("lock webhook %s: %w", r.WebhookID, err)
			}
			if !locked {
				out.NextDue[r.WebhookID] = now.Add(busyRetry)
				continue
			}
		}
		rate, err := t.rate(target)
		if err != nil {
			return err
		}
		var claims []db.Claim
		if want := rate.Allow(now, r.Limit); want > 0 {
			limited := r
			limited.Limit = want
			if claims, err = t.claimWebhook(target.row, limited, now, lease); err != nil {
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
		var next *int64
		if err := t.queryRow(`SELECT min(next_attempt_at) FROM deliveries WHERE webhook_id = $1 AND state = 'pending'`,
			target.row).Scan(&next); err != nil {
			return fmt.Errorf("next due of %s: %w", r.WebhookID, err)
		}
		if next == nil {
			continue
		}
		// Due work beyond the rate limit waits for the limiter, not for the schedule.
		at := maxTime(fromMillis(*next), rate.Take(now, len(claims)).Next())
		if r.Limit > 0 && !at.After(now) {
			// Due work is left that this claim could not take: the cap is full, or the rows
			// are locked by another instance. Asking again at once would only spin.
			at = now.Add(busyRetry)
		}
		out.NextDue[r.WebhookID] = at
	}
	return nil
}

// rate returns the webhook's rate limiter as stored; its state changes with every claim, so
// it is read afresh (after the webhook's claim lock), never cached with the target.
func (t *tx) rate(target *claimTarget) (db.Rate, error) {
	r := db.Rate{Limit: target.rate}
	if r.Limit == 0 {
		return r, nil
	}
	if err := t.queryRow(`SELECT rate_tat FROM webhooks WHERE id = $1`, target.row).Scan(&r.TAT); err != nil {
		return r, fmt.Errorf("read rate of webhook %d: %w", target.row, err)
	}
	return r, nil
}

// takeRate stores the limiter's state after n attempts claimed at now.
func (t *tx) takeRate(target *claimTarget, r db.Rate, now time.Time, n int) error {
	if r.Limit == 0 {
		return nil
	}
	if _, err := t.exec(`UPDATE webhooks SET rate_tat = $1 WHERE id = $2`, r.Take(now, n).TAT, target.row); err != nil {
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
// still in their grace period, newest first.
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
// Building one decrypts secrets, so they are cached in memory by webhook and version: every
// change of a webhook, by any instance, bumps its version, which every claim reads.
func (t *tx) claimTarget(webhookID string) (*claimTarget, error) {
	c := claimTarget{}
	var (
		stored, headers string
		rate            *int64
	)
	err := t.queryRow(`SELECT id, version, enabled, url, secret, headers, rate_limit FROM webhooks WHERE public_id = $1`, webhookID).
		Scan(&c.row, &c.version, &c.enabled, &c.url, &stored, &headers, &rate)
	if errors.Is(err, pgx.ErrNoRows) {
		t.s.targetsMu.Lock()
		delete(t.s.targets, webhookID)
		t.s.targetsMu.Unlock()
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook %s: %w", webhookID, err)
	}
	t.s.targetsMu.Lock()
	cached, ok := t.s.targets[webhookID]
	t.s.targetsMu.Unlock()
	if ok && cached.row == c.row && cached.version == c.version {
		if cached.enabled == c.enabled {
			return cached, nil
		}
		fresh := *cached
		fresh.enabled = c.enabled
		return &fresh, nil
	}
	if rate != nil {
		c.rate = int(*rate)
	}
	if c.current, err = t.s.box.Open(webhookID, stored); err != nil {
		return nil, fmt.Errorf("%w: %w", errTarget, err)
	}
	if c.headers, err = t.s.box.OpenHeaders(webhookID, headers); err != nil {
		return nil, fmt.Errorf("%w: %w", errTarget, err)
	}
	if c.old, err = t.s.oldSecrets(t.ctx, t, webhookID, c.row, t.s.Now()); err != nil {
		if errors.Is(err, db.ErrEncryptionKeyRequired) || errors.Is(err, db.ErrEncryptionKeyWrong) {
			err = fmt.Errorf("%w: %w", errTarget, err)
		}
		return nil, fmt.Errorf("old secrets of webhook %s: %w", webhookID, err)
	}
	t.s.targetsMu.Lock()
	t.s.targets[webhookID] = &c
	t.s.targetsMu.Unlock()
	return &c, nil
}

// claimWebhook leases up to r.Limit due deliveries of one webhook, and no more than leave
// r.Cap in flight when it is set, with one UPDATE … RETURNING, counting each attempt as it
// is claimed (see db.Claim), and returns them with their events.
func (t *tx) claimWebhook(webhookRow int64, r db.ClaimRequest, now time.Time, lease time.Duration) ([]db.Claim, error) {
	token := rand.Int64()
	webhookID := r.WebhookID
	// The count of deliveries in flight stops at the cap: past it nothing is claimed anyway.
	rows, err := t.query(`WITH picked AS (
			SELECT id FROM deliveries WHERE webhook_id = $1 AND state = 'pending' AND next_attempt_at <= $2
			ORDER BY next_attempt_at, id
			LIMIT CASE WHEN $6 > 0 THEN greatest(0, least($3, $6 - (SELECT count(*) FROM
				(SELECT 1 FROM deliveries WHERE webhook_id = $1 AND state = 'delivering' LIMIT $6) f))) ELSE $3 END
			FOR UPDATE SKIP LOCKED)
		UPDATE deliveries d SET state = 'delivering', attempts = d.attempts + 1, locked_until = `+dbNowMillis+` + $4,
			lease_token = $5, updated_at = $2
		FROM picked, events e
		WHERE d.id = picked.id AND e.id = d.event_id
		RETURNING d.id, d.public_id, d.attempts - 1, d.manual, d.created_at, e.public_id, e.event_type, e.body, d.locked_until, d.next_attempt_at`,
		webhookRow, millis(now), r.Limit, max(lease, 0).Milliseconds(), token, max(r.Cap, 0))
	if err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", webhookID, err)
	}
	defer rows.Close()
	type claimed struct {
		c   db.Claim
		due int64
	}
	var got []claimed
	for rows.Next() {
		c := db.Claim{WebhookID: webhookID, LeaseToken: token}
		var until, due, created int64
		if err := rows.Scan(&c.Row, &c.DeliveryID, &c.Attempts, &c.Manual, &created, &c.EventID, &c.EventType, &c.Body, &until, &due); err != nil {
			return nil, fmt.Errorf("lease due deliveries of %s: %w", webhookID, err)
		}
		c.LeaseUntil, c.CreatedAt = fromMillis(until), fromMillis(created)
		got = append(got, claimed{c, due})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", webhookID, err)
	}
	// RETURNING has no order; hand them out oldest due first, as they were picked.
	slices.SortFunc(got, func(a, b claimed) int { return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.c.Row, b.c.Row)) })
	claims := make([]db.Claim, len(got))
	for i, g := range got {
		claims[i] = g.c
	}
	return claims, nil
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

// recordAttempts is RecordAttempts inside a transaction; it sets t.alerted when it queued an
// alert.
//
// A batch is recorded with one UPDATE … FROM unnest(…) and one INSERT … SELECT, not with
// statements per attempt. Attempts were counted when claimed, so each result carries its
// number; an attempt whose lease was lost is numbered apart from the one that replaced it,
// and replaces the placeholder that RescueExpired wrote for it (ON CONFLICT DO UPDATE).
func (t *tx) recordAttempts(results []db.AttemptResult) error {
	t.alerted = false
	if len(results) == 0 {
		return nil
	}
	now := millis(t.s.Now())
	n := len(results)
	lastErrs := make([]string, n)
	var (
		rowIDs, tokens, ats []int64
		states              = make([]string, n)
		nexts               = make([]*int64, n)
		codes               = make([]*int32, n)
		errs                = make([]*string, n)
	)
	for i, r := range results {
		lastErrs[i] = safeText(db.LastError(r))
		rowIDs, tokens, ats = append(rowIDs, r.Claim.Row), append(tokens, r.Claim.LeaseToken), append(ats, millis(r.AttemptedAt))
		states[i], codes[i], errs[i] = string(r.Next), nullInt32(r.StatusCode), nullString(lastErrs[i])
		if r.Next == db.StatePending {
			nexts[i] = nullMillis(r.NextAt)
		}
	}
	rows, err := t.query(`UPDATE deliveries d SET state = u.state, next_attempt_at = u.next, manual = false, locked_until = NULL,
		last_attempt_at = u.at, last_status_code = u.code, last_error = u.err, updated_at = $8
		FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::int[], $7::text[])
			AS u(id, token, state, next, at, code, err)
		WHERE d.id = u.id AND d.lease_token = u.token AND d.state = 'delivering'
		RETURNING d.id, d.lease_token`, rowIDs, tokens, states, nexts, ats, codes, errs, now)
	if err != nil {
		return fmt.Errorf("update deliveries: %w", err)
	}
	type lease struct{ row, token int64 }
	owned := make(map[lease]bool, n)
	for rows.Next() {
		var l lease
		if err := rows.Scan(&l.row, &l.token); err != nil {
			rows.Close()
			return fmt.Errorf("update deliveries: %w", err)
		}
		owned[l] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("update deliveries: %w", err)
	}
	if err := t.insertAttempts(results); err != nil {
		return err
	}
	return t.afterAttempts(results, lastErrs, func(r db.AttemptResult) bool { return owned[lease{r.Claim.Row, r.Claim.LeaseToken}] }, now)
}

// insertAttempts writes one attempt row per result, replacing a row of the same number (the
// rescuer's placeholder). The deliveries are locked FOR KEY SHARE as they are read, so that
// the attempts of a delivery deleted meanwhile (with its webhook) are dropped instead of
// failing the batch.
func (t *tx) insertAttempts(results []db.AttemptResult) error {
	// One row per (delivery, number), the last result winning, as the upsert would have it;
	// sorted, so that transactions writing the same keys take their locks in one order.
	type key struct {
		row    int64
		number int
	}
	last := make(map[key]int, len(results))
	for i, r := range results {
		last[key{r.Claim.Row, r.Claim.Number()}] = i
	}
	idx := make([]int, 0, len(last))
	for _, i := range last {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int {
		ra, rb := results[a].Claim, results[b].Claim
		return cmp.Or(cmp.Compare(ra.Row, rb.Row), cmp.Compare(ra.Number(), rb.Number()))
	})
	n := len(idx)
	var (
		rowIDs, ats, durations []int64
		numbers                = make([]int32, n)
		triggers, signatures   = make([]string, n), make([]string, n)
		codes                  = make([]*int32, n)
		bodies                 = make([][]byte, n)
		truncated              = make([]bool, n)
		classes, messages      = make([]*string, n), make([]*string, n)
		waits                  = make([]*int64, n)
	)
	for j, i := range idx {
		r := results[i]
		rowIDs, ats, durations = append(rowIDs, r.Claim.Row), append(ats, millis(r.AttemptedAt)), append(durations, r.Duration.Milliseconds())
		numbers[j], triggers[j], signatures[j] = int32(r.Claim.Number()), string(r.Claim.Trigger()), safeText(r.Signature)
		codes[j], bodies[j], truncated[j] = nullInt32(r.StatusCode), nonNil(r.ResponseBody), r.ResponseTruncated
		classes[j], messages[j] = nullString(safeText(r.ErrorClass)), nullString(safeText(r.ErrorMessage))
		if s := db.RetryAfterSeconds(r.RetryAfter); s != 0 {
			waits[j] = &s
		}
	}
	if _, err := t.exec(`INSERT INTO attempts (delivery_id, number, trigger, attempted_at, status_code, duration_ms,
			response_body, response_truncated, error_class, error_message, signature, retry_after_seconds)
		SELECT d.id, a.number, a.trigger, a.attempted_at, a.status_code, a.duration_ms, a.response_body, a.response_truncated,
			a.error_class, a.error_message, a.signature, a.retry_after_seconds
		FROM unnest($1::bigint[], $2::int[], $3::text[], $4::bigint[], $5::int[], $6::bigint[], $7::bytea[], $8::bool[],
			$9::text[], $10::text[], $11::text[], $12::bigint[])
			WITH ORDINALITY AS a(delivery_id, number, trigger, attempted_at, status_code, duration_ms, response_body,
				response_truncated, error_class, error_message, signature, retry_after_seconds, n)
		JOIN deliveries d ON d.id = a.delivery_id
		ORDER BY a.n
		FOR KEY SHARE OF d
		ON CONFLICT (delivery_id, number) DO UPDATE SET trigger = excluded.trigger, attempted_at = excluded.attempted_at,
			status_code = excluded.status_code, duration_ms = excluded.duration_ms, response_body = excluded.response_body,
			response_truncated = excluded.response_truncated, error_class = excluded.error_class,
			error_message = excluded.error_message, signature = excluded.signature,
			retry_after_seconds = excluded.retry_after_seconds`,
		rowIDs, numbers, triggers, ats, codes, durations, bodies, truncated, classes, messages, signatures, waits); err != nil {
		return fmt.Errorf("insert attempts: %w", err)
	}
	return nil
}

// afterAttempts does what follows recorded attempts: the alert bookkeeping of the attempts
// that still held their lease (once per webhook for successes), and each webhook's latest
// attempt, which the dashboard shows. All of it goes in one batch: one round trip.
func (t *tx) afterAttempts(results []db.AttemptResult, lastErrs []string, owned func(db.AttemptResult) bool, now int64) error {
	b := &pgx.Batch{}
	recovered := map[string]bool{} // webhooks whose recovery this batch has noted already
	latest := map[string]int{}     // webhook id → index of its latest owned result
	// Webhook by webhook, each in the order of its results: the rule is per webhook, and two
	// instances recording for the same webhooks then lock their streaks in one order.
	order := make([]int, len(results))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(results[a].Claim.WebhookID, results[b].Claim.WebhookID) })
	for _, i := range order {
		r := results[i]
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
		t.alerted = noteForAlerts(b, r, r.Claim.Number(), lastErrs[i], now) || t.alerted // see alert.go
		switch r.Next {
		case db.StateSucceeded:
			recovered[w] = true
		case db.StateFailed:
			delete(recovered, w)
		}
	}
	for _, w := range slices.Sorted(maps.Keys(latest)) {
		r := results[latest[w]]
		b.Queue(`UPDATE webhooks SET last_attempt_at = $1, last_delivery_id = $2, last_status_code = $3, last_error = $4
			WHERE public_id = $5 AND (last_attempt_at IS NULL OR last_attempt_at <= $1)`,
			millis(r.AttemptedAt), r.Claim.DeliveryID, nullInt(r.StatusCode), nullString(lastErrs[latest[w]]), w)
	}
	for _, c := range db.HourCounts(results, owned) {
		b.Queue(`INSERT INTO attempt_hours (webhook_id, hour, succeeded, failed)
			SELECT id, $1, $2, $3 FROM webhooks WHERE public_id = $4
			ON CONFLICT (webhook_id, hour) DO UPDATE SET succeeded = attempt_hours.succeeded + excluded.succeeded,
			failed = attempt_hours.failed + excluded.failed`, millis(c.Hour), c.Succeeded, c.Failed, c.WebhookID)
	}
	changes := db.HealthChanges(results, owned)
	queueRuns(b, changes) // see health.go
	if b.Len() > 0 {
		if err := t.SendBatch(t.ctx, b).Close(); err != nil {
			return fmt.Errorf("alert bookkeeping and latest attempts: %w", err)
		}
	}
	return t.trackHealth(changes, now)
}

// rescueBatch bounds one RescueExpired transaction.
const rescueBatch = 1000

// RescueExpired ends leases that have run out by the database's clock: the instance that
// claimed the delivery stopped mid-attempt, or the attempt outlived its lease. Each such
// attempt is recorded with error class db.ClassLeaseExpired (a result that comes in late
// replaces it), and the delivery goes back to pending, due at once, or, when that was its
// last attempt (the maxAttempts-th, or a manual retry), to failed with its alert queued.
// Rows whose result is being recorded at this moment are skipped (SKIP LOCKED). It returns
// how many leases it ended.
func (s *DB) RescueExpired(ctx context.Context, maxAttempts int) (int, error) {
	var n int
	err := s.write(ctx, func(t *tx) error {
		n = 0
		now := s.Now()
		rows, err := t.query(`SELECT d.id, d.public_id, d.lease_token, d.attempts, d.manual, d.updated_at,
			w.public_id, e.public_id, e.event_type
			FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id
			WHERE d.state = 'delivering' AND d.locked_until <= `+dbNowMillis+`
			ORDER BY d.locked_until LIMIT $1 FOR UPDATE OF d SKIP LOCKED`, rescueBatch)
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
		if err := t.recordAttempts(results); err != nil {
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
	return n, nil
}

// DueWebhooks returns, for every enabled webhook with pending deliveries, when the earliest
// of them is due. The engine uses it to (re)build its schedule.
func (s *DB) DueWebhooks(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT w.public_id,
		(SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending')
		FROM webhooks w WHERE w.enabled`)
	if err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", s.translate(err))
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var (
			id   string
			next *int64
		)
		if err := rows.Scan(&id, &next); err != nil {
			return nil, fmt.Errorf("list due webhooks: %w", s.translate(err))
		}
		if next != nil {
			out[id] = fromMillis(*next)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", s.translate(err))
	}
	return out, nil
}

// TryLead makes holder the leader of name for ttl and reports whether it is: the lease is
// taken when it is free or has expired, and renewed when holder has it already. Expiry is
// on the database's clock, so instances whose clocks disagree still never lead at once. Work
// that must run on one instance at a time (the rescuer, the alert sender) asks before each
// round.
func (s *DB) TryLead(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	led := false
	err := s.write(ctx, func(t *tx) error {
		var got string
		err := t.queryRow(`INSERT INTO leader_leases (name, holder, expires_at) VALUES ($1, $2, `+dbNowMillis+` + $3)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at <= `+dbNowMillis+`
			RETURNING holder`, name, holder, max(ttl, 0).Milliseconds()).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
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

// safeText makes s storable as PostgreSQL text, which must be valid UTF-8 without NUL:
// attempt errors and signatures come from outside and are shown, not compared.
func safeText(s string) string {
	if !strings.ContainsRune(s, 0) && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func nullInt32(n int) *int32 {
	if n == 0 {
		return nil
	}
	v := int32(n)
	return &v
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
