package views

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
)

// NavItem is one entry of the top navigation. Add a page by adding an entry to Nav.
type NavItem struct {
	Key   string // Page.Nav of the pages under this entry
	Label string
	Href  string
	// Least is the role the page needs (the rule of its route); the entry is hidden from
	// roles below it. Empty: every signed-in user.
	Least db.Role
}

// Nav is the top navigation, in order.
var Nav = []NavItem{
	{Key: "dashboard", Label: "Dashboard", Href: "/"},
	{Key: "webhooks", Label: "Webhooks", Href: "/webhooks"},
	{Key: "deliveries", Label: "Deliveries", Href: "/deliveries"},
	{Key: "events", Label: "Events", Href: "/events"},
	{Key: "alerts", Label: "Alerts", Href: "/alerts"},
	{Key: "users", Label: "Users", Href: "/users", Least: db.RoleAdmin},
	{Key: "api-keys", Label: "API keys", Href: "/api-keys", Least: db.RoleAdmin},
	{Key: "audit-log", Label: "Audit log", Href: "/audit-log", Least: db.RoleAdmin},
}

// navFor is the navigation a role sees.
func navFor(r db.Role) []NavItem {
	var out []NavItem
	for _, item := range Nav {
		if item.Least == "" || r.Allows(item.Least) {
			out = append(out, item)
		}
	}
	return out
}

// Page is what the layout needs to frame a page.
type Page struct {
	Title string
	Nav   string  // key of the active NavItem
	User  string  // the signed-in user's email; empty shows no navigation
	Role  db.Role // the signed-in user's role
	Flash string  // a one-time message from the previous action
	Now   time.Time
}

// htmxConfig keeps htmx within the Content-Security-Policy (no eval, no inline styles or
// scripts), and makes it swap 422 answers (forms re-rendered with messages) while treating
// other 4xx and 5xx as errors that app.js shows.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},` +
	`{"code":"[45]..","swap":false,"error":true}]}`

// PollInterval is how often a page asks for news of a delivery that is not final.
const PollInterval = "every 1s"

func stateIcon(s db.State) string {
	switch s {
	case db.StateSucceeded:
		return "✓"
	case db.StateFailed:
		return "✗"
	case db.StateDelivering:
		return "➜"
	}
	return "…"
}

// stateLabel is the text of a status badge; colour only repeats it.
func stateLabel(s db.State) string {
	switch s {
	case db.StateSucceeded:
		return "Succeeded"
	case db.StateFailed:
		return "Failed"
	case db.StateDelivering:
		return "Delivering"
	case db.StatePending:
		return "Pending"
	}
	return string(s)
}

// Abs formats a time for tables: UTC, to the second.
func Abs(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ISO is the machine-readable form for <time datetime>.
func ISO(t time.Time) string { return db.FormatTime(t) }

// Rel formats t relative to now: "3 min ago", "in 20 s".
func Rel(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d.Hours()))
	default:
		s = fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// Duration formats a response time.
func Duration(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// Wait formats what a receiver asked for with Retry-After: seconds as sent, and a readable
// form when that is a minute or more ("3600 s (1h0m0s)").
func Wait(d time.Duration) string {
	secs := db.RetryAfterSeconds(d)
	if secs < 60 {
		return strconv.FormatInt(secs, 10) + " s"
	}
	return strconv.FormatInt(secs, 10) + " s (" + (time.Duration(secs) * time.Second).String() + ")"
}

// StatusCode formats an HTTP status with its reason phrase, or a dash when none came.
func StatusCode(code int) string {
	if code == 0 {
		return "—"
	}
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

func codeClass(code int) string {
	switch {
	case code >= 200 && code < 300:
		return "code code-ok"
	case code == 0:
		return "code code-none"
	}
	return "code code-bad"
}

// Pretty indents a JSON document for reading; anything else comes back as text.
func Pretty(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return out.String()
}

// BodyText shows a response body as text, whatever bytes it holds.
func BodyText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// Percent formats a rate from 0 to 1.
func Percent(r float64) string {
	return strconv.Itoa(int(math.Floor(r*100))) + "%"
}

// Query builds "path?k=v&…" from pairs, leaving out empty values.
func Query(path string, pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			v.Set(pairs[i], pairs[i+1])
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// States lists the delivery states in the order filters offer them.
var States = []db.State{db.StatePending, db.StateDelivering, db.StateSucceeded, db.StateFailed}

// State and Time are short names for templ signatures.
type (
	State = db.State
	Time  = time.Time
)

func itoa(n int) string { return strconv.Itoa(n) }

// invalid is the aria-invalid value of a form field.
func invalid(errs map[string]string, field string) string {
	if errs[field] != "" {
		return "true"
	}
	return "false"
}
