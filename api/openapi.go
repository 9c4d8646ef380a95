package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openapiJSON is the OpenAPI 3.1 description of every route in routes.go.
//
//go:embed openapi.json
var openapiJSON []byte

// docsHTML is a self-contained page (no CDN, no external assets) that
// loads /openapi.json and lets one call each operation.
//
//go:embed docs.html
var docsHTML []byte

// OpenAPI returns the API's OpenAPI 3.1 document (a copy).
func OpenAPI() []byte { return append([]byte(nil), openapiJSON...) }

func (h *handlers) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openapiJSON)
}

func (h *handlers) docs(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", docsHTML)
}
