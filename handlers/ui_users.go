package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// The Users pages (admins): create a user with a role and an initial password, change a
// role, disable, delete, reset a password. The store keeps the last enabled admin
// (db.ErrLastAdmin, a 409 page) and ends the sessions of a disabled or deleted user.

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) {
	users, err := s.DB.ListUsers(r.Context())
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	me, _ := currentUser(r.Context())
	s.page(w, r, http.StatusOK, views.Page{Title: "Users", Nav: "users"}, views.UserList(users, me.ID, s.now()))
}

func (s *Server) newUserPage(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, views.Page{Title: "New user", Nav: "users"}, views.UserFormPage(views.UserForm{Role: string(db.RoleViewer)}))
}

// createUserForm creates a user whose initial password must be changed at first sign-in.
func (s *Server) createUserForm(w http.ResponseWriter, r *http.Request) {
	f := views.UserForm{Email: strings.TrimSpace(r.PostFormValue("email")), Role: r.PostFormValue("role"), Errors: map[string]string{}}
	password := r.PostFormValue("password")
	if err := ValidateEmail(f.Email); err != nil {
		f.Errors["email"] = "The email " + err.Error() + "."
	}
	role, err := db.ParseRole(f.Role, true)
	if err != nil {
		f.Errors["role"] = "The role " + err.Error() + "."
	}
	if err := ValidatePassword(password); err != nil {
		f.Errors["password"] = "The initial password " + err.Error() + "."
	}
	var u db.User
	if len(f.Errors) == 0 {
		var hash string
		if hash, err = HashPassword(password, s.UI.PasswordCost); err == nil {
			u, err = s.DB.AddUser(r.Context(), db.NewUser{Email: f.Email, PasswordHash: hash, Role: role, MustChangePassword: true})
		}
		switch {
		case errors.Is(err, db.ErrUserExists):
			f.Errors["email"] = "A user with this email already exists."
		case err != nil:
			s.uiFail(w, r, err)
			return
		}
	}
	if len(f.Errors) > 0 {
		s.page(w, r, http.StatusUnprocessableEntity, views.Page{Title: "New user", Nav: "users"}, views.UserFormPage(f))
		return
	}
	s.audit(r, db.AuditUserCreate, userTarget(u.ID), fmt.Sprintf("email %s; role %s; initial password, to be changed at first sign-in", u.Email, u.Role))
	s.flash(w, r, "User created. Give them the initial password: they must choose their own when they first sign in.")
	redirect(w, r, "/users/"+u.ID)
}

// findUser loads the user named by the path, answering 404 itself.
func (s *Server) findUser(w http.ResponseWriter, r *http.Request) (db.User, bool) {
	u, err := s.DB.FindUser(r.Context(), r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return db.User{}, false
	}
	return u, true
}

func (s *Server) userPage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.findUser(w, r)
	if !ok {
		return
	}
	s.showUser(w, r, http.StatusOK, u, nil)
}

func (s *Server) showUser(w http.ResponseWriter, r *http.Request, status int, u db.User, errs map[string]string) {
	me, _ := currentUser(r.Context())
	s.page(w, r, status, views.Page{Title: "User " + u.Email, Nav: "users"},
		views.UserPage(views.UserData{User: u, Self: u.ID == me.ID, Errors: errs, Now: s.now()}))
}

// afterOwnChange redirects after a change to user u: to the sign-in page when it ended the
// signed-in admin's own session (they disabled themselves, or reset their own password),
// otherwise to to.
func (s *Server) afterOwnChange(w http.ResponseWriter, r *http.Request, u db.User, endsSession bool, to string) {
	if me, _ := currentUser(r.Context()); me.ID == u.ID && endsSession {
		redirect(w, r, "/login")
		return
	}
	redirect(w, r, to)
}

