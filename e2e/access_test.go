//go:build e2e

package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// signInAs signs in with the given credentials; a user with an initial password is taken
// to the password page and chooses newPassword there.
func (u *ui) signInAs(email, password, newPassword string) {
	u.t.Helper()
	u.goto_("/login")
	u.fill("Email", email)
	u.fill("Password", password)
	u.click(u.button("Sign in"), "Sign in")
	if newPassword == "" {
		u.must("see the dashboard", u.expect.Locator(u.page.GetByRole("heading", playwright.PageGetByRoleOptions{Name: "Dashboard"})).ToBeVisible())
		return
	}
	u.must("asked to choose a password", u.expect.Locator(u.testid("must-change-password")).ToBeVisible())
	// Every other page leads back here until the password is changed.
	u.goto_("/webhooks")
	u.must("still on the password page", u.expect.Locator(u.testid("password-form")).ToBeVisible())
	u.fill("Current password", password)
	u.fill("New password", newPassword)
	u.fill("New password again", newPassword)
	u.click(u.testid("change-password"), "Change password")
	u.must("password changed", u.expect.Locator(u.testid("flash")).ToContainText("Password changed"))
}

// lockedWithReason checks that the control is shown disabled, saying which role it needs.
func (u *ui) lockedWithReason(testid, needs string) {
	u.t.Helper()
	l := u.testid(testid)
	u.must(testid+" disabled", u.expect.Locator(l).ToBeDisabled())
	u.must(testid+" says why", u.expect.Locator(l).ToHaveAttribute("title", regexp.MustCompile("it needs "+needs)))
}

