package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// EngineProbe tells /readyz how the delivery engine is doing (delivery.Engine implements it).
type EngineProbe interface {
	// LastTurn is when the engine last completed a turn of its loop.
	LastTurn() time.Time
}

// defaultEngineStall is how long the engine may go without a turn, while work is due, before
// /readyz calls it stuck. A running engine turns at least every few seconds.
const defaultEngineStall = 2 * time.Minute

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// readyResponse is /readyz's answer: each check says "ok" or what is wrong.
type readyResponse struct {
	Status  string            `json:"status"`
	Version string            `json:"version,omitempty"`
	Checks  map[string]string `json:"checks"`
}

// healthz answers as long as the process serves HTTP; it touches nothing else.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: s.Version})
}

// readyz answers 200 when the instance can do its work: the database answers a query on both
// pools, and the delivery engine is not stuck, which it is when it has completed no turn for
// longer than EngineStall while deliveries are due. Otherwise it answers 503, and the body
// says which check failed. Details of a database error go to the log, not to this
// unauthenticated answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok"}
	ready := true
	fail := func(check, msg string, err error) {
		ready = false
		checks[check] = msg
		attrs := []slog.Attr{slog.String("request_id", requestID(r.Context())), slog.String("check", check), slog.String("reason", msg)}
		if err != nil {
			attrs = append(attrs, slog.Any("err", err))
		}
		s.logger().LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed", attrs...)
	}
	dbErr := s.DB.Ping(ctx)
	if dbErr != nil {
		fail("database", "unreachable", dbErr)
	}
	if s.Engine != nil {
		checks["engine"] = "ok"
		if idle := time.Since(s.Engine.LastTurn()); idle > s.engineStall() {
			idle = idle.Round(time.Second)
			switch q, err := s.DB.QueueStats(ctx); {
			case dbErr != nil:
				fail("engine", fmt.Sprintf("unknown: no turn for %s, and the database is unreachable", idle), nil)
			case err != nil:
				fail("engine", fmt.Sprintf("unknown: no turn for %s, and the due deliveries could not be counted", idle), err)
			case q.Due > 0:
				due := fmt.Sprintf("%d deliveries are", q.Due)
				if q.Due == 1 {
					due = "1 delivery is"
				}
				fail("engine", fmt.Sprintf("stuck: no turn for %s while %s due", idle, due), nil)
			}
		}
	}
	if !ready {
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Status: "unavailable", Version: s.Version, Checks: checks})
		return
	}
	writeJSON(w, http.StatusOK, readyResponse{Status: "ok", Version: s.Version, Checks: checks})
}

func (s *Server) engineStall() time.Duration {
	if s.EngineStall > 0 {
		return s.EngineStall
	}
	return defaultEngineStall
}
