package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// healthz answers as long as the process serves HTTP; it touches nothing else.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: s.Version})
}

// readyz answers 200 only when the database answers a query on both pools.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		s.logger().LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed",
			slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "database is not answering"})
		return
	}
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: s.Version})
}
