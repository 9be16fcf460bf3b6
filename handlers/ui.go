package handlers

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/gorilla/sessions"
	"golang.org/x/crypto/bcrypt"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/static"
	"github.com/hookrelay/hookrelay/views"
)

// UIConfig configures the admin web UI. Zero values take the documented defaults.
type UIConfig struct {
	// SessionKey signs and encrypts the session cookie (at least 32 bytes). Sessions
	// survive a restart only with the same key. A random key is used when empty.
	SessionKey []byte
	// SessionTTL is how long a session lasts without activity (default 12h).
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure: set it when the UI is served over https.
	SecureCookies bool
	// TrustedOrigins are origins (scheme://host[:port]) besides the request's own host
	// from which browser POSTs are accepted, such as the public base URL behind a proxy.
	TrustedOrigins []string
	// SignInLimitPerIP and SignInLimitPerAccount are how many failed sign-ins one client
	// address and one email may make within SignInLimitWindow before sign-in answers 429
	// (defaults 20, 5 and 15m).
	SignInLimitPerIP      int
	SignInLimitPerAccount int
	SignInLimitWindow     time.Duration
	// PasswordCost is the bcrypt cost new password hashes are made with (default 10). A
	// failed sign-in for an unknown email is checked against a hash of this cost, so that
	// it takes as long as a wrong password.
	PasswordCost int
	// UserAgent is the User-Agent deliveries are sent with, shown with the signed headers.
	UserAgent string
	// Now is the UI's clock (session expiry, relative times); time.Now when nil.
	Now func() time.Time
}

const (
	sessionCookie = "hookrelay_session"
	// touchEvery is how stale a session's last-seen time may get before a request renews
	// it: activity refreshes the idle clock without a write per request.
	touchEvery = time.Minute
	// maxFormBytes caps the body of every UI form post.
	maxFormBytes = 64 << 10
	// contentSecurityPolicy allows this origin's scripts and styles only: no inline script,
	// no eval, no framing.
	contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)

// ui is what the UI routes share, built once by Routes.
type ui struct {
	cookies   *sessions.CookieStore
	ttl       time.Duration
	byIP      *failureLimit
	byAccount *failureLimit
	window    time.Duration
	assets    map[string]string // file name -> ETag
	dummy     func() []byte     // a hash of a random password, see signIn
}

func (s *Server) now() time.Time {
	if s.UI.Now != nil {
		return s.UI.Now().UTC()
	}
	return time.Now().UTC()
}

