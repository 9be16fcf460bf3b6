package alert

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Links to the admin UI, built from the base URL.

// DeliveryURL is the page of one delivery, with its attempts and a retry button.
func DeliveryURL(base, deliveryID string) string {
	return strings.TrimRight(base, "/") + "/deliveries/" + url.PathEscape(deliveryID)
}

// FailedDeliveriesURL lists a webhook's failed deliveries, where an admin can retry them.
func FailedDeliveriesURL(base, webhookID string) string {
	return strings.TrimRight(base, "/") + "/webhooks/" + url.PathEscape(webhookID) + "/deliveries?status=failed"
}

// WebhookURL is the page of one webhook, where an admin enables it again.
func WebhookURL(base, webhookID string) string {
	return strings.TrimRight(base, "/") + "/webhooks/" + url.PathEscape(webhookID)
}

// view is what the templates render.
type view struct {
	Alert      db.Alert
	Digest     bool
	Disabled   bool // kind webhook_disabled
	Recovered  bool // kind recovered
	WebhookURL string
	Name       string // how the webhook is named: its description and URL, or its URL
	Headline   string
	LastResult string
	Rows       []row
	Unlisted   int // failures counted but not listed
	FailedURL  string
	BaseURL    string
}

type row struct {
	db.AlertFailure
	Result string
	URL    string
}

// Compose builds the email of an alert: subject, plain text and HTML, with links under base,
// the admin UI's base URL.
func Compose(a db.Alert, base string) Message {
	v := view{Alert: a, Digest: a.Kind == db.AlertDigest, Name: a.WebhookURL, BaseURL: base,
		Disabled: a.Kind == db.AlertWebhookDisabled, Recovered: a.Kind == db.AlertRecovered,
		LastResult: result(a.Last), FailedURL: FailedDeliveriesURL(base, a.WebhookID), WebhookURL: WebhookURL(base, a.WebhookID)}
	if a.WebhookDescription != "" {
		v.Name = fmt.Sprintf("%q (%s)", a.WebhookDescription, a.WebhookURL)
	}
	for _, f := range a.Failures {
		v.Rows = append(v.Rows, row{AlertFailure: f, Result: result(f), URL: DeliveryURL(base, f.DeliveryID)})
	}
	v.Unlisted = a.DeliveryCount - len(a.Failures)
	var subject string
	switch {
	case v.Disabled:
		v.Headline = fmt.Sprintf("hookrelay disabled the webhook %s: %s. Its deliveries wait until an administrator enables it again.",
			a.WebhookURL, a.Reason)
		subject = fmt.Sprintf("[hookrelay] Webhook %s was disabled: %s", v.Name, a.Reason)
	case v.Recovered:
		v.Headline = fmt.Sprintf("Deliveries to %s succeed again: %s.", a.WebhookURL, a.Reason)
		subject = fmt.Sprintf("[hookrelay] Webhook %s recovered", v.Name)
	case v.Digest:
		v.Headline = fmt.Sprintf("%d more %s to %s failed; last error: %s.",
			a.DeliveryCount, plural(a.DeliveryCount, "delivery", "deliveries"), a.WebhookURL, v.LastResult)
		subject = fmt.Sprintf("[hookrelay] Webhook %s is still failing: %d more %s failed",
			v.Name, a.DeliveryCount, plural(a.DeliveryCount, "delivery", "deliveries"))
	default:
		v.Headline = fmt.Sprintf("A delivery to %s failed for good after %d %s; last error: %s.",
			a.WebhookURL, a.Last.Attempts, plural(a.Last.Attempts, "attempt", "attempts"), v.LastResult)
		subject = fmt.Sprintf("[hookrelay] Webhook %s is failing: delivery %s failed", v.Name, a.Last.DeliveryID)
	}
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		panic(fmt.Sprintf("alert text template: %v", err)) // the templates are fixed: a bug
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		panic(fmt.Sprintf("alert html template: %v", err))
	}
	return Message{Subject: subject, Text: text.String(), HTML: html.String(), AlertID: a.ID}
}

// TestMessage is the email of the "send test email" action.
func TestMessage(base string, to []string) Message {
	text := fmt.Sprintf("This is a test email from hookrelay (%s).\n\n"+
		"Alert emails reach: %s.\nIf you can read this, the SMTP settings work.\n", base, strings.Join(to, ", "))
	html := "<p>This is a test email from hookrelay (<a href=\"" + htmltemplate.HTMLEscapeString(base) + "\">" +
		htmltemplate.HTMLEscapeString(base) + "</a>).</p><p>Alert emails reach: " +
		htmltemplate.HTMLEscapeString(strings.Join(to, ", ")) + ".<br>If you can read this, the SMTP settings work.</p>"
	return Message{To: to, Subject: "[hookrelay] Test email", Text: text, HTML: html}
}

