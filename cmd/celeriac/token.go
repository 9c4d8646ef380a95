package main

import (
	"errors"
	"log/slog"
	"os"
	"strings"
)

// apiToken reads $CELERIAC_API_TOKEN for serve. Whitespace around it (the
// newline of `echo token > file`, spaces in an .env file) is trimmed with
// a warning: no client sends it, so every request would get 401. A token
// that is only whitespace is refused: it would silently mean no token.
func apiToken(log *slog.Logger) (string, error) {
	raw := os.Getenv("CELERIAC_API_TOKEN")
	token := strings.TrimSpace(raw)
	if raw != "" && token == "" {
		return "", errors.New("CELERIAC_API_TOKEN is set but blank: set a token or unset the variable")
	}
	if token != raw {
		log.Warn("CELERIAC_API_TOKEN had whitespace around it (a newline?); it was trimmed", "trimmed_bytes", len(raw)-len(token))
	}
	return token, nil
}
