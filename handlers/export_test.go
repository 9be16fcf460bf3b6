package handlers

import "net/http"

// WithMiddleware wraps h in the chain Routes puts around every route, so tests can drive
// the chain (panic recovery, request ids, logging) with handlers of their own.
func (s *Server) WithMiddleware(h http.Handler) http.Handler {
	mw := s.middleware()
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}
