package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/handlers"
)

// route is one registered route as chi.Walk finds it, with its declared rule.
type route struct {
	method, pattern string
	least           db.Role // "" for public
	declared        bool
}

func (r route) api() bool { return strings.HasPrefix(r.pattern, "/api/") }

func (r route) String() string { return r.method + " " + r.pattern }

// walkRoutes lists every route of h (a chi router), sorted, with the role it was registered
// with: the rule table, read back from the router itself.
func walkRoutes(t *testing.T, h http.Handler) []route {
	t.Helper()
	routes, ok := h.(chi.Routes)
	require.True(t, ok, "Routes returns a chi router")
	var out []route
	require.NoError(t, chi.Walk(routes, func(method, pattern string, h http.Handler, _ ...func(http.Handler) http.Handler) error {
		least, declared := handlers.RouteRole(h)
		out = append(out, route{method: method, pattern: pattern, least: least, declared: declared})
		return nil
	}))
	sort.Slice(out, func(i, j int) bool {
		if out[i].pattern != out[j].pattern {
			return out[i].pattern < out[j].pattern
		}
		return out[i].method < out[j].method
	})
	return out
}

func undeclared(routes []route) []string {
	var out []string
	for _, r := range routes {
		if !r.declared {
			out = append(out, r.String())
		}
	}
	return out
}

// A route added without a rule is caught: the walk sees it, and it has no declared role.
func TestRouteWithoutRoleIsCaught(t *testing.T) {
	t.Parallel()
	h := (&handlers.Server{}).Routes()
	require.Empty(t, undeclared(walkRoutes(t, h)))
	h.(chi.Router).Get("/sneaky", func(w http.ResponseWriter, r *http.Request) {})
	h.(chi.Router).Route("/api/v1/more", func(r chi.Router) {
		r.Post("/things", func(w http.ResponseWriter, r *http.Request) {})
	})
	assert.Equal(t, []string{"POST /api/v1/more/things", "GET /sneaky"}, undeclared(walkRoutes(t, h)))
}

// keyRoles are the credentials the API walk tries: a stored key of each role, and the two
// static tokens.
type apiCredential struct {
	name  string
	role  db.Role
	token string
}

// walkEnv is a server with fixtures for every path parameter and a credential of every
// kind, fresh for each route so that one route's changes (a delete) do not touch another's.
type walkEnv struct {
	*uiEnv
	webhook, delivery, event, user, key string
	keys                                []apiCredential
	browsers                            map[db.Role]*browser
}

func newWalkEnv(t *testing.T) *walkEnv {
	t.Helper()
	e := newUIEnv(t)
	wh, d := e.failedDelivery("https://receiver.test/hook", 500, "no")
	w := &walkEnv{uiEnv: e, webhook: wh.ID, delivery: d.ID, event: d.EventID, browsers: map[db.Role]*browser{}}
	target, err := e.store.AddUser(t.Context(), db.NewUser{Email: "target@example.com", PasswordHash: "x", Role: db.RoleViewer})
	require.NoError(t, err)
	w.user = target.ID
	k, err := e.store.CreateAPIKey(t.Context(), db.NewAPIKey{Name: "target", Role: db.RoleViewer, Hash: db.HashToken(db.NewAPIKeySecret())})
	require.NoError(t, err)
	w.key = k.ID
	for _, role := range []db.Role{db.RoleViewer, db.RoleOperator, db.RoleIngest, db.RoleAdmin} {
		w.keys = append(w.keys, apiCredential{name: string(role) + " key", role: role, token: e.apiKey(string(role)+" key", role)})
	}
	w.keys = append(w.keys, apiCredential{"ingest token", db.RoleIngest, ingestToken}, apiCredential{"admin token", db.RoleAdmin, adminToken})
	for _, role := range db.UserRoles {
		w.browsers[role] = e.userBrowser(role)
	}
	return w
}

// apiKey stores a key of the role directly and returns it.
func (e *env) apiKey(name string, role db.Role) string {
	e.t.Helper()
	secret := db.NewAPIKeySecret()
	_, err := e.store.CreateAPIKey(e.t.Context(), db.NewAPIKey{Name: name, Role: role, Hash: db.HashToken(secret)})
	require.NoError(e.t, err)
	return secret
}

