package handlers

import (
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/crypto/bcrypt"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// passwordPath is the page where users change their own password.
const passwordPath = "/account/password"

// requireOwnPassword sends a user whose password was set by an admin (a new user, or a
// reset) to the password page before anything else: until they choose their own, every other
// page and action leads there.
func (s *Server) requireOwnPassword(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := currentUser(r.Context())
		if !ok || !u.MustChangePassword || r.URL.Path == passwordPath {
			next.ServeHTTP(w, r)
			return
		}
		if isHTMX(r) {
			w.Header().Set("HX-Redirect", passwordPath)
			w.Header().Set("X-Error-Message", url.PathEscape("Choose your own password first."))
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.Redirect(w, r, passwordPath, http.StatusSeeOther)
	})
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	s.page(w, r, http.StatusOK, views.Page{Title: "Change your password"}, views.PasswordPage(views.PasswordForm{Forced: u.MustChangePassword}))
}

// changePassword sets the user's own password. The current one must be given: a browser
// left signed in is not enough to take over the account. Wrong guesses count against the
// account's sign-in limit. Every other session of the user ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	f := views.PasswordForm{Forced: u.MustChangePassword, Errors: map[string]string{}}
	current, next, confirm := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	key := accountKey(u.Email)
	if s.ui.byAccount.limited(key) {
		w.Header().Set("Retry-After", fmt.Sprint(int(s.ui.window.Seconds())))
		s.uiFail(w, r, &uiError{http.StatusTooManyRequests, "Too many attempts", "Too many wrong passwords. Wait, then try again."})
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		s.ui.byAccount.fail(w, r, key)
		f.Errors["current"] = "This is not your current password."
	}
	if err := ValidatePassword(next); err != nil {
		f.Errors["new"] = "The new password " + err.Error() + "."
	} else if next == current {
		f.Errors["new"] = "The new password must differ from the current one."
	}
	if confirm != next {
		f.Errors["confirm"] = "The two new passwords differ."
	}
	if len(f.Errors) > 0 {
		s.page(w, r, http.StatusUnprocessableEntity, views.Page{Title: "Change your password"}, views.PasswordPage(f))
		return
	}
	hash, err := HashPassword(next, s.UI.PasswordCost)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	no := false
	sid, _ := sessionOf(r.Context()).cookie.Values["sid"].(string)
	if _, err := s.DB.UpdateUser(r.Context(), u.ID, db.UserUpdate{PasswordHash: &hash, MustChangePassword: &no, KeepSession: sid}); err != nil {
		s.uiFail(w, r, err)
		return
	}
	summary := "own password changed; other sessions ended"
	if u.MustChangePassword {
		summary = "initial password replaced; other sessions ended"
	}
	s.audit(r, db.AuditUserPasswordChange, userTarget(u.ID), summary)
	s.flash(w, r, "Password changed. Your other sessions have ended.")
	redirect(w, r, "/")
}
