package handlers_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/handlers"
)

// The OpenAPI description is kept true by the handler tests themselves: every request a
// test sends through env.call is checked against handlers/openapi.yaml as served at
// GET /api/v1/openapi.yaml. Each response must have a documented status and match its
// schema (schemas forbid undocumented fields); each request that got a 2xx must match the
// documented parameters and body. TestMain then checks that every documented operation was
// exercised with a 2xx, and TestOpenAPINamesEveryRoute that the description and the router
// agree on the routes.

// spec is the loaded description and what the tests have exercised of it.
type spec struct {
	doc    *openapi3.T
	router routers.Router

	mu sync.Mutex
	ok map[string]bool // "METHOD /path/template" answered 2xx and validated
}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	// Read it through the route, so what is checked is what is served.
	rec := httptest.NewRecorder()
	(&handlers.Server{}).Routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.yaml", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/openapi.yaml: %d %s", rec.Code, rec.Body)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rec.Body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &spec{doc: doc, router: router, ok: map[string]bool{}}, nil
})

func mustSpec(t testing.TB) *spec {
	t.Helper()
	s, err := loadSpec()
	require.NoError(t, err)
	return s
}

// checkExchange validates one request (with its body) and the answer it got.
func checkExchange(t *testing.T, req *http.Request, body string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if !isJSONAPI(req.URL.Path) {
		return // the admin UI's pages are not part of the JSON API
	}
	s := mustSpec(t)
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(strings.NewReader(body))
	r.Host = "" // the description's server is "/": any host
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		// Only unknown routes and methods may be missing from the description, and requests
		// refused by the key or role check, which runs before a path like /events/batch is
		// told apart from /events/{id}.
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed && rec.Code != http.StatusUnauthorized &&
			rec.Code != http.StatusForbidden {
			t.Errorf("openapi.yaml has no operation for %s %s, which answered %d: %v", req.Method, req.URL.Path, rec.Code, err)
		}
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
	name := req.Method + " " + route.Path
	success := rec.Code >= 200 && rec.Code < 300
	if success {
		// The server accepted it, so the description must accept it too.
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("openapi.yaml refuses a request the server accepted (%s, answered %d):\n%s\nbody: %s", name, rec.Code, err, body)
		}
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: opts,
	})
	if err != nil {
		t.Errorf("the answer of %s does not match openapi.yaml (status %d):\n%s\nbody: %s", name, rec.Code, err, rec.Body)
		return
	}
	if success {
		s.mu.Lock()
		s.ok[name] = true
		s.mu.Unlock()
	}
}

// isJSONAPI tells the paths the description covers: the /api/v1 tree and the health probes.
func isJSONAPI(path string) bool {
	return strings.HasPrefix(path, "/api/v1/") || path == "/healthz" || path == "/readyz"
}

// operations lists "METHOD /path" of every operation the description has.
func (s *spec) operations() []string {
	var out []string
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// unexercised lists the operations no test got a validated 2xx from.
func (s *spec) unexercised() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, op := range s.operations() {
		if !s.ok[op] {
			out = append(out, op)
		}
	}
	return out
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	// Only a run of every test can tell whether every operation was exercised.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" {
		s, err := loadSpec()
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "openapi:", err)
			code = 1
		case len(s.unexercised()) > 0:
			fmt.Fprintf(os.Stderr, "openapi: no handler test got a validated 2xx answer from:\n  %s\n",
				strings.Join(s.unexercised(), "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

// TestOpenAPINamesEveryRoute compares the operations of the description with the JSON routes
// the router serves (the /api/v1 tree and the health probes), both ways.
func TestOpenAPINamesEveryRoute(t *testing.T) {
	t.Parallel()
	s := mustSpec(t)
	assert.Equal(t, "3.1.0", s.doc.OpenAPI)
	var served []string
	routes, ok := (&handlers.Server{}).Routes().(chi.Routes)
	require.True(t, ok, "Routes returns a chi router")
	require.NoError(t, chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/")
		if isJSONAPI(route) {
			served = append(served, method+" "+route)
		}
		return nil
	}))
	sort.Strings(served)
	served = slices.Compact(served)
	assert.Equal(t, served, s.operations(), "openapi.yaml and handlers/routes.go name different routes")
}

// TestOpenAPIIsServedWithoutToken: clients fetch the description before they have a token.
func TestOpenAPIIsServedWithoutToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.call(http.MethodGet, "/api/v1/openapi.yaml", "", "")
	requireStatus(t, rec, http.StatusOK)
	assert.Equal(t, "application/yaml; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.True(t, strings.HasPrefix(rec.Body.String(), "openapi: 3.1.0\n"))
	// And it still is with a token of either kind.
	requireStatus(t, e.call(http.MethodGet, "/api/v1/openapi.yaml", adminToken, ""), http.StatusOK)
	requireStatus(t, e.call(http.MethodGet, "/api/v1/openapi.yaml", ingestToken, ""), http.StatusOK)
}