func (s *Server) setUserRole(w http.ResponseWriter, r *http.Request) {
	u, ok := s.findUser(w, r)
	if !ok {
		return
	}
	role, err := db.ParseRole(r.PostFormValue("role"), true)
	if err != nil {
		s.uiFail(w, r, &uiError{http.StatusBadRequest, "Bad request", "The role " + err.Error() + "."})
		return
	}
	after, err := s.DB.UpdateUser(r.Context(), u.ID, db.UserUpdate{Role: &role})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	if after.Role != u.Role {
		s.audit(r, db.AuditUserRole, userTarget(u.ID), fmt.Sprintf("%s: %s → %s", u.Email, u.Role, after.Role))
	}
	s.flash(w, r, fmt.Sprintf("%s is now %s.", u.Email, withArticle(string(after.Role))))
	redirect(w, r, "/users/"+u.ID)
}

func withArticle(role string) string {
	if strings.IndexByte("aeiou", role[0]) >= 0 {
		return "an " + role
	}
	return "a " + role
}

func (s *Server) setUserEnabled(w http.ResponseWriter, r *http.Request) {
	u, ok := s.findUser(w, r)
	if !ok {
		return
	}
	var disabled bool
	switch r.PostFormValue("enabled") {
	case "true":
	case "false":
		disabled = true
	default:
		s.uiFail(w, r, &uiError{http.StatusBadRequest, "Bad request", "enabled must be true or false."})
		return
	}
	after, err := s.DB.UpdateUser(r.Context(), u.ID, db.UserUpdate{Disabled: &disabled})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	switch {
	case after.Disabled && !u.Disabled:
		s.audit(r, db.AuditUserDisable, userTarget(u.ID), u.Email+"; sessions ended")
		s.flash(w, r, u.Email+" is disabled: they cannot sign in, and their sessions have ended.")
	case !after.Disabled && u.Disabled:
		s.audit(r, db.AuditUserEnable, userTarget(u.ID), u.Email)
		s.flash(w, r, u.Email+" is enabled again.")
	}
	s.afterOwnChange(w, r, u, disabled, "/users/"+u.ID)
}

// resetUserPassword sets a new initial password, typed by the admin, which the user must
// change at their next sign-in; every session of the user ends.
func (s *Server) resetUserPassword(w http.ResponseWriter, r *http.Request) {
	u, ok := s.findUser(w, r)
	if !ok {
		return
	}
	password := r.PostFormValue("password")
	if err := ValidatePassword(password); err != nil {
		s.showUser(w, r, http.StatusUnprocessableEntity, u, map[string]string{"password": "The new password " + err.Error() + "."})
		return
	}
	hash, err := HashPassword(password, s.UI.PasswordCost)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	yes := true
	if _, err := s.DB.UpdateUser(r.Context(), u.ID, db.UserUpdate{PasswordHash: &hash, MustChangePassword: &yes}); err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.audit(r, db.AuditUserPasswordReset, userTarget(u.ID), u.Email+"; to be changed at next sign-in; sessions ended")
	s.flash(w, r, "Password reset. Give "+u.Email+" the new password: they must choose their own at their next sign-in. Their sessions have ended.")
	s.afterOwnChange(w, r, u, true, "/users/"+u.ID)
}

func (s *Server) confirmDeleteUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.findUser(w, r)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Delete user", Nav: "users"}, views.Confirm(views.ConfirmData{
		Title:   "Delete this user?",
		Message: fmt.Sprintf("%s (%s) can no longer sign in, and their sessions end now. The audit log keeps what they did. This cannot be undone.", u.Email, u.Role),
		Action:  "/users/" + u.ID + "/delete", Button: "Delete user", Cancel: "/users/" + u.ID, Danger: true,
	}))
}

func (s *Server) deleteUserForm(w http.ResponseWriter, r *http.Request) {
	u, ok := s.findUser(w, r)
	if !ok {
		return
	}
	if err := s.DB.DeleteUser(r.Context(), u.ID); err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.audit(r, db.AuditUserDelete, userTarget(u.ID), fmt.Sprintf("%s; role %s", u.Email, u.Role))
	s.flash(w, r, u.Email+" is deleted.")
	s.afterOwnChange(w, r, u, true, "/users")
}