// uiRoutes adds the admin UI to r: static files, the sign-in page, and every page behind
// a session. Browser POSTs from another origin are refused with 403 (CSRF) by Go's
// CrossOriginProtection, which needs no tokens in forms.
func (s *Server) uiRoutes(r chi.Router) {
	s.ui = s.newUI()
	cop := http.NewCrossOriginProtection()
	for _, o := range s.UI.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			s.logger().Warn("ignoring trusted origin", "origin", o, "err", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))

	r.With(s.securityHeaders).Method(http.MethodGet, "/static/*", s.allow(public, s.serveStatic))
	r.NotFound(s.securityHeaders(s.loadSession(http.HandlerFunc(s.uiNotFound))).ServeHTTP)
	r.MethodNotAllowed(s.securityHeaders(s.loadSession(http.HandlerFunc(s.uiMethodNotAllowed))).ServeHTTP)
	r.Group(func(r chi.Router) {
		r.Use(s.securityHeaders, limitForms, cop.Handler, s.loadSession)
		r.Method(http.MethodGet, "/login", s.allow(public, s.signInPage))
		r.Method(http.MethodPost, "/login", s.allow(public, s.signIn))
		r.Method(http.MethodPost, "/logout", s.allow(public, s.signOut))
		r.Group(func(r chi.Router) {
			r.Use(s.requireUser, s.requireOwnPassword)
			get := func(path string, least db.Role, h http.HandlerFunc) {
				r.Method(http.MethodGet, path, s.allow(least, h))
			}
			post := func(path string, least db.Role, h http.HandlerFunc) {
				r.Method(http.MethodPost, path, s.allow(least, h))
			}
			get("/", db.RoleViewer, s.dashboardPage)

			get("/webhooks", db.RoleViewer, s.webhooksPage)
			get("/webhooks/new", db.RoleAdmin, s.newWebhookPage)
			post("/webhooks", db.RoleAdmin, s.createWebhookForm)
			get("/webhooks/{id}", db.RoleViewer, s.webhookPage) // ?reveal=1 needs admin, see webhookPage
			get("/webhooks/{id}/edit", db.RoleAdmin, s.editWebhookPage)
			post("/webhooks/{id}", db.RoleAdmin, s.updateWebhookForm)
			get("/webhooks/{id}/secret", db.RoleAdmin, s.webhookSecret)
			get("/webhooks/{id}/headers", db.RoleAdmin, s.webhookHeaders)
			post("/webhooks/{id}/enabled", db.RoleOperator, s.setWebhookEnabled)
			post("/webhooks/{id}/test", db.RoleOperator, s.sendTestEvent)
			get("/webhooks/{id}/delete", db.RoleAdmin, s.confirmDeleteWebhook)
			post("/webhooks/{id}/delete", db.RoleAdmin, s.deleteWebhookForm)
			get("/webhooks/{id}/retry-failed", db.RoleOperator, s.confirmRetryFailed)
			post("/webhooks/{id}/retry-failed", db.RoleOperator, s.retryFailedForm)
			get("/webhooks/{id}/rotate-secret", db.RoleAdmin, s.rotateSecretPage)
			post("/webhooks/{id}/rotate-secret", db.RoleAdmin, s.rotateSecretForm)
			get("/webhooks/{id}/deliveries", db.RoleViewer, s.webhookDeliveries)

			get("/deliveries", db.RoleViewer, s.deliveriesPage)
			get("/deliveries/{id}", db.RoleViewer, s.deliveryPage)
			get("/deliveries/{id}/live", db.RoleViewer, s.deliveryLive)
			get("/deliveries/{id}/row", db.RoleViewer, s.deliveryRow)
			get("/deliveries/{id}/test-result", db.RoleViewer, s.testResult)
			post("/deliveries/{id}/retry", db.RoleOperator, s.retryDeliveryForm)

			get("/events", db.RoleViewer, s.eventsPage)
			get("/events/{id}", db.RoleViewer, s.eventPage)
			get("/go", db.RoleViewer, s.goToID)
			get("/events/{id}/replay", db.RoleOperator, s.replayForm)
			get("/deliveries/recover", db.RoleOperator, s.recoverPage)
			post("/deliveries/recover", db.RoleOperator, s.recoverPost)
			post("/events/{id}/replay", db.RoleOperator, s.replayPost)

			get("/alerts", db.RoleViewer, s.alertsPage)
			post("/alerts/test-email", db.RoleAdmin, s.sendTestEmailForm)

			get("/account/password", db.RoleViewer, s.passwordPage)
			post("/account/password", db.RoleViewer, s.changePassword)

			get("/users", db.RoleAdmin, s.usersPage)
			get("/users/new", db.RoleAdmin, s.newUserPage)
			post("/users", db.RoleAdmin, s.createUserForm)
			get("/users/{id}", db.RoleAdmin, s.userPage)
			post("/users/{id}/role", db.RoleAdmin, s.setUserRole)
			post("/users/{id}/enabled", db.RoleAdmin, s.setUserEnabled)
			post("/users/{id}/password", db.RoleAdmin, s.resetUserPassword)
			get("/users/{id}/delete", db.RoleAdmin, s.confirmDeleteUser)
			post("/users/{id}/delete", db.RoleAdmin, s.deleteUserForm)

			get("/api-keys", db.RoleAdmin, s.apiKeysPage)
			post("/api-keys", db.RoleAdmin, s.createAPIKeyForm)
			get("/api-keys/{id}/revoke", db.RoleAdmin, s.confirmRevokeAPIKey)
			post("/api-keys/{id}/revoke", db.RoleAdmin, s.revokeAPIKeyForm)

			get("/audit-log", db.RoleAdmin, s.auditPage)
		})
	})
}

