package main

import (
	"github.com/celeriac/celeriac/celery"
)

// loadRoutes reads the routing file of flag (nil when path is empty); a
// file that cannot be read or used is a usage error (exit 2).
func loadRoutes(flag, path string) (*celery.Routes, error) {
	if path == "" {
		return nil, nil
	}
	r, err := celery.LoadRoutes(path)
	if err != nil {
		return nil, usagef("%s: %w", flag, err)
	}
	return r, nil
}

// routerOptions returns the client option of routes (none for nil).
func routerOptions(r *celery.Routes) []celery.ClientOption {
	if r == nil {
		return nil
	}
	return []celery.ClientOption{celery.WithRouter(r)}
}
