package handlers

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/httprate"
	"golang.org/x/crypto/bcrypt"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// Password rules. bcrypt reads at most 72 bytes, so longer passwords are refused rather
// than silently cut.
const (
	MinPasswordLen   = 10
	maxPasswordBytes = 72
)

// signInFailed is the one message for a wrong email and a wrong password, so that the
// page does not tell which emails have accounts.
const signInFailed = "Wrong email or password."

// ValidateEmail checks a user's email address.
func ValidateEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return errors.New("must be an email address such as admin@example.com")
	}
	return nil
}

// ValidatePassword checks a new password.
func ValidatePassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return fmt.Errorf("must be at least %d characters", MinPasswordLen)
	}
	if len(pw) > maxPasswordBytes {
		return fmt.Errorf("must be at most %d bytes", maxPasswordBytes)
	}
	return nil
}

// HashPassword returns the bcrypt hash of a password checked by ValidatePassword. cost 0
// means bcrypt.DefaultCost.
func HashPassword(pw string, cost int) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if _, ok := currentUser(r.Context()); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Sign in"}, views.SignIn(views.SignInForm{Next: r.URL.Query().Get("next")}))
}

// signIn checks the credentials. Failed attempts count against the client's address and
// the email typed; past either limit the page answers 429 until the window has passed,
// even for the right password. Success replaces any session the browser held with a new
// one (no session fixation).
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	form := views.SignInForm{Email: email, Next: r.PostFormValue("next")}
	ipKey, acctKey := clientIP(r), accountKey(email)

	if s.ui.byIP.limited(ipKey) || s.ui.byAccount.limited(acctKey) {
		minutes := int(math.Ceil(s.ui.window.Minutes()))
		w.Header().Set("Retry-After", fmt.Sprint(int(s.ui.window.Seconds())))
		form.Error = fmt.Sprintf("Too many failed sign-ins. Wait %d minutes, then try again.", minutes)
		s.logger().Warn("sign-in rate limited", "remote_ip", ipKey, "request_id", requestID(r.Context()))
		s.page(w, r, http.StatusTooManyRequests, views.Page{Title: "Sign in"}, views.SignIn(form))
		return
	}

	// An unknown email is checked against a hash of a random password, so that it takes as
	// long as a wrong password and the timing does not tell which emails have accounts.
	user, err := s.DB.FindUserByEmail(r.Context(), email)
	known := err == nil
	hash := []byte(user.PasswordHash)
	switch {
	case errors.Is(err, db.ErrNotFound):
		hash = s.ui.dummy()
	case err != nil:
		s.uiFail(w, r, err)
		return
	}
	// Who tried: the account when the email has one, else the email as typed.
	actor, target := db.Actor{Kind: db.ActorUser, ID: user.ID, Name: email}, db.AuditTarget{}
	if known {
		actor.Name, target = user.Email, userTarget(user.ID)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !known {
		s.ui.byIP.fail(w, r, ipKey)
		s.ui.byAccount.fail(w, r, acctKey)
		s.logger().Info("sign-in failed", "remote_ip", ipKey, "request_id", requestID(r.Context()))
		s.auditAs(r, actor, db.AuditSignInFailed, target, "wrong email or password")
		// The failure that uses up a limit locks the address or the email out: record that
		// once, not every refused try after it.
		switch {
		case s.ui.byAccount.limited(acctKey):
			s.auditAs(r, actor, db.AuditLockout, target, fmt.Sprintf("%d failed sign-ins for this email within %s", s.ui.byAccount.limit, s.ui.window))
		case s.ui.byIP.limited(ipKey):
			s.auditAs(r, actor, db.AuditLockout, target, fmt.Sprintf("%d failed sign-ins from this address within %s", s.ui.byIP.limit, s.ui.window))
		}
		form.Error = signInFailed
		s.page(w, r, http.StatusUnauthorized, views.Page{Title: "Sign in"}, views.SignIn(form))
		return
	}
	if user.Disabled {
		// Said only to whoever knows the password: it is no news to them that the account exists.
		s.auditAs(r, actor, db.AuditSignInFailed, target, "the user is disabled")
		form.Error = "This account is disabled. Ask an admin to enable it."
		s.page(w, r, http.StatusForbidden, views.Page{Title: "Sign in"}, views.SignIn(form))
		return
	}

	sess := sessionOf(r.Context())
	old, _ := sess.cookie.Values["sid"].(string)
	stored, err := s.DB.CreateSession(r.Context(), user.ID, old, s.now().Add(-s.ui.ttl))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	clear(sess.cookie.Values)
	sess.cookie.Values["sid"] = stored.ID
	if err := sess.cookie.Save(r, w); err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.logger().Info("signed in", "user_id", user.ID, "request_id", requestID(r.Context()))
	s.auditAs(r, actor, db.AuditSignIn, target, "role "+string(user.Role))
	next := localPath(form.Next)
	if user.MustChangePassword {
		next = passwordPath
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the session on the server, so the cookie is dead even if a copy is kept.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r.Context())
	if sid, _ := sess.cookie.Values["sid"].(string); sid != "" {
		if err := s.DB.DeleteSession(r.Context(), sid); err != nil {
			s.uiFail(w, r, err)
			return
		}
		if u, ok := currentUser(r.Context()); ok {
			s.audit(r, db.AuditSignOut, userTarget(u.ID), "")
		}
	}
	clear(sess.cookie.Values)
	sess.cookie.Options.MaxAge = -1
	sess.cookie.Save(r, w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// failureLimit counts failed sign-ins per key in a sliding window (httprate's counter).
type failureLimit struct {
	rl    *httprate.RateLimiter
	limit int
}

func newFailureLimit(limit int, window time.Duration) *failureLimit {
	return &failureLimit{rl: httprate.NewRateLimiter(limit, window), limit: limit}
}

// limited reports whether key has used up its failures in the window.
func (l *failureLimit) limited(key string) bool {
	_, rate, err := l.rl.Status(key)
	return err != nil || int(math.Round(rate)) >= l.limit
}

// fail counts one failure of key.
func (l *failureLimit) fail(w http.ResponseWriter, r *http.Request, key string) {
	l.rl.OnLimit(w, r, key)
}

// accountKey is what the per-account sign-in limit counts an email under.
func accountKey(email string) string { return strings.ToLower(email) }

// clientIP is the address the request came from. Forwarding headers are not trusted: a
// client could set them to escape the per-address limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return httprate.CanonicalizeIP(host)
}
