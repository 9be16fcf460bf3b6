package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// parseUITime reads a time typed into a form: RFC 3339, or what a datetime-local field sends
// (read as UTC).
func parseUITime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	return parseLocalTime(v)
}

// recoverFormFilter reads the recover form (query or body) into a filter; the error is for
// the person who typed it.
func (s *Server) recoverFormFilter(r *http.Request, v url.Values, d *views.RecoverData) (db.RecoverFilter, error) {
	d.WebhookID, d.Since, d.Until, d.Count = v.Get("webhook"), v.Get("since"), v.Get("until"), -1
	var f db.RecoverFilter
	if d.WebhookID != "" {
		wh, err := s.DB.FindWebhook(r.Context(), d.WebhookID)
		if err != nil {
			return f, err
		}
		d.WebhookURL, f.WebhookID = wh.URL, wh.ID
	}
	var ok bool
	if f.Since, ok = parseUITime(d.Since); !ok {
		return f, invalidValue("since", "Give the start of the range as 2026-11-28T02:00 (UTC) or an RFC 3339 time.")
	}
	if strings.TrimSpace(d.Until) != "" {
		if f.Until, ok = parseUITime(d.Until); !ok {
			return f, invalidValue("until", "Give the end of the range as 2026-11-28T03:10 (UTC) or an RFC 3339 time, or leave it empty for now.")
		}
		if !f.Until.After(f.Since) {
			return f, invalidValue("until", "The end of the range must come after its start.")
		}
	}
	return f, nil
}

// recoverPage is GET /deliveries/recover: the range form, and once a range is given, the
// count to confirm.
func (s *Server) recoverPage(w http.ResponseWriter, r *http.Request) {
	var d views.RecoverData
	q := r.URL.Query()
	f, err := s.recoverFormFilter(r, q, &d)
	var bad *apiError
	switch {
	case q.Get("since") == "" && (err == nil || errors.As(err, &bad)):
		// The empty form.
	case errors.As(err, &bad):
		d.Error = bad.Message
	case err != nil:
		s.uiFail(w, r, err)
		return
	default:
		if d.Count, err = s.DB.CountRecoverable(r.Context(), f); err != nil {
			s.uiFail(w, r, err)
			return
		}
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Recover failed deliveries", Nav: "deliveries"}, views.RecoverForm(d))
}

// recoverPost is POST /deliveries/recover: retry the range confirmed.
func (s *Server) recoverPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.uiFail(w, r, invalidValue("form", err.Error()))
		return
	}
	var d views.RecoverData
	f, err := s.recoverFormFilter(r, r.PostForm, &d)
	var bad *apiError
	if errors.As(err, &bad) {
		d.Error = bad.Message
		s.page(w, r, http.StatusBadRequest, views.Page{Title: "Recover failed deliveries", Nav: "deliveries"}, views.RecoverForm(d))
		return
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	n, err := s.recover(r, f)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.flash(w, r, fmt.Sprintf("Retried %s.", countNoun(n, "failed delivery", "failed deliveries")))
	if f.WebhookID != "" {
		redirect(w, r, "/webhooks/"+f.WebhookID)
		return
	}
	redirect(w, r, "/deliveries")
}
