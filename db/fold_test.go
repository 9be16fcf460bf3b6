package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hookrelay/hookrelay/db"
)

func TestDecideFold(t *testing.T) {
	t.Parallel()
	const window = time.Hour
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	open := db.AlertStreak{Open: true, FailingSince: at(0), WindowEndsAt: at(60)}
	for _, tc := range []struct {
		name   string
		streak db.AlertStreak
		f      db.OutboxFailure
		want   db.FoldDecision
	}{
		{"first failure ever: immediate alert, window opens",
			db.AlertStreak{}, db.OutboxFailure{FirstAttemptAt: at(-10), FailedAt: at(0)},
			db.FoldDecision{Action: db.FoldNewWindow, Kind: db.AlertImmediate, Since: at(-10), WindowEndsAt: at(60), Due: at(0)}},
		{"inside the window, no digest yet: the window's digest is created",
			open, db.OutboxFailure{FailedAt: at(30), PrevFailureAt: at(0)},
			db.FoldDecision{Action: db.FoldOpenDigest, Kind: db.AlertDigest, Since: at(0), WindowEndsAt: at(60), Due: at(60)}},
		{"inside the window with a digest: folded into it",
			db.AlertStreak{Open: true, FailingSince: at(0), WindowEndsAt: at(60), HasDigest: true},
			db.OutboxFailure{FailedAt: at(30), PrevFailureAt: at(20)},
			db.FoldDecision{Action: db.FoldIntoDigest}},
		{"inside the window but its digest went out: a new digest window continues the incident",
			db.AlertStreak{Open: true, FailingSince: at(0), WindowEndsAt: at(60), HasDigest: true, DigestSent: true},
			db.OutboxFailure{FailedAt: at(59), PrevFailureAt: at(50)},
			db.FoldDecision{Action: db.FoldNewWindow, Kind: db.AlertDigest, Since: at(0), WindowEndsAt: at(119), Due: at(119)}},
		{"window closed, incident continuing (no success, previous failure recent): digest only",
			open, db.OutboxFailure{FailedAt: at(70), PrevFailureAt: at(50)},
			db.FoldDecision{Action: db.FoldNewWindow, Kind: db.AlertDigest, Since: at(0), WindowEndsAt: at(130), Due: at(130)}},
		{"window closed after a success: a new incident, immediate",
			open, db.OutboxFailure{FirstAttemptAt: at(65), FailedAt: at(70), PrevFailureAt: at(50), Recovered: true},
			db.FoldDecision{Action: db.FoldNewWindow, Kind: db.AlertImmediate, Since: at(65), WindowEndsAt: at(130), Due: at(70)}},
		{"window closed after a quiet spell longer than the window: a new incident, immediate",
			open, db.OutboxFailure{FirstAttemptAt: at(170), FailedAt: at(180), PrevFailureAt: at(60)},
			db.FoldDecision{Action: db.FoldNewWindow, Kind: db.AlertImmediate, Since: at(170), WindowEndsAt: at(240), Due: at(180)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, db.DecideFold(tc.streak, tc.f, window))
		})
	}
}
