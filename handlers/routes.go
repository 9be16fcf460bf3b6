// Package handlers serves hookrelay's HTTP interface: health probes, the JSON API under
// /api/v1 (ingest and management) and the admin web UI under / (ui*.go).
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hookrelay/hookrelay/db"
)

// Default limits, used when the corresponding Server field is zero.
const (
	defaultMaxEventBytes  = 256 << 10
	defaultMaxBatchBytes  = 4 << 20
	defaultMaxBatchEvents = 100
)

// Server holds what the handlers need. Fill the fields, then call Routes once.
type Server struct {
	DB     Store
	Logger *slog.Logger
	// IngestToken is a Bearer token that works as an API key of the ingest role: it opens
	// POST /api/v1/events and /api/v1/events/batch only. Empty: none.
	IngestToken string
	// AdminToken is a Bearer token that works as an API key of the admin role. Empty: none.
	AdminToken string
	// MaxEventBytes limits the body of POST /api/v1/events and each item of a batch
	// (256 KiB when 0).
	MaxEventBytes int64
	// MaxBatchBytes limits the body of POST /api/v1/events/batch (4 MiB when 0).
	MaxBatchBytes int64
	// MaxBatchEvents is the most events one batch may carry (100 when 0).
	MaxBatchEvents int
	// MaxAdminBodyBytes limits management request bodies, which are small webhook
	// documents (64 KiB when 0).
	MaxAdminBodyBytes int64
	// MaxURLLength is the longest webhook URL in bytes (2048 when 0).
	MaxURLLength int
	// MaxEventTypes is the most event-type patterns one webhook may list (64 when 0).
	MaxEventTypes int
	// MaxDescriptionLength is the longest webhook description in characters (1024 when 0).
	MaxDescriptionLength int
	// MaxWorkflowIDLength is the longest workflowId of an event in characters (256 when 0).
	MaxWorkflowIDLength int
	// MaxIdempotencyKeyLength is the longest idempotency key in characters (255 when 0).
	MaxIdempotencyKeyLength int
	// MaxCustomHeaders is the most custom headers of a webhook (db.DefaultMaxCustomHeaders
	// when 0); MaxCustomHeaderBytes the longest value of one (db.DefaultMaxCustomHeaderBytes).
	MaxCustomHeaders     int
	MaxCustomHeaderBytes int
	// CheckURL, when set, vets a webhook URL on create and edit (the destination guard). Its
	// error is the reason shown with the 400; nil means no check.
	CheckURL func(ctx context.Context, u *url.URL) error
	// Version is reported by /healthz; may be empty.
	Version string
	// AlertEmail sends test emails and reports whether alert email is on; cmd wires the
	// alert sender. Nil answers 503 on the test-email route.
	AlertEmail AlertEmail
	// UI configures the admin web UI served under "/".
	UI UIConfig

	// Metrics counts what the handlers see (cmd wires the Prometheus metrics); nil counts
	// nothing.
	Metrics Metrics
	// MetricsHandler serves GET /metrics (the Prometheus exposition) to a Bearer token that
	// is AdminToken or MetricsToken; nil answers 404.
	MetricsHandler http.Handler
	// MetricsToken is a token that opens GET /metrics and nothing else; empty: only the
	// admin token does.
	MetricsToken string
	// Engine, when set, is checked by /readyz: an engine that completes no turn for longer
	// than EngineStall (2m when 0) while deliveries are due makes the instance unready.
	Engine      EngineProbe
	EngineStall time.Duration

	ui   *ui   // built by Routes
	auth *auth // built by Routes
}

