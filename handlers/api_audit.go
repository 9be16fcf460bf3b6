package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
)

// auditResponse is one record of the audit log as the API shows it.
type auditResponse struct {
	ID            string               `json:"id"`
	Time          string               `json:"time"`
	Actor         auditActorResponse   `json:"actor"`
	Action        string               `json:"action"`
	Target        *auditTargetResponse `json:"target"`
	ClientAddress *string              `json:"clientAddress"`
	Summary       string               `json:"summary"`
}

type auditActorResponse struct {
	Type string  `json:"type"`
	ID   *string `json:"id"`
	Name string  `json:"name"`
}

type auditTargetResponse struct {
	Kind string  `json:"kind"`
	ID   *string `json:"id"`
}

type auditListResponse struct {
	Data       []auditResponse `json:"data"`
	NextCursor *string         `json:"nextCursor"`
}

func newAuditResponse(a db.AuditRecord) auditResponse {
	out := auditResponse{
		ID: a.ID, Time: db.FormatTime(a.At), Action: string(a.Action), ClientAddress: optional(a.ClientAddress), Summary: a.Summary,
		Actor: auditActorResponse{Type: string(a.Actor.Kind), ID: optional(a.Actor.ID), Name: a.Actor.Name},
	}
	if a.Target.Kind != "" {
		out.Target = &auditTargetResponse{Kind: a.Target.Kind, ID: optional(a.Target.ID)}
	}
	return out
}

// errNotAuditAction is the message for an action filter the log does not know.
var errNotAuditAction = errors.New("is not an action of the audit log")

// parseAuditAction reads the action filter: one of db.AuditActions, or "".
func parseAuditAction(v string) (db.AuditAction, bool) {
	if v == "" || slices.Contains(db.AuditActions, db.AuditAction(v)) {
		return db.AuditAction(v), true
	}
	return "", false
}

// auditFilter reads the query of GET /api/v1/audit-log.
func auditFilter(q url.Values) (db.AuditFilter, error) {
	f := db.AuditFilter{Limit: defaultPageSize, Cursor: q.Get("cursor"), Actor: strings.TrimSpace(q.Get("actor")),
		TargetID: strings.TrimSpace(q.Get("targetId"))}
	if utf8.RuneCountInString(f.Actor) > 254 {
		return f, invalidValue("actor", "must be at most 254 characters")
	}
	if utf8.RuneCountInString(f.TargetID) > 254 {
		return f, invalidValue("targetId", "must be at most 254 characters")
	}
	action, ok := parseAuditAction(q.Get("action"))
	if !ok {
		return f, invalidValue("action", errNotAuditAction.Error())
	}
	f.Action = action
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, invalidValue(p.name, `must be an RFC 3339 time such as "2026-01-02T15:04:05Z"`)
			}
			*p.dst = t.UTC()
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, invalidValue("until", "must be after since")
	}
	if err := pageLimit(q, &f.Limit); err != nil {
		return f, err
	}
	return f, nil
}

// listAudit answers GET /api/v1/audit-log: records newest first, filtered.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recs, next, err := s.DB.ListAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := auditListResponse{Data: make([]auditResponse, 0, len(recs)), NextCursor: optional(next)}
	for _, a := range recs {
		resp.Data = append(resp.Data, newAuditResponse(a))
	}
	writeJSON(w, http.StatusOK, resp)
}
