package db

import "time"

// Failure alerts.
//
// A delivery whose retry schedule is used up is written to the alert outbox by the store,
// in the transaction that marks it failed, so a crash cannot lose the alert. A failed manual
// retry raises no alert: the delivery was alerted when its schedule ran out, and the admin
// who retried it sees the outcome.
//
// The alert sender folds the outbox into alerts (FoldAlertFailures) by the no-flood rule,
// DecideFold:
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

// AlertStreak is what the no-flood rule knows of a webhook's incident: kept by the store
// per webhook, updated as DecideFold says.
type AlertStreak struct {
	// Open: an incident has started (FailingSince is set).
	Open         bool
	FailingSince time.Time
	WindowEndsAt time.Time
	// HasDigest: the window has a digest alert; DigestSent: it has gone out already.
	HasDigest  bool
	DigestSent bool
}

// OutboxFailure is what the rule needs of a failure waiting in the outbox.
type OutboxFailure struct {
	FirstAttemptAt time.Time // of the failed delivery
	FailedAt       time.Time
	PrevFailureAt  time.Time // the webhook's previous failure; zero when none
	Recovered      bool      // a delivery of the webhook succeeded since PrevFailureAt
}

// FoldAction is what DecideFold tells the store to do with one failure.
type FoldAction int

// Fold actions.
const (
	// FoldIntoDigest: add the failure to the open window's digest.
	FoldIntoDigest FoldAction = iota + 1
	// FoldOpenDigest: create the digest of the open window (Kind, Since, WindowEndsAt, Due
	// say how) and add the failure to it; the streak's window stays.
	FoldOpenDigest
	// FoldNewWindow: create an alert (Kind, Since, WindowEndsAt, Due) and make its window the
	// streak's: FailingSince = Since, WindowEndsAt, and the digest is the new alert when Kind
	// is AlertDigest, none otherwise.
	FoldNewWindow
)

// FoldDecision is DecideFold's answer.
type FoldDecision struct {
	Action       FoldAction
	Kind         AlertKind
	Since        time.Time // the incident's start, shown in the alert
	WindowEndsAt time.Time
	Due          time.Time // when the alert is sent
}

// DecideFold applies the no-flood rule (see above) to failure f of a webhook whose streak is
// s, for digest windows of window.
func DecideFold(s AlertStreak, f OutboxFailure, window time.Duration) FoldDecision {
	if s.Open && f.FailedAt.Before(s.WindowEndsAt) {
		// The window is open: fold into its digest, unless that has gone out already (this
		// failure was recorded just as the window closed), in which case a new window opens.
		if s.HasDigest && !s.DigestSent {
			return FoldDecision{Action: FoldIntoDigest}
		}
		if !s.HasDigest {
			return FoldDecision{Action: FoldOpenDigest, Kind: AlertDigest, Since: s.FailingSince,
				WindowEndsAt: s.WindowEndsAt, Due: s.WindowEndsAt}
		}
	}
	end := f.FailedAt.Add(window)
	continuing := s.Open && !f.Recovered && !f.PrevFailureAt.IsZero() && f.FailedAt.Sub(f.PrevFailureAt) < window
	if continuing {
		return FoldDecision{Action: FoldNewWindow, Kind: AlertDigest, Since: s.FailingSince, WindowEndsAt: end, Due: end}
	}
	return FoldDecision{Action: FoldNewWindow, Kind: AlertImmediate, Since: f.FirstAttemptAt, WindowEndsAt: end, Due: f.FailedAt}
}
