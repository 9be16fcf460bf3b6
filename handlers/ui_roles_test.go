package handlers_test

import (
	"net/http"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

// locked reports whether the control with the test id is shown locked, saying why.
func locked(t *testing.T, d *goquery.Document, id string) bool {
	t.Helper()
	s := testid(d, id)
	require.Equal(t, 1, s.Length(), "one %s", id)
	if _, ok := s.Attr("data-locked"); !ok {
		return false
	}
	_, disabled := s.Attr("disabled")
	assert.True(t, disabled, "%s is disabled", id)
	assert.Contains(t, s.AttrOr("title", ""), "cannot do this: it needs", "%s says why", id)
	return true
}

// The UI hides or locks what a role cannot do, saying why, and shows what it can.
func TestUIShowsWhatEachRoleMayDo(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	wh, d := e.failedDelivery("https://receiver.test/hook", 500, "")
	admin := e.signedIn()
	for _, tc := range []struct {
		role        db.Role
		operatorOK  bool
		adminOK     bool
		noteContain string
	}{
		{db.RoleViewer, false, false, "signed in as a viewer"},
		{db.RoleOperator, true, false, "signed in as an operator"},
		{db.RoleAdmin, true, true, ""},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			b := admin
			if tc.role != db.RoleAdmin {
				b = e.userBrowser(tc.role)
			}
			page := doc(t, b.get("/webhooks/"+wh.ID))
			for id, ok := range map[string]bool{
				"edit-webhook": tc.adminOK, "delete-webhook": tc.adminOK, "rotate-secret": tc.adminOK, "reveal-secret": tc.adminOK,
				"toggle-enabled": tc.operatorOK, "send-test": tc.operatorOK, "retry-all": tc.operatorOK,
			} {
				assert.Equal(t, !ok, locked(t, page, id), "%s on the webhook page", id)
			}
			assert.Equal(t, tc.role, db.Role(text(testid(page, "user-role"))))
			note := testid(page, "role-note")
			if tc.noteContain == "" {
				assert.Zero(t, note.Length(), "admins get no role note")
			} else {
				assert.Contains(t, text(note), tc.noteContain)
			}
			var nav []string
			testid(page, "nav").Find("a").Each(func(_ int, s *goquery.Selection) { nav = append(nav, text(s)) })
			for _, item := range []string{"Users", "API keys", "Audit log"} {
				assert.Equal(t, tc.adminOK, contains(nav, item), "%s in the navigation", item)
			}

			assert.Equal(t, !tc.operatorOK, locked(t, doc(t, b.get("/deliveries/"+d.ID)), "retry"), "retry on the delivery page")
			assert.Equal(t, !tc.adminOK, locked(t, doc(t, b.get("/alerts")), "send-test-email"), "the test email")
			assert.Equal(t, !tc.adminOK, locked(t, doc(t, b.get("/webhooks")), "new-webhook"), "new webhook")

			// What is locked in the page is refused by the server too.
			rec := b.get("/webhooks/" + wh.ID + "?reveal=1")
			if tc.adminOK {
				assert.Equal(t, http.StatusOK, rec.Code)
				assert.Equal(t, wh.Secret, text(testid(doc(t, rec), "secret-value")))
			} else {
				assert.Equal(t, http.StatusForbidden, rec.Code)
				assert.NotContains(t, rec.Body.String(), wh.Secret)
			}
			rec = b.htmx(http.MethodPost, "/webhooks/"+wh.ID+"/delete", nil)
			if !tc.adminOK {
				assert.Equal(t, http.StatusForbidden, rec.Code)
				assert.Contains(t, rec.Header().Get("X-Error-Message"), "does%20not%20allow")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
