package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// defaultGraceInput is what the grace period field holds at first.
const defaultGraceInput = "24h"

// rotateSecretPage asks before a rotation and takes the new secret and grace period.
func (s *Server) rotateSecretPage(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	ws, err := s.DB.FindWebhookSecrets(r.Context(), wh.ID)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Rotate secret", Nav: "webhooks"},
		views.RotateSecretPage(views.RotateForm{Webhook: wh, GracePeriod: defaultGraceInput, Old: ws.Old, Now: s.now()}))
}

// rotateSecretForm rotates the webhook's secret by the API's rules (rotateRequest.validate,
// db.RotateSecret) and goes back to the webhook page with a message that says so once. Bad
// input comes back with messages and 422.
func (s *Server) rotateSecretForm(w http.ResponseWriter, r *http.Request) {
	wh, ok := s.findWebhook(w, r)
	if !ok {
		return
	}
	f := views.RotateForm{
		Webhook: wh, Secret: strings.TrimSpace(r.PostFormValue("secret")),
		GracePeriod: strings.TrimSpace(r.PostFormValue("grace_period")), Errors: map[string]string{}, Now: s.now(),
	}
	var req rotateRequest
	if f.Secret != "" {
		req.Secret = &f.Secret
	}
	if f.GracePeriod != "" {
		// parseGracePeriod reads a bare duration ("24h") or a number of seconds as the
		// form sends them.
		req.GracePeriod = json.RawMessage(f.GracePeriod)
	}
	rot, err := req.validate()
	if err == nil {
		var ws db.WebhookSecrets
		ws, err = s.DB.RotateSecret(r.Context(), wh.ID, rot.Secret, rot.GracePeriod)
		if err == nil {
			s.audit(r, db.AuditSecretRotate, webhookTarget(wh.ID), rotationSummary(req.Secret != nil, rot.GracePeriod))
			// Back to the webhook page, where the new secret is hidden until revealed and the
			// old ones are listed by expiry: a reload there cannot rotate a second time.
			msg := "Secret rotated: deliveries are signed with the new secret from now on. Reveal it below and give it to the receiver"
			if len(ws.Old) > 0 {
				msg += " before " + views.Abs(ws.Old[0].ExpiresAt) + ", when the old secret stops signing."
			} else {
				msg += " now: the old secret no longer signs."
			}
			s.flash(w, r, msg)
			redirect(w, r, "/webhooks/"+wh.ID)
			return
		}
	}
	switch ae, isAPI := errors.AsType[*apiError](err); {
	case errors.Is(err, db.ErrSecretInUse):
		f.Errors["secret"] = "This secret is already in use by this webhook (the current secret or one still in its grace period). Choose a new one."
	case isAPI && ae.Field == "secret":
		f.Errors["secret"] = "The new " + ae.Message + "."
	case isAPI && ae.Field == "gracePeriod":
		f.Errors["grace_period"] = "The grace period " + ae.Message + "."
	default:
		s.uiFail(w, r, err)
		return
	}
	ws, err := s.DB.FindWebhookSecrets(r.Context(), wh.ID)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	f.Old = ws.Old
	s.page(w, r, http.StatusUnprocessableEntity, views.Page{Title: "Rotate secret", Nav: "webhooks"}, views.RotateSecretPage(f))
}
