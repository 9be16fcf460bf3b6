package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

// headerForm is a webhook form with the editor's rows: name, value, and the name each was
// stored under ("" for a new row).
func headerForm(rateLimit string, rows ...[3]string) url.Values {
	f := url.Values{"url": {"https://receiver.test/hook"}, "event_types": {"*"}, "enabled": {"true"}, "rate_limit": {rateLimit}}
	f.Set("header_rows", strconv.Itoa(len(rows)))
	for i, r := range rows {
		f.Set("header_name_"+strconv.Itoa(i), r[0])
		f.Set("header_value_"+strconv.Itoa(i), r[1])
		if r[2] != "" {
			f.Set("header_stored_"+strconv.Itoa(i), r[2])
		}
	}
	return f
}

func TestUIWebhookHeadersAndRateLimit(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn()

	// "Add another header" shows the form again with one more row, as typed, and saves nothing.
	rec := b.post("/webhooks", func() url.Values {
		f := headerForm("", [3]string{"Authorization", "Bearer tok-3141", ""}, [3]string{"", "", ""})
		f.Set("add_header", "1")
		return f
	}())
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, 3, testid(doc(t, rec), "header-row").Length())
	list, err := e.store.ListWebhooks(t.Context())
	require.NoError(t, err)
	assert.Empty(t, list)

	// A refused header is a form message; what was typed stays.
	rec = b.post("/webhooks", headerForm("", [3]string{"Host", "evil.test", ""}))
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	d := doc(t, rec)
	assert.Contains(t, text(testid(d, "error-headers")), `header "Host" cannot be set`)
	assert.Equal(t, "Host", testid(d, "header-name").AttrOr("value", ""))
	rec = b.post("/webhooks", headerForm("0"))
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.Contains(t, text(testid(doc(t, rec), "error-rate_limit")), "from 1 to 100000")

	rec = b.post("/webhooks", headerForm("25", [3]string{"Authorization", "Bearer tok-3141", ""}, [3]string{"X-Tenant", "acme", ""}, [3]string{"", "", ""}))
	require.Equal(t, http.StatusSeeOther, rec.Code)
	list, err = e.store.ListWebhooks(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1)
	wh := list[0]
	assert.Equal(t, map[string]string{"Authorization": "Bearer tok-3141", "X-Tenant": "acme"}, wh.Headers)
	assert.Equal(t, 25, wh.RateLimit)

	// The page names the headers and masks the values until an admin reveals them.
	page := b.get("/webhooks/" + wh.ID)
	assert.NotContains(t, page.Body.String(), "tok-3141")
	d = doc(t, page)
	assert.Equal(t, "25 attempts per second", text(testid(d, "rate-limit")))
	assert.Equal(t, 2, testid(d, "header").Length())
	assert.Contains(t, text(testid(d, "headers")), "Authorization: ••••••••")
	assert.Equal(t, "/webhooks/"+wh.ID+"/headers", testid(d, "reveal-headers").AttrOr("hx-get", ""))
	rec = b.htmx(http.MethodGet, "/webhooks/"+wh.ID+"/headers", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "Bearer tok-3141|acme", texts(testid(doc(t, rec), "header-value")))
	assert.Equal(t, "Bearer tok-3141|acme", texts(testid(doc(t, b.get("/webhooks/"+wh.ID+"?reveal_headers=1")), "header-value")),
		"without JavaScript the page reloads with the values")
	reveals, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{Action: db.AuditHeadersReveal})
	require.NoError(t, err)
	require.Len(t, reveals, 2)
	assert.Equal(t, "Authorization, X-Tenant read in the UI", reveals[0].Summary)

	// A viewer sees the names, not the values, and cannot reveal them.
	viewer := e.userBrowser(db.RoleViewer)
	vd := doc(t, viewer.get("/webhooks/"+wh.ID))
	assert.Contains(t, text(testid(vd, "headers")), "X-Tenant: ••••••••")
	assert.Equal(t, "admin", testid(vd, "reveal-headers").AttrOr("data-locked", ""))
	assert.Equal(t, http.StatusForbidden, viewer.htmx(http.MethodGet, "/webhooks/"+wh.ID+"/headers", nil).Code)
	assert.Equal(t, http.StatusForbidden, viewer.get("/webhooks/"+wh.ID+"?reveal_headers=1").Code)

	// The edit form has the names, never the values; a value left empty is kept, a cleared
	// name removes its header, and the rate limit emptied removes the limit.
	edit := b.get("/webhooks/" + wh.ID + "/edit")
	assert.NotContains(t, edit.Body.String(), "tok-3141")
	assert.Equal(t, 3, testid(doc(t, edit), "header-row").Length(), "the stored headers and a blank row")
	rec = b.post("/webhooks/"+wh.ID, headerForm("",
		[3]string{"Authorization", "", "Authorization"}, [3]string{"", "", "X-Tenant"}, [3]string{"X-New", "n", ""}))
	require.Equal(t, http.StatusSeeOther, rec.Code)
	got, err := e.store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"Authorization": "Bearer tok-3141", "X-New": "n"}, got.Headers)
	assert.Zero(t, got.RateLimit)
	updates, _, err := e.store.ListAudit(t.Context(), db.AuditFilter{Action: db.AuditWebhookUpdate})
	require.NoError(t, err)
	require.NotEmpty(t, updates)
	assert.Equal(t, "headers added X-New, removed X-Tenant; rate limit 25/s → none", updates[0].Summary)

	// A new row without a value is refused rather than sent empty.
	rec = b.post("/webhooks/"+wh.ID, headerForm("", [3]string{"X-Empty", "", ""}))
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.Contains(t, text(testid(doc(t, rec), "error-headers")), "must not be empty")
}

// texts is the text of each element, joined by "|".
func texts(s *goquery.Selection) string {
	return strings.Join(s.Map(func(_ int, e *goquery.Selection) string { return text(e) }), "|")
}