// Routes returns the handler for every route the server answers. The API lives under
// /api/v1 with its own 404 and 405 answers; "/" and the rest are left to the admin UI.
//
// Every route is registered with the least role it needs (see allow in access.go): public,
// ingest, viewer, operator or admin. This, with uiRoutes, is the one table of who may do
// what; the role walk test reads it back from the router, and docs/access.md's table is
// checked against it.
func (s *Server) Routes() http.Handler {
	s.auth = s.newAuth()
	r := chi.NewRouter()
	r.Use(s.middleware()...)
	r.Method(http.MethodGet, "/healthz", s.allow(public, s.healthz))
	r.Method(http.MethodGet, "/readyz", s.allow(public, s.readyz))
	// Public to the role table: /metrics asks for a token of its own (metricsAccess).
	r.Method(http.MethodGet, "/metrics", s.allow(public, s.metricsAccess(s.serveMetrics)))
	r.Route("/api/v1", func(r chi.Router) {
		r.NotFound(s.notFound)
		r.MethodNotAllowed(s.methodNotAllowed)
		r.Method(http.MethodGet, "/openapi.yaml", s.allow(public, s.serveOpenAPI))
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Method(http.MethodPost, "/events", s.allow(db.RoleIngest, s.createEvent))
			r.Method(http.MethodPost, "/events/batch", s.allow(db.RoleIngest, s.createEventBatch))
			r.Method(http.MethodGet, "/events", s.allow(db.RoleViewer, s.listEvents))
			r.Method(http.MethodGet, "/events/{id}", s.allow(db.RoleViewer, s.getEvent))
			r.Method(http.MethodPost, "/events/{id}/replay", s.allow(db.RoleOperator, s.replayEvent))

			r.Method(http.MethodPost, "/webhooks", s.allow(db.RoleAdmin, s.createWebhook))
			r.Method(http.MethodGet, "/webhooks", s.allow(db.RoleViewer, s.listWebhooks))
			r.Method(http.MethodGet, "/webhooks/{id}", s.allow(db.RoleViewer, s.getWebhook))
			// Operators may PATCH only "enabled"; updateWebhook asks for admin for the rest.
			r.Method(http.MethodPatch, "/webhooks/{id}", s.allow(db.RoleOperator, s.updateWebhook))
			r.Method(http.MethodDelete, "/webhooks/{id}", s.allow(db.RoleAdmin, s.deleteWebhook))
			r.Method(http.MethodGet, "/webhooks/{id}/secret", s.allow(db.RoleAdmin, s.getWebhookSecret))
			r.Method(http.MethodGet, "/webhooks/{id}/headers", s.allow(db.RoleAdmin, s.getWebhookHeaders))
			r.Method(http.MethodPost, "/webhooks/{id}/secret/rotate", s.allow(db.RoleAdmin, s.rotateSecret))
			r.Method(http.MethodGet, "/webhooks/{id}/deliveries", s.allow(db.RoleViewer, s.listWebhookDeliveries))
			r.Method(http.MethodGet, "/webhooks/{id}/daily-attempts", s.allow(db.RoleViewer, s.getDailyAttempts))
			r.Method(http.MethodPost, "/webhooks/{id}/retry-failed", s.allow(db.RoleOperator, s.retryFailed))

			r.Method(http.MethodGet, "/deliveries", s.allow(db.RoleViewer, s.listDeliveries))
			r.Method(http.MethodPost, "/deliveries/recover", s.allow(db.RoleOperator, s.recoverDeliveries))
			r.Method(http.MethodGet, "/deliveries/{id}", s.allow(db.RoleViewer, s.getDelivery))
			r.Method(http.MethodPost, "/deliveries/{id}/retry", s.allow(db.RoleOperator, s.retryDelivery))

			r.Method(http.MethodGet, "/alerts", s.allow(db.RoleViewer, s.listAlerts))
			r.Method(http.MethodPost, "/alerts/test-email", s.allow(db.RoleAdmin, s.sendTestEmail))

			r.Method(http.MethodPost, "/api-keys", s.allow(db.RoleAdmin, s.createAPIKey))
			r.Method(http.MethodGet, "/api-keys", s.allow(db.RoleAdmin, s.listAPIKeys))
			r.Method(http.MethodDelete, "/api-keys/{id}", s.allow(db.RoleAdmin, s.revokeAPIKey))

			r.Method(http.MethodGet, "/audit-log", s.allow(db.RoleAdmin, s.listAudit))
		})
	})
	s.uiRoutes(r)
	return r
}

// middleware is the chain every route runs under, outermost first: the request id comes
// first so the log line and the panic report both carry it.
func (s *Server) middleware() []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{requestIDs, s.logRequests, s.recoverPanics}
}

// Metrics receives what the handlers count.
type Metrics interface {
	// EventsIngested is told of n events stored by the ingest API (duplicates not counted).
	EventsIngested(n int)
}

type noMetrics struct{}

func (noMetrics) EventsIngested(int) {}

func (s *Server) metrics() Metrics {
	if s.Metrics == nil {
		return noMetrics{}
	}
	return s.Metrics
}

// serveMetrics serves the Prometheus metrics, once requireToken has admitted the scraper.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.MetricsHandler == nil {
		s.notFound(w, r)
		return
	}
	s.MetricsHandler.ServeHTTP(w, r)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) maxEventBytes() int64 {
	if s.MaxEventBytes > 0 {
		return s.MaxEventBytes
	}
	return defaultMaxEventBytes
}

func (s *Server) maxBatchBytes() int64 {
	if s.MaxBatchBytes > 0 {
		return s.MaxBatchBytes
	}
	return defaultMaxBatchBytes
}

func (s *Server) maxBatchEvents() int {
	if s.MaxBatchEvents > 0 {
		return s.MaxBatchEvents
	}
	return defaultMaxBatchEvents
}
