package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/webhook"
)

// secretResponse is a webhook's signing secret and, during a rotation's grace period, when
// each replaced secret stops signing. Old secrets' values are never shown: whoever needs
// one already has it.
type secretResponse struct {
	Secret     string              `json:"secret"`
	OldSecrets []oldSecretResponse `json:"oldSecrets"`
}

type oldSecretResponse struct {
	RotatedAt string `json:"rotatedAt"`
	ExpiresAt string `json:"expiresAt"`
}

func newSecretResponse(ws db.WebhookSecrets) secretResponse {
	out := secretResponse{Secret: ws.Current, OldSecrets: make([]oldSecretResponse, 0, len(ws.Old))}
	for _, o := range ws.Old {
		out.OldSecrets = append(out.OldSecrets, oldSecretResponse{RotatedAt: db.FormatTime(o.RotatedAt), ExpiresAt: db.FormatTime(o.ExpiresAt)})
	}
	return out
}

// getWebhookSecret reveals a webhook's secret, recorded in the audit log first: without its
// record, no secret.
func (s *Server) getWebhookSecret(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ws, err := s.DB.FindWebhookSecrets(r.Context(), id)
	if err == nil {
		err = s.auditRead(r, db.AuditSecretReveal, webhookTarget(id), "read through the API")
	}
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	writeJSON(w, http.StatusOK, newSecretResponse(ws))
}

type headersResponse struct {
	Headers map[string]string `json:"headers"`
}

// getWebhookHeaders reveals a webhook's custom headers, values included, recorded in the
// audit log first, as getWebhookSecret does.
func (s *Server) getWebhookHeaders(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	wh, err := s.DB.FindWebhook(r.Context(), id)
	if err == nil {
		err = s.auditRead(r, db.AuditHeadersReveal, webhookTarget(id), headersRevealSummary(wh.Headers, "through the API"))
	}
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	h := wh.Headers
	if h == nil {
		h = map[string]string{}
	}
	writeJSON(w, http.StatusOK, headersResponse{Headers: h})
}

// headersRevealSummary names the headers revealed, never their values.
func headersRevealSummary(h map[string]string, how string) string {
	if len(h) == 0 {
		return "no custom headers, read " + how
	}
	return strings.Join(db.HeaderNames(h), ", ") + " read " + how
}

// rotateRequest is the body of POST /api/v1/webhooks/{id}/secret/rotate; every field is
// optional and an empty body is allowed. An admin UI Rotate form can fill the same struct
// and call validate, then db.RotateSecret, so both follow the same rules.
type rotateRequest struct {
	// Secret is the new "whsec_…" secret; a fresh one is generated when nil.
	Secret *string `json:"secret"`
	// GracePeriod is how long the replaced secret keeps signing: a Go duration string
	// ("36h", "90m") or a number of seconds. db.DefaultGracePeriod when absent or null.
	GracePeriod json.RawMessage `json:"gracePeriod"`
}

// rotation is a validated rotateRequest.
type rotation struct {
	Secret      string
	GracePeriod time.Duration
}

// validate checks the request and fills in the defaults. Errors are *apiError naming the
// field; their Error() text suits a form message too.
func (q rotateRequest) validate() (rotation, error) {
	rot := rotation{GracePeriod: db.DefaultGracePeriod}
	if q.Secret != nil {
		if _, err := webhook.ParseSecret(*q.Secret); err != nil {
			return rot, invalidValue("secret", err.Error())
		}
		rot.Secret = *q.Secret
	} else {
		rot.Secret = webhook.NewSecret()
	}
	if raw := bytes.TrimSpace(q.GracePeriod); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		g, err := parseGracePeriod(raw)
		if err != nil {
			return rot, invalidValue("gracePeriod", err.Error())
		}
		rot.GracePeriod = g
	}
	return rot, nil
}

// parseGracePeriod reads a grace period given as a JSON string holding a Go duration
// ("24h", "90m", "0s") or a JSON number of whole seconds, and checks it is within 0 to
// db.MaxGracePeriod. A bare (unquoted) duration such as 24h is accepted too, for forms.
func parseGracePeriod(raw []byte) (time.Duration, error) {
	bad := fmt.Errorf(`must be a duration such as "24h" or "90m", or a number of seconds, from 0 to %s`, formatDuration(db.MaxGracePeriod))
	var d time.Duration
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, bad
		}
		v, err := time.ParseDuration(str)
		if err != nil {
			return 0, bad
		}
		d = v
	default:
		secs, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			v, derr := time.ParseDuration(string(raw))
			if derr != nil {
				return 0, bad
			}
			d = v
			break
		}
		if secs != math.Trunc(secs) || secs < 0 || secs > db.MaxGracePeriod.Seconds() {
			return 0, bad
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 || d > db.MaxGracePeriod {
		return 0, bad
	}
	return d, nil
}

// formatDuration writes whole days as "168h (7 days)" for messages.
func formatDuration(d time.Duration) string {
	return fmt.Sprintf("%s (%g days)", d, d.Hours()/24)
}

// rotateSecret replaces a webhook's signing secret. The answer carries the new secret; the
// replaced one keeps signing for the grace period, see db.RotateSecret.
func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req rotateRequest
	// An empty body means "all defaults", so a bare POST needs no Content-Type.
	if r.ContentLength != 0 {
		body, err := readBody(w, r, s.maxAdminBodyBytes())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := decodeStrict(body, &req); err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	rot, err := req.validate()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.DB.RotateSecret(r.Context(), id, rot.Secret, rot.GracePeriod)
	if errors.Is(err, db.ErrSecretInUse) {
		err = invalidValue("secret", "is already in use by this webhook (the current secret or one still in its grace period); choose a new one")
	}
	if err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	s.audit(r, db.AuditSecretRotate, webhookTarget(id), rotationSummary(req.Secret != nil, rot.GracePeriod))
	writeJSON(w, http.StatusOK, newSecretResponse(ws))
}

// rotationSummary describes a rotation without its secrets.
func rotationSummary(given bool, grace time.Duration) string {
	how := "new secret generated"
	if given {
		how = "new secret given"
	}
	return how + "; grace period " + grace.String()
}
