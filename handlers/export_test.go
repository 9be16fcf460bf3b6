package handlers

import (
	"net/http"

	"github.com/hookrelay/hookrelay/db"
)

// WithMiddleware wraps h in the chain Routes puts around every route, so tests can drive
// the chain (panic recovery, request ids, logging) with handlers of their own.
func (s *Server) WithMiddleware(h http.Handler) http.Handler {
	mw := s.middleware()
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// RouteRole returns the least role a route's handler was registered with (see allow), and
// whether it was registered with one at all. The role walk test and the generated roles
// table of the docs read the rules through it.
func RouteRole(h http.Handler) (least db.Role, declared bool) {
	g, ok := h.(guarded)
	return g.least, ok
}
