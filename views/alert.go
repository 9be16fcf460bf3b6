package views

import "github.com/hookrelay/hookrelay/db"

// alertStateLabel is the text of an alert's state badge; colour only repeats it.
func alertStateLabel(s db.AlertState) string {
	switch s {
	case db.AlertPending:
		return "Pending"
	case db.AlertSent:
		return "Sent"
	case db.AlertFailedToSend:
		return "Failed to send"
	}
	return string(s)
}

func alertStateIcon(s db.AlertState) string {
	switch s {
	case db.AlertSent:
		return "✓"
	case db.AlertFailedToSend:
		return "✗"
	}
	return "…"
}

func alertKindLabel(k db.AlertKind) string {
	switch k {
	case db.AlertImmediate:
		return "Immediate"
	case db.AlertDigest:
		return "Digest"
	case db.AlertWebhookDisabled:
		return "Webhook disabled"
	case db.AlertRecovered:
		return "Recovered"
	}
	return string(k)
}

// failureResult is how a failed delivery's last attempt ended: its status, or the error
// class and message when no status came.
func failureResult(f db.AlertFailure) string {
	switch {
	case f.StatusCode != 0:
		return StatusCode(f.StatusCode)
	case f.Error != "" && f.ErrorMessage != "":
		return f.Error + ": " + f.ErrorMessage
	case f.Error != "":
		return f.Error
	}
	return "—"
}