// TestUIRolesInTheBrowser: an admin creates a viewer and an operator on the Users page; each
// signs in, chooses their own password, and sees what their role may do: the viewer can look
// but every action is locked, saying why, and a page behind a locked action is refused with
// 403; the operator retries a failed delivery but cannot edit. The admin disables the viewer,
// whose next page is the sign-in page, and the audit log shows who did all of it.
func TestUIRolesInTheBrowser(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	rcv := newReceiver(t, 500, "down", nil)
	webhookID, _ := createWebhook(t, srv, rcv)
	_, deliveryID := sendEvent(t, srv, "order.paid")
	eventually(t, "the delivery to fail for good", func() bool { return deliveryStatus(t, srv, deliveryID) == "failed" })
	rcv.answer(200, "ok")

	admin := newUI(t, srv)
	admin.signIn()
	for _, nav := range []string{"Users", "API keys", "Audit log"} {
		admin.must("admin sees "+nav, admin.expect.Locator(admin.testid("nav").GetByRole("link", playwright.LocatorGetByRoleOptions{Name: nav})).ToBeVisible())
	}
	newUser := func(email, role string) {
		admin.goto_("/users/new")
		admin.fill("Email", email)
		_, err := admin.page.GetByLabel("Role").SelectOption(playwright.SelectOptionValues{Values: &[]string{role}})
		admin.must("choose the role", err)
		admin.fill("Initial password", "initial password 1")
		admin.click(admin.testid("create-user"), "Create user")
		admin.must("user created", admin.expect.Locator(admin.testid("user-role-value")).ToHaveText(role))
	}
	newUser("viewer@e2e.test", "viewer")
	newUser("operator@e2e.test", "operator")
	admin.goto_("/users")
	admin.must("three users", admin.expect.Locator(admin.testid("user-row")).ToHaveCount(3))
	admin.shot("users")

	// The viewer looks around; every action is locked, saying why.
	viewer := newUI(t, srv)
	viewer.signInAs("viewer@e2e.test", "initial password 1", "the viewer's own password")
	viewer.must("role note", viewer.expect.Locator(viewer.testid("role-note")).ToContainText("signed in as a viewer"))
	viewer.must("no Users in the nav", viewer.expect.Locator(viewer.testid("nav").GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Users"})).ToHaveCount(0))
	viewer.goto_("/webhooks/" + webhookID)
	for _, id := range []string{"edit-webhook", "delete-webhook", "reveal-secret", "rotate-secret"} {
		viewer.lockedWithReason(id, "the admin role")
	}
	for _, id := range []string{"toggle-enabled", "send-test", "retry-all"} {
		viewer.lockedWithReason(id, "the operator or admin role")
	}
	viewer.shot("viewer-webhook")
	viewer.goto_("/deliveries/" + deliveryID)
	viewer.lockedWithReason("retry", "the operator or admin role")
	// A page behind a locked action is refused by the server too.
	viewer.goto_("/webhooks/" + webhookID + "/edit")
	viewer.must("403 page", viewer.expect.Locator(viewer.testid("error-page")).ToHaveAttribute("data-status", "403"))
	viewer.must("says why", viewer.expect.Locator(viewer.testid("error-page")).ToContainText("Your role, viewer, does not allow this"))
	viewer.shot("viewer-403")

	// The operator retries the failed delivery, but cannot edit the webhook.
	op := newUI(t, srv)
	op.signInAs("operator@e2e.test", "initial password 1", "the operator's own password")
	op.goto_("/webhooks/" + webhookID)
	op.lockedWithReason("edit-webhook", "the admin role")
	op.must("can disable", op.expect.Locator(op.testid("toggle-enabled")).ToBeEnabled())
	op.goto_("/deliveries/" + deliveryID)
	op.click(op.button("Retry"), "Retry")
	op.must("delivered on retry", op.expect.Locator(op.testid("delivery-live")).ToHaveAttribute("data-state", "succeeded"))
	op.goto_("/users")
	op.must("users are for admins", op.expect.Locator(op.testid("error-page")).ToHaveAttribute("data-status", "403"))

	// The admin disables the viewer: the viewer's very next page is the sign-in page.
	admin.goto_("/users")
	admin.click(admin.page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "viewer@e2e.test", Exact: playwright.Bool(true)}), "the viewer")
	admin.click(admin.testid("toggle-user"), "Disable user")
	admin.must("disabled", admin.expect.Locator(admin.testid("flash")).ToContainText("is disabled"))
	viewer.goto_("/deliveries")
	viewer.must("signed out at once", viewer.expect.Locator(viewer.testid("signin-form")).ToBeVisible())

	// The audit log names who did what, and links each record to its target.
	admin.goto_("/audit-log?actor=operator%40e2e.test")
	row := admin.page.Locator(`[data-testid="audit-row"][data-action="delivery.retry"]`)
	admin.must("the operator's retry", admin.expect.Locator(row).ToHaveCount(1))
	admin.must("links to the delivery", admin.expect.Locator(row.GetByTestId("audit-target-link")).ToHaveAttribute("href", "/deliveries/"+deliveryID))
	admin.goto_("/audit-log")
	for _, action := range []string{"user.create", "user.password_change", "user.disable", "auth.sign_in", "delivery.retry"} {
		admin.must(action+" recorded", admin.expect.Locator(admin.page.Locator(`[data-testid="audit-row"][data-action="`+action+`"]`).First()).ToBeVisible())
	}
	admin.shot("audit-log")
}

