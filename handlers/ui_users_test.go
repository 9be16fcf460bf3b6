package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

// createUser creates a user through the Users page and returns their id.
func (b *browser) createUser(email string, role db.Role, password string) string {
	b.e.t.Helper()
	rec := b.post("/users", url.Values{"email": {email}, "role": {string(role)}, "password": {password}})
	require.Equal(b.e.t, http.StatusSeeOther, rec.Code, rec.Body.String())
	loc := rec.Header().Get("Location")
	require.True(b.e.t, strings.HasPrefix(loc, "/users/usr_"), loc)
	return strings.TrimPrefix(loc, "/users/")
}

const initialPassword = "initial password 1"

// An admin creates a user with a role and an initial password; the user must choose their
// own password before anything else.
func TestNewUserMustChangeTheInitialPassword(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	admin := e.signedIn()

	rec := admin.post("/users", url.Values{"email": {"not an email"}, "role": {"root"}, "password": {"short"}})
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	d := doc(t, rec)
	for _, f := range []string{"email", "role", "password"} {
		assert.NotEmpty(t, text(testid(d, "error-"+f)), f)
	}
	id := admin.createUser("Ops@Example.com", db.RoleOperator, initialPassword)
	rec = admin.post("/users", url.Values{"email": {"ops@example.com"}, "role": {"viewer"}, "password": {initialPassword}})
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.Contains(t, text(testid(doc(t, rec), "error-email")), "already exists")

	d = doc(t, admin.get("/users"))
	row := d.Find(`[data-testid="user-row"][data-user-id="` + id + `"]`)
	assert.Equal(t, "operator", text(testid(row, "user-role-cell")))
	assert.Contains(t, text(testid(row, "user-status")), "must change password")

	ops := e.browser()
	rec = ops.signIn("ops@example.com", initialPassword)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/account/password", rec.Header().Get("Location"), "straight to the password page")
	for _, path := range []string{"/", "/webhooks", "/deliveries"} {
		rec := ops.get(path)
		assert.Equal(t, http.StatusSeeOther, rec.Code, path)
		assert.Equal(t, "/account/password", rec.Header().Get("Location"), path)
	}
	rec = ops.htmx(http.MethodPost, "/deliveries/dlv_x/retry", nil)
	assert.Equal(t, "/account/password", rec.Header().Get("HX-Redirect"))
	d = doc(t, ops.get("/account/password"))
	assert.Equal(t, 1, testid(d, "must-change-password").Length())

	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"current": {"wrong password!"}, "new": {"my own password"}, "confirm": {"my own password"}}, "current"},
		{url.Values{"current": {initialPassword}, "new": {"short"}, "confirm": {"short"}}, "new"},
		{url.Values{"current": {initialPassword}, "new": {initialPassword}, "confirm": {initialPassword}}, "new"},
		{url.Values{"current": {initialPassword}, "new": {"my own password"}, "confirm": {"my own passw0rd"}}, "confirm"},
	} {
		rec := ops.post("/account/password", tc.form)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, tc.field)
		assert.NotEmpty(t, text(testid(doc(t, rec), "error-"+tc.field)), tc.field)
	}
	rec = ops.post("/account/password", url.Values{"current": {initialPassword}, "new": {"my own password"}, "confirm": {"my own password"}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/", rec.Header().Get("Location"))
	assert.Equal(t, http.StatusOK, ops.get("/").Code, "free to go on")
	u, err := e.store.FindUser(t.Context(), id)
	require.NoError(t, err)
	assert.False(t, u.MustChangePassword)
	assert.Equal(t, http.StatusSeeOther, e.browser().signIn("ops@example.com", "my own password").Code)
	assert.Equal(t, http.StatusUnauthorized, e.browser().signIn("ops@example.com", initialPassword).Code)

	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{TargetID: id})
	require.NoError(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Action))
		assert.NotContains(t, r.Summary, initialPassword)
		assert.NotContains(t, r.Summary, "my own password")
	}
	assert.Contains(t, got, "user.create")
	assert.Contains(t, got, "user.password_change")
}

