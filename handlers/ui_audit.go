package handlers

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// auditPage is the Audit log page (admins): the API's filters, with times as
// <input type="datetime-local"> sends them, read as UTC.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	form := views.AuditFilterForm{Actor: strings.TrimSpace(q.Get("actor")), Action: q.Get("action"),
		TargetID: strings.TrimSpace(q.Get("target_id")), Since: q.Get("since"), Until: q.Get("until"), Errors: map[string]string{}}
	f := db.AuditFilter{Actor: form.Actor, TargetID: form.TargetID, Cursor: q.Get("cursor"), Limit: uiPageSize}
	if utf8.RuneCountInString(form.Actor) > 254 {
		form.Errors["actor"] = "An actor is at most 254 characters."
	}
	if utf8.RuneCountInString(form.TargetID) > 254 {
		form.Errors["target_id"] = "A target id is at most 254 characters."
	}
	if a, ok := parseAuditAction(form.Action); ok {
		f.Action = a
	} else {
		form.Errors["action"] = "Choose an action from the list."
	}
	parse := func(field, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		for _, l := range localTimeLayouts {
			if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
				return t
			}
		}
		form.Errors[field] = "Enter a date and time such as 2026-01-31T14:00."
		return time.Time{}
	}
	f.Since, f.Until = parse("since", form.Since), parse("until", form.Until)
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		form.Errors["until"] = "“To” must be after “From”."
	}
	data := views.AuditData{Filter: form, Now: s.now()}
	p := views.Page{Title: "Audit log", Nav: "audit-log"}
	if len(form.Errors) > 0 {
		s.page(w, r, http.StatusUnprocessableEntity, p, views.AuditPage(data))
		return
	}
	recs, next, err := s.DB.ListAudit(r.Context(), f)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	data.Records = recs
	if next != "" {
		q.Set("cursor", next)
		data.NextURL = "/audit-log?" + q.Encode()
	}
	s.page(w, r, http.StatusOK, p, views.AuditPage(data))
}
