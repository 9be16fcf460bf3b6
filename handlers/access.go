package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Access control. Every route is registered with the least role it needs, where it is
// registered (routes.go for the API, ui.go for the UI), through allow:
//
//	r.Method(http.MethodPost, "/webhooks/{id}/retry-failed", s.allow(db.RoleOperator, s.retryFailed))
//
// allow wraps the handler in a guarded that carries the role, so the rule sits on the route
// itself: the tests walk the router (chi.Walk) and read every route's rule back, and a route
// registered without allow fails them. The groups around the routes say who is asking (an
// API key, or a session's user); guarded says whether they may.

// public is the rule of routes open to anyone: health probes, the OpenAPI description,
// static files, the sign-in page.
const public db.Role = ""

// principal is who a request acts for: a signed-in user (the UI) or the holder of an API key
// or of a static token (the API).
type principal struct {
	Role db.Role
	// Exactly one of these says who it is.
	User  *db.User   // a session's user
	Key   *db.APIKey // a stored API key
	Token string     // the variable of a static token: HOOKRELAY_ADMIN_TOKEN or HOOKRELAY_INGEST_TOKEN
}

// actor is the principal as the audit log names it.
func (p principal) actor() db.Actor {
	switch {
	case p.User != nil:
		return db.Actor{Kind: db.ActorUser, ID: p.User.ID, Name: p.User.Email}
	case p.Key != nil:
		return db.Actor{Kind: db.ActorKey, ID: p.Key.ID, Name: p.Key.Name}
	case p.Token != "":
		return db.Actor{Kind: db.ActorToken, Name: p.Token}
	}
	return db.Actor{Kind: db.ActorUser, Name: "anonymous"}
}

// what names the principal in a refusal: "your role, viewer," or "this key's role, viewer,".
func (p principal) what() string {
	if p.User != nil {
		return "your role, " + string(p.Role) + ","
	}
	return "this key's role, " + string(p.Role) + ","
}

// principalOf returns who the request acts for: the API's key or token, or the UI's user.
func principalOf(ctx context.Context) (principal, bool) {
	if p, ok := ctx.Value(principalKey).(principal); ok {
		return p, true
	}
	if u, ok := currentUser(ctx); ok {
		return principal{Role: u.Role, User: &u}, true
	}
	return principal{}, false
}

// guarded is a route's handler with the least role it needs. least is public for routes
// open to anyone.
type guarded struct {
	s     *Server
	least db.Role
	next  http.HandlerFunc
}

// allow declares that h needs least (or public): the rule of one route. Routes registers
// every route through it.
func (s *Server) allow(least db.Role, h http.HandlerFunc) http.Handler {
	return guarded{s: s, least: least, next: h}
}

// isAPI tells the JSON API's requests from the UI's: they answer refusals differently.
func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func (g guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.least == public {
		g.next(w, r)
		return
	}
	p, ok := principalOf(r.Context())
	switch {
	case !ok && isAPI(r):
		// The API group authenticates first; this is a second lock on a route registered
		// outside it.
		unauthorized(w, "missing Authorization: Bearer header")
	case !ok:
		g.s.toSignIn(w, r)
	case !p.Role.Allows(g.least):
		g.s.forbidden(w, r, p, g.least)
	default:
		g.next(w, r)
	}
}

// needs says in words who may do what needs least.
func needs(least db.Role) string {
	switch least {
	case db.RoleViewer:
		return "the viewer, operator or admin role"
	case db.RoleOperator:
		return "the operator or admin role"
	case db.RoleAdmin:
		return "the admin role"
	case db.RoleIngest:
		return "an ingest key or the admin role"
	}
	return "nothing"
}

// forbidden refuses a principal whose role does not allow the route: 403 with the code
// forbidden in the API, the 403 page (or, for htmx, the message) in the UI.
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, p principal, least db.Role) {
	if isAPI(r) {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: codeForbidden,
			Message: fmt.Sprintf("%s does not allow this: it needs %s", p.what(), needs(least))})
		return
	}
	s.uiFail(w, r, &uiError{http.StatusForbidden, "Not allowed",
		fmt.Sprintf("Your role, %s, does not allow this: it needs %s. Ask an admin if you need it.", p.Role, needs(least))})
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeError(w, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: msg})
}

// Static tokens of the configuration work as API keys: the admin token as an admin key,
// the ingest token as an ingest key.
const (
	adminTokenName  = "HOOKRELAY_ADMIN_TOKEN"
	ingestTokenName = "HOOKRELAY_INGEST_TOKEN"
)

// auth is what authenticating API requests needs, built once by Routes.
type auth struct {
	admin, ingest [sha256.Size]byte // digests of the static tokens
	hasAdmin      bool
	hasIngest     bool
	keys          *keyCache
}

func (s *Server) newAuth() *auth {
	return &auth{
		admin: sha256.Sum256([]byte(s.AdminToken)), hasAdmin: s.AdminToken != "",
		ingest: sha256.Sum256([]byte(s.IngestToken)), hasIngest: s.IngestToken != "",
		keys: newKeyCache(keyCacheTTL),
	}
}

