package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/handlers"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery"
)

// uiEnv is a server with one admin and a settable clock shared by the UI and the store.
type uiEnv struct {
	*env
	clock *dbtest.Clock
}

func newUIEnv(t *testing.T, opts ...func(*handlers.Server)) *uiEnv {
	t.Helper()
	clock := dbtest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := newEnv(t, append([]func(*handlers.Server){func(s *handlers.Server) {
		s.DB.(*sqlite.DB).Clock = clock.Now
		s.UI.Now = clock.Now
		s.UI.UserAgent = "github.com/hookrelay/hookrelay/test"
		s.UI.PasswordCost = bcrypt.MinCost // bcrypt is slow under -race
	}}, opts...)...)
	hash, err := handlers.HashPassword(adminPassword, bcrypt.MinCost)
	require.NoError(t, err)
	_, err = e.store.CreateUser(t.Context(), adminEmail, hash)
	require.NoError(t, err)
	return &uiEnv{env: e, clock: clock}
}

// browser is one browser: a cookie jar and the headers a same-origin browser sends.
type browser struct {
	e       *uiEnv
	cookies map[string]*http.Cookie
	remote  string
}

func (e *uiEnv) browser() *browser {
	return &browser{e: e, cookies: map[string]*http.Cookie{}, remote: "192.0.2.1:1234"}
}

// signedIn returns a browser that has signed in as the admin.
func (e *uiEnv) signedIn() *browser {
	e.t.Helper()
	b := e.browser()
	rec := b.signIn(adminEmail, adminPassword)
	require.Equal(e.t, http.StatusSeeOther, rec.Code, "sign in: %s", rec.Body)
	return b
}

// do sends a request as this browser. form, when not nil, is posted url-encoded. header
// holds name, value pairs; the same-origin Sec-Fetch-Site header is sent unless given.
func (b *browser) do(method, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.RemoteAddr = b.remote
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return rec
}

func (b *browser) get(path string, header ...string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	return b.do(http.MethodGet, path, nil, header...)
}

func (b *browser) post(path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do(http.MethodPost, path, form, header...)
}

// htmx sends the request as htmx would.
func (b *browser) htmx(method, path string, form url.Values) *httptest.ResponseRecorder {
	b.e.t.Helper()
	if method == http.MethodPost && form == nil {
		form = url.Values{}
	}
	return b.do(method, path, form, "HX-Request", "true")
}

func (b *browser) signIn(email, password string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	return b.post("/login", url.Values{"email": {email}, "password": {password}})
}

// doc parses an HTML response.
func doc(t *testing.T, rec *httptest.ResponseRecorder) *goquery.Document {
	t.Helper()
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html"), "content type %q: %s", rec.Header().Get("Content-Type"), rec.Body)
	d, err := goquery.NewDocumentFromReader(strings.NewReader(rec.Body.String()))
	require.NoError(t, err)
	return d
}

// testid selects the nodes with the given data-testid.
func testid(d interface {
	Find(string) *goquery.Selection
}, id string) *goquery.Selection {
	return d.Find(`[data-testid="` + id + `"]`)
}

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

// failedDelivery ingests one event for a webhook at url and fails its only attempt for
// good with the given answer. It returns the webhook and the delivery.
func (e *uiEnv) failedDelivery(url string, status int, body string) (db.Webhook, db.Delivery) {
	e.t.Helper()
	wh := dbtest.Webhook(e.t, e.store, url)
	dbtest.Event(e.t, e.store, "order.paid", 1)
	attempt(e.t, e.store, wh.ID, db.AttemptResult{StatusCode: status, ResponseBody: []byte(body),
		Duration: 42 * time.Millisecond, Signature: "v1,c2lnbmF0dXJl", AttemptedAt: e.clock.Now(), Next: db.StateFailed})
	ds := e.deliveriesOf(wh.ID)
	require.Len(e.t, ds, 1)
	return wh, ds[0]
}