// userBrowser adds a user of the role (the admin of newUIEnv for admin) and signs them in.
func (e *uiEnv) userBrowser(role db.Role) *browser {
	e.t.Helper()
	if role == db.RoleAdmin {
		return e.signedIn()
	}
	email := string(role) + "@example.com"
	hash, err := handlers.HashPassword(adminPassword, bcrypt.MinCost)
	require.NoError(e.t, err)
	_, err = e.store.AddUser(e.t.Context(), db.NewUser{Email: email, PasswordHash: hash, Role: role})
	require.NoError(e.t, err)
	b := e.browser()
	rec := b.signIn(email, adminPassword)
	require.Equal(e.t, http.StatusSeeOther, rec.Code, "sign in as %s: %s", role, rec.Body)
	return b
}

// path fills the route's parameters with the fixtures.
func (w *walkEnv) path(pattern string) string {
	p := strings.TrimPrefix(pattern, "/api/v1")
	id := ""
	switch {
	case strings.HasPrefix(p, "/webhooks/"):
		id = w.webhook
	case strings.HasPrefix(p, "/deliveries/"):
		id = w.delivery
	case strings.HasPrefix(p, "/events/"):
		id = w.event
	case strings.HasPrefix(p, "/users/"):
		id = w.user
	case strings.HasPrefix(p, "/api-keys/"):
		id = w.key
	}
	out := strings.ReplaceAll(pattern, "{id}", id)
	return strings.ReplaceAll(out, "/*", "/app.css")
}

// callAPI sends one API request with token, and checks a refusal's answer against
// openapi.yaml (allowed answers here get no body worth checking; the handler tests check
// those).
func (w *walkEnv) callAPI(r route, token string) *httptest.ResponseRecorder {
	w.t.Helper()
	body := ""
	if r.method == http.MethodPost || r.method == http.MethodPatch {
		body = "{}"
	}
	req := httptest.NewRequest(r.method, w.path(r.pattern), strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	if rec.Code == http.StatusForbidden || rec.Code == http.StatusUnauthorized {
		checkExchange(w.t, req, body, rec)
	}
	return rec
}

// toSignIn reports whether a UI answer sends the browser to the sign-in page.
func toSignIn(rec *httptest.ResponseRecorder) bool {
	return rec.Code == http.StatusSeeOther && strings.HasPrefix(rec.Header().Get("Location"), "/login")
}

// The role walk: every registered route (API and UI, found by chi.Walk, so a new one cannot
// slip past) declares its least role, and answers each credential (API keys and static
// tokens; UI sessions of each role) as declared: allowed, or 403 with the code forbidden
// (API) or the 403 page (UI). Without a credential, protected routes answer 401 (API) or go
// to the sign-in page (UI). Every UI POST refuses a cross-origin request.
func TestRoleWalk(t *testing.T) {
	t.Parallel()
	routes := walkRoutes(t, (&handlers.Server{}).Routes())
	require.Empty(t, undeclared(routes), "every route declares its least role where it is registered (s.allow)")
	require.Greater(t, len(routes), 60)
	spec := mustSpec(t)
	for _, r := range routes {
		t.Run(r.String(), func(t *testing.T) {
			t.Parallel()
			w := newWalkEnv(t)
			if r.jsonRoute() {
				walkAPI(t, w, r)
				if r.pattern == "/metrics" {
					return // Prometheus text, not part of the JSON API's description
				}
				op := spec.doc.Paths.Find(strings.ReplaceAll(r.pattern, "/*", "")).GetOperation(r.method)
				require.NotNil(t, op, "openapi.yaml describes %s", r)
				want := string(r.least)
				if want == "" {
					want = "public"
				}
				assert.Equal(t, want, op.Extensions["x-min-role"], "openapi.yaml's x-min-role of %s", r)
				return
			}
			walkUI(t, w, r)
		})
	}
}

func walkAPI(t *testing.T, w *walkEnv, r route) {
	rec := w.callAPI(r, "")
	if r.least == "" {
		// A public route is open to the role check; one may still ask for a token of its
		// own (401), as /metrics does.
		assert.NotEqual(t, http.StatusForbidden, rec.Code, "public: %s", rec.Body)
		return
	}
	assertError(t, rec, http.StatusUnauthorized, "unauthorized", "")
	for _, c := range w.keys {
		rec := w.callAPI(r, c.token)
		if c.role.Allows(r.least) {
			assert.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, rec.Code,
				"%s is allowed (needs %s): %s", c.name, r.least, rec.Body)
			continue
		}
		er := assertError(t, rec, http.StatusForbidden, "forbidden", "")
		assert.Contains(t, er.Error.Message, "role, "+string(c.role)+",", c.name)
	}
}

