package db

import "time"

// Webhook is a subscription: deliveries of matching events go to URL, signed with Secret.
type Webhook struct {
	ID          string // whk_…
	URL         string
	Description string
	EventTypes  []string // patterns, see MatchPattern
	Secret      string   // whsec_…, the current one (see FindWebhookSecrets for the old ones)
	Enabled     bool
	// Headers are sent with every attempt, name → value. The values are credentials: the
	// stores keep them encrypted like Secret, and the API and UI show them only to an admin
	// who asks (audited).
	Headers map[string]string
	// RateLimit is the most attempts per second to the webhook, over every instance; 0 for
	// no limit.
	RateLimit int
	// DisabledReason says why hookrelay disabled the webhook (a 410 Gone answer, or failing
	// for too long); empty when it is enabled or was disabled by hand.
	DisabledReason string
	// DisabledAt is when the webhook was last disabled, by hand or by hookrelay; zero while
	// it is enabled.
	DisabledAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Matches reports whether the webhook subscribes to eventType.
func (w Webhook) Matches(eventType string) bool { return MatchAny(w.EventTypes, eventType) }

// NewWebhook holds the fields of a webhook to create. Callers validate them first.
type NewWebhook struct {
	URL         string
	Description string
	EventTypes  []string
	Secret      string
	Enabled     bool
	Headers     map[string]string // see ValidateHeaders
	RateLimit   int               // 0: no limit
}

// WebhookUpdate holds the fields to change; nil leaves a field as it is.
type WebhookUpdate struct {
	URL         *string
	Description *string
	EventTypes  []string
	Enabled     *bool
	// Headers, when not nil, replaces every custom header; an empty map removes them all.
	Headers map[string]string
	// RateLimit, when not nil, sets the rate limit; 0 removes it.
	RateLimit *int
}