func (s *Server) newUI() *ui {
	u := &ui{ttl: s.UI.SessionTTL, window: s.UI.SignInLimitWindow, assets: map[string]string{}}
	if u.ttl <= 0 {
		u.ttl = 12 * time.Hour
	}
	if u.window <= 0 {
		u.window = 15 * time.Minute
	}
	key := s.UI.SessionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	// Separate keys for the cookie's HMAC and its encryption, both from the one setting.
	hashKey, err1 := hkdf.Key(sha256.New, key, nil, "hookrelay session cookie hmac", 32)
	blockKey, err2 := hkdf.Key(sha256.New, key, nil, "hookrelay session cookie aes", 32)
	if err := errors.Join(err1, err2); err != nil {
		panic("derive session keys: " + err.Error()) // only for lengths HKDF cannot give
	}
	u.cookies = sessions.NewCookieStore(hashKey, blockKey)
	u.cookies.MaxAge(int(u.ttl / time.Second))
	u.cookies.Options.HttpOnly = true
	u.cookies.Options.Secure = s.UI.SecureCookies
	u.cookies.Options.SameSite = http.SameSiteLaxMode
	u.cookies.Options.Path = "/"

	perIP, perAccount := s.UI.SignInLimitPerIP, s.UI.SignInLimitPerAccount
	if perIP <= 0 {
		perIP = 20
	}
	if perAccount <= 0 {
		perAccount = 5
	}
	cost := s.UI.PasswordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	// Made on first use: a hash is slow on purpose, and most servers never need this one.
	u.dummy = sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
		if err != nil {
			panic("hash the dummy password: " + err.Error()) // only for a cost out of range
		}
		return h
	})
	u.byIP = newFailureLimit(perIP, u.window)
	u.byAccount = newFailureLimit(perAccount, u.window)

	fs.WalkDir(static.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static.FS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		u.assets[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	return u
}

// securityHeaders sets the headers every UI response carries.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func limitForms(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// serveStatic serves the embedded assets. The versioned htmx file is cached for good; the
// others are revalidated against a content hash.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
	etag, ok := s.ui.assets[name]
	if !ok {
		s.uiNotFound(w, r)
		return
	}
	b, err := fs.ReadFile(static.FS, name)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	if strings.HasPrefix(name, "htmx-") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

type uiCtxKey int

const (
	userKey uiCtxKey = iota
	sessionKey
)

// session is the request's cookie session and, when signed in, its stored session.
type session struct {
	cookie *sessions.Session
	stored db.Session // zero when not signed in
}

func sessionOf(ctx context.Context) *session {
	sess, _ := ctx.Value(sessionKey).(*session)
	if sess == nil {
		return &session{}
	}
	return sess
}

// currentUser returns the signed-in user, if any.
func currentUser(ctx context.Context) (db.User, bool) {
	u, ok := ctx.Value(userKey).(db.User)
	return u, ok
}

// loadSession finds the signed-in user from the session cookie, as the user is now: their
// role, and whether they are still enabled, are read with the session on every request, so
// a change made on any instance applies at once. A cookie whose session was deleted (signed
// out, replaced at sign-in, its user disabled or deleted) or has been idle longer than the
// TTL counts as none.
func (s *Server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.ui.cookies.New(r, sessionCookie)
		if err != nil { // a cookie from another key, or tampered with: start over
			c, _ = s.ui.cookies.New(&http.Request{Header: http.Header{}}, sessionCookie)
		}
		sess := &session{cookie: c}
		ctx := context.WithValue(r.Context(), sessionKey, sess)
		if sid, _ := c.Values["sid"].(string); sid != "" {
			stored, err := s.DB.FindSession(r.Context(), sid)
			switch {
			case errors.Is(err, db.ErrNotFound):
			case err != nil:
				s.uiFail(w, r, err)
				return
			case s.now().Sub(stored.LastSeenAt) >= s.ui.ttl:
				s.DB.DeleteSession(r.Context(), sid)
			default:
				sess.stored = stored
				ctx = context.WithValue(ctx, userKey, stored.User)
				if s.now().Sub(stored.LastSeenAt) >= touchEvery {
					if err := s.DB.TouchSession(r.Context(), sid); err != nil {
						s.uiFail(w, r, err)
						return
					}
					c.Save(r, w) // renews the cookie's Max-Age with the idle clock
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requireUser lets only signed-in users through. Others go to the sign-in page, which
// brings them back afterwards; htmx requests get HX-Redirect, since a redirect would
// swap the sign-in page into a fragment.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := currentUser(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		s.toSignIn(w, r)
	})
}

// toSignIn sends a request without a session to the sign-in page.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" && !isHTMX(r) {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", target)
		w.Header().Set("X-Error-Message", url.PathEscape("Your session has ended. Sign in again."))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// flash keeps a message for the next page the browser shows.
func (s *Server) flash(w http.ResponseWriter, r *http.Request, msg string) {
	sess := sessionOf(r.Context())
	if sess.cookie == nil {
		return
	}
	sess.cookie.AddFlash(msg)
	if err := sess.cookie.Save(r, w); err != nil {
		s.logger().Warn("save flash", "err", err, "request_id", requestID(r.Context()))
	}
}

// page renders a full page in the layout.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, p views.Page, body templ.Component) {
	if u, ok := currentUser(r.Context()); ok {
		p.User, p.Role = u.Email, u.Role
	}
	if sess := sessionOf(r.Context()); sess.cookie != nil {
		if fl := sess.cookie.Flashes(); len(fl) > 0 {
			if m, ok := fl[0].(string); ok {
				p.Flash = m
			}
			sess.cookie.Save(r, w)
		}
	}
	p.Now = s.now()
	s.fragment(w, r, status, views.Layout(p), body)
}

// fragment renders c alone (an htmx answer), or c wrapping children when given.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request, status int, c templ.Component, children ...templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	ctx := context.WithoutCancel(r.Context())
	if p, ok := principalOf(ctx); ok {
		ctx = views.WithRole(ctx, p.Role)
	}
	if len(children) > 0 {
		ctx = templ.WithChildren(ctx, children[0])
	}
	if err := c.Render(ctx, w); err != nil {
		s.logger().LogAttrs(r.Context(), slog.LevelWarn, "render page", slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
	}
}

// uiError is an error with the status and message the UI shows for it.
type uiError struct {
	Status  int
	Title   string
	Message string
}

func (e *uiError) Error() string { return e.Message }

// uiFail is the UI's one place where errors become responses: a page in the layout, or
// for htmx a status plus X-Error-Message, which app.js shows in the page. A *uiError says
// its own answer; any other error is classified as the API's fail does (see classify).
func (s *Server) uiFail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := errors.AsType[*uiError](err)
	if !ok {
		c := classify(err)
		s.logFailure(r, c, err)
		e = &uiError{Status: c.Status, Title: c.Title, Message: c.Text}
		if id := requestID(r.Context()); c.Log && id != "" {
			e.Message += " It has been logged with request id " + id + "."
		}
	}
	if isHTMX(r) {
		w.Header().Set("X-Error-Message", url.PathEscape(e.Message))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(e.Status)
		w.Write([]byte(e.Message))
		return
	}
	s.page(w, r, e.Status, views.Page{Title: e.Title}, views.ErrorPage(e.Status, e.Title, e.Message))
}

func (s *Server) uiNotFound(w http.ResponseWriter, r *http.Request) {
	s.uiFail(w, r, &uiError{http.StatusNotFound, "Page not found", "There is no page at " + r.URL.Path + "."})
}

func (s *Server) uiMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.uiFail(w, r, &uiError{http.StatusMethodNotAllowed, "Not allowed", "This page does not accept " + r.Method + " requests."})
}

func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.uiFail(w, r, &uiError{http.StatusForbidden, "Request refused",
		"This request came from another site and was refused. Use the form on this site instead."})
}

// redirect answers a form post: 303 to the page that shows its result, or for htmx
// HX-Redirect, which htmx follows.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// localPath returns p when it is a path on this site, otherwise "/".
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return p
}