func walkUI(t *testing.T, w *walkEnv, r route) {
	anon := w.browser()
	rec := anon.do(r.method, w.path(r.pattern), form(r))
	if r.least == "" {
		assert.NotEqual(t, http.StatusForbidden, rec.Code, "public: %s", rec.Body)
	} else {
		assert.True(t, toSignIn(rec), "without a session: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	for _, role := range db.UserRoles {
		rec := w.browsers[role].do(r.method, w.path(r.pattern), form(r))
		if r.least == "" {
			assert.NotEqual(t, http.StatusForbidden, rec.Code, "%s: %s", role, rec.Body)
			continue
		}
		if role.Allows(r.least) {
			assert.NotEqual(t, http.StatusForbidden, rec.Code, "%s is allowed (needs %s): %s", role, r.least, rec.Body)
			assert.False(t, toSignIn(rec), "%s keeps its session", role)
			continue
		}
		require.Equal(t, http.StatusForbidden, rec.Code, "%s is refused (needs %s)", role, r.least)
		page := testid(doc(t, rec), "error-page")
		assert.Equal(t, "403", page.AttrOr("data-status", ""))
		assert.Contains(t, text(page), "Your role, "+string(role)+", does not allow this")
	}
	if r.method == http.MethodPost {
		for _, header := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "", "Origin", "https://evil.example"}} {
			rec := w.browsers[db.RoleAdmin].do(r.method, w.path(r.pattern), form(r), header...)
			require.Equal(t, http.StatusForbidden, rec.Code, "cross-origin POST %v", header)
			assert.Contains(t, text(testid(doc(t, rec), "error-page")), "came from another site")
		}
	}
}

func form(r route) url.Values {
	if r.method == http.MethodPost {
		return url.Values{}
	}
	return nil
}

// jsonRoute tells the routes of the JSON API (and the probes: health, readiness, metrics)
// from the UI's.
func (r route) jsonRoute() bool {
	return r.api() || r.pattern == "/healthz" || r.pattern == "/readyz" || r.pattern == "/metrics"
}

// roleTable renders the rules of the JSON routes (json) or the UI's as docs/access.md shows
// them.
func roleTable(routes []route, json bool) string {
	var b strings.Builder
	b.WriteString("| Method | Path | Least role | Allowed |\n|---|---|---|---|\n")
	for _, r := range routes {
		if r.jsonRoute() != json {
			continue
		}
		least, who := "public", "anyone"
		if r.least != "" {
			least = string(r.least)
			var names []string
			for _, h := range r.least.Holders() {
				names = append(names, string(h))
			}
			who = strings.Join(names, ", ")
		}
		if r.pattern == "/metrics" {
			who = "the metrics token, or a key or token of viewer, operator or admin (it checks itself)"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", r.method, r.pattern, least, who)
	}
	return b.String()
}

// docs/access.md's tables of who may do what are the rule table, generated from the
// router: a route whose rule changes, or a new route, changes the docs in the same commit.
// HOOKRELAY_UPDATE_DOCS=1 rewrites them.
func TestDocsRoleTablesMatchTheRoutes(t *testing.T) {
	t.Parallel()
	routes := walkRoutes(t, (&handlers.Server{}).Routes())
	path := filepath.Join("..", "docs", "access.md")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	doc := string(b)
	for _, part := range []struct{ name, table string }{
		{"api", roleTable(routes, true)},
		{"ui", roleTable(routes, false)},
	} {
		begin, end := "<!-- roles:"+part.name+":begin -->\n", "<!-- roles:"+part.name+":end -->"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		require.True(t, i >= 0 && j > i, "docs/access.md has the markers %q and %q", begin, end)
		got := doc[i+len(begin) : j]
		if got != part.table && os.Getenv("HOOKRELAY_UPDATE_DOCS") == "1" {
			doc = doc[:i+len(begin)] + part.table + doc[j:]
			require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
			continue
		}
		assert.Equal(t, part.table, got, "docs/access.md's %s table differs from the routes; run with HOOKRELAY_UPDATE_DOCS=1", part.name)
	}
}