// authenticate admits API requests that carry "Authorization: Bearer <key>" with a static
// token or a stored, unexpired API key, and puts who it is in the context for allow to
// judge. Anything else is 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			unauthorized(w, "missing Authorization: Bearer header")
			return
		}
		p, err := s.principalFor(r.Context(), tok)
		if errors.Is(err, errBadKey) {
			unauthorized(w, "a valid Bearer token is required")
			return
		}
		if errors.Is(err, errExpiredKey) {
			unauthorized(w, "the API key has expired")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
}

var (
	errBadKey     = errors.New("unknown key")
	errExpiredKey = errors.New("expired key")
)

// principalFor finds who tok stands for. The static tokens are compared as SHA-256 digests
// in constant time, which hides both their bytes and their length; only a token shaped like
// an API key costs a lookup (in the cache, then the store).
func (s *Server) principalFor(ctx context.Context, tok string) (principal, error) {
	sum := sha256.Sum256([]byte(tok))
	isAdmin := subtle.ConstantTimeCompare(sum[:], s.auth.admin[:]) == 1 && s.auth.hasAdmin
	isIngest := subtle.ConstantTimeCompare(sum[:], s.auth.ingest[:]) == 1 && s.auth.hasIngest
	switch {
	case isAdmin:
		return principal{Role: db.RoleAdmin, Token: adminTokenName}, nil
	case isIngest:
		return principal{Role: db.RoleIngest, Token: ingestTokenName}, nil
	case !db.LooksLikeAPIKey(tok):
		return principal{}, errBadKey
	}
	hash := db.HashToken(tok)
	now := s.now()
	k, ok := s.auth.keys.get(hash, now)
	if !ok {
		var err error
		k, err = s.DB.FindAPIKeyByHash(ctx, hash)
		if errors.Is(err, db.ErrNotFound) {
			return principal{}, errBadKey
		}
		if err != nil {
			return principal{}, err
		}
		s.auth.keys.put(hash, k, now)
	}
	if k.Expired(now) {
		return principal{}, errExpiredKey
	}
	if s.auth.keys.touchDue(hash, now) {
		// Once a minute per key and instance at most: lastUsedAt is for people, who read it
		// to the minute, and a write per request would cost ingest its speed.
		if err := s.DB.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.logger().LogAttrs(ctx, slog.LevelWarn, "record api key use", slog.String("key_id", k.ID), slog.Any("err", err))
		}
	}
	return principal{Role: k.Role, Key: &k}, nil
}

// keyCacheTTL is how long an instance trusts what it read of an API key. A key revoked on
// any instance is refused everywhere once this has passed, which the API promises within
// 1 s; half of that leaves room for the lookup and the request itself.
const keyCacheTTL = 500 * time.Millisecond

// maxCachedKeys bounds the cache; past it, the cache starts afresh.
const maxCachedKeys = 10_000

// keyCache keeps recently seen API keys by hash for keyCacheTTL, so that a burst of ingest
// requests costs one lookup. Unknown keys are not cached: a key made on another instance
// works at once.
type keyCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]*cachedKey
	touched map[string]time.Time // by hash: when this instance last recorded the key's use
}

type cachedKey struct {
	key db.APIKey
	at  time.Time
}

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, entries: map[string]*cachedKey{}, touched: map[string]time.Time{}}
}

func (c *keyCache) get(hash string, now time.Time) (db.APIKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		delete(c.entries, hash)
		return db.APIKey{}, false
	}
	return e.key, true
}

func (c *keyCache) put(hash string, k db.APIKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedKeys {
		clear(c.entries)
		clear(c.touched)
	}
	c.entries[hash] = &cachedKey{key: k, at: now}
}

// touchDue reports whether this instance should record the key's use now, and if so counts
// it as recorded, so that concurrent requests do not all write.
func (c *keyCache) touchDue(hash string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.touched[hash]; ok && now.Sub(last) < touchEvery && !now.Before(last) {
		return false
	}
	c.touched[hash] = now
	return true
}

// forget drops a key this instance has just revoked, so that it is refused here at once.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.entries {
		if e.key.ID == id {
			delete(c.entries, h)
			delete(c.touched, h)
		}
	}
}

// metricsAccess opens GET /metrics to HOOKRELAY_METRICS_TOKEN (which opens nothing else) and
// to any key or token whose role may read (viewer and up): the figures say how busy and how
// healthy hookrelay is, never what it carries. Anything else is 401, or 403 for an ingest key.
func (s *Server) metricsAccess(next http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.MetricsToken))
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			unauthorized(w, "missing Authorization: Bearer header")
			return
		}
		sum := sha256.Sum256([]byte(tok))
		if s.MetricsToken != "" && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			next(w, r)
			return
		}
		p, err := s.principalFor(r.Context(), tok)
		switch {
		case errors.Is(err, errBadKey), errors.Is(err, errExpiredKey):
			unauthorized(w, "a valid Bearer token is required")
		case err != nil:
			s.fail(w, r, err)
		case !p.Role.Allows(db.RoleViewer):
			writeError(w, &apiError{Status: http.StatusForbidden, Code: codeForbidden,
				Message: fmt.Sprintf("%s does not allow this: it needs %s", p.what(), needs(db.RoleViewer))})
		default:
			next(w, r)
		}
	}
}