// Every user may change their own password; their other sessions end, the one they used
// stays.
func TestEveryUserChangesTheirOwnPassword(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	viewer := e.userBrowser(db.RoleViewer)
	elsewhere := e.browser()
	require.Equal(t, http.StatusSeeOther, elsewhere.signIn("viewer@example.com", adminPassword).Code)

	rec := viewer.post("/account/password", url.Values{"current": {adminPassword}, "new": {"a new password"}, "confirm": {"a new password"}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	rec = viewer.get("/")
	require.Equal(t, http.StatusOK, rec.Code, "this session stays")
	assert.Contains(t, text(testid(doc(t, rec), "flash")), "Password changed")
	assert.True(t, toSignIn(elsewhere.get("/")), "the other session ended")
}

// A new role applies to open sessions at once: the session reads the user as they are now.
func TestRoleChangeAppliesToOpenSessions(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	_, d := e.failedDelivery("https://receiver.test/hook", 500, "")
	admin := e.signedIn()
	viewer := e.userBrowser(db.RoleViewer)
	require.Equal(t, http.StatusForbidden, viewer.post("/deliveries/"+d.ID+"/retry", nil).Code)

	u, err := e.store.FindUserByEmail(t.Context(), "viewer@example.com")
	require.NoError(t, err)
	rec := admin.post("/users/"+u.ID+"/role", url.Values{"role": {"operator"}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Contains(t, text(testid(doc(t, admin.get(rec.Header().Get("Location"))), "flash")), "is now an operator")
	assert.Equal(t, http.StatusSeeOther, viewer.post("/deliveries/"+d.ID+"/retry", nil).Code, "retried in the same session")
	assert.Equal(t, http.StatusBadRequest, admin.post("/users/"+u.ID+"/role", url.Values{"role": {"ingest"}}).Code)

	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{Action: db.AuditUserRole})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "viewer@example.com: viewer → operator", recs[0].Summary)
}

// A disabled or deleted user's sessions end at once; a disabled user cannot sign in.
func TestDisabledOrDeletedUsersAreSignedOutAtOnce(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	admin := e.signedIn()
	op := e.userBrowser(db.RoleOperator)
	u, err := e.store.FindUserByEmail(t.Context(), "operator@example.com")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, op.get("/").Code)

	require.Equal(t, http.StatusSeeOther, admin.post("/users/"+u.ID+"/enabled", url.Values{"enabled": {"false"}}).Code)
	assert.True(t, toSignIn(op.get("/")), "the session ended")
	rec := e.browser().signIn("operator@example.com", adminPassword)
	require.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, text(testid(doc(t, rec), "signin-error")), "disabled")
	rec = e.browser().signIn("operator@example.com", "not the password")
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "without the password, nothing says the account exists")
	d := doc(t, admin.get("/users/"+u.ID))
	assert.Contains(t, text(testid(d, "toggle-user")), "Enable")

	require.Equal(t, http.StatusSeeOther, admin.post("/users/"+u.ID+"/enabled", url.Values{"enabled": {"true"}}).Code)
	op = e.browser()
	require.Equal(t, http.StatusSeeOther, op.signIn("operator@example.com", adminPassword).Code)
	require.Equal(t, http.StatusOK, op.get("/").Code)

	assert.Contains(t, text(testid(doc(t, admin.get("/users/"+u.ID+"/delete")), "confirm")), "operator@example.com")
	rec = admin.post("/users/"+u.ID+"/delete", nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/users", rec.Header().Get("Location"))
	assert.True(t, toSignIn(op.get("/")), "the deleted user's session ended")
	assert.Equal(t, http.StatusNotFound, admin.get("/users/"+u.ID).Code)

	var got []string
	recs, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{TargetID: u.ID})
	require.NoError(t, err)
	for _, r := range recs {
		got = append(got, string(r.Action))
	}
	assert.Subset(t, got, []string{"user.disable", "user.enable", "user.delete", "auth.sign_in_failed"})
}

// The last enabled admin cannot be demoted, disabled or deleted; with another admin, an
// admin may step down, and is signed out when they disable themselves.
func TestLastEnabledAdminStays(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	admin := e.signedIn()
	me, err := e.store.FindUserByEmail(t.Context(), adminEmail)
	require.NoError(t, err)
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/users/" + me.ID + "/role", url.Values{"role": {"viewer"}}},
		{"/users/" + me.ID + "/enabled", url.Values{"enabled": {"false"}}},
		{"/users/" + me.ID + "/delete", nil},
	} {
		rec := admin.post(tc.path, tc.form)
		require.Equal(t, http.StatusConflict, rec.Code, tc.path)
		assert.Contains(t, text(testid(doc(t, rec), "error-page")), "last enabled admin", tc.path)
	}
	assert.Equal(t, http.StatusOK, admin.get("/users").Code, "still an admin, still signed in")

	second := admin.createUser("second@example.com", db.RoleAdmin, initialPassword)
	rec := admin.post("/users/"+me.ID+"/enabled", url.Values{"enabled": {"false"}})
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/login", rec.Header().Get("Location"))
	assert.True(t, toSignIn(admin.get("/users")), "disabling yourself signs you out")
	u, err := e.store.FindUser(t.Context(), second)
	require.NoError(t, err)
	assert.Equal(t, db.RoleAdmin, u.Role)
}

// A reset ends the user's sessions and makes them choose a new password at next sign-in.
func TestResetPassword(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	admin := e.signedIn()
	viewer := e.userBrowser(db.RoleViewer)
	u, err := e.store.FindUserByEmail(t.Context(), "viewer@example.com")
	require.NoError(t, err)

	rec := admin.post("/users/"+u.ID+"/password", url.Values{"password": {"short"}})
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.NotEmpty(t, text(testid(doc(t, rec), "error-password")))
	require.Equal(t, http.StatusSeeOther, admin.post("/users/"+u.ID+"/password", url.Values{"password": {"reset password 1"}}).Code)
	assert.True(t, toSignIn(viewer.get("/")), "the user's sessions ended")
	assert.Equal(t, http.StatusUnauthorized, e.browser().signIn("viewer@example.com", adminPassword).Code, "the old password is gone")
	rec = e.browser().signIn("viewer@example.com", "reset password 1")
	require.Equal(t, http.StatusSeeOther, rec.Code)
	assert.Equal(t, "/account/password", rec.Header().Get("Location"))
}
