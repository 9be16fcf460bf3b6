package handlers

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 description of the JSON API. openapi_test.go validates every
// response of the handler tests against it and checks it names exactly the routes served.
//
//go:embed openapi.yaml
var openAPI []byte

// serveOpenAPI answers GET /api/v1/openapi.yaml. It needs no token: it holds no data.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/yaml; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.Write(openAPI)
}