// TestAPIKeysInTheBrowser: an admin makes an ingest key on the API keys page; it is shown
// once and ingests, and opens nothing else; revoked in the UI, it is refused within 1 s.
func TestAPIKeysInTheBrowser(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	u := newUI(t, srv)
	u.signIn()
	u.goto_("/api-keys")
	u.fill("Name", "bmadServer "+t.Name())
	_, err := u.page.GetByLabel("Role").SelectOption(playwright.SelectOptionValues{Values: &[]string{"ingest"}})
	u.must("choose the role", err)
	u.click(u.testid("create-key"), "Create key")
	u.must("shown once", u.expect.Locator(u.testid("new-api-key")).ToHaveText(regexp.MustCompile(`^hrk_[A-Za-z0-9_-]{43}$`)))
	key, err := u.testid("new-api-key").TextContent()
	u.must("read the key", err)
	key = strings.TrimSpace(key)
	u.shot("api-key-created")

	assert.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", key, map[string]any{"eventType": "a.b", "data": map[string]any{}}, nil))
	assert.Equal(t, 403, srv.api(t, "GET", "/api/v1/webhooks", key, nil, nil), "an ingest key opens only ingest")

	u.click(u.testid("back-to-keys"), "Done")
	u.must("listed", u.expect.Locator(u.testid("key-row")).ToHaveCount(1))
	content, err := u.page.Content()
	u.must("read the page", err)
	assert.NotContains(t, content, key, "the list never shows the key")
	u.click(u.testid("revoke-key"), "Revoke")
	u.click(u.testid("confirm-button"), "Revoke key")
	u.must("revoked", u.expect.Locator(u.testid("flash")).ToContainText("revoked"))
	deadline := time.Now().Add(time.Second)
	for srv.api(t, "POST", "/api/v1/events", key, map[string]any{"eventType": "a.b", "data": map[string]any{}}, nil) != http.StatusUnauthorized {
		require.True(t, time.Now().Before(deadline), "refused within 1 s")
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAccessAcrossInstancesOnPostgres: two instances on one PostgreSQL database. A key
// revoked on one is refused by the other within 1 s, though the other has just used it; a
// user disabled on one is signed out of the other at once; a role changed on one applies on
// the other at once.
func TestAccessAcrossInstancesOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	a, b := startServer(t, dsn), startServer(t, dsn)

	var k struct{ ID, Key string }
	require.Equal(t, 201, a.api(t, "POST", "/api/v1/api-keys", adminToken, map[string]any{"name": "ci", "role": "viewer"}, &k))
	require.Equal(t, 200, b.api(t, "GET", "/api/v1/webhooks", k.Key, nil, nil), "b knows the key at once, and caches it")
	require.Equal(t, 204, a.api(t, "DELETE", "/api/v1/api-keys/"+k.ID, adminToken, nil, nil))
	revoked := time.Now()
	for b.api(t, "GET", "/api/v1/webhooks", k.Key, nil, nil) != http.StatusUnauthorized {
		require.Less(t, time.Since(revoked), time.Second, "b refuses the revoked key within 1 s")
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("refused by the other instance %s after the revocation", time.Since(revoked).Round(time.Millisecond))

	// The admin's session, made on a, works on b; disabled on a (through a second admin), it
	// ends on b at once.
	cookie := signInOver(t, a)
	require.Equal(t, http.StatusOK, uiGet(t, b, "/users", cookie))
	admin := newUI(t, a)
	admin.signIn()
	admin.goto_("/users/new")
	admin.fill("Email", "other-admin@e2e.test")
	_, err := admin.page.GetByLabel("Role").SelectOption(playwright.SelectOptionValues{Values: &[]string{"admin"}})
	admin.must("choose the role", err)
	admin.fill("Initial password", "initial password 1")
	admin.click(admin.testid("create-user"), "Create user")
	admin.must("created", admin.expect.Locator(admin.testid("user-role-value")).ToHaveText("admin"))
	other := newUI(t, a)
	other.signInAs("other-admin@e2e.test", "initial password 1", "the other admin's password")
	other.goto_("/users")
	other.click(other.page.GetByRole("link", playwright.PageGetByRoleOptions{Name: adminEmail, Exact: playwright.Bool(true)}), "the first admin")
	_, err = other.testid("role-form").GetByLabel("Role").SelectOption(playwright.SelectOptionValues{Values: &[]string{"viewer"}})
	other.must("choose viewer", err)
	other.click(other.testid("save-role"), "Save role")
	other.must("demoted", other.expect.Locator(other.testid("flash")).ToContainText("is now a viewer"))
	assert.Equal(t, http.StatusForbidden, uiGet(t, b, "/users", cookie), "the new role applies on b at once")
	other.click(other.testid("toggle-user"), "Disable user")
	other.must("disabled", other.expect.Locator(other.testid("flash")).ToContainText("is disabled"))
	assert.Equal(t, http.StatusSeeOther, uiGet(t, b, "/users", cookie), "signed out on b at once")
}
