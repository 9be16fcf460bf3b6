package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// The API keys page (admins): the same keys, rules and records as /api/v1/api-keys.

func (s *Server) apiKeysPage(w http.ResponseWriter, r *http.Request) {
	s.showAPIKeys(w, r, http.StatusOK, views.APIKeyForm{Role: string(db.RoleViewer)})
}

func (s *Server) showAPIKeys(w http.ResponseWriter, r *http.Request, status int, f views.APIKeyForm) {
	keys, err := s.DB.ListAPIKeys(r.Context())
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, status, views.Page{Title: "API keys", Nav: "api-keys"}, views.APIKeysPage(views.APIKeysData{Keys: keys, Form: f, Now: s.now()}))
}

// createAPIKeyForm makes a key by the API's rules (apiKeyRequest.validate) and shows it
// this once, in the answer itself: it is in no redirect, flash or log.
func (s *Server) createAPIKeyForm(w http.ResponseWriter, r *http.Request) {
	f := views.APIKeyForm{Name: r.PostFormValue("name"), Role: r.PostFormValue("role"), Expires: r.PostFormValue("expires"), Errors: map[string]string{}}
	req := apiKeyRequest{Name: &f.Name, Role: &f.Role}
	if f.Expires != "" {
		days := 0
		for _, l := range views.KeyLifetimes {
			if l.Value == f.Expires {
				days = l.Days
			}
		}
		if days == 0 {
			f.Errors["expires"] = "Choose when the key expires from the list."
		} else {
			at := db.FormatTime(s.now().Add(time.Duration(days) * 24 * time.Hour))
			req.ExpiresAt = &at
		}
	}
	name, role, expires, problems := req.check(s.now())
	for _, p := range problems {
		if p.Field == "expiresAt" {
			p.Field = "expires"
		}
		f.Errors[p.Field] = fmt.Sprintf("The %s %s.", p.Field, p.Message)
	}
	if len(f.Errors) > 0 {
		s.showAPIKeys(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	k, secret, err := s.makeAPIKey(r, name, role, expires)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusCreated, views.Page{Title: "API key created", Nav: "api-keys"}, views.APIKeyCreated(k, secret, s.now()))
}

func (s *Server) confirmRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.DB.FindAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Revoke API key", Nav: "api-keys"}, views.Confirm(views.ConfirmData{
		Title:   "Revoke this API key?",
		Message: fmt.Sprintf("%q (%s, %s) will be refused everywhere within a second. This cannot be undone.", k.Name, k.Role, k.ID),
		Action:  "/api-keys/" + k.ID + "/revoke", Button: "Revoke key", Cancel: "/api-keys", Danger: true,
	}))
}

func (s *Server) revokeAPIKeyForm(w http.ResponseWriter, r *http.Request) {
	if err := s.revokeKey(r, r.PathValue("id")); err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.flash(w, r, "API key revoked.")
	redirect(w, r, "/api-keys")
}