// result says how a failed delivery's last attempt ended: "HTTP 503", or an error class
// with its message.
func result(f db.AlertFailure) string {
	r := f.Error
	if r == "" && f.StatusCode != 0 {
		r = fmt.Sprintf("HTTP %d", f.StatusCode)
	}
	if r == "" {
		r = "unknown"
	}
	if f.ErrorMessage != "" {
		r += " (" + f.ErrorMessage + ")"
	}
	return r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

var funcs = map[string]any{"time": formatTime, "join": strings.Join, "plural": plural}

var textTmpl = texttemplate.Must(texttemplate.New("text").Funcs(funcs).Parse(`{{.Headline}}
{{if .Recovered}}
Webhook:        {{.Alert.WebhookURL}}
Webhook id:     {{.Alert.WebhookID}}
{{- with .Alert.WebhookDescription}}
Description:    {{.}}{{end}}
Failing since:  {{time .Alert.FailingSince}}
Recovered:      {{time .Alert.CreatedAt}}

See the webhook:
{{.WebhookURL}}
{{else}}
Webhook:        {{.Alert.WebhookURL}}
Webhook id:     {{.Alert.WebhookID}}
{{- with .Alert.WebhookDescription}}
Description:    {{.}}{{end}}
Event types:    {{join .Alert.EventTypes ", "}}
Failing since:  {{time .Alert.FailingSince}}
{{- if .Digest}}
Window:         until {{time .Alert.WindowEndsAt}}{{end}}
{{- if .Disabled}}
Disabled:       {{time .Alert.CreatedAt}}
Reason:         {{.Alert.Reason}}{{else}}
Deliveries:     {{.Alert.DeliveryCount}} failed for good{{end}}
Last result:    {{.LastResult}}

{{range .Rows -}}
{{.DeliveryID}}  {{.EventType}}  (event {{.EventID}})
  {{.Attempts}} {{plural .Attempts "attempt" "attempts"}} made, last: {{.Result}}
  first attempt {{time .FirstAttemptAt}}, failed {{time .FailedAt}}
  {{.URL}}

{{end -}}
{{if gt .Unlisted 0}}… and {{.Unlisted}} more.

{{end -}}
{{if .Disabled -}}
Enable the webhook again once its receiver is fixed:
{{.WebhookURL}}
{{- else -}}
See the webhook's failed deliveries and retry them:
{{.FailedURL}}
{{if not .Digest}}
Further failures of this webhook until {{time .Alert.WindowEndsAt}} are collected into one digest.
{{end}}{{end}}{{end}}
-- 
hookrelay ({{.BaseURL}})
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!doctype html>
<html><body style="font-family: sans-serif">
<p><strong>{{.Headline}}</strong></p>
{{- if .Recovered}}
<table cellpadding="3">
<tr><th align="left">Webhook</th><td><code>{{.Alert.WebhookURL}}</code></td></tr>
<tr><th align="left">Webhook id</th><td><code>{{.Alert.WebhookID}}</code></td></tr>
{{- with .Alert.WebhookDescription}}
<tr><th align="left">Description</th><td>{{.}}</td></tr>{{end}}
<tr><th align="left">Failing since</th><td>{{time .Alert.FailingSince}}</td></tr>
<tr><th align="left">Recovered</th><td>{{time .Alert.CreatedAt}}</td></tr>
</table>
<p><a href="{{.WebhookURL}}">See the webhook</a></p>
{{- else}}
<table cellpadding="3">
<tr><th align="left">Webhook</th><td><code>{{.Alert.WebhookURL}}</code></td></tr>
<tr><th align="left">Webhook id</th><td><code>{{.Alert.WebhookID}}</code></td></tr>
{{- with .Alert.WebhookDescription}}
<tr><th align="left">Description</th><td>{{.}}</td></tr>{{end}}
<tr><th align="left">Event types</th><td>{{join .Alert.EventTypes ", "}}</td></tr>
<tr><th align="left">Failing since</th><td>{{time .Alert.FailingSince}}</td></tr>
{{- if .Digest}}
<tr><th align="left">Window</th><td>until {{time .Alert.WindowEndsAt}}</td></tr>{{end}}
{{- if .Disabled}}
<tr><th align="left">Disabled</th><td>{{time .Alert.CreatedAt}}</td></tr>
<tr><th align="left">Reason</th><td>{{.Alert.Reason}}</td></tr>
{{- else}}
<tr><th align="left">Deliveries</th><td>{{.Alert.DeliveryCount}} failed for good</td></tr>{{end}}
<tr><th align="left">Last result</th><td>{{.LastResult}}</td></tr>
</table>
<table cellpadding="3" border="1" style="border-collapse: collapse">
<tr><th>Delivery</th><th>Event type</th><th>Event</th><th>Attempts</th><th>Last result</th><th>First attempt</th><th>Failed</th></tr>
{{- range .Rows}}
<tr><td><a href="{{.URL}}">{{.DeliveryID}}</a></td><td>{{.EventType}}</td><td><code>{{.EventID}}</code></td><td>{{.Attempts}}</td><td>{{.Result}}</td><td>{{time .FirstAttemptAt}}</td><td>{{time .FailedAt}}</td></tr>
{{- end}}
</table>
{{- if gt .Unlisted 0}}
<p>… and {{.Unlisted}} more.</p>{{end}}
{{- if .Disabled}}
<p><a href="{{.WebhookURL}}">Enable the webhook again once its receiver is fixed</a></p>
{{- else}}
<p><a href="{{.FailedURL}}">See the webhook's failed deliveries and retry them</a></p>
{{- if not .Digest}}
<p>Further failures of this webhook until {{time .Alert.WindowEndsAt}} are collected into one digest.</p>{{end}}{{end}}{{end}}
<p style="color: #666">hookrelay ({{.BaseURL}})</p>
</body></html>
`))
